"""The database frozen, killed and restarted under traffic: fast 503s, recovery without a restart,
and no acknowledged write lost. Runs its own MariaDB (the shared one is never touched)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from dependency_injector import providers

from billing.adapters.sql.migrate import upgrade_to_head
from billing.config import Settings
from billing.container import Container
from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic
from tests.integration.conftest import fast_hasher
from tests.integration.disposable_mariadb import DisposableMariaDB

BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 10,
        "payment_status": "due"}
AUTH = basic("faults@example.com")
WORKERS = 4


@pytest.fixture(scope="module")
def mariadb() -> Iterator[DisposableMariaDB]:
    db = DisposableMariaDB()
    try:
        db.start()
        upgrade_to_head(db.url)
        yield db
    finally:
        db.close()


class Traffic:
    """WORKERS clients creating bills in a loop; every answer is kept with its latency."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.acknowledged: set[str] = set()
        self.answers: list[tuple[float, float, int, str]] = []  # (sent at, latency, status, content type)
        self.stop = asyncio.Event()

    async def worker(self) -> None:
        while not self.stop.is_set():
            sent = time.monotonic()
            response = await self.client.post("/v1/bill", json=BILL, headers=AUTH)
            body = await response.json()
            self.answers.append((sent, time.monotonic() - sent, response.status, response.content_type))
            if response.status == 201:
                self.acknowledged.add(body["id"])
            await asyncio.sleep(0.05)

    def since(self, moment: float) -> list[tuple[float, float, int, str]]:
        return [a for a in self.answers if a[0] >= moment]


async def ready(client) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    sent = time.monotonic()
    response = await client.get("/readyz")
    return response.status, time.monotonic() - sent


async def first_success_after(traffic: Traffic, moment: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = [a for a in traffic.since(moment) if a[2] == 201]
        if ok:
            return ok[0][0] + ok[0][1] - moment
        await asyncio.sleep(0.05)
    raise AssertionError(f"no request succeeded within {timeout} s: {[a[2] for a in traffic.since(moment)]}")


def assert_fast_503s(answers: list[tuple[float, float, int, str]]) -> None:
    failures = [a for a in answers if a[2] != 201]
    assert failures, "the database fault went unnoticed"
    assert {a[2] for a in failures} == {503}, answers
    assert {a[3] for a in failures} == {"application/problem+json"}
    assert max(a[1] for a in answers) < 2.0, max(a[1] for a in answers)


async def test_database_frozen_then_killed_then_back(aiohttp_client, mariadb) -> None:
    container = Container(settings=Settings(database_url=mariadb.url, public_base_url="https://billing.test"))
    container.password_hasher.override(providers.Singleton(fast_hasher))
    client = await aiohttp_client(create_app(container))
    body = {"first_name": "F", "last_name": "Aults", "email_address": "faults@example.com", "password": PASSWORD}
    assert (await client.post("/v1/user", json=body)).status == 201
    traffic = Traffic(client)
    workers = [asyncio.create_task(traffic.worker()) for _ in range(WORKERS)]
    try:
        await asyncio.sleep(1)
        # 1. Frozen (SIGSTOP): connections stay open but nothing answers.
        frozen = time.monotonic()
        mariadb.signal(signal.SIGSTOP)
        await asyncio.sleep(3)
        status, latency = await ready(client)
        assert status == 503 and latency < 2.0
        mariadb.signal(signal.SIGCONT)
        thawed = time.monotonic()
        assert_fast_503s([a for a in traffic.since(frozen) if a[0] < thawed - 2])
        recovered = await first_success_after(traffic, thawed, 5)
        print(
            f"frozen: slowest answer {max(a[1] for a in traffic.since(frozen)):.2f} s, recovered in {recovered:.2f} s"
        )
        # 2. Killed (SIGKILL): connections refused; then restarted on the same data.
        await asyncio.sleep(1)
        killed = time.monotonic()
        await asyncio.to_thread(mariadb.kill)
        await asyncio.sleep(2)
        status, latency = await ready(client)
        assert status == 503 and latency < 2.0
        await asyncio.to_thread(mariadb.start)
        back = time.monotonic()
        assert_fast_503s([a for a in traffic.since(killed) if a[0] < back - 2])
        recovered = await first_success_after(traffic, back, 5)
        print(f"killed: slowest answer {max(a[1] for a in traffic.since(killed)):.2f} s, "
              f"recovered {recovered:.2f} s after the restart, {len(traffic.acknowledged)} writes acknowledged")
        assert (await ready(client))[0] == 200
        await asyncio.sleep(1)
    finally:
        traffic.stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
    # No acknowledged write is lost: every bill answered 201 is stored.
    async with container.engine().connect() as conn:
        stored = {str(r[0]) for r in await conn.execute(sa.text("SELECT id FROM bills"))}
    assert traffic.acknowledged and traffic.acknowledged <= stored, traffic.acknowledged - stored
    await container.engine().dispose()
