"""The due-bills email: the work that travels on the queue, the digest on the topic, and the email.

Every message is a JSON object with a `type` and a `version`; this module is the one place that
writes and reads them, so producers and consumers cannot disagree on the format. Queued work
carries ids, never addresses: the worker reloads the user (their current address, whether they
still exist) from its own database, so a forged or stale message can at worst mail a user's own
bills to that user's stored address. The digest is the worker's own, built from its database; the
email sender trusts it because only the worker may publish to the topic.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeAlias, TypeVar
from uuid import UUID

from billing.domain.model.bill import UNPAID, Bill
from billing.domain.model.errors import DomainError
from billing.domain.model.user import User

EMAIL_WINDOW = timedelta(minutes=60)  # at most one due-bills email per user in this window

REQUEST_TYPE = "due_bills_request"
REQUEST_VERSION = 2  # version 1 also carried the address; it is still read, and the address ignored
DIGEST_TYPE = "due_bills_digest"
DIGEST_VERSION = 1
MAX_DAYS = 365


class RejectReason(StrEnum):
    """Why a message cannot be read (a metric's tag: a small fixed set)."""

    MALFORMED = "malformed"  # not a JSON object with a type and a version, or fields that do not parse
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_VERSION = "unknown_version"


class InvalidMessage(DomainError):
    """A queued or published message that this version cannot read (a poison message): no retry
    of the same code can handle it, so it goes to the dead-letter queue."""

    def __init__(self, detail: str, reason: RejectReason = RejectReason.MALFORMED) -> None:
        super().__init__(detail)
        self.reason = reason


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_moment(raw: Any) -> datetime:
    moment = datetime.fromisoformat(str(raw))  # reads a trailing "Z" too
    if moment.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return moment.astimezone(UTC)


def _days(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= MAX_DAYS:
        raise ValueError(f"days must be an integer 0-{MAX_DAYS}")
    return raw


T = TypeVar("T")
Readers = Mapping[str, Mapping[int, Callable[[dict[str, Any]], T]]]


def _read(body: str, readers: Readers[T]) -> T:
    """Parse the envelope, pick the reader for its type and version, and turn a reader's
    KeyError/ValueError/TypeError into InvalidMessage. Fields a reader does not know are ignored."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise InvalidMessage("not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise InvalidMessage("not a JSON object with a type")
    kind, version = data["type"], data.get("version")
    named = repr(kind[:64])  # what the error says of the type: bounded, whatever the sender wrote
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidMessage(f"{named}: no integer version")
    if kind not in readers:
        raise InvalidMessage(f"unknown message type {named}", RejectReason.UNKNOWN_TYPE)
    reader = readers[kind].get(version)
    if reader is None:
        raise InvalidMessage(f"{named}: unknown version {version}", RejectReason.UNKNOWN_VERSION)
    try:
        return reader(data)
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise InvalidMessage(f"{named} version {version}: {type(exc).__name__}: {str(exc)[:200]}") from exc


@dataclass(frozen=True, slots=True)
class DueBillsRequest:
    """A user asked for the email of bills due in the next `days` days (queued work). No
    address: the worker looks the user up when it handles the request."""

    request_id: UUID
    user_id: UUID
    days: int
    requested_at: datetime

    def to_json(self) -> str:
        return json.dumps({
            "type": REQUEST_TYPE, "version": REQUEST_VERSION, "request_id": str(self.request_id),
            "user_id": str(self.user_id), "days": self.days, "requested_at": _iso(self.requested_at),
        })

    @classmethod
    def _read(cls, data: dict[str, Any]) -> DueBillsRequest:
        # Versions 1 and 2 differ only by v1's "email", which is never read.
        return cls(UUID(data["request_id"]), UUID(data["user_id"]), _days(data["days"]),
                   _parse_moment(data["requested_at"]))


# What the due-bills queue carries. A new kind of work (a reminder, say) is one more class here
# and one more entry in _WORK_READERS; the worker dispatches on the class.
QueuedWork: TypeAlias = DueBillsRequest

_WORK_READERS: Readers[QueuedWork] = {
    REQUEST_TYPE: {1: DueBillsRequest._read, 2: DueBillsRequest._read},
}


def read_queued_work(body: str) -> QueuedWork:
    """The work a due-bills queue message asks for. Raises InvalidMessage, with its reason, for a
    body that is not a JSON object of a known type and version, or whose fields do not parse."""
    return _read(body, _WORK_READERS)


@dataclass(frozen=True, slots=True)
class DigestLine:
    bill_id: UUID
    vendor: str
    amount_due: Decimal
    currency: str
    due_date: date
    link: str


@dataclass(frozen=True, slots=True)
class DueBillsDigest:
    """What the email will say (SNS message): to whom, which window, which bills. Built by the
    worker from its database; `email` is the user's stored address at that moment."""

    request_id: UUID
    user_id: UUID
    email: str
    days: int
    as_of: date
    lines: tuple[DigestLine, ...]

    @classmethod
    def of(cls, request: DueBillsRequest, user: User, today: date, bills: list[Bill], base_url: str) -> DueBillsDigest:
        if user.id != request.user_id:
            raise ValueError("the digest's user is not the request's")
        due = sorted(
            (b for b in bills if b.details.payment_status in UNPAID), key=lambda b: (b.details.due_date, str(b.id))
        )
        lines = tuple(
            DigestLine(b.id, b.details.vendor, b.details.amount_due, b.details.currency, b.details.due_date,
                       f"{base_url}/v1/bill/{b.id}")
            for b in due
        )
        return cls(request.request_id, user.id, user.email_address, request.days, today, lines)

    def to_json(self) -> str:
        return json.dumps({
            "type": DIGEST_TYPE, "version": DIGEST_VERSION, "request_id": str(self.request_id),
            "user_id": str(self.user_id), "email": self.email, "days": self.days, "as_of": self.as_of.isoformat(),
            "bills": [
                {"id": str(line.bill_id), "vendor": line.vendor, "amount_due": str(line.amount_due),
                 "currency": line.currency, "due_date": line.due_date.isoformat(), "link": line.link}
                for line in self.lines
            ],
        })

    @classmethod
    def _read(cls, data: dict[str, Any]) -> DueBillsDigest:
        lines = tuple(
            DigestLine(UUID(b["id"]), str(b["vendor"]), Decimal(b["amount_due"]), str(b["currency"]),
                       date.fromisoformat(b["due_date"]), str(b["link"]))
            for b in data["bills"]
        )
        return cls(UUID(data["request_id"]), UUID(data["user_id"]), str(data["email"]), _days(data["days"]),
                   date.fromisoformat(data["as_of"]), lines)

    @classmethod
    def from_json(cls, body: str) -> DueBillsDigest:
        """Raises InvalidMessage, with its reason, for anything but a readable digest."""
        return _read(body, _DIGEST_READERS)


_DIGEST_READERS: Readers[DueBillsDigest] = {DIGEST_TYPE: {1: DueBillsDigest._read}}


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


def compose_email(digest: DueBillsDigest) -> Email:
    """The email for a digest: a subject naming the days, a plain-text and an HTML part, one line
    per bill (vendor, amount, currency, due date, link), and a clear sentence when none is due."""
    window = "today" if digest.days == 0 else f"in the next {digest.days} day{'s' if digest.days != 1 else ''}"
    count = len(digest.lines)
    subject = f"Your bills due {window}: {count} bill{'s' if count != 1 else ''}"
    intro = f"Bills due {window} (on or before {(digest.as_of + timedelta(days=digest.days)).isoformat()})"
    if not digest.lines:
        text = f"{intro}:\n\nNo bills are due {window}. Nothing to pay.\n"
        body = f"<p>{html.escape(intro)}:</p><p>No bills are due {html.escape(window)}. Nothing to pay.</p>"
    else:
        rows = [f"- {line.vendor}: {line.amount_due} {line.currency}, due {line.due_date.isoformat()} - {line.link}"
                for line in digest.lines]
        text = f"{intro}:\n\n" + "\n".join(rows) + "\n"
        items = "".join(
            f"<li>{html.escape(line.vendor)}: {line.amount_due} {html.escape(line.currency)},"
            f" due {line.due_date.isoformat()}"
            f' &ndash; <a href="{html.escape(line.link)}">view bill</a></li>'  # escape() quotes " too: an attribute
            for line in digest.lines
        )
        body = f"<p>{html.escape(intro)}:</p><ul>{items}</ul>"
    return Email(to=digest.email, subject=subject, text=text, html=f"<html><body>{body}</body></html>")
