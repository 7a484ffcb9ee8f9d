"""Repositories on SQLAlchemy Core: rows in, domain entities and read models out."""

from __future__ import annotations

import base64
import random
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import sqlalchemy as sa

from billing.adapters.metrics.timing import timed
from billing.adapters.null_metrics import NullMetrics
from billing.adapters.sql.errors import database_errors
from billing.adapters.sql.tables import attachments, bills, idempotency_keys, users
from billing.adapters.sql.types import UTCDateTime, UUIDString
from billing.domain.model import (
    Attachment,
    AttachmentView,
    Bill,
    BillDetails,
    BillQuery,
    BillView,
    Conflict,
    EmailAlreadyRegistered,
    PaymentStatus,
    User,
)
from billing.domain.model.bill import UNPAID
from billing.domain.model.clock import to_millis
from billing.domain.model.reminders import ReminderCursor
from billing.domain.model.user import REMINDER_DAYS_MAX
from billing.ports.idempotency import HeldKey, KeyClaim
from billing.ports.metrics import DB_DURATION, Metrics


def operation_of(statement: sa.Executable) -> str:
    """`<table>.<verb>` ("users.select", "bills.delete"): a fixed word per statement shape, never
    a value from it, so the timer's tag has a handful of values whatever the data."""
    verb = {"textclause": "text"}.get(getattr(statement, "__visit_name__", "")) or getattr(
        statement, "__visit_name__", "statement")
    table = getattr(statement, "table", None)
    if table is None and isinstance(statement, sa.Select):
        froms = statement.get_final_froms()
        table = froms[0] if froms else None
        while isinstance(table, sa.Join):  # bills LEFT JOIN attachments: named after the leftmost table
            table = table.left
    name = getattr(table, "name", None)
    return f"{name}.{verb}" if isinstance(name, str) else str(verb)


class Executor(Protocol):
    """Where repositories send statements: the unit of work's transaction (or an AsyncConnection)."""

    async def execute(self, statement: sa.Executable, parameters: dict[str, Any] | list[dict[str, Any]] | None = None
                      ) -> sa.CursorResult[Any]: ...


class _Repository:
    def __init__(self, connection: Executor, metrics: Metrics | None = None) -> None:
        self._conn = connection
        self._metrics: Metrics = metrics or NullMetrics()

    async def _execute(
        self,
        statement: sa.Executable,
        parameters: dict[str, Any] | list[dict[str, Any]] | None = None,
        *,
        operation: str | None = None,
    ) -> sa.CursorResult[Any]:
        """Run one statement with its bound `parameters`, timed as `db.duration` tagged `operation`
        (derived from the statement unless given) and `outcome`; driver failures become
        ServiceUnavailable."""
        with timed(self._metrics, DB_DURATION, operation=operation or operation_of(statement)), database_errors():
            return await self._conn.execute(statement, parameters)


class SqlUserRepository(_Repository):
    async def add(self, user: User) -> None:
        try:
            await self._execute(_INSERT_USER, _user_row(user), operation="users.insert")
        except sa.exc.IntegrityError:
            raise EmailAlreadyRegistered(user.email_address) from None

    async def add_many(self, new_users: Sequence[User]) -> None:
        if not new_users:
            return
        try:
            await self._execute(users.insert(), [_user_row(u) for u in new_users])
        except sa.exc.IntegrityError:
            raise EmailAlreadyRegistered(", ".join(u.email_address for u in new_users)) from None

    async def get(self, user_id: UUID) -> User | None:
        result = await self._execute(_USER_BY_ID, {"id": user_id}, operation="users.select")
        row = result.one_or_none()
        return None if row is None else _user(row)

    async def get_by_email(self, email_address: str) -> User | None:
        result = await self._execute(_USER_BY_EMAIL, {"email_address": email_address}, operation="users.select")
        row = result.one_or_none()
        return None if row is None else _user(row)

    async def update(self, user: User) -> None:
        row = _user_row(user)
        del row["id"], row["email_address"], row["account_created"]
        await self._execute(users.update().where(users.c.id == user.id).values(**row))

    async def existing_ids(self, user_ids: Collection[UUID]) -> set[UUID]:
        if not user_ids:
            return set()
        result = await self._execute(sa.select(users.c.id).where(users.c.id.in_(list(user_ids))))
        return set(result.scalars())

    async def ids_by_email(self, email_addresses: Collection[str]) -> Mapping[str, UUID]:
        if not email_addresses:
            return {}
        statement = sa.select(users.c.email_address, users.c.id).where(users.c.email_address.in_(list(email_addresses)))
        result = await self._execute(statement)
        return {row.email_address: row.id for row in result}

    async def due_for_reminder(self, day: date, after: ReminderCursor | None, limit: int) -> Sequence[ReminderCursor]:
        # One reminder_days value at a time: the window's end is then a constant, the same SQL on
        # MariaDB and SQLite, and each query is one range of ix_users_reminder_days_id.
        found: list[ReminderCursor] = []
        days, after_id = (after.days, str(after.user_id)) if after is not None else (1, "")
        while days <= REMINDER_DAYS_MAX and len(found) < limit:
            result = await self._execute(_DUE_FOR_REMINDER, {
                "b_days": days, "b_after_id": after_id, "b_until": day + timedelta(days=days),
                "b_limit": limit - len(found)}, operation="users.select")
            found += [ReminderCursor(days, user_id) for user_id in result.scalars()]
            days, after_id = days + 1, ""
        return found


