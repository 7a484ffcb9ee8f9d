"""Alembic, driven from code: `billing migrate`, `billing local` and the tests all come here."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from billing.adapters.sql.app_user import ensure_app_user
from billing.adapters.sql.engine import create_engine
from billing.adapters.sql.errors import unusable_database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str, *, ssl_ca: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url  # kept out of the ini: it may hold a password
    config.attributes["ssl_ca"] = ssl_ca
    return config


def upgrade_to_head(database_url: str, *, ssl_ca: str = "") -> None:
    """Bring the schema to the newest revision, over verified TLS when `ssl_ca` names a CA bundle.
    Synchronous: Alembic runs its own event loop, so call it from a thread or before the
    service's loop starts."""
    command.upgrade(alembic_config(database_url, ssl_ca=ssl_ca), "head")


def migrate(database_url: str, *, ssl_ca: str = "", app_url: str = "") -> None:
    """`billing migrate`: the schema to head, then, given `app_url`, the application user made to
    match it (app_user.ensure_app_user). A database that cannot be reached or refuses raises
    ServiceUnavailable naming it (password hidden) and the driver's reason."""
    with unusable_database(database_url):
        upgrade_to_head(database_url, ssl_ca=ssl_ca)
        if app_url:
            asyncio.run(_ensure_app_user(database_url, app_url, ssl_ca))


async def _ensure_app_user(database_url: str, app_url: str, ssl_ca: str) -> None:
    admin = create_engine(database_url, pool_size=1, ssl_ca=ssl_ca)
    try:
        await ensure_app_user(admin, app_url, ssl_ca=ssl_ca)
    finally:
        await admin.dispose()
