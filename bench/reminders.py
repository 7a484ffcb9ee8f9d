"""The daily reminder round: users queued per second and the round's peak memory, then the emails per
second the workers and the Lambda reach, against the emulator (moto server) and MariaDB.

Usage: .venv/bin/python bench/reminders.py [--sizes 10000,100000] [--emails 2000] [--lambdas 4]

1. Round: for each size, that many opted-in users (reminder_days 1-30), each with one bill due
   inside their window, are inserted directly in MariaDB (plus as many users without the
   preference, who must cost the round nothing). A real `billing remind` process runs the round
   against a fresh queue; the figures are its wall time, the users it queued per second and its
   peak resident memory (ru_maxrss of the child). A round with nobody due gives the process's own
   start-up time and memory, so the round's share can be read off. Memory must be flat in the size.
   Meanwhile this process drains the queue and checks that each user arrived: the emulator's
   SendMessage costs time in proportion to the messages already in the queue (moto counts them on
   every send), so an undrained queue would measure moto, not the round.
   The same round also runs in this process against a queue that only serialises and counts the
   messages: the database side alone, its users per second, and its peak traced memory
   (tracemalloc), without the emulator. `--emulator-up-to N` skips the emulator for larger sizes.
2. Emails: `--emails` reminders queued by a round, then the real worker consumer (in this process,
   BILLING_WORKER_CONCURRENCY 10) turns them into digests, and `--lambdas` Lambda runtimes (one
   thread each, like as many Lambda containers) send them through the emulator's SES.
Results go to bench/results/reminders.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
MYSQL = os.environ.get("BILLING_BENCH_MYSQL_URL",
                       "mysql+aiomysql://billing_test:billing_test@127.0.0.1:3306/billing_test_remindbench")
CHUNK = 5000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def insert_people(container, count: int, opted_in: bool, today: date) -> None:  # type: ignore[no-untyped-def]
    """`count` users with one due bill each, straight into the database, CHUNK per transaction."""
    from billing.domain.model import Bill, BillDetails, PaymentStatus, User

    now = datetime.now(UTC)
    for start in range(0, count, CHUNK):
        users, bills = [], []
        for _ in range(min(CHUNK, count - start)):
            days = random.randint(1, 30) if opted_in else None
            user = User(uuid.uuid4(), "B", "Ench", f"{uuid.uuid4().hex}@example.com", "$argon2id$bench", now, now,
                        reminder_days=days)
            due = today + timedelta(days=random.randint(-5, days or 30))
            users.append(user)
            bills.append(Bill(uuid.uuid4(), user.id, now, now, BillDetails(
                "Northwind", date(2020, 1, 1), due, Decimal("12.50"), "USD", (), PaymentStatus.DUE)))
        async with container.uow() as uow:
            await uow.users.add_many(users)
            await uow.bills.add_many(bills)
            await uow.commit()


def remind_process(settings, queue_name: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Run `billing remind` against `queue_name`; its wall time, peak RSS and what it printed."""
    env = os.environ | {"BILLING_DATABASE_URL": MYSQL, "BILLING_AWS_ENDPOINT_URL": settings.aws_endpoint_url,
                        "BILLING_DUE_QUEUE_NAME": queue_name, "BILLING_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = subprocess.Popen([str(BIN / "billing"), "remind"], env=env, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"billing remind failed: {stderr}")
    queued = int(stderr.split("queued ")[1].split()[0])
    return {"queued": queued, "seconds": round(elapsed, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


async def queue_depth(sqs, url: str) -> int:  # type: ignore[no-untyped-def]
    a = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]))["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


async def drain(sqs, url: str, received: set[str], done: asyncio.Event) -> None:  # type: ignore[no-untyped-def]
    """Receive and delete until `done`, collecting each reminder's user id."""
    while not done.is_set():
        try:
            messages = (await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)).get(
                "Messages", [])
            if messages:
                received.update(json.loads(m["Body"])["user_id"] for m in messages)
                await sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        except Exception as exc:
            print(f"drain: {type(exc).__name__}; retrying", file=sys.stderr)
            await asyncio.sleep(0.5)


