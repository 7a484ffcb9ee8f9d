from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from billing.domain.model.due_bills import Reminder
from billing.domain.model.reminders import REMINDER_BATCH, ReminderCursor
from billing.ports import Clock, ReminderQueue, UnitOfWork


@dataclass(frozen=True, slots=True)
class RoundResult:
    day: date
    queued: int  # reminders queued (users due on `day`)


class RunReminderRound:
    """Queue a reminder for every user due one on the Clock's UTC date: reminder_days set and an
    unpaid bill due on or before today + reminder_days.

    Walks the due users in the database a page at a time (keyset: nothing proportional to the
    number of users is held) and queues each page as batches of 10, `parallel_batches` at once,
    while the next page is read. Returns once every reminder was accepted by the queue. The round
    decides nothing for good: the worker re-checks each user when it handles their reminder, and
    the ledger sends at most one per user per day, so rounds may run concurrently or again.
    Raises ServiceUnavailable when the database or the queue fails (some reminders may be queued).
    """

    def __init__(self, reads: UnitOfWork, queue: ReminderQueue, clock: Clock, *, page_size: int = 1000,
                 parallel_batches: int = 10) -> None:
        if page_size < 1 or parallel_batches < 1:
            raise ValueError("page_size and parallel_batches must be positive")
        self._reads = reads
        self._queue = queue
        self._clock = clock
        self._page_size = page_size
        self._parallel = parallel_batches

    async def execute(self) -> RoundResult:
        day = self._clock.now().date()
        queued = 0
        page = await self._page(day, None)
        while page:
            last = page[-1] if len(page) == self._page_size else None
            # Read the next page while this one is being sent.
            reading = asyncio.ensure_future(self._page(day, last)) if last is not None else None
            try:
                await self._send(day, page)
            except BaseException:
                if reading is not None:
                    reading.cancel()
                    await asyncio.gather(reading, return_exceptions=True)
                raise
            queued += len(page)
            page = await reading if reading is not None else []
        return RoundResult(day, queued)

    async def _page(self, day: date, after: ReminderCursor | None) -> list[ReminderCursor]:
        async with self._reads as uow:
            return list(await uow.users.due_for_reminder(day, after, self._page_size))

    async def _send(self, day: date, page: list[ReminderCursor]) -> None:
        batches = [[Reminder(c.user_id, day) for c in page[i:i + REMINDER_BATCH]]
                   for i in range(0, len(page), REMINDER_BATCH)]
        for start in range(0, len(batches), self._parallel):
            # A TaskGroup: if one batch fails, the others in flight are cancelled; its first error
            # is raised as itself (ServiceUnavailable), not wrapped in an ExceptionGroup.
            try:
                async with asyncio.TaskGroup() as group:
                    for batch in batches[start:start + self._parallel]:
                        group.create_task(self._queue.send_batch(batch))
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
