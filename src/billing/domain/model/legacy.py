"""The old Node.js webapp's rows, and the rules that turn them into our entities or say why not.

A legacy row is taken as the old database holds it (the source adapter does no cleaning), then
checked by the same rules a client of our API meets (AccountDetails, BillDetails). Nothing is
repaired silently: a row either converts exactly or is refused with one FieldError per problem.
The only corrections are the old webapp's known defects: timestamps without a zone are UTC, and
the bills' `created_at`/`updated_at` columns hold each other's values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TypeVar
from uuid import UUID

from billing.domain.model.attachment import Attachment, clean_file_name, object_key
from billing.domain.model.bill import Bill, BillDetails
from billing.domain.model.clock import to_millis
from billing.domain.model.errors import DomainError, FieldError, ValidationFailed
from billing.domain.model.user import AccountDetails, User

# What the old webapp's bcrypt (cost 10, `$2b$`) wrote; any cost and the $2a$/$2y$ variants verify too.
_BCRYPT = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}", re.ASCII)
_MD5 = re.compile(r"[0-9a-f]{32}", re.ASCII)
# What our API accepts (judged by content there); the old rows are judged by their recorded type.
ALLOWED_MIME_TYPES = ("application/pdf", "image/png", "image/jpeg")
T = TypeVar("T")


class LegacySourceError(DomainError):
    """The old database cannot be read: unreachable, or not the old webapp's schema."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyCounts:
    """How many rows each old table holds."""

    users: int
    bills: int
    attachments: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyUser:
    """A row of the old `Users` table, values as stored."""

    id: str
    first_name: str | None
    last_name: str | None
    email_address: str | None
    password: str | None = field(repr=False)  # a password hash: never in a repr
    account_created: datetime | None
    account_updated: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyBill:
    """A row of the old `Bills` table, values as stored. `created_at`/`updated_at` keep the old
    column names: the old webapp swapped their contents, which `bill_from_legacy` puts right."""

    id: str
    user_id: str | None
    vendor: str | None
    bill_date: datetime | date | None
    due_date: datetime | date | None
    amount_due: float | Decimal | int | None
    payment_status: str | None
    categories: object  # a JSON text (MariaDB LONGTEXT), or already decoded by the driver
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LegacyAttachment:
    """A row of the old `AttachFiles` table, values as stored (`size` is a string there)."""

    id: str
    bill_id: str | None
    file_name: str | None
    size: str | int | None
    md5: str | None
    mime_type: str | None
    upload_date: date | datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CopiedObject:
    """An object copied into our store, as the store reports it (not as the old row claims)."""

    size: int
    md5: str  # hex
    sha256: str  # hex
    copied: bool  # False: the object was already there from an earlier run


def legacy_object_key(bill_id: UUID, file_name: str) -> str:
    """Where the old webapp kept an attachment's bytes in its bucket."""
    return f"{bill_id}_{file_name}"


class _Problems:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def merge(self, exc: ValidationFailed, *, skip: frozenset[str] | set[str] = frozenset()) -> None:
        self.errors += [e for e in exc.errors if e.field not in skip]

    def fields(self) -> set[str]:
        return {e.field for e in self.errors}

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors, "The legacy row cannot be imported as it is.")


def parse_legacy_id(value: object) -> UUID:
    """The old webapp's CHAR(36) uuid, kept as our id."""
    if not isinstance(value, str):
        raise ValueError("must be a UUID")
    try:
        parsed = UUID(value)
    except ValueError:
        raise ValueError("must be a UUID") from None
    if str(parsed) != value.lower():
        raise ValueError("must be a UUID in its canonical 36-character form")
    return parsed


def _id(problems: _Problems, field: str, value: object) -> UUID | None:
    try:
        return parse_legacy_id(value)
    except ValueError as exc:
        problems.add(field, str(exc))
        return None


def _checked(problems: _Problems, build: Callable[[], T], *,
             skip: frozenset[str] | set[str] = frozenset()) -> T | None:
    """`build()`, or None with its field errors (but those of the fields in `skip`) added to `problems`."""
    try:
        return build()
    except ValidationFailed as exc:
        problems.merge(exc, skip=skip)
        return None


def _reference(problems: _Problems, field: str, value: object, missing: str) -> UUID | None:
    """A foreign key of the old schema, which allowed NULL there; `missing` says what an empty one means."""
    if value is None:
        problems.add(field, missing)
        return None
    return _id(problems, field, value)


def _instant(problems: _Problems, field: str, value: object) -> datetime | None:
    if not isinstance(value, datetime):
        problems.add(field, "must be a date and time")
        return None
    return _as_utc(value)


