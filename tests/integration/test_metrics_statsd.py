"""The statsd adapter on a real UDP socket: what real requests emit, and that a dead agent costs nothing."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import uvloop

from billing.adapters.metrics.statsd import StatsdMetrics
from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.config import Settings
from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic, container_with_fakes
from tests.fakes import FakeClock, FakeMetrics, FakePasswordHasher, Tables
from tests.integration.conftest import make_container, wipe
from tests.integration.test_sql_adapter import a_user

USER = {"first_name": "Jane", "last_name": "Doe", "email_address": "jane@example.com", "password": PASSWORD}
BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 12.5,
        "payment_status": "due"}
AUTH = basic("jane@example.com")
LINE = re.compile(r"^(?P<name>[a-z_.]+):(?P<value>[0-9.]+)\|(?P<type>c|ms)(?:\|#(?P<tags>.*))?$")


class Agent(asyncio.DatagramProtocol):
    """A statsd agent that only listens: every datagram is one metric line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.lines.extend(data.decode().splitlines())

    def parsed(self) -> list[tuple[str, float, str, dict[str, str]]]:
        out = []
        for line in self.lines:
            match = LINE.match(line)
            assert match, f"not a statsd line: {line!r}"
            tags = dict(t.split(":", 1) for t in match["tags"].split(",")) if match["tags"] else {}
            out.append((match["name"], float(match["value"]), match["type"], tags))
        return out

    async def wait_for(self, predicate, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.parsed()):
            assert time.monotonic() < deadline, f"metrics never arrived; got {self.lines}"
            await asyncio.sleep(0.02)


@pytest.fixture
async def agent() -> AsyncIterator[tuple[Agent, int]]:
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        Agent, local_addr=("127.0.0.1", 0))
    yield protocol, transport.get_extra_info("sockname")[1]
    transport.close()


