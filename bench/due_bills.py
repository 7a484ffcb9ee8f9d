"""The due-bills email pipeline: latency, worker throughput, Lambda cold start.

Usage: .venv/bin/python bench/due_bills.py [--samples 30] [--requests 1000] [--users 100]

1. Latency: a real `billing local` process (HTTP + worker + Lambda stand-in + emulator), one fresh
   user per sample; the time from the 202 to the email's .eml copy in the outbox (written right
   after SES accepted it).
2. Worker throughput: `--requests` requests from `--users` users queued on the emulator's SQS,
   then the real worker consumer (in this process, on MariaDB) drains the queue.
3. Lambda cold start: the Lambda package (`make lambda-zip`) unpacked read-only, as in /var/task;
   a fresh interpreter (`python -S`, only the package on sys.path) imports the handler and handles
   one SNS event (import + first invocation), 5 runs, against the emulator.
Results go to bench/results/due_bills.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import runpy
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
PASSWORD = "Abcd1234!"
MYSQL = os.environ.get("BILLING_BENCH_MYSQL_URL",
                       "mysql+aiomysql://billing_test:billing_test@127.0.0.1:3306/billing_test_duebench")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auth(email: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(email, PASSWORD)}


async def latency(samples: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="bench-due-"))
    port = free_port()
    env = os.environ | {"BILLING_HTTP_PORT": str(port), "BILLING_LOCAL_AWS_PORT": str(free_port()),
                        "BILLING_LOG_LEVEL": "WARNING", "BILLING_REGISTRATIONS_PER_ADDRESS": str(samples)}
    process = subprocess.Popen([str(BIN / "billing"), "local"], cwd=work, env=env, stderr=subprocess.DEVNULL)
    base, outbox = f"http://127.0.0.1:{port}", work / "var" / "outbox"
    seconds: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{base}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            for i in range(samples):
                email = f"lat{i}-{uuid.uuid4().hex[:6]}@example.com"
                await http.post(f"{base}/v1/user", json={"first_name": "L", "last_name": "T", "email_address": email,
                                                         "password": PASSWORD})
                await http.post(f"{base}/v1/bill", headers=auth(email), json={
                    "vendor": "V", "bill_date": "2026-01-01", "due_date": datetime.now(UTC).date().isoformat(),
                    "amount_due": 5, "payment_status": "due"})
                before = set(outbox.glob("*.eml")) if outbox.exists() else set()
                async with http.get(f"{base}/v1/bills/due/7", headers=auth(email)) as r:
                    assert r.status == 202
                started = time.perf_counter()
                while True:
                    new = (set(outbox.glob("*.eml")) if outbox.exists() else set()) - before
                    if new:
                        break
                    if time.perf_counter() - started > 30:
                        raise RuntimeError("no email within 30 s")
                    await asyncio.sleep(0.005)
                seconds.append(time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(timeout=60)
    seconds.sort()
    return {"samples": samples, "p50_s": round(statistics.median(seconds), 3),
            "p90_s": round(seconds[int(len(seconds) * 0.9) - 1], 3), "max_s": round(seconds[-1], 3),
            "target_p50_s": 1.0, "met": statistics.median(seconds) < 1.0}


async def worker_throughput(requests: int, users: int) -> dict[str, object]:
    from dependency_injector import providers
    from run import reset_database  # bench/run.py: creates the database if needed, drops its tables

    from billing.adapters.security.hasher import Argon2PasswordHasher, CachingPasswordHasher
    from billing.adapters.sql.migrate import upgrade_to_head
    from billing.config import Settings
    from billing.container import Container
    from billing.domain.model.due_bills import DueBillsRequest
    from billing.domain.use_cases.register_user import RegisterUserCommand
    from billing.entrypoints.local_aws import LocalAwsEmulator
    from billing.entrypoints.worker import due_bills_consumer

    await asyncio.to_thread(reset_database, MYSQL)
    await asyncio.to_thread(upgrade_to_head, MYSQL)
    with LocalAwsEmulator(free_port(), Path(tempfile.mkdtemp()) / "moto.log") as endpoint:
        tag = uuid.uuid4().hex[:8]
        settings = Settings(database_url=MYSQL, aws_endpoint_url=endpoint, due_queue_name=f"bench-{tag}",
                            digest_topic_name=f"bench-{tag}", ledger_table=f"bench-{tag}", s3_bucket=f"bench-{tag}",
                            worker_wait_seconds=1, registrations_per_address=users)  # all from here
        container = Container(settings=settings)
        container.password_hasher.override(providers.Singleton(
            CachingPasswordHasher, Argon2PasswordHasher(time_cost=1, memory_cost=1024)))
        await container.init_resources()
        try:
            await container.bootstrap()
            ids = []
            for i in range(users):
                user = await container.register_user().execute(RegisterUserCommand(fields={
                    "first_name": "W", "last_name": "T", "email_address": f"w{i}-{tag}@example.com",
                    "password": PASSWORD}))
                ids.append(user.id)
            sqs = container.aws_clients()["sqs"]
            url = await container.due_queue().url()
            for batch in range(0, requests, 10):
                entries = []
                for n in range(batch, min(batch + 10, requests)):
                    body = DueBillsRequest(uuid.uuid4(), ids[n % users], 30, datetime.now(UTC)).to_json()
                    entries.append({"Id": str(n), "MessageBody": body})
                await sqs.send_message_batch(QueueUrl=url, Entries=entries)
            stop = asyncio.Event()
            started = time.perf_counter()
            task = asyncio.create_task(due_bills_consumer(container).run(stop))
            while True:
                a = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                    "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]))["Attributes"]
                if int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]) == 0:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            stop.set()
            await task
        finally:
            await container.shutdown_resources()
            await container.engine().dispose()
    return {"requests": requests, "users": users, "seconds": round(elapsed, 2),
            "messages_per_second": round(requests / elapsed, 1)}


def lambda_cold_start(runs: int = 5) -> dict[str, object]:
    from billing.entrypoints.local_aws import LocalAwsEmulator

    package = Path(tempfile.mkdtemp(prefix="lambda-task-"))
    subprocess.run(["make", "-s", "lambda-zip"], cwd=ROOT.parent, check=True, capture_output=True)
    subprocess.run(["unzip", "-q", str(ROOT.parent / "deploy" / "dist" / "lambda.zip"), "-d", str(package)], check=True)
    subprocess.run(["chmod", "-R", "a-w", str(package)], check=True)  # /var/task is read-only
    # Each run is a new user and request (a repeat would be deduplicated); the event is built in
    # the probe after the timed part, from the package's own message module.
    probe = f"""
