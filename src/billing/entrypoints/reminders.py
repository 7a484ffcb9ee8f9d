"""Reminder rounds from the command line (`billing remind`) and, in `billing local`, every day at
BILLING_REMINDER_TIME (UTC)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, time, timedelta

from billing.container import Container, init_resources, shutdown_resources
from billing.domain.use_cases.run_reminder_round import RoundResult

log = logging.getLogger("billing.reminders")


async def remind_once(container: Container) -> RoundResult:
    """`billing remind`: one round now; returns once its reminders are queued."""
    await init_resources(container)
    try:
        return await container.run_reminder_round().execute()
    finally:
        await shutdown_resources(container)


def next_round_at(now: datetime, at: time) -> datetime:
    """The first moment at UTC time of day `at` strictly after `now` (aware)."""
    now = now.astimezone(UTC)
    candidate = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)


class DailyReminders:
    """`billing local`'s schedule: a round every day at BILLING_REMINDER_TIME (UTC), in process.
    A failed round is logged and the schedule goes on (the next day's round, or `billing remind`);
    it never stops the server."""

    def __init__(self, container: Container) -> None:
        self._container = container

    async def run(self, stop: asyncio.Event) -> None:
        at = self._container.settings().reminder_time_of_day
        clock = self._container.clock()
        while not stop.is_set():
            now = clock.now()
            due = next_round_at(now, at)
            log.info("next reminder round at %s", due.isoformat())
            try:
                await asyncio.wait_for(stop.wait(), timeout=(due - now).total_seconds())
                return  # stopped
            except TimeoutError:
                pass
            try:
                result = await self._container.run_reminder_round().execute()
            except Exception:
                log.exception("reminder round failed")
                continue
            log.info("reminder round for %s queued %d reminders", result.day.isoformat(), result.queued)