class SqlBillRepository(_Repository):
    async def add(self, bill: Bill) -> None:
        await self._execute(_INSERT_BILL, _bill_row(bill), operation="bills.insert")

    async def add_many(self, new_bills: Sequence[Bill]) -> None:
        if new_bills:
            await self._execute(bills.insert(), [_bill_row(b) for b in new_bills])

    async def get(self, owner_id: UUID, bill_id: UUID) -> Bill | None:
        result = await self._execute(_BILL, {"id": bill_id, "owner_id": owner_id}, operation="bills.select")
        row = result.one_or_none()
        return None if row is None else _bill(row)

    async def due(self, owner_id: UUID, until: date) -> Sequence[Bill]:
        statement = (
            _BILLS_WITH_ATTACHMENT.where(
                bills.c.owner_id == owner_id,
                bills.c.due_date <= until,
                bills.c.payment_status.in_([s.value for s in UNPAID]),
            )
            .order_by(bills.c.due_date, bills.c.id)
        )
        return [_bill(row) for row in await self._execute(statement)]

    async def update(self, bill: Bill) -> None:
        row = _bill_row(bill)
        del row["id"], row["owner_id"], row["created_ts"]
        await self._execute(
            bills.update().where(bills.c.id == bill.id, bills.c.owner_id == bill.owner_id).values(**row)
        )

    async def delete(self, owner_id: UUID, bill_id: UUID) -> bool:
        result = await self._execute(bills.delete().where(bills.c.id == bill_id, bills.c.owner_id == owner_id))
        return result.rowcount > 0

    async def existing_ids(self, bill_ids: Collection[UUID]) -> set[UUID]:
        if not bill_ids:
            return set()
        result = await self._execute(sa.select(bills.c.id).where(bills.c.id.in_(list(bill_ids))))
        return set(result.scalars())


class SqlAttachmentRepository(_Repository):
    async def add(self, attachment: Attachment) -> None:
        try:
            await self._execute(attachments.insert().values(**_attachment_row(attachment)))
        except sa.exc.IntegrityError:
            raise Conflict("the bill already has an attachment") from None

    async def add_many(self, new_attachments: Sequence[Attachment]) -> None:
        if not new_attachments:
            return
        try:
            await self._execute(attachments.insert(), [_attachment_row(a) for a in new_attachments])
        except sa.exc.IntegrityError:
            raise Conflict("a bill already has an attachment") from None

    async def ids_by_bill(self, bill_ids: Collection[UUID]) -> Mapping[UUID, UUID]:
        if not bill_ids:
            return {}
        statement = sa.select(attachments.c.bill_id, attachments.c.id).where(attachments.c.bill_id.in_(list(bill_ids)))
        return {row.bill_id: row.id for row in await self._execute(statement)}

    async def delete(self, bill_id: UUID, attachment_id: UUID) -> bool:
        result = await self._execute(
            attachments.delete().where(attachments.c.id == attachment_id, attachments.c.bill_id == bill_id)
        )
        return result.rowcount > 0


def _as_text(column: sa.ColumnElement[Any], name: str) -> sa.ColumnElement[Any]:
    """Dates and timestamps are read as their text and parsed with date/datetime.fromisoformat
    (C): the driver's own DATETIME conversion (a regular expression and int() per field, pure
    Python) plus the type's processor were a fifth of listing 20 bills. MariaDB gives
    `2026-11-24 09:30:00.123` for DATETIME(3), SQLite the stored text; fromisoformat reads both."""
    return sa.cast(column, sa.String).label(name)


