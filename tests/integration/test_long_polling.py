"""The worker's long polls against moto server, at SQS's longest wait (20 s).

Idle, a consumer polls again and again; none of those polls may end in a client timeout (a
warning every minute or so, while nothing is wrong). And a message that arrives late in a poll,
after 17 s, must be handed to that poll: a client that had already given up on it (reads timing
out at 15 s, as they once did) would leave SQS answering a dead connection, and the message would
stay hidden for the visibility timeout, handled a minute late.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from dependency_injector import providers

from billing.adapters.aws.sqs_queue import SqsQueue
from billing.domain.model.due_bills import DueBillsRequest
from billing.domain.use_cases.register_user import RegisterUserCommand
from billing.entrypoints.worker import due_bills_consumer
from billing.ports import InboundMessage
from tests.conftest import PASSWORD
from tests.fakes import FakeClock, FakeMetrics
from tests.integration.pipeline import Pipeline

pytestmark = pytest.mark.integration

IDLE_SECONDS = 70
LATE_IN_THE_POLL = 17.0  # after the old 15 s read timeout, before SQS's 20 s wait ends


class PollRecordingQueue:
    """The real SQS queue adapter, noting when each receive starts and ends."""

    def __init__(self, queue: SqsQueue) -> None:
        self._queue = queue
        self.polls: list[tuple[float, float | None]] = []

    async def receive(self, max_messages: int, wait_seconds: int) -> Sequence[InboundMessage]:
        self.polls.append((time.monotonic(), None))
        index = len(self.polls) - 1
        try:
            return await self._queue.receive(max_messages, wait_seconds)
        finally:
            self.polls[index] = (self.polls[index][0], time.monotonic())

    async def delete(self, message: InboundMessage) -> None:
        await self._queue.delete(message)

    async def hide(self, message: InboundMessage, seconds: int) -> None:
        await self._queue.hide(message, seconds)

    async def dead_letter(self, message: InboundMessage, reason: str) -> None:
        await self._queue.dead_letter(message, reason)


async def test_an_idle_worker_logs_no_warning_and_handles_a_late_arriving_message_at_once(
        mysql_url, aws_endpoint, tmp_path, caplog) -> None:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    pipeline = Pipeline(mysql_url, aws_endpoint, clock, tmp_path / "outbox", worker_wait_seconds=20)
    metrics = FakeMetrics()
    pipeline.container.metrics.override(providers.Object(metrics))
    await pipeline.start()
    caplog.set_level(logging.INFO)
    stop = asyncio.Event()
    worker: asyncio.Task[None] | None = None
    try:
        user = await pipeline.container.register_user().execute(RegisterUserCommand(fields={
            "first_name": "Idle", "last_name": "Poll", "email_address": f"idle-{uuid.uuid4().hex[:8]}@example.com",
            "password": PASSWORD}))
        real = pipeline.container.due_queue()
        recorder = PollRecordingQueue(real)
        pipeline.container.due_queue.override(providers.Object(recorder))
        worker = asyncio.create_task(due_bills_consumer(pipeline.container).run(stop))

        await asyncio.sleep(IDLE_SECONDS)
        finished = [(start, end) for start, end in recorder.polls if end is not None]
        assert len(finished) >= 3, recorder.polls
        assert all(end - start >= 19 for start, end in finished), finished  # each poll ran its 20 s
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == [], [r.getMessage() for r in warnings]

        # Send once the current poll is 17 s old (the next poll's, if this one is too far along).
        polls_seen = len(recorder.polls)
        if time.monotonic() - recorder.polls[-1][0] > LATE_IN_THE_POLL - 1:
            while len(recorder.polls) == polls_seen:
                await asyncio.sleep(0.05)
        poll_started = recorder.polls[-1][0]
        await asyncio.sleep(poll_started + LATE_IN_THE_POLL - time.monotonic())
        await real.send(DueBillsRequest(uuid.uuid4(), user.id, 7, clock.now()))
        sent = time.monotonic()
        while metrics.count("worker.messages.processed") == 0:
            assert time.monotonic() - sent < 5, "the message was not handled (swallowed by an abandoned poll?)"
            await asyncio.sleep(0.02)
        handled_after = time.monotonic() - sent
        assert handled_after < 1.0, handled_after
        [ended] = [end for start, end in recorder.polls if start == poll_started]
        assert ended is not None and ended - sent < 1.0  # the poll it arrived in is the one that took it
        print(f"handled {handled_after * 1000:.0f} ms after it was sent, {LATE_IN_THE_POLL:.0f} s into a poll")
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    finally:
        stop.set()
        if worker is not None:
            await worker
        await pipeline.stop()