def _as_utc(value: datetime) -> datetime:
    """A DATETIME of the old database: naive, in UTC (Sequelize's default timezone)."""
    return to_millis(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def _calendar_date(problems: _Problems, field: str, value: object) -> str | None:
    """The old webapp stored a date as the DATETIME at midnight UTC of that date."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        if value.time() != time():
            problems.add(field, "must be at midnight (the old webapp stored dates as midnight UTC)")
            return None
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    problems.add(field, "must be a date")
    return None


def _amount(problems: _Problems, value: object) -> Decimal | None:
    """A DOUBLE, read exactly as it prints: repr() is the shortest text that round-trips the
    double, so 12.34 stays 12.34 and 12.345 stays three decimals (refused, never rounded)."""
    if isinstance(value, bool) or not isinstance(value, float | int | Decimal):
        problems.add("amount_due", "must be a number")
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _categories(problems: _Problems, value: object) -> object:
    """MariaDB keeps Sequelize's JSON column as LONGTEXT: a JSON text, sometimes encoded twice
    (a JSON string whose content is the JSON array). NULL is no categories, as an omitted field is."""
    if value is None:
        return []
    if isinstance(value, bytes):
        value = value.decode(errors="replace")  # UTF-8
    if isinstance(value, str):
        try:
            value = json.loads(value)
            if isinstance(value, str) and value.lstrip().startswith("["):
                value = json.loads(value)
        except ValueError:
            problems.add("categories", "must be a JSON array of strings (the stored text is not JSON)")
            return None
    return value


def user_from_legacy(row: LegacyUser) -> User:
    """Our User for an old account: same id, lower-case email, the bcrypt hash kept as it is
    (it verifies, and sign-in upgrades it to Argon2id). Raises ValidationFailed naming every problem."""
    problems = _Problems()
    user_id = _id(problems, "id", row.id)
    account = _checked(problems, lambda: AccountDetails.from_mapping(
        {"first_name": row.first_name, "last_name": row.last_name, "email_address": row.email_address}))
    if not isinstance(row.password, str) or not _BCRYPT.fullmatch(row.password):
        problems.add("password", "must be a bcrypt hash")
    created = _instant(problems, "account_created", row.account_created)
    updated = _instant(problems, "account_updated", row.account_updated)
    problems.raise_if_any()
    # For mypy only: raise_if_any refused every row where one is missing.
    assert user_id and account and created and updated and isinstance(row.password, str)  # pragma: no mutate
    return User(
        id=user_id,
        first_name=account.first_name,
        last_name=account.last_name,
        email_address=account.email_address,
        password_hash=row.password,
        account_created=created,
        account_updated=updated,
    )


def bill_from_legacy(row: LegacyBill) -> Bill:
    """Our Bill for an old one: same id and owner, dates as dates, the exact amount in USD (the old
    webapp had no currency), and created/updated put back the right way round. The details meet
    BillDetails' rules or the bill is refused: ValidationFailed names every problem."""
    problems = _Problems()
    bill_id = _id(problems, "id", row.id)
    owner_id = _reference(problems, "UserId", row.user_id, "is empty (the bill has no user)")
    fields: dict[str, object] = {
        "vendor": row.vendor,
        "bill_date": _calendar_date(problems, "bill_date", row.bill_date),
        "due_date": _calendar_date(problems, "due_date", row.due_date),
        "amount_due": _amount(problems, row.amount_due),
        # No currency: the old webapp had none, and BillDetails' default is USD.
        "categories": _categories(problems, row.categories),
        "payment_status": row.payment_status,
    }
    # One message per field: the first problem found.
    details = _checked(problems, lambda: BillDetails.from_mapping(fields), skip=problems.fields())
    created = _instant(problems, "updated_at", row.updated_at)  # swapped: `updated_at` is the creation
    updated = _instant(problems, "created_at", row.created_at)
    problems.raise_if_any()
    assert bill_id and owner_id and details and created and updated  # pragma: no mutate (for mypy, as above)
    return Bill(id=bill_id, owner_id=owner_id, created_ts=created, updated_ts=updated, details=details)


def attachment_from_legacy(row: LegacyAttachment) -> Attachment:
    """Our Attachment metadata for an old file row: same id and bill, our key scheme
    (`bills/{bill_id}/{id}`), the recorded size, md5 and type. `sha256` is empty ("not known"):
    only the bytes can tell it, and the import fills it in when it copies them. Raises
    ValidationFailed naming every problem (a name with a directory part, a size that is not a
    number of bytes, an md5 that is not 32 hex digits, a type our API does not accept)."""
    problems = _Problems()
    attachment_id = _id(problems, "id", row.id)
    bill_id = _reference(problems, "BillId", row.bill_id, "is empty (the file has no bill)")
    if not isinstance(row.file_name, str) or not row.file_name or clean_file_name(row.file_name) != row.file_name:
        problems.add(
            "file_name", "must be a plain file name (no directory part or control characters, 1-255 characters)"
        )
    size = row.size if isinstance(row.size, int) and not isinstance(row.size, bool) else None
    if isinstance(row.size, str) and row.size.isascii() and row.size.isdigit():
        size = int(row.size)
    if size is None:
        problems.add("size", "must be a number of bytes")
    md5 = _md5(problems, row.md5)
    if row.mime_type not in ALLOWED_MIME_TYPES:
        problems.add("mime_type", "must be one of " + ", ".join(ALLOWED_MIME_TYPES))
    uploaded = _upload_date(problems, row.upload_date)
    problems.raise_if_any()
    # For mypy only, as in user_from_legacy.
    assert attachment_id and bill_id and size is not None and md5 and uploaded  # pragma: no mutate
    assert isinstance(row.file_name, str) and isinstance(row.mime_type, str)  # pragma: no mutate
    return Attachment(
        id=attachment_id,
        bill_id=bill_id,
        file_name=row.file_name,
        size=size,
        md5=md5,
        sha256="",
        mime_type=row.mime_type,
        object_key=object_key(bill_id, attachment_id),
        upload_date=uploaded,
    )


def _md5(problems: _Problems, value: object) -> str | None:
    """The recorded md5 in lower case, when it is one."""
    if isinstance(value, str) and _MD5.fullmatch(value.lower()):
        return value.lower()
    problems.add("md5", "must be 32 hexadecimal digits")
    return None


def _upload_date(problems: _Problems, value: object) -> datetime | None:
    """When a file was uploaded: a DATETIME (as `_as_utc` reads it), or a DATE at midnight UTC."""
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    problems.add("upload_date", "must be a date")
    return None
