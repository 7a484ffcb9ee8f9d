"""The due-bills pipeline's pieces on moto server, for the tests that drive it (HTTP → SQS → worker →
DynamoDB → SNS → Lambda → SES)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from pathlib import Path

from dependency_injector import providers

from billing.config import Settings
from billing.container import Container
from billing.entrypoints.lambda_handler import LambdaRuntime
from billing.entrypoints.local_lambda import sns_event
from billing.entrypoints.outbox import read_outbox
from billing.entrypoints.worker import due_bills_consumer
from billing.lambda_container import EmailContainer
from tests.fakes import FakeClock
from tests.integration.conftest import fast_hasher, wipe
from tests.integration.live import BILLING, settings_env


class Pipeline:
    """One isolated set of AWS resources (unique names) plus the pieces that move a request along."""

    def __init__(self, database_url: str, aws_endpoint: str, clock: FakeClock, outbox: Path,
                 **overrides: object) -> None:
        tag = uuid.uuid4().hex[:12]
        self.outbox = outbox
        self.settings = Settings(**{
            "database_url": database_url, "aws_endpoint_url": aws_endpoint, "public_base_url": "https://billing.test",
            "s3_bucket": f"t-{tag}", "due_queue_name": f"due-{tag}", "digest_topic_name": f"digest-{tag}",
            "ledger_table": f"ledger-{tag}", "mail_sender": f"billing-{tag}@example.com", "worker_wait_seconds": 1,
            "worker_retry_delay_seconds": 0, "queue_max_receives": 2, "outbox_dir": str(outbox)} | overrides,
        )
        self.clock = clock
        self.container = Container(settings=self.settings)
        self.container.password_hasher.override(providers.Singleton(fast_hasher))
        self.container.clock.override(providers.Object(clock))
        self.email = EmailContainer(settings=self.settings)
        self.email.clock.override(providers.Object(clock))
        self.runtime: LambdaRuntime | None = None

    async def start(self) -> None:
        await wipe(self.container.engine())
        await self.container.init_resources()
        await self.container.bootstrap_local()
        self.ses_sent_before = int((await self.container.aws_clients()["ses"].get_send_quota())["SentLast24Hours"])
        # The Lambda runtime owns its own loop, as in AWS: it runs in a thread of its own.
        self.runtime = await asyncio.to_thread(LambdaRuntime, self.email)

    async def stop(self) -> None:
        if self.runtime is not None:
            await asyncio.to_thread(self.runtime.close)
        await self.container.shutdown_resources()
        await self.container.engine().dispose()

    async def queue_depth(self, queue) -> int:  # type: ignore[no-untyped-def]
        sqs = self.container.aws_clients()["sqs"]
        attributes = (await sqs.get_queue_attributes(
            QueueUrl=await queue.url(),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]))["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    async def dead_lettered(self) -> int:
        """How many requests wait in the request queue's dead-letter queue."""
        sqs = self.container.aws_clients()["sqs"]
        dlq = await sqs.get_queue_url(QueueName=f"{self.settings.due_queue_name}-dlq")
        attributes = await sqs.get_queue_attributes(QueueUrl=dlq["QueueUrl"],
                                                    AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    async def run_worker(self, timeout: float = 30) -> None:
        """Run the real worker until the request queue is empty (and in-flight work is done)."""
        stop = asyncio.Event()
        task = asyncio.create_task(due_bills_consumer(self.container).run(stop))
        queue = self.container.due_queue()
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.queue_depth(queue) > 0:
            assert asyncio.get_running_loop().time() < deadline, "the worker did not drain the queue"
            await asyncio.sleep(0.2)
        stop.set()
        await task

    async def deliver_to_lambda(self) -> list[str]:
        """Invoke the handler for every SNS delivery waiting in the subscribed queue."""
        queue = self.container.standin_queue()
        outcomes = []
        while messages := await queue.receive(10, 1):
            for message in messages:
                result = await asyncio.to_thread(self.runtime.invoke, sns_event(json.loads(message.body)))
                outcomes += result["outcomes"]
                await queue.delete(message)
        return outcomes

    async def emails_to(self, address: str) -> list[dict[str, str]]:
        """What SES accepted for `address`: the mailer copies each accepted email to the outbox,
        and the emulator's own send counter must agree with the number of copies."""
        emails = [
            {"subject": str(m["Subject"]), "text": m.get_body(("plain",)).get_content(),
             "html": m.get_body(("html",)).get_content()}
            for _, m in read_outbox(str(self.outbox)) if m["To"] == address
        ]
        quota = await self.container.aws_clients()["ses"].get_send_quota()
        assert int(quota["SentLast24Hours"]) - self.ses_sent_before == len(read_outbox(str(self.outbox)))
        return emails


class WorkerProcesses:
    """`billing worker` as real processes on a pipeline's settings, all logging JSON at INFO to
    one file: each start logs "worker: consuming" once its signal handlers are in place."""

    def __init__(self, pipeline: Pipeline, log_path: Path) -> None:
        self._pipeline = pipeline
        self._env = settings_env(pipeline.settings) | {"BILLING_LOG_LEVEL": "INFO", "BILLING_LOG_FORMAT": "json"}
        self.log_path = log_path
        self._log = log_path.open("w")

    def start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([BILLING, "worker"], env=self._env, stdout=self._log, stderr=subprocess.STDOUT)

    async def drain_then_stop(self, worker: subprocess.Popen[bytes], queue, starts: int,  # type: ignore[no-untyped-def]
                              timeout: float) -> None:
        """Wait until `queue` is empty and `starts` workers have logged that they consume, then stop
        `worker`, the last one, with SIGTERM: it exits 0. Fails if it dies or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        # The last worker must be up too: a SIGTERM before its handlers exist would just kill it
        # (when the killed workers left nothing, the queue is empty before this one has started).
        while (await self._pipeline.queue_depth(queue) > 0
               or self.log_path.read_text().count("worker: consuming") < starts):
            assert worker.poll() is None, self.log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not drain the queue"
            await asyncio.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        self._log.close()
