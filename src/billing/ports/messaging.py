from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from billing.domain.model.due_bills import DueBillsDigest, DueBillsRequest, Email


class DueBillsRequestQueue(Protocol):
    """Where due-bills requests wait for the worker (SQS). Messages carry ids, never addresses."""

    async def send(self, request: DueBillsRequest) -> None:
        """Enqueue durably; return only once the queue has accepted it.
        Raises ServiceUnavailable when the queue cannot be reached (nothing was queued)."""
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

    async def publish(self, digest: DueBillsDigest) -> None:
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


class Mailer(Protocol):
    """Sends an email (SES)."""

    async def send(self, email: Email) -> str:
        """Send and return the provider's message id. Raises on failure (nothing was sent)."""
        ...
