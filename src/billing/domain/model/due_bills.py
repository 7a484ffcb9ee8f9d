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
from billing.domain.model.user import REMINDER_DAYS_MAX, User

EMAIL_WINDOW = timedelta(minutes=60)  # at most one due-bills email per user in this window

REQUEST_TYPE = "due_bills_request"
REQUEST_VERSION = 2  # version 1 also carried the address; it is still read, and the address ignored
DIGEST_TYPE = "due_bills_digest"
DIGEST_VERSION = 1
MAX_DAYS = 365
REMINDER_TYPE = "reminder"  # remind one user, on one UTC day
REMINDER_VERSION = 1
ROUND_TYPE = "reminder_round"  # start the day's reminder round (the daily schedule sends it)
ROUND_VERSION = 1
REMINDER_DIGEST_TYPE = "reminder_digest"
REMINDER_DIGEST_VERSION = 1


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


@dataclass(frozen=True, slots=True)
class Reminder:
    """Remind user `user_id` of their due bills on UTC day `day` (queued work, one per user per
    round). No address and no window: the worker reads the user's current address and
    `reminder_days` from the database, so a user who turned reminders off is not mailed."""

    user_id: UUID
    day: date

    def to_json(self) -> str:
        return json.dumps({"type": REMINDER_TYPE, "version": REMINDER_VERSION, "user_id": str(self.user_id),
                           "date": self.day.isoformat()})

    @classmethod
    def _read(cls, data: dict[str, Any]) -> Reminder:
        return cls(UUID(data["user_id"]), date.fromisoformat(data["date"]))


@dataclass(frozen=True, slots=True)
class ReminderRoundRequest:
    """Run today's reminder round (queued work: what the daily schedule sends in AWS). It names
    no day: the round is for the worker's UTC date when it runs, so a late delivery cannot
    remind anyone of another day."""

    def to_json(self) -> str:
        return json.dumps({"type": ROUND_TYPE, "version": ROUND_VERSION})

    @classmethod
    def _read(cls, data: dict[str, Any]) -> ReminderRoundRequest:
        return cls()


# What the due-bills queue carries. A new kind of work is one more class here and one more entry
# in _WORK_READERS; the worker dispatches on the class (exhaustively, checked by mypy).
QueuedWork: TypeAlias = DueBillsRequest | Reminder | ReminderRoundRequest

