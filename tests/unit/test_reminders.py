"""Automatic reminders over fakes: the preference, who is due, the windows, the round, the worker's
and the sender's steps, and the once-a-day rule."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from dependency_injector import providers

from billing.adapters.aws.sqs_queue import SqsQueue
from billing.config import ConfigError, Settings
from billing.domain.model import ServiceUnavailable, User
from billing.domain.model.due_bills import (
    DigestLine,
    DueBillsDigest,
    InvalidMessage,
    Reminder,
    ReminderDigest,
    ReminderRoundRequest,
    compose_reminder_email,
    read_digest,
    read_queued_work,
)
from billing.domain.model.errors import FieldError, ValidationFailed
from billing.domain.model.reminders import ReminderCursor, bills_to_remind
from billing.domain.model.user import ProfileChanges, Registration
from billing.domain.use_cases.create_bill import CreateBill, CreateBillCommand
from billing.domain.use_cases.prepare_reminder_digest import PrepareReminderDigest, ReminderOutcome
from billing.domain.use_cases.run_reminder_round import RunReminderRound
from billing.domain.use_cases.send_due_bills_email import SendOutcome
from billing.domain.use_cases.send_reminder_email import SendReminderEmail
from billing.entrypoints.reminders import next_round_at
from billing.entrypoints.worker import due_bills_consumer
from tests.conftest import container_with_fakes
from tests.fakes import (
    FakeClock,
    FakeMailer,
    FakePasswordHasher,
    FakePublisher,
    FakeQueue,
    FakeReadOnlyUnitOfWork,
    FakeReminderLedger,
    FakeUnitOfWork,
    Tables,
)
from tests.unit.conftest import AUTH, USER

TODAY = date(2026, 11, 24)  # FakeClock's day


def a_user(tables: Tables, clock: FakeClock, reminder_days: int | None = 7, email: str | None = None) -> User:
    user = User(uuid4(), "Jo", "Doe", email or f"{uuid4().hex[:8]}@example.com", "fake$x", clock.now(), clock.now(),
                reminder_days=reminder_days)
    tables.users[user.id] = user
    return user


async def add_bill(tables: Tables, clock: FakeClock, owner: UUID, due: date, status: str = "due") -> None:
    fields = {"vendor": "Acme", "bill_date": "2020-01-01", "due_date": due.isoformat(), "amount_due": Decimal("9.5"),
              "payment_status": status}
    await CreateBill(FakeUnitOfWork(tables), clock).execute(CreateBillCommand(owner_id=owner, fields=fields))


async def due_users(tables: Tables, day: date = TODAY) -> set[UUID]:
    async with FakeReadOnlyUnitOfWork(tables) as uow:
        return {c.user_id for c in await uow.users.due_for_reminder(day, None, 1000)}


# --------------------------------------------------------------------------- the preference

@pytest.mark.parametrize("value", [0, 31, -1, True, False, "7", 7.5, [7], {}])
async def test_registration_is_400_with_a_field_error_when_reminder_days_is_not_null_or_1_to_30(
        client, tables, value) -> None:  # type: ignore[no-untyped-def]
    response = await client.post("/v1/user", json=USER | {"reminder_days": value})
    assert response.status == 400, await response.text()
    body = await response.json()
    assert [e["field"] for e in body["errors"]] == ["reminder_days"]
    assert tables.users == {}  # nothing half-written


async def test_a_whole_number_written_with_a_fraction_is_that_integer_as_json_schema_says(
        client, tables) -> None:  # type: ignore[no-untyped-def]
    """The OpenAPI document's `integer` is JSON Schema's: 25.0 is 25 (schemathesis sends it)."""
    response = await client.post("/v1/user", data=orjson.dumps(USER)[:-1] + b',"reminder_days":25.0}',
                                 headers={"Content-Type": "application/json"})
    assert response.status == 201, await response.text()
    assert (await response.json())["reminder_days"] == 25
    response = await client.put("/v1/user/self", data=b'{"reminder_days": 1.0}', headers=AUTH | {
        "Content-Type": "application/json"})
    assert response.status == 204, await response.text()
    [stored] = tables.users.values()
    assert stored.reminder_days == 1 and type(stored.reminder_days) is int


@pytest.mark.parametrize("value", [0, 31, True, "30", 1.5, 0.0, 31.0])
async def test_profile_update_is_400_and_changes_nothing_when_reminder_days_is_out_of_range(
        client, user, tables, value) -> None:  # type: ignore[no-untyped-def]
    response = await client.put("/v1/user/self", json={"reminder_days": value, "first_name": "Changed"}, headers=AUTH)
    assert response.status == 400, await response.text()
    assert [e["field"] for e in (await response.json())["errors"]] == ["reminder_days"]
    [stored] = tables.users.values()
    assert stored.reminder_days is None and stored.first_name == "Jane"


async def test_reminder_days_is_set_at_registration_changed_and_turned_off(client) -> None:  # type: ignore[no-untyped-def]
    created = await client.post("/v1/user", json=USER | {"reminder_days": 30})
    assert created.status == 201 and (await created.json())["reminder_days"] == 30
    assert (await (await client.get("/v1/user/self", headers=AUTH)).json())["reminder_days"] == 30
    assert (await client.put("/v1/user/self", json={"reminder_days": 1}, headers=AUTH)).status == 204
    assert (await (await client.get("/v1/user/self", headers=AUTH)).json())["reminder_days"] == 1
    assert (await client.put("/v1/user/self", json={"first_name": "J"}, headers=AUTH)).status == 204
    assert (await (await client.get("/v1/user/self", headers=AUTH)).json())["reminder_days"] == 1  # left alone
    assert (await client.put("/v1/user/self", json={"reminder_days": None}, headers=AUTH)).status == 204
    assert (await (await client.get("/v1/user/self", headers=AUTH)).json())["reminder_days"] is None


@pytest.mark.parametrize("value", [None, 1, 30])
def test_registration_and_profile_changes_accept_reminder_days_null_and_1_to_30(value: int | None) -> None:
    assert Registration.from_mapping(USER | {"reminder_days": value}).reminder_days == value
    assert ProfileChanges.from_mapping({"reminder_days": value}, "jane@example.com").reminder_days == value


@pytest.mark.parametrize("value", [0, 31])
def test_a_profile_change_of_reminder_days_out_of_range_is_a_field_error_saying_what_is_accepted(value: int) -> None:
    # Registration's: test_domain.py::test_registration_refuses_reminder_days_outside_1_to_30_with_the_field_error_...
    with pytest.raises(ValidationFailed) as changing:
        ProfileChanges.from_mapping({"reminder_days": value}, "jane@example.com")
    assert changing.value.errors == [FieldError("reminder_days", "must be null or an integer from 1 to 30")]


async def test_reminder_days_defaults_to_null(client, user) -> None:  # type: ignore[no-untyped-def]
    assert user["reminder_days"] is None
    assert (await (await client.get("/v1/user/self", headers=AUTH)).json())["reminder_days"] is None


# --------------------------------------------------------------------------- who is due

async def test_a_bill_due_exactly_at_the_window_end_is_reminded_and_one_day_later_is_not(tables, clock) -> None:
    inside, outside = a_user(tables, clock, 7), a_user(tables, clock, 7)
    await add_bill(tables, clock, inside.id, TODAY + timedelta(days=7))
    await add_bill(tables, clock, outside.id, TODAY + timedelta(days=8))
    assert await due_users(tables) == {inside.id}
    assert await due_users(tables, TODAY + timedelta(days=1)) == {inside.id, outside.id}  # tomorrow it is in


async def test_paid_and_no_payment_required_bills_are_not_reminded_and_past_due_ones_are(tables, clock) -> None:
    paid, free, late, today = (a_user(tables, clock, 30) for _ in range(4))
    await add_bill(tables, clock, paid.id, TODAY, "paid")
    await add_bill(tables, clock, free.id, TODAY, "no_payment_required")
    await add_bill(tables, clock, late.id, TODAY - timedelta(days=40), "past_due")
    await add_bill(tables, clock, today.id, TODAY, "due")
    assert await due_users(tables) == {late.id, today.id}


async def test_users_without_the_preference_are_never_due(tables, clock) -> None:
    off = a_user(tables, clock, None)
    await add_bill(tables, clock, off.id, TODAY)
    assert await due_users(tables) == set()
    [bill] = tables.bills.values()
    assert bills_to_remind(tables.users[off.id], [bill], TODAY) == []


async def test_each_user_has_their_own_window(tables, clock) -> None:
    one, thirty = a_user(tables, clock, 1), a_user(tables, clock, 30)
    for user in (one, thirty):
        await add_bill(tables, clock, user.id, TODAY + timedelta(days=2))
    assert await due_users(tables) == {thirty.id}


async def test_the_bills_to_remind_come_by_due_date_then_id_whatever_their_order(tables, clock) -> None:
    user = a_user(tables, clock, 7)
    for due in (TODAY + timedelta(days=2), TODAY, TODAY, TODAY - timedelta(days=1)):
        await add_bill(tables, clock, user.id, due)
    in_order = sorted(tables.bills.values(), key=lambda b: (b.details.due_date, str(b.id)))
    assert bills_to_remind(tables.users[user.id], list(reversed(in_order)), TODAY) == in_order


def test_a_cursor_takes_days_1_to_30_and_refuses_0_and_31() -> None:
    assert [ReminderCursor(days, UUID(int=0)).days for days in (1, 30)] == [1, 30]
    for days in (0, 31):
        with pytest.raises(ValueError, match=r"^reminder_days must be 1-30$"):
            ReminderCursor(days, uuid4())


# --------------------------------------------------------------------------- the round

async def test_a_round_queues_one_reminder_per_due_user_in_batches_of_at_most_10(tables, clock) -> None:
    due = set()
    for i in range(57):
        user = a_user(tables, clock, 1 + i % 30)
        await add_bill(tables, clock, user.id, TODAY + timedelta(days=i % 40))
        if i % 40 <= 1 + i % 30:
            due.add(user.id)
    queue = FakeQueue()
    result = await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock, page_size=7,
                                    parallel_batches=2).execute()
    reminders = [read_queued_work(body) for body in queue.bodies]
    assert result.day == TODAY and result.queued == len(due) == len(reminders)
    assert {r.user_id for r in reminders} == due and len(due) > 20  # several pages
    assert all(isinstance(r, Reminder) and r.day == TODAY for r in reminders)
    assert max(queue.batch_sizes) <= 10


async def test_a_round_raises_when_the_queue_fails_and_a_second_round_queues_everyone(tables, clock) -> None:
    users = [a_user(tables, clock, 7) for _ in range(45)]
    for user in users:
        await add_bill(tables, clock, user.id, TODAY)
    queue = FakeQueue()
    queue.batches_until_down = 2
    with pytest.raises(ServiceUnavailable):
        await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock, page_size=20).execute()
    queue.batches_until_down = -1
    result = await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock, page_size=20).execute()
    assert result.queued == 45
    assert {read_queued_work(b).user_id for b in queue.bodies} == {u.id for u in users}  # type: ignore[union-attr]


async def due_cursors(tables: Tables, clock: FakeClock, count: int) -> list[ReminderCursor]:
    """`count` users due today, as cursors in the order a round walks them."""
    for i in range(count):
        user = a_user(tables, clock, 1 + i % 30)
        await add_bill(tables, clock, user.id, TODAY)
    async with FakeReadOnlyUnitOfWork(tables) as uow:
        cursors = list(await uow.users.due_for_reminder(TODAY, None, count + 1))
    tables.reminder_pages.clear()
    return cursors


def queued_user_ids(queue: FakeQueue) -> list[UUID]:
    return sorted(read_queued_work(body).user_id for body in queue.bodies)  # type: ignore[union-attr]


async def test_a_round_asks_for_pages_of_1000_users_by_default(tables, clock) -> None:
    cursors = await due_cursors(tables, clock, 3)
    queue = FakeQueue()
    assert (await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock).execute()).queued == 3
    assert tables.reminder_pages == [(None, 1000)]  # a short page: the last one
    assert queued_user_ids(queue) == sorted(c.user_id for c in cursors)


@pytest.mark.parametrize("due", [4, 5])
async def test_a_round_reads_each_page_after_the_last_cursor_of_a_full_one_until_a_short_one(
        tables, clock, due: int) -> None:
    cursors = await due_cursors(tables, clock, due)
    queue = FakeQueue()
    result = await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock, page_size=2).execute()
    assert tables.reminder_pages == [(None, 2), (cursors[1], 2), (cursors[3], 2)]  # 4: the third page is empty
    assert result.queued == due and queued_user_ids(queue) == sorted(c.user_id for c in cursors)
    assert queue.batch_sizes == [2, 2] + [1] * (due - 4)


async def test_a_round_with_page_size_and_parallel_batches_1_sends_one_reminder_at_a_time(tables, clock) -> None:
    cursors = await due_cursors(tables, clock, 3)
    queue = FakeQueue()
    result = await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock, page_size=1,
                                    parallel_batches=1).execute()
    assert result.queued == 3 and queue.batch_sizes == [1, 1, 1] and queue.most_in_flight == 1
    assert tables.reminder_pages == [(None, 1), (cursors[0], 1), (cursors[1], 1), (cursors[2], 1)]


@pytest.mark.parametrize(("page_size", "parallel_batches"), [(0, 10), (1000, 0), (-1, -1)])
def test_a_round_refuses_a_page_size_or_parallel_batches_below_1(clock, page_size: int,
                                                                 parallel_batches: int) -> None:
    with pytest.raises(ValueError, match=r"^page_size and parallel_batches must be positive$"):
        RunReminderRound(FakeReadOnlyUnitOfWork(Tables()), FakeQueue(), clock, page_size=page_size,
                         parallel_batches=parallel_batches)


@pytest.mark.parametrize(("parallel", "in_flight"), [({}, 10), ({"parallel_batches": 3}, 3)])
async def test_a_round_sends_a_page_in_batches_of_10_so_many_at_once_each_user_once(
        tables, clock, parallel: dict[str, int], in_flight: int) -> None:
    cursors = await due_cursors(tables, clock, 125)
    queue = FakeQueue()
    result = await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock, **parallel).execute()
    assert result.queued == 125 and queue.batch_sizes == [10] * 12 + [5]
    assert queued_user_ids(queue) == sorted(c.user_id for c in cursors)  # each once
    assert queue.most_in_flight == in_flight


async def test_a_round_raises_the_queues_error_when_one_batch_of_several_fails(tables, clock) -> None:
    await due_cursors(tables, clock, 15)
    queue = FakeQueue()
    queue.batches_until_down = 1  # of the page's two batches, the second fails
    with pytest.raises(ServiceUnavailable, match=r"^fake queue is down$"):
        await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock).execute()


async def test_a_round_whose_queue_fails_abandons_the_next_page_and_leaves_no_unit_of_work_open(
        tables, clock) -> None:
    cursors = await due_cursors(tables, clock, 15)
    tables.reminder_page_hold = asyncio.Event()  # the second page is being read when the send fails
    queue = FakeQueue()
    queue.down = True
    with pytest.raises(ServiceUnavailable, match=r"^fake queue is down$"):
        await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock, page_size=10).execute()
    assert tables.reminder_pages == [(None, 10), (cursors[9], 10)]
    assert tables.open_units == 0  # the read was cancelled and waited for before the error was raised


async def test_a_round_with_nobody_due_queues_nothing(tables, clock) -> None:
    a_user(tables, clock, 7)
    queue = FakeQueue()
    assert (await RunReminderRound(FakeReadOnlyUnitOfWork(tables), queue, clock).execute()).queued == 0
    assert queue.bodies == []


# --------------------------------------------------------------------------- the worker's step

def prepare(tables: Tables, clock: FakeClock, ledger: FakeReminderLedger | None = None
            ) -> tuple[PrepareReminderDigest, FakePublisher]:
    publisher = FakePublisher()
    return PrepareReminderDigest(FakeReadOnlyUnitOfWork(tables), ledger or FakeReminderLedger(), publisher, clock,
                                 "https://b.test"), publisher


async def test_the_worker_publishes_the_users_due_bills_to_their_stored_address(tables, clock) -> None:
    user = a_user(tables, clock, 3, email="stored@example.com")
    await add_bill(tables, clock, user.id, TODAY + timedelta(days=3))
    await add_bill(tables, clock, user.id, TODAY + timedelta(days=4))
    await add_bill(tables, clock, user.id, TODAY, "paid")
    step, publisher = prepare(tables, clock)
    assert await step.execute(Reminder(user.id, TODAY)) == ReminderOutcome.PUBLISHED
    [digest] = publisher.published
    assert isinstance(digest, ReminderDigest)
    assert (digest.email, digest.days, digest.day, len(digest.lines)) == ("stored@example.com", 3, TODAY, 1)
    assert digest.settings_url == "https://b.test/v1/user/self"


async def test_each_digest_the_worker_publishes_has_its_own_request_id_and_links_to_each_bill(tables, clock) -> None:
    user = a_user(tables, clock, 3)
    await add_bill(tables, clock, user.id, TODAY)
    step, publisher = prepare(tables, clock)
    for _ in range(2):  # a redelivered reminder
        assert await step.execute(Reminder(user.id, TODAY)) == ReminderOutcome.PUBLISHED
    first, second = publisher.published
    assert isinstance(first.request_id, UUID) and isinstance(second.request_id, UUID)
    assert first.request_id != second.request_id  # each the owner of its own ledger claim
    assert read_digest(first.to_json()) == first
    [bill_id] = tables.bills
    assert [line.link for line in first.lines] == [f"https://b.test/v1/bill/{bill_id}"]


async def test_the_worker_sends_nothing_when_the_user_turned_reminders_off_after_the_round(tables, clock) -> None:
    user = a_user(tables, clock, 7)
    await add_bill(tables, clock, user.id, TODAY)
    tables.users[user.id].reminder_days = None
    step, publisher = prepare(tables, clock)
    assert await step.execute(Reminder(user.id, TODAY)) == ReminderOutcome.DROPPED_REMINDERS_OFF
    assert publisher.published == []


async def test_the_worker_sends_nothing_when_the_bills_were_paid_after_the_round(tables, clock) -> None:
    user = a_user(tables, clock, 7)
    await add_bill(tables, clock, user.id, TODAY, "paid")
    step, publisher = prepare(tables, clock)
    assert await step.execute(Reminder(user.id, TODAY)) == ReminderOutcome.DROPPED_NOTHING_DUE
    assert await step.execute(Reminder(uuid4(), TODAY)) == ReminderOutcome.DROPPED_USER_GONE
    assert publisher.published == []


async def test_the_worker_drops_a_reminder_for_another_day(tables, clock) -> None:
    user = a_user(tables, clock, 7)
    await add_bill(tables, clock, user.id, TODAY)
    step, publisher = prepare(tables, clock)
    for day in (TODAY - timedelta(days=1), TODAY + timedelta(days=1)):
        assert await step.execute(Reminder(user.id, day)) == ReminderOutcome.DROPPED_STALE
    assert publisher.published == []


async def test_the_worker_skips_a_user_whose_reminder_went_out_today(tables, clock) -> None:
    user = a_user(tables, clock, 7)
    await add_bill(tables, clock, user.id, TODAY)
    ledger = FakeReminderLedger()
    await ledger.mark_sent(user.id, TODAY, uuid4(), clock.now())
    step, publisher = prepare(tables, clock, ledger)
    assert await step.execute(Reminder(user.id, TODAY)) == ReminderOutcome.SKIPPED_ALREADY_SENT
    assert publisher.published == []


# --------------------------------------------------------------------------- the sender's step: once a day

def a_reminder_digest(user_id: UUID, day: date = TODAY, email: str = "jo@example.com") -> ReminderDigest:
    user = User(user_id, "Jo", "Doe", email, "fake$x", datetime.now(UTC), datetime.now(UTC), reminder_days=5)
    return ReminderDigest.of(uuid4(), Reminder(user_id, day), user, [], "https://b.test")


async def test_a_user_gets_at_most_one_reminder_per_utc_day_and_one_the_next_day(clock) -> None:
    ledger, mailer, user_id = FakeReminderLedger(), FakeMailer(), uuid4()
    send = SendReminderEmail(ledger, mailer, clock)
    outcomes = await asyncio.gather(*(send.execute(a_reminder_digest(user_id)) for _ in range(5)))
    assert sorted(outcomes) == [SendOutcome.DEDUPLICATED] * 4 + [SendOutcome.SENT]
    clock.advance(hours=14)  # 23:30, the same UTC day
    assert await send.execute(a_reminder_digest(user_id)) == SendOutcome.DEDUPLICATED
    clock.advance(hours=1)  # 00:30 the next day
    assert await send.execute(a_reminder_digest(user_id, TODAY + timedelta(days=1))) == SendOutcome.SENT
    assert len(mailer.outbox) == 2


async def test_a_sent_reminder_is_the_composed_email_and_the_ledger_records_by_whom_and_when(clock) -> None:
    ledger, mailer = FakeReminderLedger(), FakeMailer()
    digest = a_reminder_digest(uuid4())
    clock.advance(minutes=5)
    assert await SendReminderEmail(ledger, mailer, clock).execute(digest) == SendOutcome.SENT
    assert mailer.outbox == [compose_reminder_email(digest)]
    entry = ledger.entries[(digest.user_id, TODAY)]
    assert (entry["state"], entry["sent_by"], entry["sent_at"]) == ("sent", digest.request_id, clock.now())
    assert await ledger.sent(digest.user_id, TODAY)


async def test_a_digest_for_a_day_that_is_over_is_not_sent(clock) -> None:
    mailer = FakeMailer()
    send = SendReminderEmail(FakeReminderLedger(), mailer, clock)
    assert await send.execute(a_reminder_digest(uuid4(), TODAY - timedelta(days=1))) == SendOutcome.STALE
    assert mailer.outbox == []


async def test_a_failed_send_releases_the_day_so_a_retry_sends(clock) -> None:
    ledger, mailer, user_id = FakeReminderLedger(), FakeMailer(), uuid4()
    send = SendReminderEmail(ledger, mailer, clock)
    mailer.failing = True
    with pytest.raises(ServiceUnavailable):
        await send.execute(a_reminder_digest(user_id))
    mailer.failing = False
    assert await send.execute(a_reminder_digest(user_id)) == SendOutcome.SENT
    assert len(mailer.outbox) == 1


async def test_a_claim_whose_sender_died_is_taken_over_after_its_lease(clock) -> None:
    ledger, mailer, user_id = FakeReminderLedger(), FakeMailer(), uuid4()
    assert await ledger.claim(user_id, TODAY, uuid4(), clock.now())  # a sender that then died
    send = SendReminderEmail(ledger, mailer, clock)
    assert await send.execute(a_reminder_digest(user_id)) == SendOutcome.DEDUPLICATED
    clock.advance(minutes=3)
    assert await send.execute(a_reminder_digest(user_id)) == SendOutcome.SENT
    assert len(mailer.outbox) == 1


def test_the_reminder_email_says_it_is_a_reminder_and_how_to_turn_reminders_off() -> None:
    user = User(uuid4(), "Jo", "Doe", "jo@example.com", "fake$x", datetime.now(UTC), datetime.now(UTC),
                reminder_days=3)
    bill_tables = Tables()
    clock = FakeClock()
    asyncio.run(add_bill(bill_tables, clock, user.id, TODAY + timedelta(days=1)))
    digest = ReminderDigest.of(uuid4(), Reminder(user.id, TODAY), user, list(bill_tables.bills.values()),
                               "https://b.test")
    email = compose_reminder_email(digest)
    assert email.to == "jo@example.com"
    assert email.subject.startswith("Reminder:") and "1 bill due in the next 3 days" in email.subject
    assert "PUT https://b.test/v1/user/self" in email.text and '{"reminder_days": null}' in email.text
    assert "Acme: 9.50 USD, due 2026-11-25" in email.text
    assert "{&quot;reminder_days&quot;: null}" in email.html


@pytest.mark.parametrize(("days", "window", "last_day"), [(1, "in the next 1 day", "2026-11-25"),
                                                          (30, "in the next 30 days", "2026-12-24")])
def test_the_reminder_email_lists_the_bills_due_on_or_before_the_window_end_and_how_to_stop(
        days: int, window: str, last_day: str) -> None:
    line = DigestLine(uuid4(), "A&B", Decimal("12.30"), "EUR", date(2026, 11, 25),
                      """https://b.test/v1/bill/1?q="x"&r='y'""")
    digest = ReminderDigest(uuid4(), uuid4(), "jo@example.com", days, TODAY, (line,), "https://b.test/v1/user/self")
    email = compose_reminder_email(digest)
    intro = f"Your daily reminder for 2026-11-24: bills due {window} (on or before {last_day})"
    why = f"You get this email because you turned reminders on ({days}-day look-ahead)."
    off = 'To stop these reminders, set "reminder_days" to null: PUT https://b.test/v1/user/self with ' \
          '{"reminder_days": null}.'
    assert (email.to, email.subject) == ("jo@example.com", f"Reminder: 1 bill due {window}")
    assert email.text == (f"{intro}:\n\n- A&B: 12.30 EUR, due 2026-11-25 - {line.link}\n"
                          f"\n{why}\n{off}\n")
    assert email.html == (
        f"<html><body><p>{intro}:</p><ul><li>A&amp;B: 12.30 EUR, due 2026-11-25 &ndash; "
        '<a href="https://b.test/v1/bill/1?q=&quot;x&quot;&amp;r=&#x27;y&#x27;">view bill</a></li></ul>'
        f"<p>{why}<br>{off.replace(chr(34), '&quot;')}</p></body></html>"
    )


