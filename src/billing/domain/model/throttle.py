"""Throttling rules: how many attempts a client may make, judged on counters every process shares.

A counter belongs to a key (an account, a client address, the pair of both) and counts attempts in
a fixed window that opens with the key's first attempt and lasts `window`; when it ends, the next
attempt opens a new one. An attempt is counted on all its keys at once, *before* the expensive
work it asks for, and refused (nothing counted) when a rule says no: concurrent attempts cannot
overtake the limit. Sign-in gives back what a correct password reserved, so the counters hold
failures (and attempts still being verified).

The keys name accounts and addresses; the adapter stores them as digests.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from billing.domain.model.errors import DomainError


class TooManyAttempts(DomainError):
    """Refused before any work was done: too many attempts lately; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many attempts; retry after {retry_after} s")


@dataclass(frozen=True, slots=True)
class Tally:
    """A key's counter in its current window, the attempt being judged included."""

    key: str
    attempts: int
    window_ends: datetime


class Quota(Protocol):
    """What one attempt is counted against, and the rule that admits it."""

    @property
    def keys(self) -> tuple[str, ...]: ...

    @property
    def window(self) -> timedelta: ...

    @property
    def cleared_on_success(self) -> tuple[str, ...]:
        """Keys whose counter a successful attempt resets (the others just get it back)."""
        ...

    def refusal(self, tallies: Sequence[Tally]) -> dict[str, datetime]:
        """Empty to admit the attempt (the tallies are `keys`' counters, this attempt included);
        else the keys that refuse it, each with the moment until which it refuses any attempt it
        is part of."""
        ...


def retry_after(refusal: Mapping[str, datetime], now: datetime) -> int:
    """Whole seconds until every key of a refusal lets attempts through again (at least 1)."""
    return max(1, math.ceil((max(refusal.values()) - now).total_seconds()))


def client_key(address: str) -> str:
    """The part of a client address that one client controls: an IPv4 address, an IPv6 /64
    (a single host commonly holds a whole /64), anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))  # pragma: no mutate (strict=None: also falsy)
    return str(ip)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignInRules:
    """Password guessing, OWASP-style, without letting an attacker lock the owner out.

    - Per pair (account, address): `per_pair` failures per window. The guesser's own address
      stops; a correct password resets the pair.
    - Per address, whatever the accounts: `per_address` failures per window (spraying, stuffing).
    - Per account, whatever the addresses: past `per_account` failures in its window the account
      is under attack, and from then on an address may try it only while it has no failure on it.
      A distributed guesser gets one try per address instead of `per_pair`; an address that has
      not been failing (the owner's, usually) still gets its try, so the account is never locked
      for everyone.
    """

    window: timedelta = timedelta(minutes=15)
    per_pair: int = 5
    per_address: int = 20
    per_account: int = 10

    def quota(self, account: str, address: str) -> SignInQuota:
        """`account`: the login's canonical address (known or not: both are counted alike)."""
        return SignInQuota(self, account, client_key(address))


@dataclass(frozen=True, slots=True)
class SignInQuota:
    rules: SignInRules
    account: str
    client: str

    @property
    def keys(self) -> tuple[str, ...]:
        return (f"sign-in account {self.account}", f"sign-in address {self.client}",
                f"sign-in pair {self.client} {self.account}")

    @property
    def window(self) -> timedelta:
        return self.rules.window

    @property
    def cleared_on_success(self) -> tuple[str, ...]:
        return self.keys[2:]

    def refusal(self, tallies: Sequence[Tally]) -> dict[str, datetime]:
        account, address, pair = tallies
        rules = self.rules
        refused = {}
        if pair.attempts > rules.per_pair:
            refused[pair.key] = pair.window_ends
        elif account.attempts > rules.per_account and pair.attempts > 1:
            # Under attack and this address has failed on the account: it waits for either window.
            refused[pair.key] = min(pair.window_ends, account.window_ends)
        if address.attempts > rules.per_address:
            refused[address.key] = address.window_ends
        return refused


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationRules:
    """Account creation (a password hash and a row each): `per_address` per window and address."""

    window: timedelta = timedelta(hours=1)
    per_address: int = 10

    def quota(self, address: str) -> RegistrationQuota:
        return RegistrationQuota(self, client_key(address))


@dataclass(frozen=True, slots=True)
class RegistrationQuota:
    rules: RegistrationRules
    client: str

    @property
    def keys(self) -> tuple[str, ...]:
        return (f"registration address {self.client}",)

    @property
    def window(self) -> timedelta:
        return self.rules.window

    @property
    def cleared_on_success(self) -> tuple[str, ...]:
        return ()

    def refusal(self, tallies: Sequence[Tally]) -> dict[str, datetime]:
        (address,) = tallies
        if address.attempts > self.rules.per_address:
            return {address.key: address.window_ends}
        return {}