class CountingQueue:
    """A ReminderQueue that serialises each reminder, as the SQS adapter does, and counts it."""

    def __init__(self) -> None:
        self.queued = 0

    async def send_batch(self, reminders) -> None:  # type: ignore[no-untyped-def]
        for reminder in reminders:
            reminder.to_json()
        self.queued += len(reminders)


async def round_without_queue(container, size: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """The round's database side, in this process: its rate, then its peak traced memory."""
    import tracemalloc

    from billing.adapters.clock import SystemClock
    from billing.domain.use_cases.run_reminder_round import RunReminderRound

    queue = CountingQueue()
    started = time.perf_counter()
    await RunReminderRound(container.read_uow(), queue, SystemClock()).execute()
    seconds = time.perf_counter() - started
    assert queue.queued == size, (queue.queued, size)
    tracemalloc.start()
    await RunReminderRound(container.read_uow(), CountingQueue(), SystemClock()).execute()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": round(seconds, 2), "users_per_second": round(size / seconds),
            "peak_traced_kib": round(peak / 1024)}


async def rounds(container, settings, sizes: list[int], emulator_up_to: int) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    from billing.adapters.aws.bootstrap import ensure_queue

    sqs = container.aws_clients()["sqs"]
    today = datetime.now(UTC).date()
    figures: list[dict[str, object]] = []
    inserted = 0
    baseline_queue = f"remind-empty-{uuid.uuid4().hex[:8]}"
    await ensure_queue(container.aws_clients(), baseline_queue, 5, 60)
    await insert_people(container, 1000, False, today)  # not opted in: never due
    baseline = await asyncio.to_thread(remind_process, settings, baseline_queue)
    assert baseline["queued"] == 0, baseline
    for size in sizes:
        await insert_people(container, size - inserted, True, today)
        await insert_people(container, size - inserted, False, today)
        inserted = size
        database_only = await round_without_queue(container, size)
        if size > emulator_up_to:
            figures.append({"opted_in_users": size, "users_without_preference": size + 1000,
                            "round_without_the_emulator": database_only})
            print(json.dumps(figures[-1]), flush=True)
            continue
        queue = f"remind-{size}-{uuid.uuid4().hex[:8]}"
        url = await ensure_queue(container.aws_clients(), queue, 5, 60)
        received: set[str] = set()
        done = asyncio.Event()
        drainers = [asyncio.create_task(drain(sqs, url, received, done)) for _ in range(4)]
        run = await asyncio.to_thread(remind_process, settings, queue)
        deadline = time.monotonic() + 120
        while len(received) < size and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        done.set()
        await asyncio.gather(*drainers)
        assert run["queued"] == size and len(received) == size, (run, size, len(received))
        round_seconds = max(run["seconds"] - baseline["seconds"], 0.001)
        figures.append({"opted_in_users": size, "users_without_preference": size + 1000, **run,
                        "round_seconds": round(round_seconds, 2),
                        "users_queued_per_second": round(size / round_seconds),
                        "rss_above_an_empty_round_mib": round(run["peak_rss_mib"] - baseline["peak_rss_mib"], 1),
                        "round_without_the_emulator": database_only})
        print(json.dumps(figures[-1]), flush=True)
        await sqs.delete_queue(QueueUrl=url)  # the emulator keeps every message in memory
    return [{"empty_round": baseline}, *figures]