def test_a_reminder_digest_is_only_for_the_reminders_user_with_reminders_on(clock) -> None:
    reminder = Reminder(uuid4(), TODAY)
    someone_else = User(uuid4(), "Jo", "Doe", "jo@example.com", "fake$x", clock.now(), clock.now(), reminder_days=7)
    turned_off = User(reminder.user_id, "Jo", "Doe", "jo@example.com", "fake$x", clock.now(), clock.now())
    for user in (someone_else, turned_off):
        with pytest.raises(ValueError, match=r"^a reminder digest is for the reminder's user, who has reminders on$"):
            ReminderDigest.of(uuid4(), reminder, user, [], "https://b.test")


# --------------------------------------------------------------------------- messages

def test_reminder_messages_round_trip_and_bad_ones_are_invalid() -> None:
    reminder = Reminder(uuid4(), TODAY)
    assert read_queued_work(reminder.to_json()) == reminder
    assert read_queued_work(ReminderRoundRequest().to_json()) == ReminderRoundRequest()
    digest = a_reminder_digest(uuid4())
    assert read_digest(digest.to_json()) == digest
    for body in ({"type": "reminder", "version": 1, "user_id": "x", "date": "2026-11-24"},
                 {"type": "reminder", "version": 1, "user_id": str(uuid4()), "date": "tomorrow"},
                 {"type": "reminder", "version": 1, "user_id": str(uuid4())}):
        with pytest.raises(InvalidMessage):
            read_queued_work(json.dumps(body))
    for days in (1, 30):
        assert read_digest(json.dumps(json.loads(digest.to_json()) | {"days": days})).days == days
    for days in (0, 31, True):
        with pytest.raises(InvalidMessage) as refused:
            read_digest(json.dumps(json.loads(digest.to_json()) | {"days": days}))
        assert str(refused.value) == "'reminder_digest' version 1: ValueError: days must be an integer 1-30"
    with pytest.raises(InvalidMessage) as unknown:
        read_queued_work(json.dumps({"type": "reminder", "version": 2, "user_id": str(uuid4()), "date": "2026-11-24"}))
    assert unknown.value.reason == "unknown_version"


