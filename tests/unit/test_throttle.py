"""Sign-in and registration throttling: the rules (domain), the Throttle use case and
Authenticate over the fake database. The race across processes: tests/integration/test_throttle_sql.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing.domain.model import AuthenticationFailed, ServiceUnavailable, User
from billing.domain.model.throttle import RegistrationRules, SignInRules, Tally, TooManyAttempts, client_key
from billing.domain.use_cases.authenticate import Authenticate, Credentials
from billing.domain.use_cases.throttle import PURGE_BATCH, Throttle
from tests.fakes import FakeClock, FakePasswordHasher, FakeUnitOfWork, Tables

PASSWORD = "Abcd1234!"
RULES = SignInRules(window=timedelta(minutes=15), per_pair=5, per_address=20, per_account=3)


@pytest.fixture
def jane(tables: Tables) -> User:
    user = User(id=uuid.uuid4(), first_name="Jane", last_name="Doe", email_address="jane@example.com",
                password_hash=f"fake${PASSWORD}", account_created=0, account_updated=0)
    tables.users[user.id] = user
    return user


def authenticator(tables: Tables, hasher: FakePasswordHasher, clock: FakeClock,
                  rules: SignInRules = RULES) -> Authenticate:
    hasher.remember = False  # every sign-in computed: what a fresh process (or another instance) sees
    return Authenticate(FakeUnitOfWork(tables), hasher, clock, Throttle(lambda: FakeUnitOfWork(tables), clock), rules)


@pytest.fixture
def authenticate(tables: Tables, hasher: FakePasswordHasher, clock: FakeClock) -> Authenticate:
    return authenticator(tables, hasher, clock)


async def sign_in(authenticate: Authenticate, address: str, password: str = "Wrong999!",
                  login: str = "jane@example.com") -> str:
    """'ok', 'wrong' or 'refused <Retry-After>'."""
    try:
        await authenticate.execute(Credentials(email_address=login, password=password, client_address=address))
    except AuthenticationFailed:
        return "wrong"
    except TooManyAttempts as exc:
        return f"refused {exc.retry_after}"
    return "ok"


async def test_a_distributed_attack_gets_one_guess_per_address_once_the_account_is_under_attack(
        authenticate, jane, hasher, clock) -> None:
    # Three addresses fail once each: the account reaches its threshold (3).
    assert [await sign_in(authenticate, f"203.0.113.{i}") for i in (1, 2, 3)] == ["wrong"] * 3
    clock.advance(minutes=5)
    # Past it, an address that has failed on the account is refused; a new one gets its one try.
    assert await sign_in(authenticate, "203.0.113.1") == "refused 600"  # the pair's window: 10 min left
    assert await sign_in(authenticate, "203.0.113.4") == "wrong"
    assert await sign_in(authenticate, "203.0.113.4") == "refused 600"  # until the account's window ends
    computed = hasher.computed
    assert await sign_in(authenticate, "198.51.100.7", PASSWORD) == "ok"  # the owner, from a clean address
    assert hasher.computed == computed + 1
    assert await sign_in(authenticate, "198.51.100.7", PASSWORD) == "ok"  # and again: the success reset the pair
    clock.advance(minutes=10)  # the account's window (and the first pairs') ended
    assert await sign_in(authenticate, "203.0.113.1") == "wrong"


async def test_the_owners_own_failure_counts_against_them_while_under_attack(authenticate, jane) -> None:
    assert await sign_in(authenticate, "198.51.100.7") == "wrong"  # a typo
    for i in (1, 2, 3):
        await sign_in(authenticate, f"203.0.113.{i}")
    assert await sign_in(authenticate, "198.51.100.7", PASSWORD) == "refused 900"
    assert await sign_in(authenticate, "198.51.100.8", PASSWORD) == "ok"  # any clean address


async def test_the_pair_allows_per_pair_failures_then_refuses_until_its_window_ends(tables, hasher, jane,
                                                                                    clock) -> None:
    authenticate = authenticator(tables, hasher, clock, SignInRules(per_pair=5, per_address=20, per_account=100))
    assert [await sign_in(authenticate, "203.0.113.9") for _ in range(6)] == ["wrong"] * 5 + ["refused 900"]
    clock.advance(seconds=899)
    assert await sign_in(authenticate, "203.0.113.9") == "refused 1"
    clock.advance(seconds=1)
    assert await sign_in(authenticate, "203.0.113.9") == "wrong"


async def test_a_refused_attempt_counts_nothing(tables, hasher, clock, jane) -> None:
    authenticate = authenticator(tables, hasher, clock, SignInRules(per_pair=5, per_address=20, per_account=100))
    for _ in range(5):
        await sign_in(authenticate, "203.0.113.9")
    before = dict(tables.attempt_counters)
    for _ in range(10):
        assert (await sign_in(authenticate, "203.0.113.9")).startswith("refused")
    assert tables.attempt_counters == before


async def test_an_ipv6_client_is_its_64(tables, hasher, clock, jane) -> None:
    authenticate = authenticator(tables, hasher, clock, SignInRules(per_pair=5, per_address=20, per_account=100))
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1" and client_key("not an address") == "not an address"
    for i in range(5):
        assert await sign_in(authenticate, f"2001:db8:1:2::{i}") == "wrong"
    assert await sign_in(authenticate, "2001:db8:1:2:9::1") == "refused 900"  # same /64
    assert await sign_in(authenticate, "2001:db8:1:3::1", PASSWORD) == "ok"


async def test_spraying_made_up_accounts_keeps_the_counters_bounded(tables, hasher, clock) -> None:
    """One address, a new account name per guess, for an hour: each admitted guess adds at most an
    account row and a pair row, the address admits `per_address` per window, and ended windows are
    swept as new ones open. Live rows stay under 1 + 2 x 2 x per_address (two windows overlap)."""
    rules = SignInRules(per_pair=5, per_address=20, per_account=3)
    authenticate = authenticator(tables, hasher, clock, rules)
    bound = 1 + 4 * rules.per_address
    largest = 0
    for i in range(2000):
        await sign_in(authenticate, "203.0.113.9", login=f"victim{i}@example.com")
        largest = max(largest, len(tables.attempt_counters))
        clock.advance(seconds=2)
    assert 2 * rules.per_address < largest <= bound, largest
    live = [t for t in tables.attempt_counters.values() if t.window_ends > clock.now()]
    assert len(tables.attempt_counters) - len(live) <= PURGE_BATCH


async def test_registration_rule_counts_per_client_only() -> None:
    tables, clock = Tables(), FakeClock()
    throttle = Throttle(lambda: FakeUnitOfWork(tables), clock)
    rules = RegistrationRules(window=timedelta(hours=1), per_address=2)
    for _ in range(2):
        await throttle.reserve(rules.quota("203.0.113.9"))
    with pytest.raises(TooManyAttempts) as refused:
        await throttle.reserve(rules.quota("203.0.113.9"))
    assert refused.value.retry_after == 3600
    await throttle.reserve(rules.quota("198.51.100.7"))


async def test_giving_back_after_the_window_ended_leaves_the_new_window_alone() -> None:
    tables, clock = Tables(), FakeClock()
    throttle = Throttle(lambda: FakeUnitOfWork(tables), clock)
    rules = RegistrationRules(window=timedelta(minutes=1), per_address=5)
    old = await throttle.reserve(rules.quota("203.0.113.9"))
    clock.advance(minutes=1)
    await throttle.reserve(rules.quota("203.0.113.9"))  # a new window, one attempt
    await throttle.give_back(old)
    (counter,) = tables.attempt_counters.values()
    assert counter.attempts == 1


async def test_giving_back_is_best_effort_when_the_database_is_down() -> None:
    tables, clock = Tables(), FakeClock()
    throttle = Throttle(lambda: FakeUnitOfWork(tables), clock)
    rules = RegistrationRules(window=timedelta(hours=1), per_address=5)
    reservation = await throttle.reserve(rules.quota("203.0.113.9"))
    tables.down = True
    await throttle.give_back(reservation)  # the caller's success is not turned into a failure
    tables.down = False
    (counter,) = tables.attempt_counters.values()
    assert counter.attempts == 1  # still counted, until its window ends


async def test_each_window_opened_sweeps_at_most_a_batch_of_ended_ones() -> None:
    tables, clock = Tables(), FakeClock()
    ended = clock.now() - timedelta(seconds=1)
    tables.attempt_counters = {f"old{i}": Tally(f"old{i}", 1, ended) for i in range(PURGE_BATCH + 10)}
    throttle = Throttle(lambda: FakeUnitOfWork(tables), clock)
    await throttle.reserve(RegistrationRules(window=timedelta(hours=1), per_address=5).quota("203.0.113.9"))
    assert sum(1 for t in tables.attempt_counters.values() if t.window_ends == ended) == 10
    await throttle.reserve(RegistrationRules(window=timedelta(hours=1), per_address=5).quota("203.0.113.9"))
    assert sum(1 for t in tables.attempt_counters.values() if t.window_ends == ended) == 10  # no window opened


async def test_a_refusal_the_process_has_learned_needs_no_database(tables, clock) -> None:
    throttle = Throttle(lambda: FakeUnitOfWork(tables), clock)
    rules = RegistrationRules(window=timedelta(hours=1), per_address=1)
    await throttle.reserve(rules.quota("203.0.113.9"))
    with pytest.raises(TooManyAttempts):
        await throttle.reserve(rules.quota("203.0.113.9"))
    tables.down = True
    clock.advance(minutes=59)
    with pytest.raises(TooManyAttempts) as refused:  # from memory: the database is not asked
        await throttle.reserve(rules.quota("203.0.113.9"))
    assert refused.value.retry_after == 60
    with pytest.raises(ServiceUnavailable):  # anything else is: the database decides every admission
        await throttle.reserve(rules.quota("198.51.100.7"))
    clock.advance(minutes=1)
    with pytest.raises(ServiceUnavailable):  # the refusal ended: ask again
        await throttle.reserve(rules.quota("203.0.113.9"))


async def test_a_burst_in_one_process_reaches_the_database_one_reservation_at_a_time(tables, clock) -> None:
    entered = []

    class CountingUnitOfWork(FakeUnitOfWork):
        async def __aenter__(self):  # type: ignore[no-untyped-def]
            entered.append(1)
            await asyncio.sleep(0)  # let the others run: a real database answers later
            return await super().__aenter__()

    throttle = Throttle(lambda: CountingUnitOfWork(tables), clock)
    quota = SignInRules(per_pair=5, per_address=20, per_account=100).quota("jane@example.com", "203.0.113.9")

    async def one() -> str:
        try:
            await throttle.reserve(quota)
            return "admitted"
        except TooManyAttempts:
            return "refused"

    outcomes = await asyncio.gather(*(one() for _ in range(50)))
    assert outcomes.count("admitted") == 5 and outcomes.count("refused") == 45
    assert len(entered) == 6 + 1  # five admitted, the one refusal learned, one purge (new windows)
    assert throttle._state._turns == {} and throttle._state._waiting == {}  # nothing kept once nobody waits


async def test_learned_refusals_are_bounded(tables, clock) -> None:
    throttle = Throttle(lambda: FakeUnitOfWork(tables), clock, max_refusals=3)
    rules = RegistrationRules(window=timedelta(hours=1), per_address=1)
    clients = [f"203.0.113.{i}" for i in range(10)]
    for client in clients:
        await throttle.reserve(rules.quota(client))
        with pytest.raises(TooManyAttempts):
            await throttle.reserve(rules.quota(client))
    tables.down = True  # what is not remembered must be asked
    remembered = []
    for client in clients:
        try:
            await throttle.reserve(rules.quota(client))
        except TooManyAttempts:
            remembered.append(client)
        except ServiceUnavailable:
            pass
    assert remembered == clients[-3:]


def test_refusal_says_when_to_retry() -> None:
    assert str(TooManyAttempts(7)) == "too many attempts; retry after 7 s" and TooManyAttempts(7).retry_after == 7


def test_an_account_under_attack_only_past_per_account_failures() -> None:
    rules = SignInRules()
    quota = rules.quota("jo@example.com", "192.0.2.1")
    ends = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    account, address, pair = quota.keys

    def tallies(on_account: int) -> list[Tally]:
        return [Tally(account, on_account, ends), Tally(address, 2, ends), Tally(pair, 2, ends)]

    assert quota.refusal(tallies(rules.per_account)) == {}  # at the limit: not yet under attack
    assert quota.refusal(tallies(rules.per_account + 1)) == {pair: ends}