def _utc(text: str) -> datetime:
    # The offset in the text costs less than replace(tzinfo=UTC) on the parsed value.
    return datetime.fromisoformat(text + "+00:00")


_TEXT_TYPES = (sa.Date, sa.DateTime)


def _columns(table: sa.Table, prefix: str = "") -> list[sa.ColumnElement[Any]]:
    return [
        _as_text(c, prefix + c.name)
        if isinstance(c.type, _TEXT_TYPES) or isinstance(getattr(c.type, "impl", None), _TEXT_TYPES)
        else c.label(prefix + c.name)
        for c in table.c
    ]


# One query for a bill and its attachment (no N+1 when listing).
_ATTACHMENT_COLUMNS = _columns(attachments, "attachment_")
_BILLS_WITH_ATTACHMENT = sa.select(*_columns(bills), *_ATTACHMENT_COLUMNS).select_from(
    bills.outerjoin(attachments, attachments.c.bill_id == bills.c.id)
)

# The statements of the hot paths are built once: building and hashing a Core statement costs
# more than running it through SQLAlchemy's compiled cache. Values travel as bound parameters,
# and their timer tags are given, not derived per call.
_USERS = sa.select(*_columns(users))
_USER_BY_ID = _USERS.where(users.c.id == sa.bindparam("id"))
_USER_BY_EMAIL = _USERS.where(users.c.email_address == sa.bindparam("email_address"))
_BILL = _BILLS_WITH_ATTACHMENT.where(bills.c.id == sa.bindparam("id"), bills.c.owner_id == sa.bindparam("owner_id"))


