"""The application user that `billing serve` and `billing worker` connect as: SELECT, INSERT,
UPDATE and DELETE on the service's database, nothing else. `billing migrate` (as the RDS master)
creates it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sql.engine import check_database

DML = "SELECT, INSERT, UPDATE, DELETE"
# Any client address: the security groups, not the account, decide who reaches the database.
ANY_HOST = "%"


def database_grant_target(database: str) -> str:
    """`database`.* for GRANT: quoted, with GRANT's wildcards '_' and '%' escaped so that the grant
    covers this one database (billing_prod must not also match billingXprod)."""
    escaped = database.replace("`", "``").replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return f"`{escaped}`.*"


async def ensure_app_user(admin: AsyncEngine, app_url: str, *, ssl_ca: str = "") -> None:
    """Make the user of `app_url` exist with the URL's password and DML rights on the URL's
    database, then log in as it to prove the URL works. Idempotent: run by every `billing migrate`.

    The grant is on `database`.*, so it covers the tables later migrations create without another
    grant. Rights given by hand are never revoked (the deployment gives none). The password travels
    as a bound parameter (the engines hide parameters in errors; MySQL masks it in its logs)."""
    app = make_url(app_url)
    account = {"user": app.username, "host": ANY_HOST}
    async with admin.connect() as conn:
        exists = (await conn.execute(
            sa.text("SELECT COUNT(*) FROM mysql.user WHERE User = :user AND Host = :host"), account)).scalar_one()
        # CREATE USER IF NOT EXISTS would warn about an existing user; ALTER keeps a rotated password in step.
        verb = "ALTER" if exists else "CREATE"
        await conn.execute(sa.text(f"{verb} USER :user@:host IDENTIFIED BY :password"),
                           account | {"password": app.password})
        await conn.execute(sa.text(f"GRANT {DML} ON {database_grant_target(str(app.database))} TO :user@:host"),
                           account)
        await conn.commit()
    await check_database(app_url, ssl_ca=ssl_ca)
