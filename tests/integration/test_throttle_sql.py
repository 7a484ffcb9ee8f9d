"""Throttling counters on MariaDB and SQLite: the adapter's contract, concurrent reservations in
one process, the table's bound, and the race across two real `billing serve` processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sql.attempt_counters import digest
from billing.adapters.sql.engine import create_engine
from billing.adapters.sql.tables import attempt_counters
from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.domain.model.throttle import RegistrationRules, SignInRules, Tally, TooManyAttempts
from billing.domain.use_cases.throttle import PURGE_BATCH, Throttle
from tests.conftest import PASSWORD, basic
from tests.fakes import FakeClock
from tests.integration.conftest import free_port, wipe
from tests.integration.live import BILLING


async def rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(attempt_counters))).scalar_one())


async def count(engine: AsyncEngine, keys: list[str], clock: FakeClock, window: timedelta) -> list[Tally]:
    async with SqlUnitOfWork(engine) as uow:
        tallies = list(await uow.attempts.count(keys, clock.now(), window))
        await uow.commit()
    return tallies


async def test_counts_open_windows_reset_ended_ones_and_keep_only_digests(engine) -> None:
    clock, window = FakeClock(), timedelta(minutes=15)
    first = await count(engine, ["a", "b"], clock, window)
    assert [(t.key, t.attempts, t.window_ends) for t in first] == [("a", 1, clock.now() + window),
                                                                    ("b", 1, clock.now() + window)]
    clock.advance(minutes=10)
    again = await count(engine, ["b", "c"], clock, window)
    assert [(t.key, t.attempts) for t in again] == [("b", 2), ("c", 1)]
    assert again[0].window_ends == first[1].window_ends  # the same window, not extended
    clock.advance(minutes=5)  # a's and b's window ends
    reset = await count(engine, ["b"], clock, window)
    assert (reset[0].attempts, reset[0].window_ends) == (1, clock.now() + window)
    async with engine.connect() as conn:
        stored = set((await conn.execute(sa.select(attempt_counters.c.counter_key))).scalars())
    assert stored == {digest("a"), digest("b"), digest("c")}


async def test_leaving_without_commit_counts_nothing(engine) -> None:
    clock, window = FakeClock(), timedelta(minutes=15)
    await count(engine, ["a"], clock, window)
    async with SqlUnitOfWork(engine) as uow:
        assert [t.attempts for t in await uow.attempts.count(["a", "new"], clock.now(), window)] == [2, 1]
    assert [t.attempts for t in await count(engine, ["a"], clock, window)] == [2]
    assert await rows(engine) == 1


async def test_uncount_takes_back_in_the_same_window_only(engine) -> None:
    clock, window = FakeClock(), timedelta(minutes=1)
    await count(engine, ["a", "pair"], clock, window)
    tallies = await count(engine, ["a", "pair"], clock, window)
    async with SqlUnitOfWork(engine) as uow:
        await uow.attempts.uncount(tallies, clear=["pair"])
        await uow.commit()
    assert [t.attempts for t in await count(engine, ["a", "pair"], clock, window)] == [2, 1]
    stale = await count(engine, ["a"], clock, window)
    clock.advance(minutes=1)
    await count(engine, ["a"], clock, window)  # a new window
    async with SqlUnitOfWork(engine) as uow:
        await uow.attempts.uncount(stale)
        await uow.commit()
    assert [t.attempts for t in await count(engine, ["a"], clock, window)] == [2]


async def test_purge_removes_ended_windows_at_most_limit_at_a_time(engine) -> None:
    clock, window = FakeClock(), timedelta(minutes=1)
    await count(engine, [f"k{i}" for i in range(7)], clock, window)
    clock.advance(seconds=30)
    await count(engine, ["live"], clock, window)
    clock.advance(seconds=30)
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.attempts.purge(clock.now(), 5) == 5
        assert await uow.attempts.purge(clock.now(), 5) == 2
        assert await uow.attempts.purge(clock.now(), 5) == 0
        await uow.commit()
    assert await rows(engine) == 1


async def test_concurrent_reservations_never_overtake_the_limit(engine) -> None:
    """60 at once, each as if from a process of its own (its own Throttle): the database alone
    decides, and exactly the allowance passes."""
    clock = FakeClock()
    rules = SignInRules(per_pair=5, per_address=20, per_account=10)
    quota = rules.quota("jane@example.com", "203.0.113.9")

    async def one() -> str:
        try:
            await Throttle(lambda: SqlUnitOfWork(engine, timeout=30), clock).reserve(quota)
            return "admitted"
        except TooManyAttempts:
            return "refused"

    outcomes = Counter(await asyncio.gather(*(one() for _ in range(60))))
    assert outcomes == {"admitted": 5, "refused": 55}


async def test_spraying_made_up_accounts_keeps_the_table_bounded(engine) -> None:
    clock, rules = FakeClock(), SignInRules(per_pair=5, per_address=5, per_account=3)
    throttle = Throttle(lambda: SqlUnitOfWork(engine), clock)
    largest = 0
    for i in range(120):
        with contextlib.suppress(TooManyAttempts):
            await throttle.reserve(rules.quota(f"victim{i}@example.com", "203.0.113.9"))
        largest = max(largest, await rows(engine))
        clock.advance(seconds=30)  # four windows of 15 minutes in all
    assert 2 * rules.per_address < largest <= 1 + 4 * rules.per_address
    assert await rows(engine) <= 1 + 4 * rules.per_address + PURGE_BATCH


async def test_registration_counter_is_shared_by_every_unit_of_work(engine) -> None:
    clock, rules = FakeClock(), RegistrationRules(per_address=2)
    for _ in range(2):  # a Throttle each: processes of their own, sharing the database only
        await Throttle(lambda: SqlUnitOfWork(engine), clock).reserve(rules.quota("203.0.113.9"))
    with pytest.raises(TooManyAttempts) as refused:
        await Throttle(lambda: SqlUnitOfWork(engine), clock).reserve(rules.quota("203.0.113.9"))
    assert refused.value.retry_after == 3600


# --- two real processes on one MariaDB -------------------------------------------------------------

ATTACKER = {"X-Forwarded-For": "203.0.113.9"}
OWNER = {"X-Forwarded-For": "198.51.100.7"}
JANE = {"first_name": "Jane", "last_name": "Doe", "email_address": "jane@example.com", "password": PASSWORD}


def serve(tmp_path: Path, name: str, database_url: str) -> tuple[subprocess.Popen[str], str]:
    """`billing serve` (one process) behind one trusted proxy, as deploy/ runs it."""
    port = free_port()
    env = os.environ | {"BILLING_HTTP_PORT": str(port), "BILLING_DATABASE_URL": database_url,
                        "BILLING_FORWARDED_HOPS": "1", "BILLING_LOG_LEVEL": "WARNING"}
    log = (tmp_path / f"{name}.log").open("w")
    process = subprocess.Popen([BILLING, "serve", "--workers", "1"], cwd=tmp_path, env=env, stdout=log,
                               stderr=subprocess.STDOUT, text=True)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, (tmp_path / f"{name}.log").read_text()
        assert time.monotonic() < deadline, "billing serve did not answer within 30 s"
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return process, base
        except OSError:
            time.sleep(0.1)


@pytest.fixture
def two_processes(tmp_path: Path, mysql_url: str) -> Iterator[tuple[str, str]]:
    async def clean() -> None:
        engine = create_engine(mysql_url)
        await wipe(engine)
        await engine.dispose()

    asyncio.run(clean())
    started = [serve(tmp_path, name, mysql_url) for name in ("one", "two")]
    try:
        yield started[0][1], started[1][1]
    finally:
        for process, _ in started:
            process.terminate()
        for process, _ in started:
            process.wait(timeout=30)


def test_a_burst_across_two_processes_gets_the_allowance_and_the_owner_still_signs_in(two_processes) -> None:
    one, two = two_processes

    async def attack() -> tuple[Counter[int], int, list[aiohttp.ClientResponse]]:
        # A fresh connection per request: nothing is shared but the database.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0)) as http:
            registered = await http.post(f"{one}/v1/user", json=JANE, headers=OWNER)
            assert registered.status == 201

            async def guess(i: int) -> aiohttp.ClientResponse:
                base = (one, two)[i % 2]
                headers = basic("jane@example.com", f"Guess{i:03d}!") | ATTACKER
                async with http.get(f"{base}/v1/user/self", headers=headers) as response:
                    await response.read()
                    return response

            async def owner() -> int:
                await asyncio.sleep(0.05)  # while the guesses are in flight
                async with http.get(f"{two}/v1/user/self", headers=basic("jane@example.com") | OWNER) as response:
                    return response.status

            *guesses, owner_status = await asyncio.gather(*(guess(i) for i in range(60)), owner())
            return Counter(r.status for r in guesses), owner_status, guesses

    statuses, owner_status, guesses = asyncio.run(attack())
    assert statuses == {401: 5, 429: 55}  # five verifications in all, not five per process
    assert owner_status == 200
    refused = [r for r in guesses if r.status == 429]
    assert all(r.content_type == "application/problem+json" and 1 <= int(r.headers["Retry-After"]) <= 900
               for r in refused)


def test_sequential_guesses_alternating_between_processes_share_one_allowance(two_processes) -> None:
    one, two = two_processes

    async def alternate() -> list[int]:
        async with aiohttp.ClientSession() as http:
            assert (await http.post(f"{one}/v1/user", json=JANE, headers=OWNER)).status == 201
            statuses = []
            for i in range(8):
                headers = basic("jane@example.com", f"Guess{i:03d}!") | ATTACKER
                async with http.get(f"{(one, two)[i % 2]}/v1/user/self", headers=headers) as response:
                    statuses.append(response.status)
            for base in (one, two):  # the owner, cold in both processes, from another address
                async with http.get(f"{base}/v1/user/self", headers=basic("jane@example.com") | OWNER) as response:
                    statuses.append(response.status)
            return statuses

    assert asyncio.run(alternate()) == [401] * 5 + [429] * 3 + [200, 200]
