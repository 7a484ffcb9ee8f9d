"""The real hashing adapter (argon2-cffi, bcrypt) and its verified-credential cache; no network."""

from __future__ import annotations

import asyncio

import bcrypt
import pytest

from billing.adapters.security.hasher import Argon2PasswordHasher, CachingPasswordHasher

PASSWORD = "Abcd1234!"


@pytest.fixture
def argon() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=1, memory_cost=1024)  # cheap parameters: speed, not strength


async def test_new_hashes_are_argon2id(argon) -> None:
    hashed = await argon.hash(PASSWORD)
    assert hashed.startswith("$argon2id$")
    assert await argon.verify(PASSWORD, hashed)
    assert not await argon.verify("Wrong123!", hashed)


async def test_default_parameters_are_owasp() -> None:
    hashed = await Argon2PasswordHasher().hash(PASSWORD)
    assert "$m=19456,t=2,p=1$" in hashed


async def test_bcrypt_cost_10_from_the_old_webapp_verifies_and_needs_rehash(argon) -> None:
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    assert legacy.startswith("$2b$10$")
    assert await argon.verify(PASSWORD, legacy)
    assert not await argon.verify("Wrong123!", legacy)
    assert argon.needs_rehash(legacy)
    assert not argon.needs_rehash(await argon.hash(PASSWORD))


async def test_garbage_hash_and_overlong_password_never_raise(argon) -> None:
    assert not await argon.verify(PASSWORD, "not-a-hash")
    legacy = bcrypt.hashpw(b"x", bcrypt.gensalt(rounds=4)).decode()
    assert not await argon.verify("é" * 80, legacy)


class CountingHasher(Argon2PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024)
        self.slow_verifications = 0

    def _verify_sync(self, password: str, password_hash: str) -> bool:
        self.slow_verifications += 1
        return super()._verify_sync(password, password_hash)


async def test_cache_skips_repeated_verification_but_not_a_changed_hash() -> None:
    inner = CountingHasher()
    cache = CachingPasswordHasher(inner)
    first = await cache.hash(PASSWORD)
    for _ in range(5):
        assert await cache.verify(PASSWORD, first)
    assert inner.slow_verifications == 1
    second = await cache.hash("Other123!")  # the password changed: a new stored hash
    assert not await cache.verify(PASSWORD, second)
    assert inner.slow_verifications == 2


async def test_cache_never_remembers_failures_or_plaintext() -> None:
    inner = CountingHasher()
    cache = CachingPasswordHasher(inner, max_entries=2)
    hashed = await cache.hash(PASSWORD)
    for _ in range(3):
        assert not await cache.verify("Wrong123!", hashed)
    assert inner.slow_verifications == 3
    await cache.verify(PASSWORD, hashed)
    assert all(PASSWORD.encode() not in key for key in cache._entries)


async def test_cache_entries_expire_and_stay_bounded() -> None:
    inner = CountingHasher()
    cache = CachingPasswordHasher(inner, ttl_seconds=0.0, max_entries=2)
    hashed = await cache.hash(PASSWORD)
    await cache.verify(PASSWORD, hashed)
    await cache.verify(PASSWORD, hashed)
    assert inner.slow_verifications == 2  # ttl 0: nothing is reused
    bounded = CachingPasswordHasher(inner, max_entries=2)
    for pw in ("Abcd1234!", "Bcde2345!", "Cdef3456!"):
        await bounded.verify(pw, await bounded.hash(pw))
    assert len(bounded._entries) == 2


async def test_cache_verifies_once_when_the_same_credentials_arrive_concurrently() -> None:
    inner = CountingHasher()
    cache = CachingPasswordHasher(inner)
    hashed = await cache.hash(PASSWORD)
    assert await asyncio.gather(*(cache.verify(PASSWORD, hashed) for _ in range(20))) == [True] * 20
    assert inner.slow_verifications == 1  # one Argon2 for the herd, not twenty
    assert not any(await asyncio.gather(*(cache.verify("Wrong123!", hashed) for _ in range(5))))
    assert inner.slow_verifications == 2 and not cache._in_flight
    assert not await cache.verify("Wrong123!", hashed)  # a failure is still never remembered
    assert inner.slow_verifications == 3
