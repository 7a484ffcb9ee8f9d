"""Automatic reminders on MariaDB and moto server: round → SQS → worker → SNS → Lambda → SES.

Three concurrent rounds (two in process, one `billing remind`), a worker killed again and again
while it runs the schedule's round, and a user who turns reminders off: exactly one email per
due user, and none to anyone else."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.domain.model import Bill, BillDetails, PaymentStatus, User
from billing.domain.model.due_bills import ReminderRoundRequest
from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic
from tests.fakes import FakeClock
from tests.integration.conftest import free_port, wipe
from tests.integration.live import BILLING, settings_env
from tests.integration.pipeline import Pipeline, WorkerProcesses


@pytest.fixture
def clock() -> FakeClock:
    # The subprocesses (billing remind, billing worker) run on the real clock: the same UTC day.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


def a_bill(owner: User, due: date, status: str = "due") -> Bill:
    now = datetime.now(UTC)
    details = BillDetails(vendor="Northwind", bill_date=date(2020, 1, 1), due_date=due, amount_due=Decimal("12.50"),
                          currency="USD", categories=(), payment_status=PaymentStatus(status))
    return Bill(id=uuid.uuid4(), owner_id=owner.id, created_ts=now, updated_ts=now, details=details)


async def add_people(pipeline: Pipeline, people: list[tuple[int | None, int, str]]) -> list[User]:
    """One user per (reminder_days, bill due in that many days, bill status), straight into the database."""
    today = pipeline.clock.now().date()
    now = pipeline.clock.now()
    users, bills = [], []
    for reminder_days, due_in, status in people:
        user = User(uuid.uuid4(), "Re", "Minder", f"rem-{uuid.uuid4().hex[:10]}@example.com", "$argon2id$x", now, now,
                    reminder_days=reminder_days)
        users.append(user)
        bills.append(a_bill(user, today + timedelta(days=due_in), status))
    async with pipeline.container.uow() as uow:
        await uow.users.add_many(users)
        await uow.bills.add_many(bills)
        await uow.commit()
    return users


async def emails_per_user(pipeline: Pipeline, users: list[User]) -> list[int]:
    return [len(await pipeline.emails_to(u.email_address)) for u in users]


async def test_three_concurrent_rounds_send_one_reminder_to_each_due_user_and_none_to_others(
        aiohttp_client, mysql_url, aws_endpoint, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pipeline = Pipeline(mysql_url, aws_endpoint, clock, tmp_path / "outbox")
    await pipeline.start()
    try:
        due = await add_people(pipeline, [(7, 7, "due"), (7, 0, "due"), (1, -30, "past_due"), (30, 30, "due")] * 5)
        others = await add_people(pipeline, [
            (None, 0, "due"),  # no preference
            (7, 8, "due"),  # one day outside the window
            (30, 0, "paid"),
            (30, 0, "no_payment_required"),
        ] * 3)
        client = await aiohttp_client(create_app(pipeline.container))
        # A user who turns reminders off (over HTTP) before the round gets nothing.
        email = f"off-{uuid.uuid4().hex[:8]}@example.com"
        body = {"first_name": "O", "last_name": "Ff", "email_address": email, "password": PASSWORD, "reminder_days": 5}
        assert (await client.post("/v1/user", json=body)).status == 201
        bill = {"vendor": "V", "bill_date": "2020-01-01", "due_date": clock.now().date().isoformat(), "amount_due": 1,
                "payment_status": "due"}
        assert (await client.post("/v1/bill", json=bill, headers=basic(email))).status == 201
        assert (await client.put("/v1/user/self", json={"reminder_days": None}, headers=basic(email))).status == 204
        # The on-demand email is independent: a due user who asked for one today also gets the reminder.
        assert (await client.get("/v1/bills/due/3", headers=basic(email))).status == 202  # the opted-out user asks
        await pipeline.run_worker()
        assert await pipeline.deliver_to_lambda() == ["sent"]

        env = settings_env(pipeline.settings) | {"BILLING_LOG_LEVEL": "WARNING"}
        remind = await asyncio.create_subprocess_exec(BILLING, "remind", env=env, stderr=asyncio.subprocess.PIPE)
        results = await asyncio.gather(*(pipeline.container.run_reminder_round().execute() for _ in range(2)))
        _, stderr = await asyncio.wait_for(remind.communicate(), 60)
        assert remind.returncode == 0, stderr.decode()
        assert f"queued {len(due)} reminders" in stderr.decode()
        assert [r.queued for r in results] == [len(due), len(due)]
        assert await pipeline.queue_depth(pipeline.container.due_queue()) == 3 * len(due)

        await pipeline.run_worker(timeout=60)
        outcomes = await pipeline.deliver_to_lambda()
        assert outcomes.count("sent") == len(due), outcomes
        assert await emails_per_user(pipeline, due) == [1] * len(due)
        assert await emails_per_user(pipeline, others) == [0] * len(others)
        [on_demand] = await pipeline.emails_to(email)  # the on-demand one only: no reminder
        assert not on_demand["subject"].startswith("Reminder")
        [reminder] = await pipeline.emails_to(due[0].email_address)
        assert reminder["subject"] == "Reminder: 1 bill due in the next 7 days"
        assert 'PUT https://billing.test/v1/user/self with {"reminder_days": null}' in reminder["text"]

        # A fourth round later the same day sends nothing new.
        clock.advance(seconds=1)
        await pipeline.container.run_reminder_round().execute()
        await pipeline.run_worker()
        assert set(await pipeline.deliver_to_lambda()) <= {"deduplicated"}
        assert await emails_per_user(pipeline, due) == [1] * len(due)
    finally:
        await pipeline.stop()


async def test_a_worker_killed_mid_round_still_sends_each_due_user_exactly_one_reminder(
        mysql_url, aws_endpoint, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Short visibility: what a killed worker held (the round itself, reminders) comes back quickly.
    pipeline = Pipeline(mysql_url, aws_endpoint, clock, tmp_path / "outbox", worker_visibility_seconds=2,
                        queue_max_receives=20, worker_concurrency=10)
    await pipeline.start()
    try:
        due = await add_people(pipeline, [(3, 1, "due")] * 60)
        others = await add_people(pipeline, [(None, 1, "due"), (3, 1, "paid")] * 5)
        queue = pipeline.container.due_queue()
        sqs = pipeline.container.aws_clients()["sqs"]
        # What the daily schedule sends; a worker runs the round, and a second round request is a
        # second, concurrent round.
        for _ in range(2):
            await sqs.send_message(QueueUrl=await queue.url(), MessageBody=ReminderRoundRequest().to_json())

        workers = WorkerProcesses(pipeline, tmp_path / "worker.log")
        depths = []
        for _ in range(3):
            before = await pipeline.queue_depth(queue)
            worker = workers.start()
            deadline = time.monotonic() + 30
            # Killed once the rounds have queued reminders (mid-round or just after), with work in hand.
            while await pipeline.queue_depth(queue) <= before and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            depths.append(await pipeline.queue_depth(queue))
            await pipeline.deliver_to_lambda()  # the Lambda goes on with whatever was published
        await workers.drain_then_stop(workers.start(), queue, starts=4, timeout=90)
        await pipeline.deliver_to_lambda()
        assert depths[0] > 2, depths  # the first kill, at least, left reminders and a round behind
        print(f"queue depth after each SIGKILL: {depths}")
        assert await emails_per_user(pipeline, due) == [1] * len(due)
        assert await emails_per_user(pipeline, others) == [0] * len(others)
        assert await pipeline.dead_lettered() == 0
    finally:
        await pipeline.stop()


async def test_billing_remind_is_one_line_and_exit_2_when_the_queue_cannot_be_reached(
        mysql_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Someone due, so the round has something to queue; then nothing listens at the AWS endpoint.
    pipeline = Pipeline(mysql_url, "http://127.0.0.1:1", FakeClock(datetime.now(UTC)), tmp_path / "outbox")
    try:
        await wipe(pipeline.container.engine())
        await add_people(pipeline, [(5, 0, "due")])
    finally:
        await pipeline.container.engine().dispose()
    env = os.environ | {"BILLING_DATABASE_URL": mysql_url, "BILLING_AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
                        "BILLING_DUE_QUEUE_URL": "http://127.0.0.1:1/123456789012/due", "BILLING_LOG_LEVEL": "WARNING"}
    done = subprocess.run([BILLING, "remind"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("billing remind: SQS"), done.stderr