async def emails(container, settings, count: int, lambdas: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    from run import reset_database  # bench/run.py

    from billing.adapters.sql.migrate import upgrade_to_head
    from billing.entrypoints.lambda_handler import LambdaRuntime
    from billing.entrypoints.local_lambda import sns_event
    from billing.entrypoints.worker import due_bills_consumer
    from billing.lambda_container import EmailContainer

    await container.engine().dispose()
    await asyncio.to_thread(reset_database, MYSQL)
    await asyncio.to_thread(upgrade_to_head, MYSQL)
    await insert_people(container, count, True, datetime.now(UTC).date())
    queued = (await container.run_reminder_round().execute()).queued
    sqs = container.aws_clients()["sqs"]
    url = await container.due_queue().url()
    started = time.perf_counter()
    stop = asyncio.Event()
    worker = asyncio.create_task(due_bills_consumer(container).run(stop))
    while await queue_depth(sqs, url) > 0:
        await asyncio.sleep(0.05)
    worker_seconds = time.perf_counter() - started
    stop.set()
    await worker

    standin = container.standin_queue()
    runtimes = [await asyncio.to_thread(LambdaRuntime, EmailContainer(settings=settings)) for _ in range(lambdas)]
    outcomes: list[str] = []

    async def drain(runtime: LambdaRuntime) -> None:
        while messages := await standin.receive(10, 1):
            for message in messages:
                result = await asyncio.to_thread(runtime.invoke, sns_event(json.loads(message.body)))
                outcomes.extend(result["outcomes"])
                await standin.delete(message)

    started = time.perf_counter()
    await asyncio.gather(*(drain(r) for r in runtimes))
    lambda_seconds = time.perf_counter() - started
    for runtime in runtimes:
        await asyncio.to_thread(runtime.close)
    sent = outcomes.count("sent")
    assert queued == count and sent == count, (queued, sent, count)
    return {"reminders": count, "worker_seconds": round(worker_seconds, 2),
            "worker_digests_per_second": round(count / worker_seconds, 1), "lambda_runtimes": lambdas,
            "lambda_seconds": round(lambda_seconds, 2), "emails_per_second": round(sent / lambda_seconds, 1),
            "end_to_end_emails_per_second": round(sent / (worker_seconds + lambda_seconds), 1)}


async def bench(sizes: list[int], email_count: int, lambdas: int, emulator_up_to: int) -> dict[str, object]:
    from run import reset_database  # bench/run.py: creates the database if needed, drops its tables

    from billing.adapters.sql.migrate import upgrade_to_head
    from billing.config import Settings
    from billing.container import Container
    from billing.entrypoints.local_aws import LocalAwsEmulator

    version = await asyncio.to_thread(reset_database, MYSQL)
    await asyncio.to_thread(upgrade_to_head, MYSQL)
    work = Path(tempfile.mkdtemp(prefix="bench-remind-"))
    with LocalAwsEmulator(free_port(), work / "moto.log") as endpoint:
        tag = uuid.uuid4().hex[:8]
        settings = Settings(database_url=MYSQL, aws_endpoint_url=endpoint, due_queue_name=f"remind-{tag}",
                            digest_topic_name=f"remind-{tag}", ledger_table=f"remind-{tag}",
                            s3_bucket=f"remind-{tag}", mail_sender=f"bench-{tag}@example.com", worker_wait_seconds=1)
        container = Container(settings=settings)
        await container.init_resources()
        try:
            await container.bootstrap_local()
            round_figures = await rounds(container, settings, sizes, emulator_up_to)
            email_figures = await emails(container, settings, email_count, lambdas) if email_count else None
        finally:
            await container.shutdown_resources()
            await container.engine().dispose()
    return {"mariadb": version, "rounds": round_figures, "emails": email_figures}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000", help="opted-in users per round, comma-separated")
    parser.add_argument("--emails", type=int, default=2000, help="0: skip the emails part")
    parser.add_argument("--lambdas", type=int, default=4)
    parser.add_argument("--emulator-up-to", type=int, default=10**9,
                        help="run the `billing remind` round against the emulator only up to this many users")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    sys.path.insert(0, str(ROOT))
    result = {
        "benchmark": "reminders", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_implementation()} "
                   f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start",
        **asyncio.run(bench(sizes, args.emails, args.lambdas, args.emulator_up_to)),
    }
    (ROOT / "results" / "reminders.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
