from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from billing.domain.model import ServiceUnavailable
from billing.domain.model.idempotency import (
    ABANDONED_AFTER,
    RETENTION,
    IdempotencyEntry,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    StoredResponse,
    digest,
)
from billing.ports import Clock, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotentCall:
    scope: str
    key: str
    # Runs the request; returns its answer and the request's fingerprint (for a streamed upload
    # the fingerprint is only known once the body has gone through).
    run: Callable[[], Awaitable[tuple[StoredResponse, str]]]
    # The fingerprint of this request, computed only when it must be compared with a stored one.
    fingerprint: Callable[[], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class IdempotentResult:
    response: StoredResponse
    replayed: bool


class RunIdempotently:
    """Run a request at most once per (scope, key) within RETENTION (24 h).

    The key is claimed in its own committed transaction before the request runs. A successful
    (2xx) answer is stored with the request's fingerprint and replayed to later calls with the same
    key and fingerprint; any other outcome (4xx, an error) releases the key. Raises
    IdempotencyKeyInFlight while the first call runs (an entry abandoned by a crash frees itself
    after ABANDONED_AFTER), IdempotencyKeyReused when the fingerprint differs, ServiceUnavailable
    when the key cannot be claimed. Recording the answer is best effort: if the database fails
    right after the request succeeded, the answer is still returned and the entry, left in flight,
    is freed after ABANDONED_AFTER.
    """

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, call: IdempotentCall) -> IdempotentResult:
        now = self._clock.now()
        entry = IdempotencyEntry(scope=call.scope, key_hash=digest(call.key.encode()), created_at=now,
                                 expires_at=now + RETENTION)
        async with self._uow as uow:
            existing = await uow.idempotency.claim(entry, abandoned_before=now - ABANDONED_AFTER)
            await uow.commit()
        if existing is not None:
            if existing.in_flight:
                raise IdempotencyKeyInFlight()
            if await call.fingerprint() != existing.fingerprint:
                raise IdempotencyKeyReused()
            assert existing.response is not None
            return IdempotentResult(existing.response, replayed=True)
        try:
            response, fingerprint = await call.run()
        except BaseException:
            await self._release(entry)
            raise
        if 200 <= response.status < 300:
            with contextlib.suppress(ServiceUnavailable):
                async with self._uow as uow:
                    await uow.idempotency.complete(entry.scope, entry.key_hash, fingerprint, response)
                    await uow.commit()
        else:
            await self._release(entry)
        return IdempotentResult(response, replayed=False)

    async def _release(self, entry: IdempotencyEntry) -> None:
        with contextlib.suppress(ServiceUnavailable):  # else it frees itself after ABANDONED_AFTER
            async with self._uow as uow:
                await uow.idempotency.release(entry.scope, entry.key_hash)
                await uow.commit()
