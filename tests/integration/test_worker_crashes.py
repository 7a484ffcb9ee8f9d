"""`billing worker` killed with SIGKILL again and again while 500 due-bills requests from 50 users
are processed: every user still gets exactly one email."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from datetime import UTC, datetime

from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic
from tests.fakes import FakeClock
from tests.integration.pipeline import Pipeline, WorkerProcesses

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

        workers = WorkerProcesses(pipeline, tmp_path / "worker.log")
        kills, depths = 0, []
        for _ in range(KILLS):  # killed while it holds messages (the queue never drains in 0.7 s of work)
            worker = workers.start()
            await asyncio.sleep(1.5)  # start-up, then some work
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kills += 1
            depths.append(await pipeline.queue_depth(queue))
            # meanwhile the Lambda goes on with whatever the worker published
            await pipeline.deliver_to_lambda()
        worker = workers.start()
        # Generous: on a loaded CI machine moto and MariaDB share the CPUs; what is tested is the count below.
        await workers.drain_then_stop(worker, queue, starts=KILLS + 1, timeout=180)
        await pipeline.deliver_to_lambda()
        assert kills == KILLS and depths[0] > 0, depths  # the first kill, at least, left work behind
        print(f"queue depth after each SIGKILL: {depths}")
        for email in emails:
            assert len(await pipeline.emails_to(email)) == 1, email
        assert await pipeline.dead_lettered() == 0
    finally:
        if worker is not None and worker.poll() is None:  # a failed assertion must not leave it running
            worker.kill()
            worker.wait()
        await pipeline.stop()
