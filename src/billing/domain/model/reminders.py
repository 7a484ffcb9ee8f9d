"""Automatic reminders: who is due on a day, and where a round is in its walk over them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from billing.domain.model.bill import UNPAID, Bill
from billing.domain.model.user import REMINDER_DAYS_MAX, User

# A round's SendMessageBatch holds at most this many reminders (SQS's limit).
REMINDER_BATCH = 10


@dataclass(frozen=True, slots=True, order=True)
class ReminderCursor:
    """A due user's place in a round's walk: users are visited by (reminder_days, id), the order
    of the database index, so a page starts strictly after the last one's final cursor."""

    days: int
    user_id: UUID

    def __post_init__(self) -> None:
        if not 1 <= self.days <= REMINDER_DAYS_MAX:
            raise ValueError(f"reminder_days must be 1-{REMINDER_DAYS_MAX}")


def reminder_window_end(day: date, reminder_days: int) -> date:
    """The last due date a reminder on `day` covers: bills due on or before it are reminded."""
    return day + timedelta(days=reminder_days)


def bills_to_remind(user: User, bills: Iterable[Bill], day: date) -> list[Bill]:
    """The user's unpaid bills (due, past_due) due on or before `day` + reminder_days, by due date;
    none when the user has reminders off. A user is due for a reminder when this is not empty."""
    if user.reminder_days is None:
        return []
    end = reminder_window_end(day, user.reminder_days)
    due = (b for b in bills if b.owner_id == user.id and b.details.payment_status in UNPAID
           and b.details.due_date <= end)
    return sorted(due, key=lambda b: (b.details.due_date, str(b.id)))
