"""Failed sign-ins slow down guessing, per account and per client address, never for good.

Each key (an account's canonical address, a client address) counts its failures. Past `free`
failures, the key is refused for a delay that doubles with each further failure, from 1 s up to
`max_delay`. A refused attempt is not checked and not counted, so a guesser gets at most one try
per `max_delay`, and the account's owner can sign in again as soon as the delay has passed, however
long the attack goes on. A key forgets its failures `forget_after` after the last one; a successful
sign-in resets the account's count (not the address's: one address may hold many accounts).

The state is in process memory, bounded (least recently failing keys are dropped first): with
several processes each keeps its own count, and a restart forgets them.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.domain.model.errors import DomainError


class TooManyAttempts(DomainError):
    """Too many failed sign-ins lately; retry after `retry_after` seconds (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many failed sign-ins; retry after {retry_after} s")


@dataclass(slots=True)
class _Failures:
    count: int
    last: datetime
    blocked_until: datetime


class _Counter:
    def __init__(self, free: int, max_delay: float, forget_after: timedelta, max_keys: int) -> None:
        self._free = free
        self._max_delay = max_delay
        self._forget_after = forget_after
        self._max_keys = max_keys
        self._keys: OrderedDict[str, _Failures] = OrderedDict()

    def wait(self, key: str, now: datetime) -> float:
        entry = self._keys.get(key)
        if entry is None:
            return 0.0
        if now - entry.last >= self._forget_after:
            del self._keys[key]
            return 0.0
        return max(0.0, (entry.blocked_until - now).total_seconds())

    def fail(self, key: str, now: datetime) -> None:
        entry = self._keys.pop(key, None)
        if entry is None or now - entry.last >= self._forget_after:
            entry = _Failures(0, now, now)
        entry.count += 1
        entry.last = now
        excess = entry.count - self._free
        if excess > 0:
            entry.blocked_until = now + timedelta(seconds=min(2.0 ** (excess - 1), self._max_delay))
        self._keys[key] = entry  # most recent last
        while len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)

    def reset(self, key: str) -> None:
        self._keys.pop(key, None)


class LoginThrottle:
    def __init__(self, *, per_account: int = 5, per_address: int = 20, max_delay_seconds: float = 300,
                 forget_after: timedelta = timedelta(minutes=15), max_keys: int = 100_000) -> None:
        self._accounts = _Counter(per_account, max_delay_seconds, forget_after, max_keys)
        self._addresses = _Counter(per_address, max_delay_seconds, forget_after, max_keys)

    @property
    def watching(self) -> bool:
        """False while no key has failures on record: check() would pass and succeeded() do
        nothing, so the usual sign-in costs neither the clock, nor the address, nor a lower()."""
        return bool(self._accounts or self._addresses)

    def check(self, account: str, address: str, now: datetime) -> None:
        """Raise TooManyAttempts while the account or the address must wait."""
        wait = self._addresses.wait(address, now)
        if account:
            wait = max(wait, self._accounts.wait(account.lower(), now))
        if wait > 0:
            raise TooManyAttempts(max(1, math.ceil(wait)))

    def failed(self, account: str, address: str, now: datetime) -> None:
        if account:  # "" when the header named none (malformed): only the address counts
            self._accounts.fail(account.lower(), now)
        self._addresses.fail(address, now)

    def succeeded(self, account: str) -> None:
        if self._accounts:
            self._accounts.reset(account.lower())