def test_the_on_demand_digest_is_still_read_as_such() -> None:
    body = json.dumps({"type": "due_bills_digest", "version": 1, "request_id": str(uuid4()), "user_id": str(uuid4()),
                       "email": "a@example.com", "days": 0, "as_of": "2026-11-24", "bills": []})
    assert isinstance(read_digest(body), DueBillsDigest)


# --------------------------------------------------------------------------- the worker's handler

async def test_the_worker_runs_a_round_request_then_handles_the_reminders_it_queued(tables, clock) -> None:
    due, off = a_user(tables, clock, 7), a_user(tables, clock, None)
    for user in (due, off):
        await add_bill(tables, clock, user.id, TODAY)
    queue, publisher, ledger = FakeQueue(), FakePublisher(), FakeReminderLedger()
    container = container_with_fakes(Settings(public_base_url="https://b.test"), tables, clock, FakePasswordHasher(),
                                     queue=queue)
    container.digest_publisher.override(providers.Object(publisher))
    container.reminder_ledger.override(providers.Object(ledger))
    queue.put(ReminderRoundRequest().to_json())
    stop = asyncio.Event()
    task = asyncio.create_task(due_bills_consumer(container).run(stop))
    for _ in range(200):
        if publisher.published and not queue.messages:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert [d.user_id for d in publisher.published] == [due.id]
    assert queue.messages == {} and queue.dead_letters == []


