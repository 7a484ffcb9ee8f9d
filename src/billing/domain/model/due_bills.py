"""The due-bills email: the request that travels on SQS, the digest on SNS, and the email itself.

Both messages are versioned JSON documents; this module is the one place that writes and reads
them, so the worker and the Lambda cannot disagree on the format (the original system did).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from billing.domain.model.bill import UNPAID, Bill
from billing.domain.model.errors import DomainError

MESSAGE_VERSION = 1
EMAIL_WINDOW = timedelta(minutes=60)  # at most one due-bills email per user in this window


class InvalidMessage(DomainError):
    """A queued or published message that this version cannot read (a poison message)."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_moment(raw: Any) -> datetime:
    moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("timestamp without a time zone")
    return moment.astimezone(UTC)


def _load(body: str, kind: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, TypeError) as exc:
        raise InvalidMessage(f"{kind}: not JSON") from exc
    if not isinstance(data, dict) or data.get("type") != kind:
        raise InvalidMessage(f"not a {kind} message")
    if data.get("version") != MESSAGE_VERSION:
        raise InvalidMessage(f"{kind}: unsupported version {data.get('version')!r}")
    return data


@dataclass(frozen=True, slots=True)
class DueBillsRequest:
    """A user asked for the email of bills due in the next `days` days (SQS message body)."""

    request_id: UUID
    user_id: UUID
    email: str
    days: int
    requested_at: datetime

    KIND = "due_bills_request"

    def to_json(self) -> str:
        return json.dumps({
            "type": self.KIND, "version": MESSAGE_VERSION, "request_id": str(self.request_id),
            "user_id": str(self.user_id), "email": self.email, "days": self.days,
            "requested_at": _iso(self.requested_at),
        })

    @classmethod
    def from_json(cls, body: str) -> DueBillsRequest:
        data = _load(body, cls.KIND)
        try:
            days = data["days"]
            if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
                raise ValueError("days out of range")
            return cls(UUID(data["request_id"]), UUID(data["user_id"]), str(data["email"]), days,
                       _parse_moment(data["requested_at"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidMessage(f"{cls.KIND}: {exc}") from exc


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
    """What the email will say (SNS message): who, which window, which bills."""

    request_id: UUID
    user_id: UUID
    email: str
    days: int
    as_of: date
    lines: tuple[DigestLine, ...]

    KIND = "due_bills_digest"

    @classmethod
    def of(cls, request: DueBillsRequest, today: date, bills: list[Bill], base_url: str) -> DueBillsDigest:
        due = sorted((b for b in bills if b.details.payment_status in UNPAID), key=lambda b: (b.details.due_date, str(b.id)))
        lines = tuple(
            DigestLine(b.id, b.details.vendor, b.details.amount_due, b.details.currency, b.details.due_date,
                       f"{base_url}/v1/bill/{b.id}")
            for b in due
        )
        return cls(request.request_id, request.user_id, request.email, request.days, today, lines)

    def to_json(self) -> str:
        return json.dumps({
            "type": self.KIND, "version": MESSAGE_VERSION, "request_id": str(self.request_id),
            "user_id": str(self.user_id), "email": self.email, "days": self.days, "as_of": self.as_of.isoformat(),
            "bills": [
                {"id": str(line.bill_id), "vendor": line.vendor, "amount_due": str(line.amount_due),
                 "currency": line.currency, "due_date": line.due_date.isoformat(), "link": line.link}
                for line in self.lines
            ],
        })

    @classmethod
    def from_json(cls, body: str) -> DueBillsDigest:
        data = _load(body, cls.KIND)
        try:
            lines = tuple(
                DigestLine(UUID(b["id"]), str(b["vendor"]), Decimal(b["amount_due"]), str(b["currency"]),
                           date.fromisoformat(b["due_date"]), str(b["link"]))
                for b in data["bills"]
            )
            return cls(UUID(data["request_id"]), UUID(data["user_id"]), str(data["email"]), int(data["days"]),
                       date.fromisoformat(data["as_of"]), lines)
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            raise InvalidMessage(f"{cls.KIND}: {exc}") from exc


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
        rows = [f"- {l.vendor}: {l.amount_due} {l.currency}, due {l.due_date.isoformat()} - {l.link}" for l in digest.lines]
        text = f"{intro}:\n\n" + "\n".join(rows) + "\n"
        items = "".join(
            f"<li>{html.escape(l.vendor)}: {l.amount_due} {html.escape(l.currency)}, due {l.due_date.isoformat()}"
            f' &ndash; <a href="{html.escape(l.link, quote=True)}">view bill</a></li>'
            for l in digest.lines
        )
        body = f"<p>{html.escape(intro)}:</p><ul>{items}</ul>"
    return Email(to=digest.email, subject=subject, text=text, html=f"<html><body>{body}</body></html>")
