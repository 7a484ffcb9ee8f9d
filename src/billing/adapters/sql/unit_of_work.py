"""The UnitOfWork port on one AsyncConnection and one transaction, and its read-only variant."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.adapters.metrics.timing import timed
from billing.adapters.null_metrics import NullMetrics
from billing.adapters.sql.attempt_counters import SqlAttemptCounterRepository
from billing.adapters.sql.engine import checkout_gate
from billing.adapters.sql.errors import BUSY, UNREACHABLE, database_errors
from billing.adapters.sql.repositories import (
    SqlAttachmentRepository,
    SqlBillRepository,
    SqlBillViews,
    SqlCallerViews,
    SqlIdempotencyRepository,
    SqlUserRepository,
)
from billing.domain.model import ServiceBusy, ServiceUnavailable
from billing.ports.metrics import DB_DURATION, Metrics


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work was asked to write or commit: a wiring mistake, never user input."""


class SqlUnitOfWork:
    """`read_only=True` (the ReadOnlyUnitOfWork port): on the autocommit engine
    (engine.create_read_engine) no transaction is opened, each SELECT reads the latest committed
    data, and leaving costs no ROLLBACK round trip. Anything but a SELECT, and commit(), raise
    ReadOnlyViolation, so a writing use case wired to it fails loudly instead of autocommitting.

    A unit of work may be entered again once left (a listing read page by page): each `async with`
    takes a connection and gives it back."""

    users: SqlUserRepository
    bills: SqlBillRepository
    attachments: SqlAttachmentRepository
    idempotency: SqlIdempotencyRepository
    caller_views: SqlCallerViews
    attempts: SqlAttemptCounterRepository
    bill_views: SqlBillViews

    def __init__(self, engine: AsyncEngine, metrics: Metrics | None = None, timeout: float | None = None, *,
                 read_only: bool = False) -> None:
        self._engine = engine
        # A database that stopped answering (frozen, a network partition) would hang the request:
        # each connection attempt, statement and commit gets this long, then ServiceUnavailable.
        self._timeout = timeout
        self._metrics: Metrics = metrics or NullMetrics()
        self._read_only = read_only
        self._conn: AsyncConnection | None = None
        self._fresh = False  # True until the first statement of the transaction has run
        # Read-only: one deadline for the whole unit of work (checkout, SELECTs, return to the pool):
        # a read is a statement or two, and a timer per operation is a measurable share of its CPU.
        self._deadline: asyncio.Timeout | None = None
        self._gate: asyncio.Semaphore | None = None  # the permit held (engine.checkout_gate)
        self._queued = False  # True while waiting for a permit: a timeout then means busy

    async def __aenter__(self) -> Self:
        """Take a pooled connection. ServiceBusy when the timeout ran out while waiting for a
        permit of the pool's queue (every connection in use: overload, not a broken database)."""
        try:
            await self._enter()
        except ServiceUnavailable as exc:
            if not self._queued or isinstance(exc, ServiceBusy):
                raise
            raise ServiceBusy(BUSY) from exc.__cause__
        finally:
            self._queued = False
        return self

    async def _enter(self) -> None:
        # "connect" covers taking a pooled connection and BEGIN (no round trip: MySQL opens the
        # transaction with the first statement); it grows when the pool is exhausted.
        if self._read_only and self._timeout is not None:
            self._deadline = deadline = asyncio.timeout(self._timeout)
            await deadline.__aenter__()
            try:
                with timed(self._metrics, DB_DURATION, operation="connect"), database_errors():
                    self._conn = await self._checkout()
            except BaseException as exc:
                self._deadline = None
                with database_errors():
                    await deadline.__aexit__(type(exc), exc, exc.__traceback__)  # CancelledError -> TimeoutError
                raise
        else:
            with timed(self._metrics, DB_DURATION, operation="connect"), database_errors():
                async with asyncio.timeout(self._timeout):
                    self._conn = await self._checkout()
        self._fresh = True
        self.users = SqlUserRepository(self, self._metrics)
        self.bills = SqlBillRepository(self, self._metrics)
        self.attachments = SqlAttachmentRepository(self, self._metrics)
        self.idempotency = SqlIdempotencyRepository(self, self._metrics)
        self.caller_views = SqlCallerViews(self, self._metrics)
        self.attempts = SqlAttemptCounterRepository(self, self._engine.dialect.name, self._metrics)
        self.bill_views = SqlBillViews(self, self._metrics)

    async def _checkout(self) -> AsyncConnection:
        """A permit of the pool's fair queue (waiters served in arrival order), then a connection."""
        gate = checkout_gate(self._engine)
        if gate is not None:
            self._queued = True
            await gate.acquire()
            self._queued = False
        try:
            conn = await self._connect()
        except BaseException:
            if gate is not None:
                gate.release()
            raise
        self._gate = gate
        return conn

    def _release_gate(self) -> None:
        gate, self._gate = self._gate, None
        if gate is not None:
            gate.release()

    async def _connect(self) -> AsyncConnection:
        conn = await self._engine.connect()
        if self._read_only:
            return conn  # autocommit: the statements need no transaction around them
        try:
            await conn.begin()
        except BaseException:
            await conn.close()
            raise
        return conn

    async def execute(self, statement: sa.Executable, parameters: dict[str, Any] | list[dict[str, Any]] | None = None
                      ) -> sa.CursorResult[Any]:
        """Run a statement in this unit of work's transaction (what the repositories call).

        A pooled connection can be dead: the server restarted, failed over or dropped it while
        idle. Instead of pinging before every checkout (a round trip per unit of work), the first
        statement of the transaction is retried once on a fresh connection when it finds the
        connection broken: nothing had run in the transaction yet, so nothing is lost or doubled.
        SQLAlchemy has then invalidated the pool's older connections as well."""
        assert self._conn is not None, "statement outside `async with uow`"
        if self._deadline is not None:  # the unit of work's deadline covers it
            return await self._execute(statement, parameters)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._execute(statement, parameters)
        except TimeoutError:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        """The connection is in an unknown state after a timeout: never give it back to the pool."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()

    async def _execute(self, statement: sa.Executable, parameters: dict[str, Any] | list[dict[str, Any]] | None
                       ) -> sa.CursorResult[Any]:
        assert self._conn is not None, "statement outside `async with uow`"
        if self._read_only and not getattr(statement, "is_select", False):
            raise ReadOnlyViolation("a read-only unit of work runs SELECTs only")
        if not self._fresh:
            return await self._conn.execute(statement, parameters)
        self._fresh = False
        try:
            return await self._conn.execute(statement, parameters)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        broken, self._conn = self._conn, None
        with contextlib.suppress(SQLAlchemyError, OSError):
            await broken.close()
        self._conn = await self._connect()
        return await self._conn.execute(statement, parameters)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self._leave(exc_type, exc, tb)
        finally:
            self._release_gate()  # the connection is back in the pool (or invalidated) by now

    async def _leave(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        deadline, self._deadline = self._deadline, None
        if deadline is not None:
            await self._leave_by_deadline(deadline, exc_type, exc, tb)
            return
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            # Leaving without commit means: undo. close() rolls an open transaction back itself, and
            # the pool does not reset the connection again: one ROLLBACK, not two (see engine.py).
            async with asyncio.timeout(self._timeout):
                await conn.close()
        except TimeoutError:
            with contextlib.suppress(Exception):
                await conn.invalidate()
        except (SQLAlchemyError, OSError):
            # The connection broke; SQLAlchemy has invalidated it and nothing was committed.
            # A failure that mattered (a query, the commit) was already raised to the caller.
            pass

    async def _leave_by_deadline(self, deadline: asyncio.Timeout, exc_type: type[BaseException] | None,
                                 exc: BaseException | None, tb: TracebackType | None) -> None:
        """Leave a read-only unit of work: give the connection back, then close the deadline. When
        the deadline expired (the checkout, a statement or the return cancelled), the connection is
        in an unknown state and is invalidated, and the caller gets ServiceUnavailable."""
        conn, self._conn = self._conn, None
        late: asyncio.CancelledError | None = None
        if conn is not None and exc_type is None:
            try:
                await conn.close()  # autocommit, no rollback: no round trip
                conn = None
            except (SQLAlchemyError, OSError):
                conn = None  # broken: SQLAlchemy has invalidated it; the reads had succeeded
            except asyncio.CancelledError as cancelled:
                late = cancelled
                exc_type, exc, tb = type(cancelled), cancelled, cancelled.__traceback__
        try:
            await deadline.__aexit__(exc_type, exc, tb)  # the deadline's CancelledError -> TimeoutError
        except TimeoutError as timeout:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            raise ServiceUnavailable(UNREACHABLE) from timeout
        if conn is not None:
            if deadline.expired() or (exc_type is not None and issubclass(exc_type, asyncio.CancelledError)):
                with contextlib.suppress(Exception):
                    await conn.invalidate()  # interrupted mid-statement: never back to the pool
            else:
                with contextlib.suppress(SQLAlchemyError, OSError):
                    await conn.close()
        if late is not None:
            raise late

    async def commit(self) -> None:
        assert self._conn is not None, "commit outside `async with uow`"
        if self._read_only:
            raise ReadOnlyViolation("a read-only unit of work has nothing to commit")
        with timed(self._metrics, DB_DURATION, operation="commit"), database_errors():
            try:
                async with asyncio.timeout(self._timeout):
                    await self._conn.commit()
            except TimeoutError:
                await self._abandon()
                raise
