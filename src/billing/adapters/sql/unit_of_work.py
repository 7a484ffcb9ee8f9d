"""The UnitOfWork port on one AsyncConnection and one transaction."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.adapters.metrics.timing import timed
from billing.adapters.null_metrics import NullMetrics
from billing.adapters.sql.errors import database_errors
from billing.adapters.sql.repositories import SqlAttachmentRepository, SqlBillRepository, SqlUserRepository
from billing.ports.metrics import DB_DURATION, Metrics


class SqlUnitOfWork:
    users: SqlUserRepository
    bills: SqlBillRepository
    attachments: SqlAttachmentRepository

    def __init__(self, engine: AsyncEngine, metrics: Metrics | None = None) -> None:
        self._engine = engine
        self._metrics: Metrics = metrics or NullMetrics()
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        # "connect" covers taking a pooled connection (and its pre-ping) and BEGIN: it grows
        # when the pool is exhausted or the database is slow to accept.
        with timed(self._metrics, DB_DURATION, operation="connect"), database_errors():
            self._conn = await self._engine.connect()
            try:
                await self._conn.begin()
            except BaseException:
                await self._conn.close()
                raise
        self.users = SqlUserRepository(self._conn, self._metrics)
        self.bills = SqlBillRepository(self._conn, self._metrics)
        self.attachments = SqlAttachmentRepository(self._conn, self._metrics)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # Leaving without commit means: undo. close() rolls an open transaction back itself, and
            # the pool does not reset the connection again: one ROLLBACK, not two (see engine.py).
            await conn.close()
        except (SQLAlchemyError, OSError):
            # The connection broke; SQLAlchemy has invalidated it and nothing was committed.
            # A failure that mattered (a query, the commit) was already raised to the caller.
            pass

    async def commit(self) -> None:
        assert self._conn is not None, "commit outside `async with uow`"
        with timed(self._metrics, DB_DURATION, operation="commit"), database_errors():
            await self._conn.commit()

    async def rollback(self) -> None:
        assert self._conn is not None, "rollback outside `async with uow`"
        with timed(self._metrics, DB_DURATION, operation="rollback"), database_errors():
            await self._conn.rollback()