# --------------------------------------------------------------------------- SendMessageBatch's partial failures

class BatchSqs:
    """Stands in for the SQS client's send_message_batch: fails the given entry ids, per call."""

    def __init__(self, failures: list[list[dict[str, Any]]]) -> None:
        self.failures = failures
        self.calls: list[list[str]] = []

    async def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.calls.append([e["Id"] for e in Entries])
        failed = self.failures.pop(0) if self.failures else []
        return {"Successful": [{"Id": e["Id"]} for e in Entries if e["Id"] not in {f["Id"] for f in failed}],
                "Failed": failed}


def sqs_queue(client: BatchSqs) -> SqsQueue:
    return SqsQueue({"sqs": client}, queue_url="https://sqs.test/q")  # type: ignore[arg-type]


async def test_entries_sqs_fails_are_sent_again_until_accepted() -> None:
    client = BatchSqs([[{"Id": "3", "SenderFault": False, "Code": "InternalError"},
                        {"Id": "7", "SenderFault": False, "Code": "InternalError"}],
                       [{"Id": "7", "SenderFault": False, "Code": "InternalError"}]])
    await sqs_queue(client).send_batch([Reminder(uuid4(), TODAY) for _ in range(10)])
    assert client.calls == [[str(i) for i in range(10)], ["3", "7"], ["7"]]


