"""`billing worker` killed with SIGKILL again and again while 500 due-bills requests from 50 users
are processed: every user still gets exactly one email."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from datetime import UTC, datetime

from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic
from tests.fakes import FakeClock
from tests.integration.live import BILLING, settings_env
from tests.integration.pipeline import Pipeline

USERS = 50
REQUESTS_PER_USER = 10
KILLS = 4


async def test_sigkilled_worker_still_sends_each_user_exactly_one_email(aiohttp_client, mysql_url, aws_endpoint,
                                                                          tmp_path) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    # Short visibility: what a killed worker held comes back quickly; enough receives not to dead-letter.
    pipeline = Pipeline(mysql_url, aws_endpoint, clock, tmp_path / "outbox", worker_visibility_seconds=2,
                        queue_max_receives=20, worker_concurrency=10, registrations_per_address=USERS)
    await pipeline.start()
    worker: subprocess.Popen[bytes] | None = None
    try:
        client = await aiohttp_client(create_app(pipeline.container))
        emails = [f"crash-{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(USERS)]
        for email in emails:
            body = {"first_name": "C", "last_name": "Rash", "email_address": email, "password": PASSWORD}
            assert (await client.post("/v1/user", json=body)).status == 201

        async def ask(email: str) -> None:
            for _ in range(REQUESTS_PER_USER):
                assert (await client.get("/v1/bills/due/30", headers=basic(email))).status == 202

        await asyncio.gather(*(ask(e) for e in emails))
        queue = pipeline.container.due_queue()
        assert await pipeline.queue_depth(queue) == USERS * REQUESTS_PER_USER

        # INFO: each start logs "worker: consuming" once its signal handlers are in place.
        env = settings_env(pipeline.settings) | {"BILLING_LOG_LEVEL": "INFO", "BILLING_LOG_FORMAT": "json"}
        log = (tmp_path / "worker.log").open("w")

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen([BILLING, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)

        kills, depths = 0, []
        for _ in range(KILLS):  # killed while it holds messages (the queue never drains in 0.7 s of work)
            worker = start()
            await asyncio.sleep(1.5)  # start-up, then some work
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
            depths.append(await pipeline.queue_depth(queue))
            # meanwhile the Lambda goes on with whatever the worker published
            await pipeline.deliver_to_lambda()
        worker = start()
        # Generous: on a loaded CI machine moto and MariaDB share the CPUs; what is tested is the count below.
        deadline = time.monotonic() + 180
        # Drained, and the last worker is up: a SIGTERM before its handlers exist would just kill it
        # (when the killed workers left nothing, the queue is empty before this one has started).
        while (await pipeline.queue_depth(queue) > 0
               or (tmp_path / "worker.log").read_text().count("worker: consuming") < KILLS + 1):
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not drain the queue"
            await asyncio.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        log.close()
        await pipeline.deliver_to_lambda()
        assert kills == KILLS and depths[0] > 0, depths  # the first kill, at least, left work behind
        print(f"queue depth after each SIGKILL: {depths}")
        for email in emails:
            assert len(await pipeline.emails_to(email)) == 1, email
        dlq = await pipeline.container.aws_clients()["sqs"].get_queue_url(
            QueueName=f"{pipeline.settings.due_queue_name}-dlq")
        attributes = await pipeline.container.aws_clients()["sqs"].get_queue_attributes(
            QueueUrl=dlq["QueueUrl"], AttributeNames=["ApproximateNumberOfMessages"])
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
    finally:
        if worker is not None and worker.poll() is None:  # a failed assertion must not leave it running
            worker.kill()
            worker.wait()
        await pipeline.stop()
