"""Alembic, driven from code: `billing migrate`, `billing local` and the tests all come here."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url  # kept out of the ini: it may hold a password
    return config


def upgrade_to_head(database_url: str) -> None:
    """Bring the schema to the newest revision. Synchronous: Alembic runs its own event loop,
    so call it from a thread or before the service's loop starts."""
    command.upgrade(alembic_config(database_url), "head")