def free_udp_port() -> int:
    """A port nobody listens on: datagrams to it are refused (ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_real_requests_reach_the_agent_tagged_by_route_pattern(aiohttp_client, agent) -> None:
    listener, port = agent
    settings = Settings(public_base_url="https://billing.test", statsd_host="127.0.0.1", statsd_port=port)
    container = container_with_fakes(settings, Tables(), FakeClock(), FakePasswordHasher())
    assert isinstance(container.metrics(), StatsdMetrics)
    client = await aiohttp_client(create_app(container))

    assert (await client.post("/v1/user", json=USER)).status == 201
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    assert (await client.get(f"/v1/bill/{bill['id']}", headers=AUTH)).status == 200
    assert (await client.get("/v1/user/self")).status == 401
    assert (await client.get("/no/such/jane@example.com")).status == 404

    def complete(metrics) -> bool:
        return sum(1 for name, *_ in metrics if name == "billing.http.requests") == 5 and \
            sum(1 for name, *_ in metrics if name == "billing.http.request.duration") == 5

    await listener.wait_for(complete)
    metrics = listener.parsed()
    counters = {(t["route"], t["method"], t["status_class"]) for n, v, kind, t in metrics
                if n == "billing.http.requests" and kind == "c" and v == 1}
    assert counters == {("/v1/user", "POST", "2xx"), ("/v1/bill", "POST", "2xx"), ("/v1/bill/{id}", "GET", "2xx"),
                        ("/v1/user/self", "GET", "4xx"), ("unmatched", "GET", "4xx")}
    timers = [(v, t) for n, v, kind, t in metrics if n == "billing.http.request.duration"]
    assert all(kind == "ms" for n, _, kind, _ in metrics if n == "billing.http.request.duration")
    assert all(0 <= v < 5000 and set(t) == {"route", "method", "status_class"} for v, t in timers)
    everything = "\n".join(listener.lines)
    assert bill["id"] not in everything and "example.com" not in everything


async def test_database_and_s3_calls_timed_by_operation_on_the_agent(aiohttp_client, agent, sqlite_url,
                                                                     aws_endpoint) -> None:
    listener, port = agent
    container = make_container(sqlite_url, aws_endpoint, statsd_host="127.0.0.1", statsd_port=port,
                               statsd_prefix="svc.billing")
    await wipe(container.engine())
    await container.init_resources()
    await container.bootstrap()  # the test's own bucket
    await container.shutdown_resources()
    client = await aiohttp_client(create_app(container))
    assert (await client.post("/v1/user", json=USER)).status == 201
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    upload = aiohttp.FormData()
    upload.add_field("attachment", io.BytesIO(b"%PDF-1.7\n" + b"x" * 1000), filename="a.pdf",
                     content_type="application/pdf")
    assert (await client.post(f"/v1/bill/{bill['id']}/file", data=upload, headers=AUTH)).status == 201
    assert (await client.delete(f"/v1/bill/{bill['id']}", headers=AUTH)).status == 204

    def done(metrics) -> bool:
        db = {t.get("operation") for n, *_, t in metrics if n == "svc.billing.db.duration"}
        s3 = {t.get("operation") for n, *_, t in metrics if n == "svc.billing.aws.duration"}
        return {"users.insert", "commit", "users.select", "bills.insert"} <= db and \
            {"put_object", "delete_object"} <= s3

    await listener.wait_for(done)
    parsed = listener.parsed()
    db = [t for n, v, kind, t in parsed if n == "svc.billing.db.duration"]
    assert all(set(t) == {"operation", "outcome"} and t["outcome"] == "ok" for t in db), db
    assert all(re.fullmatch(r"connect|commit|rollback|[a-z_]+\.(select|insert|update|delete)", t["operation"])
               for t in db), db
    s3 = [t for n, v, kind, t in parsed if n == "svc.billing.aws.duration"]
    assert all(set(t) == {"service", "operation", "outcome"} and t["service"] == "s3" for t in s3)
    assert bill["id"] not in "\n".join(listener.lines)


async def test_sql_unit_of_work_times_every_call(engine) -> None:
    metrics = FakeMetrics()
    user = a_user()
    async with SqlUnitOfWork(engine, metrics) as uow:
        await uow.users.add(user)
        await uow.commit()
    async with SqlUnitOfWork(engine, metrics) as uow:
        assert await uow.users.get(user.id) is not None
        assert await uow.bills.delete(user.id, user.id) is False
    operations = [tags["operation"] for tags in metrics.timed("db.duration")]
    assert operations == ["connect", "users.insert", "commit", "connect", "users.select", "bills.delete"]
    assert str(user.id) not in repr(metrics.timings)


async def test_request_unaffected_when_agent_is_dead(aiohttp_client) -> None:
    settings = Settings(public_base_url="https://billing.test", statsd_host="127.0.0.1", statsd_port=free_udp_port())
    client = await aiohttp_client(create_app(container_with_fakes(settings, Tables(), FakeClock(),
                                                                  FakePasswordHasher())))
    started = time.perf_counter()
    for _ in range(50):
        assert (await client.get("/healthz")).status == 200
    assert time.perf_counter() - started < 2.0


async def test_unresolvable_agent_turns_metrics_off_without_failing_startup(aiohttp_client, caplog) -> None:
    settings = Settings(public_base_url="https://billing.test", statsd_host="statsd.invalid")
    client = await aiohttp_client(create_app(container_with_fakes(settings, Tables(), FakeClock(),
                                                                  FakePasswordHasher())))
    assert (await client.get("/healthz")).status == 200
    assert "metrics are off" in caplog.text


def test_dead_agent_on_uvloop_never_raises_and_closes_promptly() -> None:
    """`billing serve` runs on uvloop, whose UDP transport reports refused datagrams its own way."""

    async def main() -> float:
        metrics = StatsdMetrics("127.0.0.1", free_udp_port())
        await metrics.start()
        for i in range(2000):
            metrics.increment("probe", tags={"i": str(i % 3)})
            metrics.timing("probe.duration", 1.5)
            if i % 100 == 0:
                await asyncio.sleep(0.001)  # let the sender run, and the ICMP errors come back
        started = time.perf_counter()
        await metrics.close()
        return time.perf_counter() - started

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(main()) < 2.5


async def test_metrics_before_start_and_after_close_are_dropped(agent) -> None:
    listener, port = agent
    metrics = StatsdMetrics("127.0.0.1", port, prefix="")
    metrics.increment("early")
    await metrics.start()
    metrics.increment("kept", tags={"route": "/v1/bill/{id}", "bad|tag": "a,b#c"})
    await metrics.close()
    metrics.increment("late")
    await asyncio.sleep(0.05)
    assert listener.lines == ["kept:1|c|#route:/v1/bill/{id},bad_tag:a_b_c"]


async def test_worker_messages_reach_the_agent(agent) -> None:
    """The real worker consumer with the real statsd adapter: received, processed, skipped as a
    duplicate, rejected (with its reason) and dead-lettered, with no ids in names or tags."""
    from dependency_injector import providers

    from billing.domain.model.due_bills import DueBillsRequest
    from billing.entrypoints.worker import due_bills_consumer
    from tests.fakes import FakeEmailLedger, FakePublisher, FakeQueue

    listener, port = agent
    settings = Settings(statsd_host="127.0.0.1", statsd_port=port, worker_wait_seconds=0,
                        worker_retry_delay_seconds=0, queue_max_receives=1)
    clock, queue, ledger = FakeClock(), FakeQueue(max_receives=1), FakeEmailLedger()
    tables = Tables()
    container = container_with_fakes(settings, tables, clock, FakePasswordHasher(), queue=queue)
    container.email_ledger.override(providers.Object(ledger))
    publisher = FakePublisher()
    container.digest_publisher.override(providers.Object(publisher))
    emailed, other = a_user("emailed@example.com"), a_user()
    tables.users |= {emailed.id: emailed, other.id: other}
    await ledger.claim(emailed.id, emailed.id, clock.now())
    await ledger.mark_sent(emailed.id, emailed.id, clock.now())
    for user_id in (other.id, emailed.id):
        queue.put(DueBillsRequest(user_id, user_id, 7, clock.now()).to_json())
    queue.put("poison")
    await container.init_resources()
    try:
        stop = asyncio.Event()
        task = asyncio.create_task(due_bills_consumer(container).run(stop))

        def complete(metrics) -> bool:
            names = [name for name, *_ in metrics]
            return (
                names.count("billing.worker.messages.received") == 3
                and "billing.worker.messages.dead_lettered" in names
            )

        await listener.wait_for(complete)
        stop.set()
        await task
    finally:
        await container.shutdown_resources()
    assert queue.messages == {} and queue.dead_letters == ["poison"] and len(publisher.published) == 1
    counts: dict[str, float] = {}
    for name, value, kind, tags in listener.parsed():
        if kind == "c" and name.startswith("billing.worker."):
            key = name + "".join(f"|{k}:{v}" for k, v in sorted(tags.items()))
            counts[key] = counts.get(key, 0) + value
    assert counts == {"billing.worker.messages.received": 3, "billing.worker.messages.processed": 2,
                      "billing.worker.messages.skipped_duplicate": 1,
                      "billing.worker.messages.rejected|reason:malformed": 1,
                      "billing.worker.messages.dead_lettered": 1}
    assert "example.com" not in "\n".join(listener.lines) and str(emailed.id) not in "\n".join(listener.lines)


async def test_lambda_invocation_metrics_reach_the_agent(agent) -> None:
    """The real handler runtime with the statsd adapter (outside AWS Lambda; inside, it writes EMF
    lines instead): one email sent, one deduplicated, no ids or addresses in the datagrams."""
    import uuid
    from datetime import date

    from dependency_injector import providers

    from billing.domain.model.due_bills import DueBillsDigest
    from billing.entrypoints.lambda_handler import LambdaRuntime
    from billing.entrypoints.local_lambda import sns_event
    from billing.lambda_container import EmailContainer
    from tests.fakes import FakeEmailLedger, FakeMailer

    listener, port = agent
    container = EmailContainer(settings=Settings(statsd_host="127.0.0.1", statsd_port=port))
    container.ledger.override(providers.Object(FakeEmailLedger()))
    mailer = FakeMailer()
    container.mailer.override(providers.Object(mailer))
    digest = DueBillsDigest(uuid.uuid4(), uuid.uuid4(), "someone@example.com", 7, date(2026, 11, 26), ())
    event = sns_event({"MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                       "Message": digest.to_json(), "Timestamp": "2026-11-26T00:00:00.000Z"})
    runtime = await asyncio.to_thread(LambdaRuntime, container)
    try:
        outcomes = [await asyncio.to_thread(runtime.invoke, event) for _ in range(2)]
    finally:
        await asyncio.to_thread(runtime.close)
    assert [o["outcomes"] for o in outcomes] == [["sent"], ["deduplicated"]] and len(mailer.outbox) == 1

    def complete(metrics) -> bool:
        names = [name for name, *_ in metrics]
        return "billing.lambda.emails.sent" in names and "billing.lambda.emails.deduplicated" in names

    await listener.wait_for(complete)
    counts = {name: value for name, value, kind, _ in listener.parsed() if kind == "c"}
    assert counts == {"billing.lambda.emails.sent": 1, "billing.lambda.emails.deduplicated": 1}
    assert "example.com" not in "\n".join(listener.lines) and str(digest.user_id) not in "\n".join(listener.lines)
