"""The real hashing adapter (argon2-cffi, bcrypt) and its verified-credential cache; no network."""

from __future__ import annotations

import asyncio
from uuid import uuid4

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
    """Records the hash each slow computation was made against (the decoy's included); a hash
    that could not even be parsed is not recorded (nothing was computed)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024)
        self.computed: list[str] = []

    @property
    def slow_verifications(self) -> int:
        return len(self.computed)

    def _compute(self, password: str, password_hash: str) -> bool:
        ok = super()._compute(password, password_hash)
        self.computed.append(password_hash)
        return ok


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


# --- the same cost on every failure path ---------------------------------------------------------

async def test_overlong_password_on_a_bcrypt_hash_pays_the_decoy_like_an_unknown_address() -> None:
    hasher = CountingHasher()
    await hasher.verify_decoy("Whatever1!")  # an unknown address
    (decoy,) = hasher.computed
    assert decoy.startswith("$argon2id$") and "$m=1024,t=1,p=1$" in decoy  # the hasher's own cost
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    hasher.computed.clear()
    assert not await hasher.verify("é" * 40, legacy)  # 80 bytes: bcrypt cannot take it
    assert hasher.computed == [decoy]
    hasher.computed.clear()
    assert not await hasher.verify("x" * 73, legacy)
    assert hasher.computed == [decoy]
    hasher.computed.clear()
    assert not await hasher.verify("x" * 72, legacy)  # bcrypt's own limit: bcrypt's own cost
    assert hasher.computed == [legacy]


@pytest.mark.parametrize("stored", ["not-a-hash", "$argon2id$v=19$m=1024,t=1,p=1$broken", "$2b$04$short"])
async def test_a_malformed_stored_hash_pays_the_decoy(stored: str) -> None:
    hasher = CountingHasher()
    await hasher.verify_decoy("Whatever1!")
    (decoy,) = hasher.computed
    hasher.computed.clear()
    assert not await hasher.verify(PASSWORD, stored)
    assert hasher.computed == [decoy]


async def test_sign_in_with_an_overlong_password_on_a_bcrypt_account_pays_the_decoy() -> None:
    """Through Authenticate, the real hasher behind the cache: the over-long password on an
    account that still has its old bcrypt hash costs what an unknown address costs."""
    from billing.domain.model import AuthenticationFailed, User
    from billing.domain.model.throttle import SignInRules
    from billing.domain.use_cases.authenticate import Authenticate, Credentials
    from billing.domain.use_cases.throttle import Throttle
    from tests.fakes import FakeClock, FakeUnitOfWork, Tables

    tables, clock, inner = Tables(), FakeClock(), CountingHasher()
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    user = User(id=uuid4(), first_name="Jo", last_name="Old", email_address="jo@example.com", password_hash=legacy,
                account_created=0, account_updated=0)
    tables.users[user.id] = user
    uow = FakeUnitOfWork(tables)
    authenticate = Authenticate(
        uow, CachingPasswordHasher(inner), clock, Throttle(lambda: FakeUnitOfWork(tables), clock), SignInRules()
    )
    for login in ("nobody@example.com", "jo@example.com"):
        inner.computed.clear()
        with pytest.raises(AuthenticationFailed):
            await authenticate.execute(Credentials(email_address=login, password="p" * 100, client_address="192.0.2.1"))
        assert len(inner.computed) == 1 and inner.computed[0].startswith("$argon2id$"), login
    assert len(tables.attempt_counters) == 5  # both failures counted: 2 accounts, 1 address, 2 pairs


# --- the gate (sign-in throttling) ---------------------------------------------------------------

class RecordingGate:
    def __init__(self, log: list[str], refuse: Exception | None = None) -> None:
        self.log = log
        self.refuse = refuse

    async def admit(self) -> None:
        self.log.append("admit")
        if self.refuse is not None:
            raise self.refuse

    async def settle(self, verified: bool) -> None:
        self.log.append(f"settle {verified}")


async def test_a_computed_verification_passes_the_gate_and_a_remembered_one_does_not() -> None:
    inner = CountingHasher()
    cache = CachingPasswordHasher(inner)
    hashed = await cache.hash(PASSWORD)
    log: list[str] = []
    assert not await cache.verify("Wrong123!", hashed, RecordingGate(log))
    assert await cache.verify(PASSWORD, hashed, RecordingGate(log))
    assert await cache.verify(PASSWORD, hashed, RecordingGate(log))  # remembered: no gate
    await cache.verify_decoy("Wrong123!", RecordingGate(log))
    assert log == ["admit", "settle False", "admit", "settle True", "admit", "settle False"]
    assert inner.slow_verifications == 3


async def test_a_refusing_gate_computes_nothing_and_refuses_every_caller_sharing_it() -> None:
    inner = CountingHasher()
    cache = CachingPasswordHasher(inner)
    hashed = await cache.hash(PASSWORD)
    log: list[str] = []
    refused = RuntimeError("refused")
    results = await asyncio.gather(*(cache.verify(PASSWORD, hashed, RecordingGate(log, refused)) for _ in range(5)),
                                   return_exceptions=True)
    assert results == [refused] * 5 and log == ["admit"]  # one gate for the herd
    assert inner.slow_verifications == 0 and not cache._in_flight
    with pytest.raises(RuntimeError):
        await inner.verify_decoy(PASSWORD, RecordingGate(log, refused))
    assert inner.slow_verifications == 0