def _view_column(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    """A column of the bill read model: dates and timestamps as text (_as_text), ids as their
    stored text (decoded by _bill_view), the rest through its type."""
    name = column.name if column.table is bills else f"attachment_{column.name}"
    if isinstance(column.type, (sa.Date, UTCDateTime)):
        return _as_text(column, name)
    if isinstance(column.type, UUIDString):
        return sa.type_coerce(column, sa.String).label(name)
    return column.label(name)


# The read model's columns, in the order _bill_view unpacks them. The owner is not read: every
# statement below selects one owner's bills, and the caller passes that owner's id.
_BILL_VIEW_COLUMNS = [_view_column(c) for c in (
    bills.c.id, bills.c.created_ts, bills.c.updated_ts, bills.c.vendor, bills.c.bill_date, bills.c.due_date,
    bills.c.amount_due, bills.c.currency, bills.c.categories, bills.c.payment_status,
    attachments.c.id, attachments.c.file_name, attachments.c.upload_date, attachments.c.size, attachments.c.md5,
    attachments.c.sha256, attachments.c.mime_type, attachments.c.object_key,
)]
_STATUSES = {status.value: status for status in PaymentStatus}  # a dict lookup: PaymentStatus(...) costs 8 times more


def _bill_view(values: Sequence[Any], owner_id: UUID) -> BillView:
    """A row of _BILL_VIEW_COLUMNS as the read model, decoded once. Unpacked by position: a Row's
    attribute access costs about twenty times its index."""
    (bill_id, created_ts, updated_ts, vendor, bill_date, due_date, amount_due, currency, categories, status,
     attachment_id, file_name, upload_date, size, md5, sha256, mime_type, object_key) = values
    bill_uuid = UUID(bill_id)
    attachment = None if attachment_id is None else AttachmentView(
        UUID(attachment_id), bill_uuid, file_name, _utc(upload_date), size, md5, sha256, mime_type, object_key)
    return BillView(
        bill_uuid,
        owner_id,
        _utc(created_ts),
        _utc(updated_ts),
        vendor,
        date.fromisoformat(bill_date),
        date.fromisoformat(due_date),
        amount_due,
        currency,
        tuple(categories),
        _STATUSES[status],
        attachment,
    )


_CALLER_COLUMNS = _columns(users, "caller_")
_CALLER_WIDTH = len(_CALLER_COLUMNS)  # the bill's columns follow the caller's
_CALLER_ALONE = sa.select(*_CALLER_COLUMNS).where(users.c.email_address == sa.bindparam("email_address"))
_CALLERS_BILL = sa.select(*_CALLER_COLUMNS, *_BILL_VIEW_COLUMNS).select_from(
    users.outerjoin(bills, sa.and_(bills.c.owner_id == users.c.id, bills.c.id == sa.bindparam("id")))
    .outerjoin(attachments, attachments.c.bill_id == bills.c.id)
).where(users.c.email_address == sa.bindparam("email_address"))

# (payment_status, due_before, due_after, cursor, limit): which parts a query has.
_Shape = tuple[bool, bool, bool, bool, bool]


def _shape(query: BillQuery) -> _Shape:
    return (query.payment_status is not None, query.due_before is not None, query.due_after is not None,
            query.after is not None, query.limit is not None)


def _listing(shape: _Shape, *, with_caller: bool) -> sa.Select[Any]:
    """A listing's statement for one combination of filters, values as bound parameters:
    `users JOIN bills` by the caller's address (with_caller), else the bills of `owner_id`."""
    status, before, after, cursor, limit = shape
    on: list[sa.ColumnElement[bool]] = []
    if status:
        on.append(bills.c.payment_status == sa.bindparam("payment_status"))
    if before:
        on.append(bills.c.due_date <= sa.bindparam("due_before"))
    if after:
        on.append(bills.c.due_date >= sa.bindparam("due_after"))
    if cursor:
        on.append(sa.or_(bills.c.due_date > sa.bindparam("cursor_due_date"),
                         sa.and_(bills.c.due_date == sa.bindparam("cursor_due_date"),
                                 bills.c.id > sa.bindparam("cursor_id"))))
    with_attachment = attachments, attachments.c.bill_id == bills.c.id
    if with_caller:
        statement = sa.select(*_CALLER_COLUMNS, *_BILL_VIEW_COLUMNS).select_from(
            users.join(bills, sa.and_(bills.c.owner_id == users.c.id, *on)).outerjoin(*with_attachment)
        ).where(users.c.email_address == sa.bindparam("email_address"))
    else:
        statement = sa.select(*_BILL_VIEW_COLUMNS).select_from(bills.outerjoin(*with_attachment)).where(
            bills.c.owner_id == sa.bindparam("owner_id"), *on)
    statement = statement.order_by(bills.c.due_date, bills.c.id)
    if limit:
        statement = statement.limit(sa.bindparam("limit", type_=sa.Integer))
    return statement


# Built on first use, one per combination of filters present (at most 2 x 32).
_LISTINGS: dict[tuple[_Shape, bool], sa.Select[Any]] = {}


def _listing_of(query: BillQuery, parameters: dict[str, Any], *, with_caller: bool) -> sa.Select[Any]:
    """The statement for `query`, its values added to `parameters`."""
    shape = _shape(query)
    statement = _LISTINGS.get((shape, with_caller))
    if statement is None:
        statement = _LISTINGS[(shape, with_caller)] = _listing(shape, with_caller=with_caller)
    if query.payment_status is not None:
        parameters["payment_status"] = query.payment_status.value
    if query.due_before is not None:
        parameters["due_before"] = query.due_before
    if query.due_after is not None:
        parameters["due_after"] = query.due_after
    if query.after is not None:
        parameters["cursor_due_date"] = query.after.due_date
        parameters["cursor_id"] = query.after.id
    if query.limit is not None:
        parameters["limit"] = query.limit
    return statement


class SqlCallerViews(_Repository):
    """The caller and the bills asked for in one statement. A bill: `users LEFT JOIN bills`, so a
    caller without that bill is still a row. A listing: `users JOIN bills`, the caller's columns
    on each row (with a LEFT JOIN, MariaDB sorts in a temporary table instead of reading the
    (owner_id, due_date, id) index in order); when nothing matches, a second query reads the
    caller alone."""

    async def bill(self, email_address: str, bill_id: UUID) -> tuple[User, BillView | None] | None:
        result = await self._execute(_CALLERS_BILL, {"email_address": email_address, "id": bill_id},
                                     operation="bills.select")
        row = result.first()
        if row is None:
            return None
        caller = _user(row, _CALLER_KEYS)
        return caller, None if row[_CALLER_WIDTH] is None else _bill_view(row[_CALLER_WIDTH:], caller.id)

    async def bills(self, email_address: str, query: BillQuery) -> tuple[User, Sequence[BillView]] | None:
        parameters: dict[str, Any] = {"email_address": email_address}
        statement = _listing_of(query, parameters, with_caller=True)
        rows = (await self._execute(statement, parameters, operation="bills.select")).all()
        if not rows:  # no bill matched, or no such user: the second query only then
            result = await self._execute(_CALLER_ALONE, {"email_address": email_address}, operation="users.select")
            row = result.first()
            return None if row is None else (_user(row, _CALLER_KEYS), [])
        caller = _user(rows[0], _CALLER_KEYS)
        return caller, [_bill_view(row[_CALLER_WIDTH:], caller.id) for row in rows]


class SqlBillViews(_Repository):
    async def page(self, owner_id: UUID, query: BillQuery) -> Sequence[BillView]:
        parameters: dict[str, Any] = {"owner_id": owner_id}
        statement = _listing_of(query, parameters, with_caller=False)
        rows = (await self._execute(statement, parameters, operation="bills.select")).all()
        return [_bill_view(row, owner_id) for row in rows]


class SqlIdempotencyRepository(_Repository):
    """The idempotency_keys table: claim and release for the IdempotencyStore (each run in a unit
    of work of its own), record for IdempotencyAnswers (in the caller's unit of work).

    Columns kept from the table's first release (no migration): `status` only tells an answered
    entry (ANSWERED) from one in flight (NULL); `body` holds the opaque replay record in base64
    (aiomysql 0.3.2 cannot bind bytes); `content_type` and `headers` stay NULL. `created_at` is
    the claim's time, to the millisecond (the column's precision): it tells a claim from a later
    one on the same key."""

    ANSWERED = 0
    # One claim in this many also purges other scopes' expired entries (index on expires_at); a
    # scope's own expired entries go at each of its claims.
    PURGE_EVERY = 100

    async def claim(self, claim: KeyClaim, *, abandoned_before: datetime) -> HeldKey | None:
        t = idempotency_keys
        claimed_at = to_millis(claim.claimed_at)
        await self._execute(_PURGE_SCOPE, {"b_scope": claim.scope, "b_now": claimed_at,
                                           "b_abandoned_before": abandoned_before}, operation="idempotency_keys.delete")
        if random.randrange(self.PURGE_EVERY) == 0:
            await self._execute(sa.delete(t).where(t.c.expires_at <= claimed_at))
        try:
            await self._execute(
                _INSERT_KEY,
                {
                    "scope": claim.scope,
                    "key_hash": claim.key_hash,
                    "created_at": claimed_at,
                    "expires_at": claim.expires_at,
                },
                operation="idempotency_keys.insert",
            )
            return None
        except sa.exc.IntegrityError:
            pass
        row = (await self._execute(_KEY, {"b_scope": claim.scope, "b_key_hash": claim.key_hash},
                                   operation="idempotency_keys.select")).first()
        if row is None or row.status is None:  # (None: released meanwhile; the client's retry will claim it)
            return HeldKey(None, None)
        if row.status != self.ANSWERED:
            # Answered by a release before opaque records: it cannot be replayed, and an empty
            # fingerprint matches no request, so the key is refused rather than run again.
            return HeldKey("", b"")
        return HeldKey(row.fingerprint, base64.b64decode(row.body))

    async def record(self, claim: KeyClaim, fingerprint: str, replay: bytes) -> bool:
        result = await self._execute(
            _ANSWER,
            {
                "b_scope": claim.scope,
                "b_key_hash": claim.key_hash,
                "b_claimed_at": to_millis(claim.claimed_at),
                "b_fingerprint": fingerprint,
                "b_status": self.ANSWERED,
                "b_body": base64.b64encode(replay).decode("ascii"),
            },
            operation="idempotency_keys.update",
        )
        return bool(result.rowcount == 1)

    async def release(self, claim: KeyClaim) -> None:
        await self._execute(
            _RELEASE,
            {"b_scope": claim.scope, "b_key_hash": claim.key_hash, "b_claimed_at": to_millis(claim.claimed_at)},
            operation="idempotency_keys.delete",
        )


_KEYS = idempotency_keys.c
_PURGE_SCOPE = sa.delete(idempotency_keys).where(_KEYS.scope == sa.bindparam("b_scope"), sa.or_(
    _KEYS.expires_at <= sa.bindparam("b_now"),
    sa.and_(_KEYS.status.is_(None), _KEYS.created_at < sa.bindparam("b_abandoned_before"))))
_INSERT_KEY = idempotency_keys.insert()
_KEY = sa.select(_KEYS.status, _KEYS.fingerprint, _KEYS.body).where(
    _KEYS.scope == sa.bindparam("b_scope"), _KEYS.key_hash == sa.bindparam("b_key_hash"))
# (bind names differ from the column names: SQLAlchemy reserves those in an UPDATE's SET)
_THIS_CLAIM = (_KEYS.scope == sa.bindparam("b_scope"), _KEYS.key_hash == sa.bindparam("b_key_hash"),
               _KEYS.status.is_(None), _KEYS.created_at == sa.bindparam("b_claimed_at"))
_ANSWER = idempotency_keys.update().where(*_THIS_CLAIM).values(
    fingerprint=sa.bindparam("b_fingerprint"), status=sa.bindparam("b_status"), body=sa.bindparam("b_body"))
_RELEASE = sa.delete(idempotency_keys).where(*_THIS_CLAIM)


_INSERT_BILL = bills.insert()
_INSERT_USER = users.insert()

# Users with this reminder_days after a cursor, who have an unpaid bill due on or before the
# window's end. The cursor's id is bound as text ("" before the first): ids compare as the index
# orders them. The bill check is a correlated scalar subquery with LIMIT 1, not EXISTS: MariaDB
# turns an EXISTS into a semi-join that may materialise every matching bill per page, while this
# stays one ix_bills_owner_due range probe per candidate user, visited in ix_users_reminder_days_id
# order and stopped by the LIMIT.
_HAS_DUE_BILL = (
    sa.select(sa.literal(1))
    .where(
        bills.c.owner_id == users.c.id,
        bills.c.due_date <= sa.bindparam("b_until", type_=sa.Date),
        bills.c.payment_status.in_([s.value for s in UNPAID]),
    )
    .limit(1)
    .correlate(users)
    .scalar_subquery()
)
_DUE_FOR_REMINDER = (
    sa.select(users.c.id)
    .where(
        users.c.reminder_days == sa.bindparam("b_days", type_=sa.Integer),
        users.c.id > sa.bindparam("b_after_id", type_=sa.String),
        _HAS_DUE_BILL.is_not(None),
    )
    .order_by(users.c.id)
    .limit(sa.bindparam("b_limit", type_=sa.Integer))
)


def _attachment_row(attachment: Attachment) -> dict[str, Any]:
    return {c.name: getattr(attachment, c.name) for c in attachments.c}


def _attachment(row: sa.Row[Any]) -> Attachment | None:
    if row.attachment_id is None:
        return None
    return Attachment(
        id=row.attachment_id,
        bill_id=row.attachment_bill_id,
        file_name=row.attachment_file_name,
        size=row.attachment_size,
        md5=row.attachment_md5,
        sha256=row.attachment_sha256,
        mime_type=row.attachment_mime_type,
        object_key=row.attachment_object_key,
        upload_date=_utc(row.attachment_upload_date),
    )


def _user_row(user: User) -> dict[str, Any]:
    # The users table mirrors the User entity column for column.
    return {column.name: getattr(user, column.name) for column in users.c}


def _user(row: sa.Row[Any], keys: tuple[tuple[str, str], ...] | None = None) -> User:
    """The User of a row. The users table mirrors the entity column for column; `keys` pairs each
    field with its label in the row (_CALLER_KEYS for a listing's caller columns); timestamps
    arrive as text (_as_text)."""
    mapping = row._mapping
    fields: dict[str, Any] = {name: _utc(mapping[key]) if name in _USER_TIMESTAMPS else mapping[key]
                              for name, key in keys or _USER_KEYS}
    return User(**fields)


_USER_KEYS = tuple((column.name, column.name) for column in users.c)
_CALLER_KEYS = tuple((name, "caller_" + name) for name, _ in _USER_KEYS)
_USER_TIMESTAMPS = frozenset(column.name for column in users.c if isinstance(column.type, UTCDateTime))


def _bill_row(bill: Bill) -> dict[str, Any]:
    d = bill.details
    return {
        "id": bill.id,
        "owner_id": bill.owner_id,
        "vendor": d.vendor,
        "bill_date": d.bill_date,
        "due_date": d.due_date,
        "amount_due": d.amount_due,
        "currency": d.currency,
        "categories": list(d.categories),
        "payment_status": d.payment_status.value,
        "created_ts": bill.created_ts,
        "updated_ts": bill.updated_ts,
    }


def _bill(row: sa.Row[Any]) -> Bill:
    return Bill(
        id=row.id,
        owner_id=row.owner_id,
        created_ts=_utc(row.created_ts),
        updated_ts=_utc(row.updated_ts),
        details=BillDetails(
            vendor=row.vendor,
            bill_date=date.fromisoformat(row.bill_date),
            due_date=date.fromisoformat(row.due_date),
            amount_due=row.amount_due,
            currency=row.currency,
            categories=tuple(row.categories),
            payment_status=PaymentStatus(row.payment_status),
        ),
        attachment=_attachment(row),
    )
