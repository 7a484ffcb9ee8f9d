from __future__ import annotations

from enum import StrEnum
from uuid import uuid4

from billing.domain.model.due_bills import Reminder, ReminderDigest
from billing.domain.model.reminders import bills_to_remind, reminder_window_end
from billing.ports import Clock, DigestPublisher, ReminderLedger, UnitOfWork


class ReminderOutcome(StrEnum):
    PUBLISHED = "published"
    SKIPPED_ALREADY_SENT = "skipped_already_sent"  # a duplicate: the day's reminder went out
    DROPPED_STALE = "dropped_stale"  # queued for another UTC day than the worker's today
    DROPPED_USER_GONE = "dropped_user_gone"
    DROPPED_REMINDERS_OFF = "dropped_reminders_off"  # reminder_days was set to null meanwhile
    DROPPED_NOTHING_DUE = "dropped_nothing_due"  # paid, deleted or moved out of the window meanwhile


class PrepareReminderDigest:
    """The worker's step for one queued reminder: reload the user and their due bills from the
    database, decide again whether they are due, and publish the reminder digest.

    Only the user's id and the day come from the message. A reminder for another day than the
    Clock's UTC date is dropped (at most one reminder per user per day, counted by the day it is
    sent); so is one for a user who is gone, has turned reminders off or has nothing due any
    more (no email at all, unlike the on-demand one). Skips users whose reminder for the day was
    sent (the ledger; the sender's claim is what guarantees once). Idempotent: a redelivered
    reminder publishes again at worst, and the sender's claim makes that harmless. Raises
    ServiceUnavailable (database, ledger, topic) so the message is retried.
    """

    def __init__(self, uow: UnitOfWork, ledger: ReminderLedger, publisher: DigestPublisher, clock: Clock,
                 base_url: str) -> None:
        self._uow = uow
        self._ledger = ledger
        self._publisher = publisher
        self._clock = clock
        self._base_url = base_url

    async def execute(self, reminder: Reminder) -> ReminderOutcome:
        if reminder.day != self._clock.now().date():
            return ReminderOutcome.DROPPED_STALE
        if await self._ledger.sent(reminder.user_id, reminder.day):
            return ReminderOutcome.SKIPPED_ALREADY_SENT
        async with self._uow as uow:
            user = await uow.users.get(reminder.user_id)
            if user is None:
                return ReminderOutcome.DROPPED_USER_GONE
            if user.reminder_days is None:
                return ReminderOutcome.DROPPED_REMINDERS_OFF
            bills = await uow.bills.due(user.id, reminder_window_end(reminder.day, user.reminder_days))
        due = bills_to_remind(user, bills, reminder.day)
        if not due:
            return ReminderOutcome.DROPPED_NOTHING_DUE
        await self._publisher.publish(ReminderDigest.of(uuid4(), reminder, user, due, self._base_url))
        return ReminderOutcome.PUBLISHED
