"""Argon2id for new hashes, bcrypt still accepted (the old webapp's), all off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

import argon2
import bcrypt

from billing.ports.passwords import VerificationGate

_R = TypeVar("_R")

# OWASP Password Storage Cheat Sheet: Argon2id, m=19 MiB, t=2, p=1.
OWASP_ARGON2 = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}


class Argon2PasswordHasher:
    """The PasswordHasher port: Argon2id hashes; `$2a$/$2b$/$2y$` bcrypt hashes verify and need a rehash.

    A failure that needs no computation (a password bcrypt cannot take, over 72 bytes; a stored
    hash that is not one) still pays a verification against the decoy, as an unknown address
    does: how fast a sign-in fails tells nothing about the account's hash."""

    def __init__(self, executor: Executor | None = None, *, time_cost: int = 2, memory_cost: int = 19 * 1024,
                 parallelism: int = 1) -> None:
        self._argon2 = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._executor = executor
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        return await self._run(self._argon2.hash, password)

    async def verify(self, password: str, password_hash: str, gate: VerificationGate | None = None) -> bool:
        if gate is not None:
            await gate.admit()
        ok = await self._run(self._verify_sync, password, password_hash, await self._decoy_hash())
        if gate is not None:
            await gate.settle(ok)
        return ok

    async def verify_decoy(self, password: str, gate: VerificationGate | None = None) -> None:
        if gate is not None:
            await gate.admit()
        decoy = await self._decoy_hash()
        await self._run(self._compute, password, decoy)
        if gate is not None:
            await gate.settle(False)

    def needs_rehash(self, password_hash: str) -> bool:
        if _is_bcrypt(password_hash):
            return True
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except argon2.exceptions.InvalidHashError:
            return True

    async def _decoy_hash(self) -> str:
        if self._decoy is None:
            self._decoy = await self.hash(secrets.token_urlsafe(16))
        return self._decoy

    def _verify_sync(self, password: str, password_hash: str, decoy: str) -> bool:
        if _is_bcrypt(password_hash) and len(password.encode("utf-8")) > _BCRYPT_MAX_BYTES:
            # bcrypt 5 refuses these, and no stored password can be that long: a sure failure,
            # at the decoy's price.
            self._compute(password, decoy)
            return False
        try:
            return self._compute(password, password_hash)
        except (ValueError, argon2.exceptions.InvalidHashError, argon2.exceptions.VerificationError):
            # Not a hash of a known scheme (a mismatch is no exception): nothing was computed.
            self._compute(password, decoy)
            return False

    def _compute(self, password: str, password_hash: str) -> bool:
        """The one slow step: `password` against a well-formed `password_hash`. Raises ValueError,
        InvalidHashError or VerificationError when the hash is malformed."""
        if _is_bcrypt(password_hash):
            return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
        try:
            return self._argon2.verify(password_hash, password)
        except argon2.exceptions.VerifyMismatchError:
            return False

    async def _run(self, fn: Callable[..., _R], *args: object) -> _R:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)


_BCRYPT_MAX_BYTES = 72


def _is_bcrypt(password_hash: str) -> bool:
    return password_hash.startswith(("$2a$", "$2b$", "$2y$"))


class CachingPasswordHasher:
    """Remembers recent successful verifications for a short while, so HTTP Basic (a password on
    every request) does not pay a deliberately slow hash each time.

    The key is an HMAC, under a per-process random key, of the stored hash and the password: no
    plaintext is held, and a password change (a new stored hash) misses the cache at once.
    Failures are never cached. Bounded (LRU) and short-lived (TTL).

    Concurrent verifications of the same password against the same hash share one computation
    (single flight): otherwise, when an entry expires under load, every request of that user in
    flight misses it at once and each pays a full Argon2.
    """

    def __init__(self, inner: Argon2PasswordHasher, *, ttl_seconds: float = 60.0, max_entries: int = 10_000) -> None:
        self._inner = inner
        self._ttl = ttl_seconds
        self._max = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        self._in_flight: dict[bytes, asyncio.Future[bool]] = {}

    async def hash(self, password: str) -> str:
        return await self._inner.hash(password)

    async def verify(self, password: str, password_hash: str, gate: VerificationGate | None = None) -> bool:
        """From memory for a recent success (no gate); else computed once for every concurrent
        caller with the same hash and password, through the first caller's `gate`."""
        key = hmac.new(self._key, password_hash.encode() + b"\0" + password.encode(), hashlib.sha256).digest()
        now = time.monotonic()
        expires = self._entries.get(key)
        if expires is not None and expires > now:
            self._entries.move_to_end(key)
            return True
        flight = self._in_flight.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._verify_and_remember(key, password, password_hash, gate))
            self._in_flight[key] = flight
            flight.add_done_callback(lambda _: self._in_flight.pop(key, None))
        # shield: a caller that goes away (client disconnect) does not cancel the others' answer.
        return await asyncio.shield(flight)

    async def _verify_and_remember(self, key: bytes, password: str, password_hash: str,
                                   gate: VerificationGate | None) -> bool:
        ok = await self._inner.verify(password, password_hash, gate)
        if ok:
            self._entries[key] = time.monotonic() + self._ttl
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        else:
            self._entries.pop(key, None)
        return ok

    async def verify_decoy(self, password: str, gate: VerificationGate | None = None) -> None:
        await self._inner.verify_decoy(password, gate)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._inner.needs_rehash(password_hash)
