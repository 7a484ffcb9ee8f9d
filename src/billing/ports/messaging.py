from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from billing.domain.model.due_bills import Digest, DueBillsRequest, Email, Reminder


class DueBillsRequestQueue(Protocol):
    """Where due-bills requests wait for the worker (SQS). Messages carry ids, never addresses."""

    async def send(self, request: DueBillsRequest) -> None:
        """Enqueue durably; return only once the queue has accepted it.
        Raises ServiceUnavailable when the queue cannot be reached (nothing was queued)."""
        ...


class ReminderQueue(Protocol):
    """Where a reminder round puts its per-user work (the same SQS queue as due-bills requests)."""

    async def send_batch(self, reminders: Sequence[Reminder]) -> None:
        """Enqueue 1-10 reminders in one call (SendMessageBatch). Entries the queue reports as
        failed are sent again, a few times; returns only once every reminder was accepted.
        Raises ServiceUnavailable when some could still not be queued (the others may have been:
        a round is safe to run again, the ledger sends once a day)."""
        ...


@dataclass(frozen=True, slots=True)
class InboundMessage:
    message_id: str
    receipt: str  # the handle to delete or extend this delivery
    body: str
    receive_count: int  # 1 on the first delivery


class InboundQueue(Protocol):
    """The consuming side of a queue with at-least-once delivery and visibility timeouts."""

    async def receive(self, max_messages: int, wait_seconds: int) -> Sequence[InboundMessage]:
        """Long-poll for up to `max_messages`; an empty list when none arrived in `wait_seconds`."""
        ...

    async def delete(self, message: InboundMessage) -> None:
        """Acknowledge: the message is done and must not come back."""
        ...

    async def hide(self, message: InboundMessage, seconds: int) -> None:
        """Keep the message invisible for `seconds` more (slow work), or make it visible again
        sooner (0) after a failure."""
        ...

    async def dead_letter(self, message: InboundMessage, reason: str) -> None:
        """Move a message no retry can help (unreadable) to the queue's dead-letter queue now:
        its body is sent there, with `reason` and its original message id as attributes, and
        then it is deleted here. Raises ServiceUnavailable when either step fails; the message
        is then still here (and may also be in the dead-letter queue), so it comes back."""
        ...


class DigestPublisher(Protocol):
    """Hands a digest to the email sender (SNS topic → Lambda)."""

    async def publish(self, digest: Digest) -> None:
        """Publish durably. Raises ServiceUnavailable when the topic cannot be reached."""
        ...


class EmailLedger(Protocol):
    """Remembers, per user, the due-bills email of the last 60 minutes (DynamoDB with a TTL).

    Expiry is compared against `now` by the ledger itself: TTL deletion is lazy.
    """

    async def sent_recently(self, user_id: UUID, now: datetime) -> bool:
        """True when an email was sent to the user and its window has not expired."""
        ...

    async def claim(self, user_id: UUID, request_id: UUID, now: datetime) -> bool:
        """Atomically take the user's slot for this window; False when it is taken by another
        send (or by this request while its lease is still running)."""
        ...

    async def mark_sent(self, user_id: UUID, request_id: UUID, now: datetime) -> None:
        """Record that the claimed email went out."""
        ...

    async def release(self, user_id: UUID, request_id: UUID) -> None:
        """Give the slot back after a failed send, so a retry can send."""
        ...


class ReminderLedger(Protocol):
    """Remembers, per user and UTC day, the reminder email (DynamoDB, items apart from the
    on-demand email's, with a TTL past the day). At most one reminder per user per day: the
    conditional claim is the guard, whoever asks and however often.

    A claim is owned by the `claimant` (the digest's request id) and leased for a while: if its
    sender dies before marking it sent, any later claim for that user and day may take it over
    once the lease has run out, so a crash cannot lose the day's reminder for good."""

    async def sent(self, user_id: UUID, day: date) -> bool:
        """True when the user's reminder for `day` went out (a cheap check; the claim decides)."""
        ...

    async def claim(self, user_id: UUID, day: date, claimant: UUID, now: datetime) -> bool:
        """Atomically take the user's reminder for `day`; False when it was sent, or another
        claim holds it and its lease is still running."""
        ...

    async def mark_sent(self, user_id: UUID, day: date, claimant: UUID, now: datetime) -> None:
        """Record that the claimed reminder went out."""
        ...

    async def release(self, user_id: UUID, day: date, claimant: UUID) -> None:
        """Give the claim back after a failed send, so a retry can send."""
        ...


class Mailer(Protocol):
    """Sends an email (SES)."""

    async def send(self, email: Email) -> str:
        """Send and return the provider's message id. Raises on failure (nothing was sent)."""
        ...
