"""The IdempotencyStore port on the database: each claim or release is a short transaction of its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.ports.idempotency import HeldKey, KeyClaim


class SqlIdempotencyStore:
    def __init__(self, units: Callable[[], SqlUnitOfWork]) -> None:
        self._units = units  # a fresh unit of work per call (its connection, timeouts and pool gate)

    async def claim(self, claim: KeyClaim, *, abandoned_before: datetime) -> HeldKey | None:
        async with self._units() as uow:
            held = await uow.idempotency.claim(claim, abandoned_before=abandoned_before)
            await uow.commit()
        return held

    async def release(self, claim: KeyClaim) -> None:
        async with self._units() as uow:
            await uow.idempotency.release(claim)
            await uow.commit()
