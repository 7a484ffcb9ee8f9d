"""Idempotency keys: where an entrypoint keeps the first answer to a request, to give it again.

The core gives the entries no meaning. A key hash, a fingerprint and a replay record are opaque
values chosen by the entrypoint that stores them (the HTTP layer: its header, its fingerprint, its
encoded response), and only that entrypoint reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

R_contra = TypeVar("R_contra", contravariant=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyClaim:
    """One request's hold on a key: `scope` (whose keys) and `key_hash` name the entry, and
    `claimed_at` tells this request's claim from a later one on the same key."""

    scope: str
    key_hash: str
    claimed_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class HeldKey:
    """An entry that already holds a key: in flight (both None) or answered."""

    fingerprint: str | None
    replay: bytes | None

    @property
    def in_flight(self) -> bool:
        return self.replay is None


class IdempotencyStore(Protocol):
    """Claiming and releasing keys. Each call is its own committed transaction, so a concurrent
    request with the same key sees the claim at once. Raises ServiceUnavailable when the store
    cannot be reached."""

    async def claim(self, claim: KeyClaim, *, abandoned_before: datetime) -> HeldKey | None:
        """Store `claim` as in flight and return None: the caller now holds the key. When a live
        entry already holds it, store nothing and return that entry. Entries of the scope that
        expired (expires_at <= claimed_at) and in-flight ones claimed before `abandoned_before`
        do not count: they are removed."""
        ...

    async def release(self, claim: KeyClaim) -> None:
        """Forget `claim` while it is still in flight (its request failed): the key may be used
        again. Does nothing when the entry was answered or is no longer this claim's."""
        ...


class IdempotencyAnswers(Protocol):
    """The answer side of the entries, inside a unit of work: what it records commits with the
    unit of work's other writes, or not at all."""

    async def record(self, claim: KeyClaim, fingerprint: str, replay: bytes) -> bool:
        """Store the answer on the in-flight entry of `claim`. False, storing nothing, when the
        entry is no longer this claim's (it was taken over as abandoned, or has expired)."""
        ...


class RecordAnswer(Protocol[R_contra]):
    """Work a caller adds to a writing use case's transaction: called once with the transaction's
    `answers` and the use case's result, after the use case's writes and before its commit, so
    that the answer it records and the writes commit together or not at all. Whatever it raises
    undoes the transaction and reaches the use case's caller.

    Why a hook rather than a record waiting on the unit of work: the answer is made from the
    result (the created id, the server's timestamps), which only exists inside the use case;
    the use case knows nothing of what is recorded, or why, and each caller is explicit about
    the transaction it joins."""

    async def __call__(self, answers: IdempotencyAnswers, result: R_contra, /) -> None: ...
