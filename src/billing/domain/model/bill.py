"""The Bill entity, its editable details, and the query a client may run over its bills."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar
from uuid import UUID

from billing.domain.model.attachment import Attachment
from billing.domain.model.errors import FieldError, ValidationFailed
from billing.domain.model.money import parse_amount, parse_currency
from billing.domain.model.validation import UNSET, FieldErrors, get, text

VENDOR_MAX = 255
CATEGORIES_MAX = 50
CATEGORY_MAX = 100
LIMIT_MAX = 1000
T = TypeVar("T")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class PaymentStatus(StrEnum):
    PAID = "paid"
    DUE = "due"
    PAST_DUE = "past_due"
    NO_PAYMENT_REQUIRED = "no_payment_required"


UNPAID = frozenset({PaymentStatus.DUE, PaymentStatus.PAST_DUE})


def parse_date(value: object) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date in the form YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real calendar date (YYYY-MM-DD)") from None


def parse_payment_status(value: object) -> PaymentStatus:
    if isinstance(value, str):
        try:
            return PaymentStatus(value)
        except ValueError:
            pass
    raise ValueError("must be one of " + ", ".join(s.value for s in PaymentStatus))


def parse_categories(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("must be an array of strings")
    if len(value) > CATEGORIES_MAX:
        raise ValueError(f"must hold at most {CATEGORIES_MAX} categories")
    if not all(isinstance(c, str) and c.strip() and len(c) <= CATEGORY_MAX for c in value):
        raise ValueError(f"must hold non-blank strings of at most {CATEGORY_MAX} characters")
    if len(set(value)) != len(value):
        raise ValueError("must not repeat a category")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class BillDetails:
    """Everything a client edits on a bill (a PUT replaces all of it)."""

    vendor: str
    bill_date: date
    due_date: date
    amount_due: Decimal
    currency: str
    categories: tuple[str, ...]
    payment_status: PaymentStatus

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> BillDetails:
        errors = FieldErrors()
        status = get(data, "payment_status")
        if status is UNSET:
            status = get(data, "paymentStatus")  # older clients send the camelCase alias
        currency = get(data, "currency")
        categories = get(data, "categories")
        details = cls(
            vendor=errors.parse("vendor", get(data, "vendor"), text(VENDOR_MAX)),
            bill_date=errors.parse("bill_date", get(data, "bill_date"), parse_date),
            due_date=errors.parse("due_date", get(data, "due_date"), parse_date),
            amount_due=errors.parse("amount_due", get(data, "amount_due"), parse_amount),
            currency=errors.parse("currency", "USD" if currency is UNSET else currency, parse_currency),
            categories=errors.parse("categories", [] if categories is UNSET else categories, parse_categories),
            payment_status=errors.parse("payment_status", status, parse_payment_status),
        )
        if (isinstance(details.bill_date, date) and isinstance(details.due_date, date)
                and details.due_date < details.bill_date):
            errors.add("due_date", "must not be before bill_date")
        errors.raise_if_any()
        return details


@dataclass(slots=True)
class Bill:
    id: UUID
    owner_id: UUID
    created_ts: datetime
    updated_ts: datetime
    details: BillDetails
    attachment: Attachment | None = None


@dataclass(frozen=True, slots=True)
class BillCursor:
    """Where the next page starts: bills are ordered by (due_date, id)."""

    due_date: date
    id: UUID

    def encode(self) -> str:
        raw = f"{self.due_date.isoformat()}|{self.id}".encode()
        # The raw text is always 47 bytes, so the token's last character (before the one "=") is never
        # an "X": rstrip("XX=XX") strips exactly what rstrip("=") does.
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")  # pragma: no mutate

    @classmethod
    def decode(cls, token: str) -> BillCursor:
        try:
            raw = base64.urlsafe_b64decode(token + "==").decode()  # padding beyond what is missing is ignored
            day, ident = raw.split("|")
            return cls(date.fromisoformat(day), UUID(ident))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise ValueError("is not a cursor this service issued") from None


@dataclass(frozen=True, slots=True)
class BillQuery:
    """Filters and paging for listing a user's bills. `limit=None` means every bill."""

    payment_status: PaymentStatus | None = None
    due_before: date | None = None
    due_after: date | None = None
    limit: int | None = None
    after: BillCursor | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> BillQuery:
        errors = FieldErrors()

        def optional(field: str, parser: Callable[[object], T]) -> T | None:
            value = errors.parse_optional(field, get(params, field), parser)
            return None if value is UNSET else value

        query = cls(
            payment_status=optional("payment_status", parse_payment_status),
            due_before=optional("due_before", parse_date),
            due_after=optional("due_after", parse_date),
            limit=optional("limit", _parse_limit),
            after=optional("cursor", _parse_cursor),
        )
        errors.raise_if_any()
        return query

    def next_page(self, last_due_date: date, last_id: UUID) -> BillQuery:
        """The query for the page after the one ending with that bill."""
        return replace(self, after=BillCursor(last_due_date, last_id))


def _parse_limit(value: object) -> int:
    # At most 4 digits before int(): it refuses more than 4300 with a message of its own.
    if (not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 4
            or not 1 <= int(value) <= LIMIT_MAX):
        raise ValueError(f"must be an integer from 1 to {LIMIT_MAX}")
    return int(value)


def _parse_cursor(value: object) -> BillCursor:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return BillCursor.decode(value)


def parse_days(value: object) -> int:
    """`days` of the due-bills request: an integer from 0 to 365."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 3 or int(value) > 365:
        raise ValidationFailed(FieldError("days", "must be an integer from 0 to 365"))
    return int(value)
