"""`billing worker`: the long-running consumer of due-bills requests and reminders."""

from __future__ import annotations

import asyncio
import signal
from typing import assert_never

from billing.container import Container, init_resources, shutdown_resources
from billing.domain.model.due_bills import DueBillsRequest, Reminder, ReminderRoundRequest, read_queued_work
from billing.entrypoints.consumer import QueueConsumer
from billing.ports import InboundMessage


def due_bills_consumer(container: Container) -> QueueConsumer:
    """The worker's consumer, reused by `billing local`: each message is read by its type and
    version and runs the use case for that kind of work (a due-bills request: PrepareDueBillsDigest;
    a reminder: PrepareReminderDigest; the daily schedule's round request: RunReminderRound, the
    message kept hidden while the round runs)."""
    settings = container.settings()

    async def handle(message: InboundMessage) -> str:
        work = read_queued_work(message.body)  # InvalidMessage: the consumer moves it to the DLQ
        if isinstance(work, DueBillsRequest):
            return str(await container.prepare_due_bills_digest().execute(work))
        if isinstance(work, Reminder):
            return str(await container.prepare_reminder_digest().execute(work))
        if isinstance(work, ReminderRoundRequest):
            result = await container.run_reminder_round().execute()
            return f"round for {result.day.isoformat()} queued {result.queued} reminders"
        assert_never(work)  # mypy: a new kind of QueuedWork needs its branch here

    return QueueConsumer(
        container.due_queue(), handle, name="worker", metrics=container.metrics(),
        concurrency=settings.worker_concurrency, wait_seconds=settings.worker_wait_seconds,
        visibility_seconds=settings.worker_visibility_seconds,
        retry_delay_seconds=settings.worker_retry_delay_seconds, max_receives=settings.queue_max_receives,
    )


async def run_worker(container: Container) -> None:
    """Consume until SIGTERM/SIGINT, then finish (or abandon, never delete) in-flight messages."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await init_resources(container)
    try:
        await due_bills_consumer(container).run(stop)
    finally:
        await shutdown_resources(container)
