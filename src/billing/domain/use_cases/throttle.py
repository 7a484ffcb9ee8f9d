from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from billing.domain.model import ServiceUnavailable
from billing.domain.model.throttle import Quota, Tally, TooManyAttempts, retry_after
from billing.ports import Clock, UnitOfWork

# Each attempt that opens a window (a row, at most one per key) sweeps this many ended ones, more
# than it can add: ended windows cannot pile up, however many keys an attacker makes up.
PURGE_BATCH = 20
# Refusals one process remembers at most (a few hundred KiB): a memory bound, not a rule; the
# eviction of the least recently refused is tested with a small one.
MAX_REMEMBERED_REFUSALS = 10_000


@dataclass(frozen=True, slots=True)
class Reservation:
    """An attempt counted on its quota's keys; give it back when it succeeded."""

    tallies: Sequence[Tally]
    cleared_on_success: Sequence[str]


class _ProcessState:
    """What one process keeps beside the shared counters, to spare the database a burst:

    - the refusals it has learned, per key, until they end (bounded: the least recently refused
      go first), so a refused client is answered without a round trip;
    - one turn per key: a process sends one reservation per key at a time, so a burst of attempts
      on one account or from one address queues here, not on the database's row locks (holding
      pooled connections), and learns the refusal before its turn comes.

    Never a reason to admit: the database decides every admission."""

    def __init__(self, max_refusals: int = MAX_REMEMBERED_REFUSALS) -> None:
        self._max = max_refusals
        self._refusals: OrderedDict[str, datetime] = OrderedDict()
        self._turns: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    def refused(self, keys: Sequence[str], now: datetime) -> dict[str, datetime]:
        found = {}
        for key in keys:
            until = self._refusals.get(key)
            if until is not None:
                if until > now:
                    found[key] = until
                else:
                    del self._refusals[key]
        return found

    def remember(self, refusal: Mapping[str, datetime]) -> None:
        for key, until in refusal.items():
            self._refusals[key] = until
            self._refusals.move_to_end(key)
        while len(self._refusals) > self._max:
            self._refusals.popitem(last=False)  # pragma: no mutate (last=None is False here too)

    @contextlib.asynccontextmanager
    async def turn(self, keys: Sequence[str]) -> AsyncIterator[None]:
        """Hold every key's turn (taken in sorted order: two holders never wait on each other)."""
        ordered = sorted(set(keys))
        async with contextlib.AsyncExitStack() as held:
            for key in ordered:
                held.callback(self._leave, key)
                self._waiting[key] = self._waiting.get(key, 0) + 1
                lock = self._turns.setdefault(key, asyncio.Lock())
                await held.enter_async_context(lock)
            yield

    def _leave(self, key: str) -> None:
        self._waiting[key] -= 1
        if not self._waiting[key]:  # nobody holds or waits: forget the lock (bounded by requests in flight)
            del self._waiting[key], self._turns[key]


class Throttle:
    """Attempts counted against a quota's keys in the database, so every process and instance
    sees the same counters. One per process (it keeps the process's refusals and turns); each
    reservation gets a fresh unit of work from `units`.

    `reserve` counts the attempt on all its keys in one transaction, before the work it guards,
    and raises TooManyAttempts when the quota's rule refuses it; then nothing is counted (the
    transaction is rolled back). The counters' rows stay locked from the count to the decision, so
    concurrent reservations of a key, from any process, are judged one after the other and never
    overtake the limit. A refusal this process has already learned is answered without the
    database, and a burst on one key reaches it one reservation at a time (see _ProcessState).
    Raises ServiceUnavailable when the database cannot be reached.
    """

    def __init__(self, units: Callable[[], UnitOfWork], clock: Clock, *,
                 max_refusals: int = MAX_REMEMBERED_REFUSALS) -> None:
        self._units = units
        self._clock = clock
        self._state = _ProcessState(max_refusals)

    async def reserve(self, quota: Quota) -> Reservation:
        keys = quota.keys
        self._refuse_if_known(keys)
        async with self._state.turn(keys):
            self._refuse_if_known(keys)  # learned while waiting for the turn
            now = self._clock.now()
            async with self._units() as uow:
                tallies = await uow.attempts.count(keys, now, quota.window)
                refusal = quota.refusal(tallies)
                if refusal:
                    self._state.remember(refusal)
                    raise TooManyAttempts(retry_after(refusal, now))  # left uncommitted: nothing counted
                await uow.commit()
        if any(t.attempts == 1 and t.window_ends == now + quota.window for t in tallies):  # it opened a window
            async with self._units() as uow:
                await uow.attempts.purge(now, PURGE_BATCH)
                await uow.commit()
        return Reservation(tallies, quota.cleared_on_success)

    def _refuse_if_known(self, keys: Sequence[str]) -> None:
        now = self._clock.now()
        refusal = self._state.refused(keys, now)
        if refusal:
            raise TooManyAttempts(retry_after(refusal, now))

    async def give_back(self, reservation: Reservation) -> None:
        """Uncount a reservation whose attempt succeeded (its cleared keys start again from zero).
        Best effort: when the database fails here the attempt stays counted until its window ends."""
        with contextlib.suppress(ServiceUnavailable):
            async with self._units() as uow:
                await uow.attempts.uncount(reservation.tallies, clear=reservation.cleared_on_success)
                await uow.commit()