async def test_a_batch_that_keeps_failing_raises_service_unavailable() -> None:
    client = BatchSqs([[{"Id": "0", "SenderFault": False, "Code": "InternalError"}]] * 10)
    with pytest.raises(ServiceUnavailable):
        await sqs_queue(client).send_batch([Reminder(uuid4(), TODAY) for _ in range(2)])
    assert len(client.calls) == 4


async def test_a_sender_fault_is_raised_at_once_and_batches_over_10_are_refused() -> None:
    client = BatchSqs([[{"Id": "1", "SenderFault": True, "Code": "InvalidParameterValue", "Message": "bad"}]])
    with pytest.raises(RuntimeError, match="InvalidParameterValue"):
        await sqs_queue(client).send_batch([Reminder(uuid4(), TODAY) for _ in range(2)])
    with pytest.raises(ValueError):
        await sqs_queue(client).send_batch([Reminder(uuid4(), TODAY) for _ in range(11)])


# --------------------------------------------------------------------------- the daily time

@pytest.mark.parametrize("raw", ["8:00", "24:00", "08:60", "0800", "08:00:00", "noon"])
def test_a_malformed_reminder_time_is_a_config_error(raw: str) -> None:
    with pytest.raises(ConfigError, match="BILLING_REMINDER_TIME"):
        Settings.from_env({"BILLING_REMINDER_TIME": raw})


def test_the_reminder_time_defaults_to_0800_utc_and_the_next_round_is_the_next_such_moment() -> None:
    assert Settings.from_env({}).reminder_time_of_day == time(8, 0, tzinfo=UTC)
    at = Settings.from_env({"BILLING_REMINDER_TIME": "23:59"}).reminder_time_of_day
    assert next_round_at(datetime(2026, 11, 24, 9, 0, tzinfo=UTC), at) == datetime(2026, 11, 24, 23, 59, tzinfo=UTC)
    eight = time(8, 0)
    assert next_round_at(datetime(2026, 11, 24, 8, 0, tzinfo=UTC), eight) == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert next_round_at(datetime(2026, 11, 24, 7, 59, 59, tzinfo=UTC), eight) == datetime(2026, 11, 24, 8, 0,
                                                                                          tzinfo=UTC)
