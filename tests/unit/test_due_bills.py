"""The due-bills email's rules, use cases and consumer over fakes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from dependency_injector import providers

from billing.config import Settings
from billing.domain.model import ServiceUnavailable, User
from billing.domain.model.due_bills import (
    DigestLine,
    DueBillsDigest,
    DueBillsRequest,
    InvalidMessage,
    RejectReason,
    compose_email,
    read_queued_work,
)
from billing.domain.use_cases.create_bill import CreateBill, CreateBillCommand
from billing.domain.use_cases.prepare_due_bills_digest import (
    DigestOutcome,
    PrepareDueBillsDigest,
)
from billing.domain.use_cases.request_due_bills_email import RequestDueBillsEmail, RequestDueBillsEmailCommand
from billing.domain.use_cases.send_due_bills_email import SendDueBillsEmail, SendOutcome
from billing.entrypoints.consumer import QueueConsumer
from billing.entrypoints.worker import due_bills_consumer
from tests.conftest import container_with_fakes
from tests.fakes import (
    FakeEmailLedger,
    FakeMailer,
    FakeMetrics,
    FakePasswordHasher,
    FakePublisher,
    FakeQueue,
    FakeUnitOfWork,
    Tables,
)

# The worker is a QueueConsumer named "worker": its counters are "worker.messages.<event>".
REJECTED = "worker.messages.rejected"


def a_request(clock, user_id=None, days: int = 7) -> DueBillsRequest:  # type: ignore[no-untyped-def]
    return DueBillsRequest(uuid4(), user_id or uuid4(), days, clock.now())


def a_user(tables: Tables, clock, email: str = "jo@example.com") -> User:  # type: ignore[no-untyped-def]
    user = User(uuid4(), "Jo", "Doe", email, "fake$x", clock.now(), clock.now())
    tables.users[user.id] = user
    return user


def a_digest(clock, user_id=None, days: int = 7) -> DueBillsDigest:  # type: ignore[no-untyped-def]
    request = a_request(clock, user_id, days)
    return DueBillsDigest.of(request, User(request.user_id, "Jo", "Doe", "jo@example.com", "fake$x", clock.now(),
                                           clock.now()), clock.now().date(), [], "https://b.test")


async def add_bill(tables, clock, owner, due: date, status: str = "due", vendor: str = "Acme") -> None:  # type: ignore[no-untyped-def]
    fields = {"vendor": vendor, "bill_date": "2020-01-01", "due_date": due.isoformat(), "amount_due": Decimal("9.5"),
              "payment_status": status}
    await CreateBill(FakeUnitOfWork(tables), clock).execute(CreateBillCommand(owner_id=owner, fields=fields))


def test_messages_round_trip(clock) -> None:
    request = a_request(clock)
    assert read_queued_work(request.to_json()) == request
    digest = a_digest(clock)
    assert DueBillsDigest.from_json(digest.to_json()) == digest


def test_a_queued_request_carries_ids_and_no_address(clock) -> None:
    message = json.loads(a_request(clock).to_json())
    assert set(message) == {"type", "version", "request_id", "user_id", "days", "requested_at"}
    assert (message["type"], message["version"]) == ("due_bills_request", 2)


def test_a_version_1_request_is_still_read_and_its_address_ignored(clock) -> None:
    v1 = {"type": "due_bills_request", "version": 1, "request_id": str(uuid4()), "user_id": str(uuid4()),
          "email": "attacker@evil.example", "days": 3, "requested_at": "2026-11-24T09:30:00.000Z"}
    request = read_queued_work(json.dumps(v1))
    assert (str(request.user_id), request.days) == (v1["user_id"], 3)
    assert "attacker" not in repr(request)


V2 = {"type": "due_bills_request", "version": 2, "request_id": str(uuid4()), "user_id": str(uuid4()), "days": 7,
      "requested_at": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(("body", "reason"), [
    ("", "malformed"), ("[]", "malformed"), ("{}", "malformed"), ('"due_bills_request"', "malformed"),
    ('{"version": 2}', "malformed"), ('{"type": "due_bills_request"}', "malformed"),
    ('{"type": "due_bills_request", "version": "2"}', "malformed"),
    ('{"type": "due_bills_request", "version": true}', "malformed"),
    ('{"type": "due_bills_request", "version": 2, "days": 7}', "malformed"),
    (json.dumps(V2 | {"days": 999}), "malformed"), (json.dumps(V2 | {"days": True}), "malformed"),
    (json.dumps(V2 | {"user_id": "y"}), "malformed"),
    (json.dumps(V2 | {"requested_at": "2026-01-01T00:00:00"}), "malformed"),
    (json.dumps(V2 | {"type": "due_bills_digest"}), "unknown_type"),
    ('{"type": "wipe_everything", "version": 1}', "unknown_type"),
    (json.dumps(V2 | {"version": 3}), "unknown_version"), (json.dumps(V2 | {"version": 0}), "unknown_version"),
])
def test_unreadable_work_is_invalid_with_its_reason(body: str, reason: str) -> None:
    with pytest.raises(InvalidMessage) as raised:
        read_queued_work(body)
    assert raised.value.reason == reason


def test_a_digest_of_another_version_is_invalid(clock) -> None:
    digest = json.loads(a_digest(clock).to_json())
    with pytest.raises(InvalidMessage) as raised:
        DueBillsDigest.from_json(json.dumps(digest | {"version": 2}))
    assert raised.value.reason == "unknown_version"
    with pytest.raises(InvalidMessage) as raised:
        DueBillsDigest.from_json(a_request(clock).to_json())
    assert raised.value.reason == "unknown_type"


async def test_digest_selects_unpaid_bills_due_within_the_window(tables, clock) -> None:
    owner, today = a_user(tables, clock).id, clock.now().date()
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


async def test_digest_goes_to_the_stored_address_as_it_is_now(tables, clock) -> None:
    user = a_user(tables, clock, "old@example.com")
    request = a_request(clock, user.id)  # queued while the user had the old address
    tables.users[user.id] = dataclasses.replace(user, email_address="new@example.com")
    publisher = FakePublisher()
    use_case = PrepareDueBillsDigest(FakeUnitOfWork(tables), FakeEmailLedger(), publisher, clock, "https://b.test")
    await use_case.execute(request)
    assert [d.email for d in publisher.published] == ["new@example.com"]


async def test_nothing_is_published_when_the_user_no_longer_exists(tables, clock) -> None:
    publisher = FakePublisher()
    use_case = PrepareDueBillsDigest(FakeUnitOfWork(tables), FakeEmailLedger(), publisher, clock, "https://b.test")
    assert await use_case.execute(a_request(clock, uuid4())) is DigestOutcome.DROPPED_USER_GONE
    assert publisher.published == []


async def test_worker_skips_users_emailed_within_the_hour(tables, clock) -> None:
    ledger, publisher, owner = FakeEmailLedger(), FakePublisher(), a_user(tables, clock).id
    assert await ledger.claim(owner, uuid4(), clock.now())
    await ledger.mark_sent(owner, ledger.entries[owner]["request_id"], clock.now())
    use_case = PrepareDueBillsDigest(FakeUnitOfWork(tables), ledger, publisher, clock, "https://b.test")
    assert await use_case.execute(a_request(clock, owner)) is DigestOutcome.SKIPPED_RECENTLY_SENT
    clock.advance(minutes=61)
    assert await use_case.execute(a_request(clock, owner)) is DigestOutcome.PUBLISHED


async def test_sender_sends_once_per_window(clock) -> None:
    ledger, mailer, owner = FakeEmailLedger(), FakeMailer(), uuid4()
    send = SendDueBillsEmail(ledger, mailer, clock)
    first, second = a_digest(clock, owner), a_digest(clock, owner)
    assert await send.execute(first) is SendOutcome.SENT
    assert await send.execute(first) is SendOutcome.DEDUPLICATED  # the same delivery again
    assert await send.execute(second) is SendOutcome.DEDUPLICATED  # another request, same window
    clock.advance(minutes=60, seconds=1)
    assert await send.execute(second) is SendOutcome.SENT
    assert len(mailer.outbox) == 2


async def test_failed_send_releases_the_claim(clock) -> None:
    ledger, mailer, owner = FakeEmailLedger(), FakeMailer(), uuid4()
    digest = a_digest(clock, owner)
    mailer.failing = True
    with pytest.raises(ServiceUnavailable):
        await SendDueBillsEmail(ledger, mailer, clock).execute(digest)
    assert ledger.entries == {}
    mailer.failing = False
    assert await SendDueBillsEmail(ledger, mailer, clock).execute(digest) is SendOutcome.SENT


def test_email_names_the_days_lists_bills_and_escapes_html(clock) -> None:
    request = a_request(clock, days=3)
    digest = DueBillsDigest.from_json(dataclasses.replace(a_digest(clock, request.user_id, days=3),
                                                          as_of=date(2026, 11, 24)).to_json())
    empty = compose_email(digest)
    assert "3 days" in empty.subject and "No bills are due" in empty.text and "No bills are due" in empty.html
    line = DigestLine(uuid4(), "<script>", Decimal("12.30"), "EUR", date(2026, 11, 25), "https://b.test/v1/bill/x")
    email = compose_email(
        DueBillsDigest(request.request_id, request.user_id, "jo@example.com", 3, date(2026, 11, 24), (line,))
    )
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
            raise RuntimeError("a failure a retry might not meet")
        return "skipped_recently_sent" if message.body == "dup" else "published"

    for body in ("ok", "bad", "dup"):
        queue.put(body)
    await run_consumer(queue, handle, metrics)
    assert queue.bodies == [] and queue.dead_letters == ["bad"]  # retried, then moved by the redrive policy
    assert queue.dead_letter_reasons == []
    assert seen.count("bad") == 2 and seen.count("ok") == 1 and seen.count("dup") == 1
    assert metrics.count("worker.messages.processed") == 2
    assert metrics.count("worker.messages.skipped_duplicate") == 1
    assert metrics.count("worker.messages.failed") == 2 and metrics.count("worker.messages.dead_lettered") == 1
    assert metrics.count("worker.messages.rejected") == 0


async def test_consumer_moves_an_unreadable_message_to_the_dlq_at_once_when_it_is_handled(clock) -> None:
    queue, metrics, seen = FakeQueue(max_receives=5), FakeMetrics(), []

    async def handle(message):  # type: ignore[no-untyped-def]
        seen.append(message.body)
        raise InvalidMessage("a type from the future", RejectReason.UNKNOWN_TYPE)

    queue.put("future")
    await run_consumer(queue, handle, metrics)
    assert seen == ["future"]  # never retried
    assert queue.bodies == [] and queue.dead_letters == ["future"] and queue.dead_letter_reasons == ["unknown_type"]
    assert metrics.count(REJECTED, reason="unknown_type") == 1
    assert metrics.count("worker.messages.dead_lettered") == 1
    assert metrics.count("worker.messages.failed") == 0 and metrics.count("worker.messages.processed") == 0


async def test_unreadable_message_is_retried_until_the_redrive_when_the_dlq_cannot_be_reached(clock) -> None:
    queue, metrics, seen = FakeQueue(max_receives=2), FakeMetrics(), []
    queue.down = True  # the move to the dead-letter queue fails

    async def handle(message):  # type: ignore[no-untyped-def]
        seen.append(message.body)
        raise InvalidMessage("not JSON")

    queue.put("garbage")
    await run_consumer(queue, handle, metrics)
    # Not dropped, not retried forever: the queue's redrive policy moves it after max receives.
    assert seen == ["garbage", "garbage"] and queue.bodies == [] and queue.dead_letters == ["garbage"]
    assert metrics.count(REJECTED, reason="malformed") == 2
    assert metrics.count("worker.messages.dead_lettered") == 1


# ---------------------------------------------------------------- the worker's handler, over fakes

async def run_worker(tables: Tables, clock, queue: FakeQueue,  # type: ignore[no-untyped-def]
                     ledger: FakeEmailLedger | None = None):
    """The real `billing worker` consumer (due_bills_consumer) over fakes, until the queue is empty;
    returns what it published and the metrics."""
    publisher, metrics = FakePublisher(), FakeMetrics()
    container = container_with_fakes(Settings(public_base_url="https://b.test", worker_wait_seconds=0,
                                              worker_retry_delay_seconds=0, queue_max_receives=2),
                                     tables, clock, FakePasswordHasher(), queue=queue)
    container.email_ledger.override(providers.Object(ledger or FakeEmailLedger()))
    container.digest_publisher.override(providers.Object(publisher))
    container.metrics.override(providers.Object(metrics))
    stop = asyncio.Event()
    task = asyncio.create_task(due_bills_consumer(container).run(stop))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if not queue.messages:
            break
    stop.set()
    await task
    return publisher.published, metrics


async def test_a_forged_request_naming_an_address_mails_the_stored_address_only(tables, clock) -> None:
    victim = a_user(tables, clock, "victim@example.com")
    await add_bill(tables, clock, victim.id, clock.now().date(), vendor="Private Clinic")
    queue, ledger, mailer = FakeQueue(), FakeEmailLedger(), FakeMailer()
    for version in (1, 2):
        queue.put(json.dumps({"type": "due_bills_request", "version": version, "request_id": str(uuid4()),
                              "user_id": str(victim.id), "days": 7, "requested_at": "2026-11-24T09:00:00Z",
                              "email": "attacker@evil.example", "to": "attacker@evil.example"}))
    published, _ = await run_worker(tables, clock, queue, ledger)
    assert [d.email for d in published] == ["victim@example.com"] * 2
    for digest in published:  # the Lambda's step, on what the worker published
        await SendDueBillsEmail(ledger, mailer, clock).execute(DueBillsDigest.from_json(digest.to_json()))
    assert [email.to for email in mailer.outbox] == ["victim@example.com"]
    assert "evil" not in repr(mailer.outbox) and "evil" not in repr(published)


async def test_a_deleted_users_request_is_acknowledged_and_sends_nothing(tables, clock) -> None:
    gone = a_user(tables, clock)
    queue = FakeQueue()
    queue.put(a_request(clock, gone.id).to_json())
    del tables.users[gone.id]
    published, metrics = await run_worker(tables, clock, queue)
    assert published == [] and queue.messages == {} and queue.dead_letters == []
    assert metrics.count("worker.messages.processed") == 1 and metrics.count("worker.messages.failed") == 0


async def test_unknown_work_goes_to_the_dlq_and_is_counted_by_reason(tables, clock) -> None:
    user = a_user(tables, clock)
    queue = FakeQueue()
    queue.put(json.dumps({"type": "due_bills_reminder", "version": 1, "user_id": str(user.id), "date": "2026-11-24"}))
    queue.put(json.dumps(json.loads(a_request(clock, user.id).to_json()) | {"version": 3}))
    queue.put("{not json")
    queue.put(a_request(clock, user.id).to_json())
    published, metrics = await run_worker(tables, clock, queue)
    assert len(published) == 1  # the readable request is not held up
    assert sorted(queue.dead_letter_reasons) == ["malformed", "unknown_type", "unknown_version"]
    assert queue.messages == {}
    for reason in ("malformed", "unknown_type", "unknown_version"):
        assert metrics.count(REJECTED, reason=reason) == 1
    assert metrics.count("worker.messages.dead_lettered") == 3


async def test_consumer_finishes_in_flight_work_when_stopped(clock) -> None:
    queue, metrics, finished = FakeQueue(), FakeMetrics(), []

    async def slow(message):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.3)
        finished.append(message.body)
        return "published"

    queue.put("slow")
    await run_consumer(queue, slow, metrics, rounds=0.05)  # stop arrives mid-work
    assert finished == ["slow"] and queue.bodies == []


async def test_the_digests_email_sent_and_recorded_in_the_ledger_when_the_slot_is_free(clock) -> None:
    ledger, mailer, owner = FakeEmailLedger(), FakeMailer(), uuid4()
    line = DigestLine(uuid4(), "Acme", Decimal("9.50"), "USD", date(2026, 11, 30), "https://b.test/v1/bill/1")
    digest = DueBillsDigest(uuid4(), owner, "jo@example.com", 7, date(2026, 11, 24), (line,))
    claimed_at = clock.now()
    assert await SendDueBillsEmail(ledger, mailer, clock).execute(digest) is SendOutcome.SENT
    assert mailer.outbox == [compose_email(digest)]
    assert ledger.entries == {owner: {"request_id": digest.request_id, "state": "sent",
                                      "expires_at": claimed_at + timedelta(hours=1),
                                      "lease_until": claimed_at + FakeEmailLedger.LEASE, "sent_at": clock.now()}}
    assert await ledger.sent_recently(owner, clock.now())


async def test_nothing_sent_nor_recorded_when_deduplicated(clock) -> None:
    ledger, mailer, owner = FakeEmailLedger(), FakeMailer(), uuid4()
    assert await ledger.claim(owner, uuid4(), clock.now())
    before = {user: dict(entry) for user, entry in ledger.entries.items()}
    digest = a_digest(clock, owner)
    assert await SendDueBillsEmail(ledger, mailer, clock).execute(digest) is SendOutcome.DEDUPLICATED
    assert mailer.outbox == [] and ledger.entries == before


def request_body(**changes: object) -> str:
    body = {"type": "due_bills_request", "version": 2, "request_id": str(uuid4()), "user_id": str(uuid4()),
            "days": 7, "requested_at": "2026-11-24T09:30:00.000Z"} | changes
    return json.dumps(body)


@pytest.mark.parametrize("days", [0, 1, 365])
def test_request_read_when_days_within_0_to_365(days: int) -> None:
    assert read_queued_work(request_body(days=days)).days == days


@pytest.mark.parametrize("days", [-1, 366, True, False, 7.0, "7", None])
def test_request_invalid_when_days_outside_0_to_365_or_not_an_integer(days: object) -> None:
    with pytest.raises(InvalidMessage) as exc:
        read_queued_work(request_body(days=days))
    assert str(exc.value) == "'due_bills_request' version 2: ValueError: days must be an integer 0-365"
    assert exc.value.reason == "malformed"


def test_request_invalid_when_timestamp_has_no_time_zone() -> None:
    with pytest.raises(InvalidMessage) as exc:
        read_queued_work(request_body(requested_at="2026-11-24T09:30:00"))
    assert str(exc.value) == "'due_bills_request' version 2: ValueError: timestamp without a time zone"


@pytest.mark.parametrize(("days", "subject", "intro"), [
    (0, "Your bills due today: 0 bills", "Bills due today (on or before 2026-11-24):"),
    (1, "Your bills due in the next 1 day: 0 bills", "Bills due in the next 1 day (on or before 2026-11-25):"),
    (7, "Your bills due in the next 7 days: 0 bills", "Bills due in the next 7 days (on or before 2026-12-01):"),
    (365, "Your bills due in the next 365 days: 0 bills", "Bills due in the next 365 days (on or before 2027-11-24):"),
])
def test_email_names_the_window_and_its_last_day_when_no_bill_is_due(days: int, subject: str, intro: str) -> None:
    digest = DueBillsDigest(uuid4(), uuid4(), "jo@example.com", days, date(2026, 11, 24), ())
    email = compose_email(digest)
    window = subject.removeprefix("Your bills due ").removesuffix(": 0 bills")
    assert email.subject == subject
    assert email.text == f"{intro}\n\nNo bills are due {window}. Nothing to pay.\n"
    assert email.html == f"<html><body><p>{intro}</p><p>No bills are due {window}. Nothing to pay.</p></body></html>"


def test_email_lists_each_bill_in_text_and_html_when_bills_are_due() -> None:
    lines = (DigestLine(uuid4(), "A&B", Decimal("12.30"), "EUR", date(2026, 11, 25), "https://b.test/v1/bill/1?x=<1>"),
             DigestLine(uuid4(), "Power", Decimal("5.00"), "USD", date(2026, 11, 30), "https://b.test/v1/bill/2"))
    email = compose_email(DueBillsDigest(uuid4(), uuid4(), "jo@example.com", 7, date(2026, 11, 24), lines))
    assert email.subject == "Your bills due in the next 7 days: 2 bills"
    assert email.text == ("Bills due in the next 7 days (on or before 2026-12-01):\n\n"
                          "- A&B: 12.30 EUR, due 2026-11-25 - https://b.test/v1/bill/1?x=<1>\n"
                          "- Power: 5.00 USD, due 2026-11-30 - https://b.test/v1/bill/2\n")
    assert email.html == (
        "<html><body><p>Bills due in the next 7 days (on or before 2026-12-01):</p><ul>"
        "<li>A&amp;B: 12.30 EUR, due 2026-11-25 &ndash; "
        '<a href="https://b.test/v1/bill/1?x=&lt;1&gt;">view bill</a></li>'
        '<li>Power: 5.00 USD, due 2026-11-30 &ndash; <a href="https://b.test/v1/bill/2">view bill</a></li>'
        "</ul></body></html>"
    )


def test_request_written_as_the_versioned_json_the_worker_reads(local_zone_not_utc: None) -> None:
    request_id, user_id = uuid4(), uuid4()
    at = datetime(2026, 11, 24, 11, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    request = DueBillsRequest(request_id, user_id, 7, at)
    assert json.loads(request.to_json()) == {
        "type": "due_bills_request", "version": 2, "request_id": str(request_id), "user_id": str(user_id),
        "days": 7, "requested_at": "2026-11-24T09:30:00.123Z"}
    read = read_queued_work(request_body(requested_at="2026-11-24T11:30:00.123+02:00"))
    assert read.requested_at == datetime(2026, 11, 24, 9, 30, 0, 123000, tzinfo=UTC)
    assert read.requested_at.utcoffset() == timedelta(0)


def test_digest_written_as_the_versioned_json_the_sender_reads() -> None:
    request_id, user_id, bill_id = uuid4(), uuid4(), uuid4()
    line = DigestLine(bill_id, "Acme", Decimal("9.50"), "EUR", date(2026, 11, 30), "https://b.test/v1/bill/1")
    digest = DueBillsDigest(request_id, user_id, "jo@example.com", 7, date(2026, 11, 24), (line,))
    assert json.loads(digest.to_json()) == {
        "type": "due_bills_digest", "version": 1, "request_id": str(request_id), "user_id": str(user_id),
        "email": "jo@example.com", "days": 7, "as_of": "2026-11-24",
        "bills": [{"id": str(bill_id), "vendor": "Acme", "amount_due": "9.50", "currency": "EUR",
                   "due_date": "2026-11-30", "link": "https://b.test/v1/bill/1"}]}
    assert DueBillsDigest.from_json(digest.to_json()) == digest


LONG = "x" * 300


@pytest.mark.parametrize(("body", "message", "reason"), [
    ("{", "not JSON", "malformed"),
    ("[]", "not a JSON object with a type", "malformed"),
    ('{"type": 1, "version": 1}', "not a JSON object with a type", "malformed"),
    ('{"type": "due_bills_digest"}', "'due_bills_digest': no integer version", "malformed"),
    ('{"type": "due_bills_digest", "version": true}', "'due_bills_digest': no integer version", "malformed"),
    ('{"type": "due_bills_request", "version": 2}', "unknown message type 'due_bills_request'", "unknown_type"),
    (json.dumps({"type": LONG, "version": 1}), f"unknown message type '{'x' * 64}'", "unknown_type"),
    ('{"type": "due_bills_digest", "version": 2}', "'due_bills_digest': unknown version 2", "unknown_version"),
    ('{"type": "due_bills_digest", "version": 1}', "'due_bills_digest' version 1: KeyError: 'bills'", "malformed"),
    ('{"type": "due_bills_digest", "version": 1, "bills": [{"id": "x"}]}',
     "'due_bills_digest' version 1: ValueError: badly formed hexadecimal UUID string", "malformed"),
    (json.dumps({"type": "due_bills_digest", "version": 1, "bills": [], "request_id": str(uuid4()),
                 "user_id": str(uuid4()), "email": "jo@example.com", "days": 1, "as_of": LONG}),
     "'due_bills_digest' version 1: ValueError: " + f"Invalid isoformat string: '{LONG}'"[:200], "malformed"),
])
def test_unreadable_digest_is_invalid_with_the_reason(body: str, message: str, reason: str) -> None:
    with pytest.raises(InvalidMessage) as exc:
        DueBillsDigest.from_json(body)
    assert (str(exc.value), exc.value.reason) == (message, reason)


def test_unreadable_request_is_invalid_with_the_reason() -> None:
    with pytest.raises(InvalidMessage) as exc:
        read_queued_work(request_body(user_id="x"))
    assert str(exc.value) == "'due_bills_request' version 2: ValueError: badly formed hexadecimal UUID string"


async def test_digest_lists_unpaid_bills_by_due_date_then_id_with_their_links(tables, clock) -> None:
    user, today = a_user(tables, clock), clock.now().date()
    owner = user.id
    for vendor in ("a", "b", "c"):
        await add_bill(tables, clock, owner, today, vendor=vendor)
    await add_bill(tables, clock, owner, today - timedelta(days=1), "past_due", vendor="late")
    await add_bill(tables, clock, owner, today, "no_payment_required", vendor="free")
    bills = sorted(tables.bills.values(), key=lambda b: str(b.id), reverse=True)  # ids in the wrong order
    request = a_request(clock, owner)
    digest = DueBillsDigest.of(request, user, today, bills, "https://b.test")
    due = sorted((b for b in bills if b.details.vendor not in ("free",)), key=lambda b: (b.details.due_date, str(b.id)))
    assert digest == DueBillsDigest(request.request_id, owner, "jo@example.com", 7, today, tuple(
        DigestLine(b.id, b.details.vendor, Decimal("9.50"), "USD", b.details.due_date, f"https://b.test/v1/bill/{b.id}")
        for b in due))
    assert digest.lines[0].vendor == "late"


async def test_published_digest_is_as_of_the_workers_today(tables, clock) -> None:
    publisher, user = FakePublisher(), a_user(tables, clock)
    await add_bill(tables, clock, user.id, clock.now().date() + timedelta(days=3))
    request = a_request(clock, user.id, days=3)
    use_case = PrepareDueBillsDigest(FakeUnitOfWork(tables), FakeEmailLedger(), publisher, clock, "https://b.test")
    await use_case.execute(request)
    assert publisher.published == [DueBillsDigest.of(request, user, clock.now().date(), list(tables.bills.values()),
                                                     "https://b.test")]


def test_email_escapes_a_quote_in_the_link_of_its_href() -> None:
    line = DigestLine(uuid4(), "Acme", Decimal("1.00"), "USD", date(2026, 11, 25), 'https://b.test/v1/bill/"x')
    email = compose_email(DueBillsDigest(uuid4(), uuid4(), "jo@example.com", 1, date(2026, 11, 24), (line,)))
    assert 'href="https://b.test/v1/bill/&quot;x"' in email.html
    assert email.subject == "Your bills due in the next 1 day: 1 bill"


async def test_request_queued_for_the_user_with_a_fresh_id(clock, queue) -> None:
    user = User(id=uuid4(), first_name="Jo", last_name="Doe", email_address="jo@example.com", password_hash="fake$x",
                account_created=clock.now(), account_updated=clock.now())
    use_case = RequestDueBillsEmail(queue, clock)
    first = await use_case.execute(RequestDueBillsEmailCommand(user=user, days=3))
    second = await use_case.execute(RequestDueBillsEmailCommand(user=user, days=3))
    assert queue.bodies == [first.to_json(), second.to_json()]
    assert (first.user_id, first.days, first.requested_at) == (user.id, 3, clock.now())
    assert isinstance(first.request_id, UUID) and first.request_id != second.request_id


def test_digest_refused_for_a_user_other_than_the_requests(clock) -> None:
    request = a_request(clock)
    stranger = User(uuid4(), "Jo", "Doe", "jo@example.com", "fake$x", clock.now(), clock.now())
    with pytest.raises(ValueError, match=r"^the digest's user is not the request's$"):
        DueBillsDigest.of(request, stranger, clock.now().date(), [], "https://b.test")
