"""Idempotency keys on MariaDB and SQLite: the SQL store, and the keyed POSTs over HTTP on the
production container (real database, moto for the uploads)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from dependency_injector import providers
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sql.idempotency_store import SqlIdempotencyStore
from billing.adapters.sql.tables import bills, idempotency_keys, users
from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.container import Container
from billing.domain.model import ServiceUnavailable
from billing.domain.use_cases.create_bill import CreateBill
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.idempotency import ABANDONED_AFTER, RETENTION
from billing.ports import HeldKey, KeyClaim
from tests.conftest import PASSWORD, basic
from tests.fakes import FakeClock
from tests.integration.conftest import bootstrapped, make_container, wipe
from tests.integration.test_http_real import BILL, USER
from tests.integration.test_serve_workers import start_serve

AUTH = basic("jane@example.com")
SECRET = "s" * 64
PDF = b"%PDF-1.7\n" + b"x" * 5000


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


def claim_at(now: datetime, key_hash: str = "a" * 64) -> KeyClaim:
    return KeyClaim(scope="user:1", key_hash=key_hash, claimed_at=now, expires_at=now + RETENTION)


def form(data: bytes = PDF, name: str = "invoice.pdf") -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("attachment", io.BytesIO(data), filename=name, content_type="application/pdf")
    return body


async def rows(engine: AsyncEngine, table: sa.Table) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(table))).all())


# --- the store (IdempotencyStore, IdempotencyAnswers) on SQL -------------------------------------

async def test_the_store_claims_records_replays_and_expires(engine) -> None:
    store, now = SqlIdempotencyStore(lambda: SqlUnitOfWork(engine)), FakeClock().now()
    claim = claim_at(now)
    assert await store.claim(claim, abandoned_before=now - ABANDONED_AFTER) is None
    assert await store.claim(claim_at(now), abandoned_before=now - ABANDONED_AFTER) == HeldKey(None, None)
    replay = bytes(range(256)) * 3  # opaque: any bytes come back as they were
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.idempotency.record(claim, "f" * 64, replay)
        await uow.commit()
    held = await store.claim(claim_at(now + timedelta(seconds=1)), abandoned_before=now - ABANDONED_AFTER)
    assert held == HeldKey("f" * 64, replay) and not held.in_flight
    await store.release(claim)  # an answered entry stays
    later = now + RETENTION
    assert await store.claim(claim_at(later), abandoned_before=later - ABANDONED_AFTER) is None  # expired: claimed anew


async def test_an_answer_is_recorded_only_by_the_claim_that_still_holds_the_key(engine) -> None:
    store, now = SqlIdempotencyStore(lambda: SqlUnitOfWork(engine)), FakeClock().now()
    first = claim_at(now)
    assert await store.claim(first, abandoned_before=now - ABANDONED_AFTER) is None
    later = now + ABANDONED_AFTER + timedelta(seconds=1)
    second = claim_at(later)
    assert await store.claim(second, abandoned_before=later - ABANDONED_AFTER) is None  # the first was abandoned
    async with SqlUnitOfWork(engine) as uow:
        assert not await uow.idempotency.record(first, "1" * 64, b"late")
    await store.release(first)  # not the first's any more: the second's claim stays
    assert await store.claim(claim_at(later), abandoned_before=later - ABANDONED_AFTER) == HeldKey(None, None)
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.idempotency.record(second, "2" * 64, b"answer")
        await uow.commit()
    assert await store.claim(claim_at(later), abandoned_before=later - ABANDONED_AFTER) == HeldKey("2" * 64, b"answer")


async def test_an_answer_stored_by_the_previous_release_is_refused_never_run_again(engine) -> None:
    now = FakeClock().now()
    async with engine.begin() as conn:  # a row as the release before opaque records wrote it
        await conn.execute(idempotency_keys.insert().values(
            scope="user:1", key_hash="a" * 64, fingerprint="f" * 64, status=201, content_type="application/json",
            headers=[["Location", "/v1/bill/1"]], body='{"id": 1}', created_at=now, expires_at=now + RETENTION))
    store = SqlIdempotencyStore(lambda: SqlUnitOfWork(engine))
    assert await store.claim(claim_at(now), abandoned_before=now - ABANDONED_AFTER) == HeldKey("", b"")


# --- over HTTP, on the production container ------------------------------------------------------

@pytest.fixture
async def container(database_url: str, aws_endpoint: str) -> AsyncIterator[Container]:
    container = make_container(database_url, aws_endpoint, idempotency_secret=SECRET)
    container.clock.override(providers.Object(FakeClock()))
    async with bootstrapped(container):
        yield container


@pytest.fixture
async def client(aiohttp_client, container: Container) -> TestClient:  # type: ignore[no-untyped-def]
    client: TestClient = await aiohttp_client(create_app(container))
    assert (await client.post("/v1/user", json=USER)).status == 201
    return client


class Gated:
    """CreateBill that counts its runs and, while `gate` is clear, waits before running."""

    def __init__(self, container: Container) -> None:
        self.runs, self.gate = 0, asyncio.Event()
        self.gate.set()
        outer = self

        class Slow:
            async def execute(self, command):  # type: ignore[no-untyped-def]
                outer.runs += 1
                await outer.gate.wait()
                return await CreateBill(container.uow(), container.clock()).execute(command)

        container.create_bill.override(providers.Factory(Slow))


async def test_the_first_answer_is_kept_and_replayed(client, container) -> None:
    runs = Gated(container)
    first = await client.post("/v1/bill", json=BILL, headers=AUTH | key("k"))
    again = await client.post("/v1/bill", json=BILL, headers=AUTH | key("k"))
    assert (first.status, again.status, runs.runs) == (201, 201, 1)
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"
    assert await again.read() == await first.read()
    assert (again.content_type, again.headers["Location"]) == ("application/json", first.headers["Location"])
    assert (await client.post("/v1/bill", json=BILL | {"vendor": "Other"}, headers=AUTH | key("k"))).status == 422
    container.clock().advance(seconds=RETENTION.total_seconds())
    expired = await client.post("/v1/bill", json=BILL, headers=AUTH | key("k"))
    assert expired.status == 201 and "Idempotent-Replayed" not in expired.headers
    assert runs.runs == 2 and len(await rows(container.engine(), bills)) == 2


async def test_an_in_flight_duplicate_is_409_and_a_4xx_frees_the_key(client, container) -> None:
    runs = Gated(container)
    runs.gate.clear()
    first = asyncio.create_task(client.post("/v1/bill", json=BILL, headers=AUTH | key("k")))
    while not runs.runs:
        await asyncio.sleep(0.01)
    duplicate = await client.post("/v1/bill", json=BILL, headers=AUTH | key("k"))
    assert duplicate.status == 409 and duplicate.headers["Retry-After"]
    runs.gate.set()
    assert (await first).status == 201
    assert (await client.post("/v1/bill", json=BILL | {"vendor": ""}, headers=AUTH | key("bad"))).status == 400
    retried = await client.post("/v1/bill", json=BILL, headers=AUTH | key("bad"))
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    assert len(await rows(container.engine(), bills)) == 2


def fail_the_commit_of_an_answer(container: Container) -> list[BaseException]:
    """Arm (append an error to the list returned) to make the next unit of work that records an
    answer fail instead of committing: its statements ran, nothing is committed, as a crash, a lost
    connection or a failed COMMIT leaves it."""
    armed: list[BaseException] = []

    class CommitFails(SqlUnitOfWork):
        answered = False

        async def __aenter__(self) -> CommitFails:
            await super().__aenter__()
            record = self.idempotency.record

            async def recording(claim: KeyClaim, fingerprint: str, replay: bytes) -> bool:
                self.answered = True
                return await record(claim, fingerprint, replay)

            self.idempotency.record = recording  # type: ignore[method-assign]
            return self

        async def commit(self) -> None:
            if self.answered and armed:
                raise armed.pop()
            await super().commit()

    container.uow.override(providers.Factory(CommitFails, container.engine, container.metrics,
                                             container.settings.provided.db_timeout_seconds))
    return armed


class NothingReleases:
    """The store of a process that dies: its claims are never released."""

    def __init__(self, store: Any) -> None:
        self._store = store

    async def claim(self, claim: KeyClaim, *, abandoned_before: datetime) -> HeldKey | None:
        return await self._store.claim(claim, abandoned_before=abandoned_before)  # type: ignore[no-any-return]

    async def release(self, claim: KeyClaim) -> None:
        pass


@pytest.mark.parametrize("route", ["bill", "user", "file"])
async def test_a_failure_between_the_write_and_its_commit_leaves_neither_the_write_nor_the_answer(
        client, container, route) -> None:
    engine = container.engine()
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    before = {t.name: len(await rows(engine, t)) for t in (users, bills)}
    send: dict[str, Callable[[], Any]] = {
        "bill": lambda: client.post("/v1/bill", json=BILL, headers=AUTH | key("c")),
        "user": lambda: client.post("/v1/user", json=USER | {"email_address": "new@example.com"}, headers=key("c")),
        "file": lambda: client.post(f"/v1/bill/{bill['id']}/file", data=form(), headers=AUTH | key("c")),
    }
    fail_the_commit_of_an_answer(container).append(ServiceUnavailable("commit failed"))
    assert (await send[route]()).status == 503
    assert {t.name: len(await rows(engine, t)) for t in (users, bills)} == before
    assert (await (await client.get(f"/v1/bill/{bill['id']}", headers=AUTH)).json())["attachment"] == {}
    assert await rows(engine, idempotency_keys) == []  # released: the retry may use the key
    retried = await send[route]()
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    again = await send[route]()
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.read() == await retried.read()


async def test_a_crash_before_the_commit_leaves_only_a_claim_that_frees_itself(client, container) -> None:
    container.idempotency_store.override(providers.Object(NothingReleases(container.idempotency_store())))
    fail_the_commit_of_an_answer(container).append(ServiceUnavailable("the process died"))
    assert (await client.post("/v1/bill", json=BILL, headers=AUTH | key("k"))).status == 503
    assert await rows(container.engine(), bills) == []
    [claim] = await rows(container.engine(), idempotency_keys)
    assert claim.status is None  # in flight, forever unanswered: the write never committed
    assert (await client.post("/v1/bill", json=BILL, headers=AUTH | key("k"))).status == 409
    container.clock().advance(seconds=(ABANDONED_AFTER + timedelta(seconds=1)).total_seconds())
    retried = await client.post("/v1/bill", json=BILL, headers=AUTH | key("k"))
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    assert len(await rows(container.engine(), bills)) == 1


async def test_a_keyed_post_takes_one_pool_checkout_more_than_an_unkeyed_one(client, container) -> None:
    """Checkouts of either pool per request: the caller's read (when signed in), the claim (when
    keyed), then the use case's own; the answer is recorded in the use case's transaction."""
    counted = [0]

    def count(*_: object) -> None:
        counted[0] += 1

    for engine in {container.engine(), container.read_engine()}:
        sa.event.listen(engine.sync_engine.pool, "checkout", count)

    async def checkouts(request: Any) -> int:
        counted[0] = 0
        response = await request
        assert response.status == 201, await response.text()
        return counted[0]

    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    measured = {
        "POST /v1/bill": await checkouts(client.post("/v1/bill", json=BILL, headers=AUTH)),
        "POST /v1/bill keyed": await checkouts(client.post("/v1/bill", json=BILL, headers=AUTH | key("b"))),
        "POST /v1/bill replayed": await checkouts(client.post("/v1/bill", json=BILL, headers=AUTH | key("b"))),
        # registration is counted per client address (throttling), reads the address before
        # hashing the password, then writes
        "POST /v1/user keyed": await checkouts(
            client.post("/v1/user", json=USER | {"email_address": "new@example.com"}, headers=key("u"))),
        # the upload reads the bill before streaming the file, then writes
        "POST /v1/bill/{id}/file keyed": await checkouts(
            client.post(f"/v1/bill/{bill['id']}/file", data=form(), headers=AUTH | key("f"))),
    }
    assert measured == {"POST /v1/bill": 2, "POST /v1/bill keyed": 3, "POST /v1/bill replayed": 2,
                        "POST /v1/user keyed": 4, "POST /v1/bill/{id}/file keyed": 4}


# --- fingerprints: keyed with the server's secret (no password-derived value at rest) ------------

async def test_a_registration_fingerprint_cannot_be_recomputed_from_the_body(client, container) -> None:
    body = json.dumps(USER | {"email_address": "new@example.com"}).encode()
    headers = key("r") | {"Content-Type": "application/json"}
    assert (await client.post("/v1/user", data=body, headers=headers)).status == 201
    [row] = [r for r in await rows(container.engine(), idempotency_keys) if r.scope == "anonymous"]
    body_digest = hashlib.sha256(body).hexdigest()
    # what anyone holding the body (or guessing the password) could compute without the secret
    unkeyed = {body_digest, hashlib.sha256(f"POST /v1/user {body_digest}".encode()).hexdigest(),
               hashlib.sha256(b"POST /v1/user\0" + body).hexdigest(),
               hmac.new(b"", b"POST /v1/user\0" + body, "sha256").hexdigest()}
    assert row.fingerprint not in unkeyed
    assert row.fingerprint == hmac.new(SECRET.encode(), b"POST /v1/user\0" + body, "sha256").hexdigest()
    stored = " ".join(str(v) for v in row) + base64.b64decode(row.body).decode()
    assert PASSWORD not in stored  # and the answer itself holds no password


async def test_the_same_registration_has_another_fingerprint_under_another_secret(
        aiohttp_client, database_url, aws_endpoint) -> None:
    fingerprints = []
    for secret in ("a" * 32, "b" * 32):
        container = make_container(database_url, aws_endpoint, idempotency_secret=secret)
        await wipe(container.engine())
        client = await aiohttp_client(create_app(container))
        assert (await client.post("/v1/user", json=USER, headers=key("r"))).status == 201
        [row] = await rows(container.engine(), idempotency_keys)
        fingerprints.append(row.fingerprint)
        await container.engine().dispose()
        await container.read_engine().dispose()
    assert fingerprints[0] != fingerprints[1]


def test_serve_without_a_secret_shares_one_among_its_workers(tmp_path: Path) -> None:
    """Every worker process of one `billing serve` keys fingerprints alike: a replay is a replay
    whichever worker the retry reaches (each request comes on a new connection)."""
    billing = Path(sys.executable).with_name("billing")
    url = f"sqlite+aiosqlite:///{tmp_path}/billing.db"
    subprocess.run([str(billing), "migrate"], env={"BILLING_DATABASE_URL": url, "PATH": ""}, check=True,
                   capture_output=True, timeout=60)
    process, port = start_serve(tmp_path, workers=2)
    try:
        def post(path: str, body: dict[str, object], headers: dict[str, str]) -> tuple[int, dict[str, str]]:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                             headers=headers | {"Content-Type": "application/json"}, method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers)

        assert post("/v1/user", USER, {})[0] == 201
        assert post("/v1/bill", BILL, AUTH | key("w"))[0] == 201
        replays = [post("/v1/bill", BILL, AUTH | key("w")) for _ in range(12)]
        assert all(status == 201 and headers.get("Idempotent-Replayed") == "true" for status, headers in replays)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert output.count("BILLING_IDEMPOTENCY_SECRET is not set") == 1, output
