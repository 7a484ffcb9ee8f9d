"""The User entity and the rules for registering and editing one."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from billing.domain.model.email import normalize_email
from billing.domain.model.password import password_problem
from billing.domain.model.validation import UNSET, FieldErrors, get, text

NAME_MAX = 100
REMINDER_DAYS_MAX = 30  # reminders look at most this many days ahead
_name = text(NAME_MAX)


def _reminder_days(value: object) -> int | None:
    """null (no reminders) or a whole number of days, 1-30; a JSON boolean is not a number. As in
    JSON Schema (the OpenAPI document's `integer`), 7.0 is the integer 7 (a float, or a Decimal as
    the HTTP layer reads JSON numbers); the range is checked before int() sees the value."""
    if value is None:
        return None
    if (isinstance(value, float | Decimal) and math.isfinite(value) and 1 <= value <= REMINDER_DAYS_MAX
            and value == int(value)):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= REMINDER_DAYS_MAX:
        raise ValueError(f"must be null or an integer from 1 to {REMINDER_DAYS_MAX}")
    return value


def _password(value: object) -> str:
    problem = password_problem(value)
    if problem:
        raise ValueError(problem)
    assert isinstance(value, str)
    return value


def _email(value: object) -> str:
    return normalize_email(value)


@dataclass(slots=True)
class User:
    id: UUID
    first_name: str
    last_name: str
    email_address: str  # canonical lower-case form
    password_hash: str = field(repr=False)  # secrets stay out of reprs (logs, tracebacks)
    account_created: datetime
    account_updated: datetime
    # The automatic reminder looks this many days ahead; None: no reminders (the default).
    reminder_days: int | None = None


@dataclass(frozen=True, slots=True)
class AccountDetails:
    """Whose account it is: the names and the canonical email address (a Registration minus the
    password; also what an imported account must satisfy, its password being an existing hash)."""

    first_name: str
    last_name: str
    email_address: str

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> AccountDetails:
        errors = FieldErrors()
        details = cls._parse(data, errors)
        errors.raise_if_any()
        return details

    @classmethod
    def _parse(cls, data: Mapping[str, object], errors: FieldErrors) -> AccountDetails:
        return cls(
            first_name=errors.parse("first_name", get(data, "first_name"), _name),
            last_name=errors.parse("last_name", get(data, "last_name"), _name),
            email_address=errors.parse("email_address", get(data, "email_address"), _email),
        )


@dataclass(frozen=True, slots=True)
class Registration:
    first_name: str
    last_name: str
    email_address: str
    password: str = field(repr=False)
    reminder_days: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Registration:
        errors = FieldErrors()
        account = AccountDetails._parse(data, errors)
        reminder_days = errors.parse_optional("reminder_days", get(data, "reminder_days"), _reminder_days)
        registration = cls(
            first_name=account.first_name,
            last_name=account.last_name,
            email_address=account.email_address,
            password=errors.parse("password", get(data, "password"), _password),
            reminder_days=None if reminder_days is UNSET else reminder_days,
        )
        errors.raise_if_any()
        return registration


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """A partial update: fields left UNSET keep their value."""

    first_name: str = UNSET
    last_name: str = UNSET
    password: str = field(default=UNSET, repr=False)
    reminder_days: int | None = UNSET  # None: turn reminders off

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], current_email: str) -> ProfileChanges:
        errors = FieldErrors()
        changes = cls(
            first_name=errors.parse_optional("first_name", get(data, "first_name"), _name),
            last_name=errors.parse_optional("last_name", get(data, "last_name"), _name),
            password=errors.parse_optional("password", get(data, "password"), _password),
            reminder_days=errors.parse_optional("reminder_days", get(data, "reminder_days"), _reminder_days),
        )
        email = get(data, "email_address")
        if email is not UNSET and (not isinstance(email, str) or email.lower() != current_email):
            errors.add("email_address", "cannot be changed")
        errors.raise_if_any()
        return changes
