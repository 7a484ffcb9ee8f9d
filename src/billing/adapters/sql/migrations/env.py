"""Alembic environment: async engine, batch mode on SQLite (which cannot ALTER much)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from billing.adapters.sql.engine import create_engine
from billing.adapters.sql.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    # Verified TLS when a CA bundle is given: RDS requires TLS of every connection, migrations too.
    engine = create_engine(config.attributes["database_url"], ssl_ca=config.attributes.get("ssl_ca", ""))
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `billing migrate` against a database")
asyncio.run(_run_async())