import json, sys, time, uuid
from datetime import date
sys.path.insert(0, {str(package)!r})
started = time.perf_counter()
from billing.entrypoints.lambda_handler import handler
imported = time.perf_counter()
from billing.domain.model.due_bills import DueBillsDigest
digest = DueBillsDigest(uuid.uuid4(), uuid.uuid4(), "cold@example.com", 7, date.today(), ())
event = {{"Records": [{{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {{
    "Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
    "Message": digest.to_json(), "Timestamp": "2026-11-26T00:00:00.000Z"}}}}]}}
built = time.perf_counter()
result = handler(event, None)
done = time.perf_counter()
assert result["outcomes"] == ["sent"], result
print(json.dumps({{"import_ms": (imported - started) * 1000, "total_ms": (done - built + imported - started) * 1000}}))
"""
    with LocalAwsEmulator(free_port(), Path(tempfile.mkdtemp()) / "moto.log") as endpoint:
        tag = uuid.uuid4().hex[:8]
        # The function's environment as messaging.yaml sets it: TLS trusts the package's AWS roots.
        tls_environment = runpy.run_path(str(ROOT.parent / "deploy" / "lambda" / "build_zip.py"))["tls_environment"]
        env = os.environ | tls_environment(package) | {
            "AWS_LAMBDA_FUNCTION_NAME": "billing-bench-digest-mailer",  # the runtime sets it
            "BILLING_AWS_ENDPOINT_URL": endpoint, "BILLING_LEDGER_TABLE": f"cold-{tag}",
            "BILLING_MAIL_SENDER": "billing@example.com", "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench", "BILLING_LOG_LEVEL": "WARNING"}
        subprocess.run([str(BIN / "billing"), "bootstrap"], env=env | {"BILLING_S3_BUCKET": f"cold-{tag}"},
                       check=True, capture_output=True)
        timings = []
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-S", "-c", probe], env=env, check=True, capture_output=True, text=True
            )
            timings.append(json.loads(out.stdout.strip().splitlines()[-1]))
    total = sorted(t["total_ms"] for t in timings)
    return {"runs": runs, "import_ms_median": round(statistics.median(t["import_ms"] for t in timings), 1),
            "total_ms_median": round(statistics.median(total), 1), "total_ms_max": round(total[-1], 1),
            "target_ms": 300, "met": statistics.median(total) < 300}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--users", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    result = {
        "benchmark": "due_bills",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs,"
        f" {platform.python_implementation()} {platform.python_version()}",
        "latency_202_to_email": asyncio.run(latency(args.samples)),
        "worker_throughput": asyncio.run(worker_throughput(args.requests, args.users)),
        "lambda_cold_start": lambda_cold_start(),
    }
    (ROOT / "results" / "due_bills.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