_WORK_READERS: Readers[QueuedWork] = {
    REQUEST_TYPE: {1: DueBillsRequest._read, 2: DueBillsRequest._read},
    REMINDER_TYPE: {1: Reminder._read},
    ROUND_TYPE: {1: ReminderRoundRequest._read},
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
    def of(cls, request: DueBillsRequest, user: User, today: date, bills: list[Bill],
           base_url: str) -> DueBillsDigest:
        if user.id != request.user_id:
            raise ValueError("the digest's user is not the request's")
        return cls(request.request_id, user.id, user.email_address, request.days, today, _due_lines(bills, base_url))

    def to_json(self) -> str:
        return json.dumps({
            "type": DIGEST_TYPE, "version": DIGEST_VERSION, "request_id": str(self.request_id),
            "user_id": str(self.user_id), "email": self.email, "days": self.days, "as_of": self.as_of.isoformat(),
            "bills": _lines_json(self.lines),
        })

    @classmethod
    def _read(cls, data: dict[str, Any]) -> DueBillsDigest:
        lines = _read_lines(data["bills"])  # the lines first: what an unreadable digest's error names
        return cls(UUID(data["request_id"]), UUID(data["user_id"]), str(data["email"]), _days(data["days"]),
                   date.fromisoformat(data["as_of"]), lines)

    @classmethod
    def from_json(cls, body: str) -> DueBillsDigest:
        """Raises InvalidMessage, with its reason, for anything but a readable digest."""
        return _read(body, _DIGEST_READERS)


_DIGEST_READERS: Readers[DueBillsDigest] = {DIGEST_TYPE: {1: DueBillsDigest._read}}


def _due_lines(bills: list[Bill], base_url: str) -> tuple[DigestLine, ...]:
    due = sorted((b for b in bills if b.details.payment_status in UNPAID),
                 key=lambda b: (b.details.due_date, str(b.id)))
    return tuple(
        DigestLine(b.id, b.details.vendor, b.details.amount_due, b.details.currency, b.details.due_date,
                   f"{base_url}/v1/bill/{b.id}")
        for b in due
    )


def _lines_json(lines: tuple[DigestLine, ...]) -> list[dict[str, str]]:
    return [
        {"id": str(line.bill_id), "vendor": line.vendor, "amount_due": str(line.amount_due),
         "currency": line.currency, "due_date": line.due_date.isoformat(), "link": line.link}
        for line in lines
    ]


def _read_lines(raw: Any) -> tuple[DigestLine, ...]:
    return tuple(
        DigestLine(UUID(b["id"]), str(b["vendor"]), Decimal(b["amount_due"]), str(b["currency"]),
                   date.fromisoformat(b["due_date"]), str(b["link"]))
        for b in raw
    )


def _reminder_days(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= REMINDER_DAYS_MAX:
        raise ValueError(f"days must be an integer 1-{REMINDER_DAYS_MAX}")
    return raw


@dataclass(frozen=True, slots=True)
class ReminderDigest:
    """What a reminder email will say (SNS message), built by the worker from its database:
    `email` is the user's stored address, `days` their reminder_days, `day` the reminder's UTC
    day (at most one reminder per user per day: the ledger's key), `request_id` this
    publication's id (the ledger claim's owner), `settings_url` where reminders are turned off."""

    request_id: UUID
    user_id: UUID
    email: str
    days: int
    day: date
    lines: tuple[DigestLine, ...]
    settings_url: str

    @classmethod
    def of(cls, request_id: UUID, reminder: Reminder, user: User, bills: list[Bill], base_url: str) -> ReminderDigest:
        if user.id != reminder.user_id or user.reminder_days is None:
            raise ValueError("a reminder digest is for the reminder's user, who has reminders on")
        return cls(request_id, user.id, user.email_address, user.reminder_days, reminder.day,
                   _due_lines(bills, base_url), f"{base_url}/v1/user/self")

    def to_json(self) -> str:
        return json.dumps({
            "type": REMINDER_DIGEST_TYPE, "version": REMINDER_DIGEST_VERSION, "request_id": str(self.request_id),
            "user_id": str(self.user_id), "email": self.email, "days": self.days, "date": self.day.isoformat(),
            "bills": _lines_json(self.lines), "settings_url": self.settings_url,
        })

    @classmethod
    def _read(cls, data: dict[str, Any]) -> ReminderDigest:
        return cls(UUID(data["request_id"]), UUID(data["user_id"]), str(data["email"]), _reminder_days(data["days"]),
                   date.fromisoformat(data["date"]), _read_lines(data["bills"]), str(data["settings_url"]))


# What the digest topic carries; the email sender dispatches on the class.
Digest: TypeAlias = DueBillsDigest | ReminderDigest

_ANY_DIGEST_READERS: Readers[Digest] = {
    DIGEST_TYPE: {1: DueBillsDigest._read},
    REMINDER_DIGEST_TYPE: {1: ReminderDigest._read},
}


def read_digest(body: str) -> Digest:
    """The digest a topic message carries. Raises InvalidMessage, with its reason, for anything else."""
    return _read(body, _ANY_DIGEST_READERS)


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


def _window(days: int) -> str:
    return "today" if days == 0 else f"in the next {days} day{'s' if days != 1 else ''}"


def _bill_count(lines: tuple[DigestLine, ...]) -> str:
    return f"{len(lines)} bill{'s' if len(lines) != 1 else ''}"


def _listing(intro: str, window: str, lines: tuple[DigestLine, ...]) -> tuple[str, str]:
    """The plain text and the HTML body of a list of due bills (a sentence when there is none)."""
    if not lines:
        return (f"{intro}:\n\nNo bills are due {window}. Nothing to pay.\n",
                f"<p>{html.escape(intro)}:</p><p>No bills are due {html.escape(window)}. Nothing to pay.</p>")
    rows = [f"- {line.vendor}: {line.amount_due} {line.currency}, due {line.due_date.isoformat()} - {line.link}"
            for line in lines]
    # html.escape escapes quotes by default, so a link cannot end its href attribute.
    items = "".join(
        f"<li>{html.escape(line.vendor)}: {line.amount_due} {html.escape(line.currency)}, due "
        f'{line.due_date.isoformat()} &ndash; <a href="{html.escape(line.link)}">view bill</a></li>'
        for line in lines
    )
    return f"{intro}:\n\n" + "\n".join(rows) + "\n", f"<p>{html.escape(intro)}:</p><ul>{items}</ul>"


def compose_email(digest: DueBillsDigest) -> Email:
    """The email for a digest: a subject naming the days, a plain-text and an HTML part, one line
    per bill (vendor, amount, currency, due date, link), and a clear sentence when none is due."""
    window = _window(digest.days)
    subject = f"Your bills due {window}: {_bill_count(digest.lines)}"
    intro = f"Bills due {window} (on or before {(digest.as_of + timedelta(days=digest.days)).isoformat()})"
    text, body = _listing(intro, window, digest.lines)
    return Email(to=digest.email, subject=subject, text=text, html=f"<html><body>{body}</body></html>")


TURN_OFF = 'To stop these reminders, set "reminder_days" to null: PUT {url} with {{"reminder_days": null}}.'


def compose_reminder_email(digest: ReminderDigest) -> Email:
    """The reminder: the due-bills digest under a subject that says it is a reminder, and a
    closing line that says how to turn reminders off."""
    window = _window(digest.days)
    subject = f"Reminder: {_bill_count(digest.lines)} due {window}"
    intro = (f"Your daily reminder for {digest.day.isoformat()}: bills due {window} "
             f"(on or before {(digest.day + timedelta(days=digest.days)).isoformat()})")
    text, body = _listing(intro, window, digest.lines)
    why = f"You get this email because you turned reminders on ({digest.days}-day look-ahead)."
    off = TURN_OFF.format(url=digest.settings_url)
    text += f"\n{why}\n{off}\n"
    body += f"<p>{html.escape(why)}<br>{html.escape(off)}</p>"
    return Email(to=digest.email, subject=subject, text=text, html=f"<html><body>{body}</body></html>")
