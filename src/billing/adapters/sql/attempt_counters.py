"""The AttemptCounterRepository port: one row per key, counted with an upsert under a row lock."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, sqlite

from billing.adapters.sql.repositories import Executor, _Repository
from billing.adapters.sql.tables import attempt_counters
from billing.adapters.sql.types import UTCDateTime
from billing.domain.model.throttle import Tally
from billing.ports.metrics import Metrics

_T = attempt_counters


def digest(key: str) -> str:
    """What is stored for a key: fixed width, and no account or client address at rest."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class SqlAttemptCounterRepository(_Repository):
    """Counting is one multi-row upsert (INSERT ... ON DUPLICATE KEY UPDATE on MariaDB/MySQL,
    INSERT ... ON CONFLICT DO UPDATE on SQLite) then one SELECT of the rows it wrote.

    The upsert takes each row's exclusive lock (InnoDB locks the row it inserts or updates, in
    any isolation level, READ COMMITTED included; SQLite has one writer at a time), so a
    concurrent count of the same key waits for this transaction to end and then works on its
    committed value: counts are never lost and the SELECT sees exactly what this transaction
    decided on. Rows are written in digest order, and uncount and purge lock them in the same
    (primary key) order, so two transactions never wait on each other in a circle.
    """

    def __init__(self, connection: Executor, dialect: str, metrics: Metrics | None = None) -> None:
        super().__init__(connection, metrics)
        self._dialect = dialect

    async def count(self, keys: Sequence[str], now: datetime, window: timedelta) -> Sequence[Tally]:
        digests = [digest(k) for k in keys]
        ends = now + window
        rows = [{"counter_key": d, "attempts": 1, "window_ends": ends} for d in sorted(set(digests))]
        await self._execute(self._upsert(rows, now), operation="attempt_counters.insert")
        found = await self._execute(
            sa.select(_T.c.counter_key, _T.c.attempts, _T.c.window_ends).where(_T.c.counter_key.in_(digests)),
            operation="attempt_counters.select")
        rows_by_digest = {row.counter_key: row for row in found}
        return [Tally(key, int(rows_by_digest[d].attempts), rows_by_digest[d].window_ends)
                for key, d in zip(keys, digests, strict=True)]

    def _upsert(self, rows: list[dict[str, Any]], now: datetime) -> sa.Executable:
        # A row whose window has ended starts a new one with this attempt; otherwise one more.
        ended = _T.c.window_ends <= sa.literal(now, UTCDateTime)
        if self._dialect == "sqlite":
            lite = sqlite.insert(_T).values(rows)
            return lite.on_conflict_do_update(index_elements=[_T.c.counter_key], set_={
                "attempts": sa.case((ended, 1), else_=_T.c.attempts + 1),
                "window_ends": sa.case((ended, lite.excluded.window_ends), else_=_T.c.window_ends),
            })
        my = mysql.insert(_T).values(rows)
        # MySQL assigns left to right: `attempts` first, while `window_ends` still holds the old value.
        return my.on_duplicate_key_update([
            ("attempts", sa.case((ended, 1), else_=_T.c.attempts + 1)),
            ("window_ends", sa.case((ended, my.inserted.window_ends), else_=_T.c.window_ends)),
        ])

    async def uncount(self, tallies: Sequence[Tally], *, clear: Collection[str] = ()) -> None:
        if not tallies:
            return
        cleared = [digest(k) for k in clear]
        same_window = sa.or_(*(sa.and_(_T.c.counter_key == digest(t.key), _T.c.window_ends == t.window_ends)
                               for t in tallies))
        await self._execute(_T.update().where(same_window).values(attempts=sa.case(
            (_T.c.counter_key.in_(cleared), 0), (_T.c.attempts > 0, _T.c.attempts - 1), else_=0)),
            operation="attempt_counters.update")

    async def purge(self, now: datetime, limit: int) -> int:
        # A plain read picks the candidates, then they are deleted by primary key (the order
        # counting locks in), each only if its window has still ended.
        ended = _T.c.window_ends <= sa.literal(now, UTCDateTime)
        found = await self._execute(sa.select(_T.c.counter_key).where(ended).limit(limit),
                                    operation="attempt_counters.select")
        candidates = sorted(row.counter_key for row in found)
        if not candidates:
            return 0
        result = await self._execute(sa.delete(_T).where(_T.c.counter_key.in_(candidates), ended),
                                     operation="attempt_counters.delete")
        return int(result.rowcount)
