"""The due-bills email's rules, use cases and consumer over fakes."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from billing.domain.model import ServiceUnavailable
from billing.domain.model.due_bills import DueBillsDigest, DueBillsRequest, InvalidMessage, compose_email
from billing.domain.use_cases.create_bill import CreateBill, CreateBillCommand
from billing.domain.use_cases.prepare_due_bills_digest import DigestOutcome, PrepareDueBillsDigest
from billing.domain.use_cases.send_due_bills_email import SendDueBillsEmail, SendOutcome
from billing.entrypoints.consumer import QueueConsumer
from tests.fakes import FakeEmailLedger, FakeMailer, FakeMetrics, FakePublisher, FakeQueue, FakeUnitOfWork


def a_request(clock, user_id=None, days: int = 7) -> DueBillsRequest:  # type: ignore[no-untyped-def]
    return DueBillsRequest(uuid4(), user_id or uuid4(), "jo@example.com", days, clock.now())


async def add_bill(tables, clock, owner, due: date, status: str = "due", vendor: str = "Acme") -> None:  # type: ignore[no-untyped-def]
    fields = {"vendor": vendor, "bill_date": "2020-01-01", "due_date": due.isoformat(), "amount_due": Decimal("9.5"),
              "payment_status": status}
    await CreateBill(FakeUnitOfWork(tables), clock).execute(CreateBillCommand(owner_id=owner, fields=fields))


def test_messages_round_trip(clock) -> None:
    request = a_request(clock)
    assert DueBillsRequest.from_json(request.to_json()) == request
    digest = DueBillsDigest.of(request, clock.now().date(), [], "https://b.test")
    assert DueBillsDigest.from_json(digest.to_json()) == digest


@pytest.mark.parametrize("body", ["", "[]", "{}", '{"type": "due_bills_request", "version": 2}',
                                  '{"type": "due_bills_request", "version": 1, "days": 7}',
                                  '{"type": "due_bills_request", "version": 1, "request_id": "x", "user_id": "y",'
                                  ' "email": "e", "days": 999, "requested_at": "2026-01-01T00:00:00Z"}'])
def test_unreadable_request_is_invalid(body: str) -> None:
    with pytest.raises(InvalidMessage):
        DueBillsRequest.from_json(body)


async def test_digest_selects_unpaid_bills_due_within_the_window(tables, clock) -> None:
    owner, today = uuid4(), clock.now().date()
    await add_bill(tables, clock, owner, today + timedelta(days=7), vendor="edge")
    await add_bill(tables, clock, owner, today - timedelta(days=40), "past_due", vendor="late")
    await add_bill(tables, clock, owner, today + timedelta(days=8), vendor="too far")
    await add_bill(tables, clock, owner, today, "paid", vendor="paid")
    await add_bill(tables, clock, uuid4(), today, vendor="someone else's")
    publisher = FakePublisher()
    use_case = PrepareDueBillsDigest(FakeUnitOfWork(tables), FakeEmailLedger(), publisher, clock, "https://b.test")
    assert await use_case.execute(a_request(clock, owner)) is DigestOutcome.PUBLISHED
    [digest] = publisher.published
    assert [line.vendor for line in digest.lines] == ["late", "edge"]
    assert all(line.link.startswith("https://b.test/v1/bill/") for line in digest.lines)


async def test_worker_skips_users_emailed_within_the_hour(tables, clock) -> None:
    ledger, publisher, owner = FakeEmailLedger(), FakePublisher(), uuid4()
    assert await ledger.claim(owner, uuid4(), clock.now())
    await ledger.mark_sent(owner, ledger.entries[owner]["request_id"], clock.now())
    use_case = PrepareDueBillsDigest(FakeUnitOfWork(tables), ledger, publisher, clock, "https://b.test")
    assert await use_case.execute(a_request(clock, owner)) is DigestOutcome.SKIPPED_RECENTLY_SENT
    clock.advance(minutes=61)
    assert await use_case.execute(a_request(clock, owner)) is DigestOutcome.PUBLISHED


async def test_sender_sends_once_per_window(clock) -> None:
    ledger, mailer, owner = FakeEmailLedger(), FakeMailer(), uuid4()
    send = SendDueBillsEmail(ledger, mailer, clock)
    first = DueBillsDigest.of(a_request(clock, owner), clock.now().date(), [], "https://b.test")
    second = DueBillsDigest.of(a_request(clock, owner), clock.now().date(), [], "https://b.test")
    assert await send.execute(first) is SendOutcome.SENT
    assert await send.execute(first) is SendOutcome.DEDUPLICATED  # the same delivery again
    assert await send.execute(second) is SendOutcome.DEDUPLICATED  # another request, same window
    clock.advance(minutes=60, seconds=1)
    assert await send.execute(second) is SendOutcome.SENT
    assert len(mailer.outbox) == 2


async def test_failed_send_releases_the_claim(clock) -> None:
    ledger, mailer, owner = FakeEmailLedger(), FakeMailer(), uuid4()
    digest = DueBillsDigest.of(a_request(clock, owner), clock.now().date(), [], "https://b.test")
    mailer.failing = True
    with pytest.raises(ServiceUnavailable):
        await SendDueBillsEmail(ledger, mailer, clock).execute(digest)
    assert ledger.entries == {}
    mailer.failing = False
    assert await SendDueBillsEmail(ledger, mailer, clock).execute(digest) is SendOutcome.SENT


def test_email_names_the_days_lists_bills_and_escapes_html(clock) -> None:
    request = a_request(clock, days=3)
    digest = DueBillsDigest.from_json(DueBillsDigest.of(request, date(2026, 11, 24), [], "https://b.test").to_json())
    empty = compose_email(digest)
    assert "3 days" in empty.subject and "No bills are due" in empty.text and "No bills are due" in empty.html
    from billing.domain.model.due_bills import DigestLine
    line = DigestLine(uuid4(), "<script>", Decimal("12.30"), "EUR", date(2026, 11, 25), "https://b.test/v1/bill/x")
    email = compose_email(DueBillsDigest(request.request_id, request.user_id, "jo@example.com", 3, date(2026, 11, 24), (line,)))
    assert "1 bill" in email.subject and "<script>" in email.text and "&lt;script&gt;" in email.html
    assert "12.30 EUR, due 2026-11-25" in email.text and 'href="https://b.test/v1/bill/x"' in email.html
    assert email.to == "jo@example.com"


async def run_consumer(queue: FakeQueue, handle, metrics: FakeMetrics, rounds: float = 0.2) -> None:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    consumer = QueueConsumer(queue, handle, name="worker", metrics=metrics, wait_seconds=0, retry_delay_seconds=0,
                             max_receives=2)
    task = asyncio.create_task(consumer.run(stop))
    await asyncio.sleep(rounds)
    stop.set()
    await task


async def test_consumer_deletes_only_after_success(clock) -> None:
    queue, metrics, seen = FakeQueue(max_receives=2), FakeMetrics(), []

    async def handle(message):  # type: ignore[no-untyped-def]
        seen.append(message.body)
        if message.body == "bad":
            raise InvalidMessage("poison")
        return "skipped_recently_sent" if message.body == "dup" else "published"

    for body in ("ok", "bad", "dup"):
        queue.put(body)
    await run_consumer(queue, handle, metrics)
    assert queue.bodies == [] and queue.dead_letters == ["bad"]  # retried, then moved by the redrive policy
    assert seen.count("bad") == 2 and seen.count("ok") == 1 and seen.count("dup") == 1
    assert metrics.count("worker.messages.processed") == 2
    assert metrics.count("worker.messages.skipped_duplicate") == 1
    assert metrics.count("worker.messages.failed") == 2 and metrics.count("worker.messages.dead_lettered") == 1


async def test_consumer_finishes_in_flight_work_when_stopped(clock) -> None:
    queue, metrics, finished = FakeQueue(), FakeMetrics(), []

    async def slow(message):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.3)
        finished.append(message.body)
        return "published"

    queue.put("slow")
    await run_consumer(queue, slow, metrics, rounds=0.05)  # stop arrives mid-work
    assert finished == ["slow"] and queue.bodies == []
