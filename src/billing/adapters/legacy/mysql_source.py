"""The LegacySource port on the old webapp's MySQL/MariaDB database (SQLAlchemy Core, text queries)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from billing.config import read_database_url
from billing.domain.model.legacy import LegacyAttachment, LegacyBill, LegacyCounts, LegacySourceError, LegacyUser

T = TypeVar("T")

# Column names exactly as Sequelize created them (quoted: `UserId`, `BillId` are mixed case).
_USERS = sa.text(
    "SELECT id, first_name, last_name, email_address, password, account_created, account_updated "
    "FROM `Users` ORDER BY account_created, id"
)
_BILLS = sa.text(
    "SELECT id, `UserId` AS user_id, vendor, bill_date, due_date, amount_due, payment_status, categories, "
    "created_at, updated_at FROM `Bills` ORDER BY id"
)
_ATTACHMENTS = sa.text(
    "SELECT id, `BillId` AS bill_id, file_name, size, md5, mime_type, upload_date FROM `AttachFiles` ORDER BY id"
)


def _user(row: sa.Row[Any]) -> LegacyUser:
    return LegacyUser(**row._asdict())


def _bill(row: sa.Row[Any]) -> LegacyBill:
    return LegacyBill(**row._asdict())


def _attachment(row: sa.Row[Any]) -> LegacyAttachment:
    return LegacyAttachment(**row._asdict())


class MySqlLegacySource:
    """Reads `Users`, `Bills` and `AttachFiles` with one streamed (server-side cursor) query each,
    so memory stays flat whatever the table size. Read-only: nothing is ever written there."""

    def __init__(self, url: str) -> None:
        try:
            parsed = read_database_url(url)
        except ValueError as exc:
            raise LegacySourceError(f"the old database URL (--from or BILLING_LEGACY_DATABASE_URL) {exc}") from None
        if parsed.get_backend_name() != "mysql":
            raise LegacySourceError("the old database URL must be mysql+aiomysql://user:password@host/database")
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        self._where = parsed.render_as_string(hide_password=True)
        # Sequelize wrote DATETIMEs in UTC; read them as stored (the session zone does not apply to
        # DATETIME), and make the connection's view match that for good measure.
        self._engine: AsyncEngine = create_async_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=2,
            connect_args={"connect_timeout": 5, "init_command": "SET time_zone = '+00:00'"},
        )

    async def counts(self) -> LegacyCounts:
        async with self._reading() as conn:
            numbers = [
                (await conn.execute(sa.text(f"SELECT COUNT(*) FROM `{table}`"))).scalar_one()
                for table in ("Users", "Bills", "AttachFiles")
            ]
        return LegacyCounts(users=numbers[0], bills=numbers[1], attachments=numbers[2])

    def users(self) -> AsyncGenerator[LegacyUser, None]:
        return self._stream(_USERS, _user)

    def bills(self) -> AsyncGenerator[LegacyBill, None]:
        return self._stream(_BILLS, _bill)

    def attachments(self) -> AsyncGenerator[LegacyAttachment, None]:
        return self._stream(_ATTACHMENTS, _attachment)

    async def close(self) -> None:
        await self._engine.dispose()

    async def _stream(self, query: sa.TextClause, convert: Callable[[sa.Row[Any]], T]) -> AsyncGenerator[T, None]:
        async with self._reading() as conn:
            try:
                result = await conn.stream(query)
                async for row in result:
                    yield convert(row)
            except sa.exc.DBAPIError as exc:
                raise self._error(exc) from exc

    def _reading(self) -> _Reading:
        return _Reading(self)

    def _error(self, exc: BaseException) -> LegacySourceError:
        if isinstance(exc, sa.exc.ProgrammingError | sa.exc.NoSuchTableError):
            # 1146 no such table, 1054 unknown column: not the old webapp's schema.
            reason = getattr(exc, "orig", exc)
            return LegacySourceError(f"{self._where} does not look like the old webapp's database ({reason})")
        reason = getattr(exc, "orig", None) or exc
        return LegacySourceError(f"cannot read the old database at {self._where} ({reason})")


class _Reading:
    """A read-only connection; any driver failure becomes LegacySourceError with one clear line."""

    def __init__(self, source: MySqlLegacySource) -> None:
        self._source = source
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncConnection:
        try:
            self._conn = await self._source._engine.connect()
        except (sa.exc.DBAPIError, OSError, TimeoutError) as exc:
            raise self._source._error(exc) from exc
        return self._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
        if isinstance(exc, sa.exc.DBAPIError):
            raise self._source._error(exc) from exc
