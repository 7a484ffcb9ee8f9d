"""Hand-written in-memory fakes, one per port. They keep state; tests assert on that state."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID

from billing.domain.model.bill import UNPAID
from billing.domain.model import (
    Attachment,
    Bill,
    BillQuery,
    Conflict,
    EmailAlreadyRegistered,
    ServiceUnavailable,
    User,
)


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class FakePasswordHasher:
    """Transparent 'hashes' (fake$<password>); `legacy$...` hashes verify but need a rehash."""

    def __init__(self) -> None:
        self.decoy_checks = 0

    async def hash(self, password: str) -> str:
        return f"fake${password}"

    async def verify(self, password: str, password_hash: str) -> bool:
        scheme, _, secret = password_hash.partition("$")
        return scheme in ("fake", "legacy") and secret == password

    async def verify_decoy(self, password: str) -> None:
        self.decoy_checks += 1

    def needs_rehash(self, password_hash: str) -> bool:
        return password_hash.startswith("legacy$")


@dataclass
class Tables:
    """The committed state every FakeUnitOfWork works against."""

    users: dict[UUID, User] = field(default_factory=dict)
    bills: dict[UUID, Bill] = field(default_factory=dict)
    commits: int = 0
    down: bool = False  # simulate an unreachable database
    fail_attachment_insert: bool = False
    error: Exception | None = None  # raised when a unit of work starts (simulate a bug: a 500)


class FakeUserRepository:
    def __init__(self, users: dict[UUID, User]) -> None:
        self._users = users

    async def add(self, user: User) -> None:
        if any(u.email_address == user.email_address for u in self._users.values()):
            raise EmailAlreadyRegistered(user.email_address)
        self._users[user.id] = copy.deepcopy(user)

    async def get(self, user_id: UUID) -> User | None:
        return copy.deepcopy(self._users.get(user_id))

    async def get_by_email(self, email_address: str) -> User | None:
        return next((copy.deepcopy(u) for u in self._users.values() if u.email_address == email_address), None)

    async def update(self, user: User) -> None:
        self._users[user.id] = copy.deepcopy(user)


class FakeBillRepository:
    def __init__(self, bills: dict[UUID, Bill]) -> None:
        self._bills = bills

    async def add(self, bill: Bill) -> None:
        self._bills[bill.id] = copy.deepcopy(bill)

    async def get(self, owner_id: UUID, bill_id: UUID) -> Bill | None:
        bill = self._bills.get(bill_id)
        return copy.deepcopy(bill) if bill is not None and bill.owner_id == owner_id else None

    async def list(self, owner_id: UUID, query: BillQuery) -> Sequence[Bill]:
        def keep(b: Bill) -> bool:
            d = b.details
            return (
                b.owner_id == owner_id
                and (query.payment_status is None or d.payment_status == query.payment_status)
                and (query.due_before is None or d.due_date <= query.due_before)
                and (query.due_after is None or d.due_date >= query.due_after)
                and (query.after is None or (d.due_date, str(b.id)) > (query.after.due_date, str(query.after.id)))
            )

        found = sorted((b for b in self._bills.values() if keep(b)), key=lambda b: (b.details.due_date, str(b.id)))
        return copy.deepcopy(found[: query.limit] if query.limit is not None else found)

    async def due(self, owner_id: UUID, until: date) -> Sequence[Bill]:
        found = [b for b in self._bills.values() if b.owner_id == owner_id and b.details.due_date <= until
                 and b.details.payment_status in UNPAID]
        return copy.deepcopy(sorted(found, key=lambda b: (b.details.due_date, str(b.id))))

    async def update(self, bill: Bill) -> None:
        self._bills[bill.id] = copy.deepcopy(bill)

    async def delete(self, owner_id: UUID, bill_id: UUID) -> bool:
        bill = self._bills.get(bill_id)
        if bill is None or bill.owner_id != owner_id:
            return False
        del self._bills[bill_id]
        return True


class FakeAttachmentRepository:
    """Attachments live on their bill in the fake tables, as the SQL join returns them."""

    def __init__(self, bills: dict[UUID, Bill]) -> None:
        self._bills = bills
        self.fail_next_add = False  # simulate the database failing after the upload

    async def add(self, attachment: Attachment) -> None:
        if self.fail_next_add:
            raise ServiceUnavailable("fake database failed the insert")
        bill = self._bills[attachment.bill_id]
        if bill.attachment is not None:
            raise Conflict("the bill already has an attachment")
        bill.attachment = attachment

    async def delete(self, bill_id: UUID, attachment_id: UUID) -> bool:
        bill = self._bills.get(bill_id)
        if bill is None or bill.attachment is None or bill.attachment.id != attachment_id:
            return False
        bill.attachment = None
        return True


class FakeUnitOfWork:
    """Works on a copy of the tables; commit publishes the copy, anything else discards it."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def __aenter__(self) -> Self:
        if self._tables.down:
            raise ServiceUnavailable("fake database is down")
        if self._tables.error is not None:
            raise self._tables.error
        self._users = copy.deepcopy(self._tables.users)
        self._bills = copy.deepcopy(self._tables.bills)
        self.users = FakeUserRepository(self._users)
        self.bills = FakeBillRepository(self._bills)
        self.attachments = FakeAttachmentRepository(self._bills)
        self.attachments.fail_next_add = self._tables.fail_attachment_insert
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._users = self._bills = None  # type: ignore[assignment]

    async def commit(self) -> None:
        self._tables.users = copy.deepcopy(self._users)
        self._tables.bills = copy.deepcopy(self._bills)
        self._tables.commits += 1

    async def rollback(self) -> None:
        self._users = copy.deepcopy(self._tables.users)
        self._bills = copy.deepcopy(self._tables.bills)


class FakeMetrics:
    """Records what was emitted: counters summed by (name, sorted tags), timings listed."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self.timings: list[tuple[str, float, dict[str, str]]] = []

    def increment(self, name: str, value: int = 1, tags: Mapping[str, str] | None = None) -> None:
        key = (name, tuple(sorted((tags or {}).items())))
        self.counters[key] = self.counters.get(key, 0) + value

    def timing(self, name: str, milliseconds: float, tags: Mapping[str, str] | None = None) -> None:
        self.timings.append((name, milliseconds, dict(tags or {})))

    def count(self, name: str, **tags: str) -> int:
        """The counter `name` summed over every tag set that includes `tags`."""
        return sum(v for (n, t), v in self.counters.items() if n == name and tags.items() <= dict(t).items())

    def timed(self, name: str) -> list[dict[str, str]]:
        """The tags of each timing recorded under `name`, in order."""
        return [tags for n, _, tags in self.timings if n == name]


class FakeFileStore:
    """Objects in a dict; `put` consumes the stream like S3 would, keeping nothing on failure."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.down = False

    async def put(self, key: str, chunks, *, content_type: str) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            raise ServiceUnavailable("fake storage is down")
        data = bytearray()
        async for chunk in chunks:  # an exception here leaves nothing stored, as the port promises
            data += chunk
        self.objects[key] = (bytes(data), content_type)

    async def delete(self, key: str) -> None:
        if self.down:
            raise ServiceUnavailable("fake storage is down")
        self.objects.pop(key, None)

    async def download_url(self, key: str, file_name: str) -> str:
        return f"https://files.test/{key}?name={file_name}"


class FakeQueue:
    """An in-memory queue with at-least-once semantics: received messages stay until deleted."""

    def __init__(self) -> None:
        self.messages: dict[str, dict] = {}  # id -> {"body", "receives", "visible"}
        self.down = False
        self._next = 0

    async def send(self, request) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            raise ServiceUnavailable("fake queue is down")
        self.put(request.to_json())

    def put(self, body: str) -> str:
        self._next += 1
        message_id = f"m{self._next}"
        self.messages[message_id] = {"body": body, "receives": 0, "visible": True}
        return message_id

    @property
    def bodies(self) -> list[str]:
        return [m["body"] for m in self.messages.values()]

    async def receive(self, max_messages: int, wait_seconds: int):  # type: ignore[no-untyped-def]
        from billing.ports import InboundMessage

        batch = []
        for message_id, m in self.messages.items():
            if m["visible"] and len(batch) < max_messages:
                m["visible"] = False
                m["receives"] += 1
                batch.append(InboundMessage(message_id, f"r-{message_id}-{m['receives']}", m["body"], m["receives"]))
        return batch

    async def delete(self, message) -> None:  # type: ignore[no-untyped-def]
        self.messages.pop(message.message_id, None)

    async def hide(self, message, seconds: int) -> None:  # type: ignore[no-untyped-def]
        if message.message_id in self.messages and seconds == 0:
            self.messages[message.message_id]["visible"] = True


class FakePublisher:
    def __init__(self) -> None:
        self.published: list = []
        self.down = False

    async def publish(self, digest) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            raise ServiceUnavailable("fake topic is down")
        self.published.append(digest)


class FakeEmailLedger:
    """The ledger's conditional-write semantics, in a dict: user -> entry."""

    LEASE = timedelta(minutes=2)

    def __init__(self) -> None:
        self.entries: dict[UUID, dict] = {}

    async def sent_recently(self, user_id: UUID, now: datetime) -> bool:
        entry = self.entries.get(user_id)
        return entry is not None and entry["state"] == "sent" and entry["expires_at"] > now

    async def claim(self, user_id: UUID, request_id: UUID, now: datetime) -> bool:
        entry = self.entries.get(user_id)
        free = (entry is None or entry["expires_at"] <= now
                or (entry["request_id"] == request_id and entry["state"] == "sending" and entry["lease_until"] <= now))
        if not free:
            return False
        self.entries[user_id] = {"request_id": request_id, "state": "sending", "expires_at": now + timedelta(hours=1),
                                 "lease_until": now + self.LEASE}
        return True

    async def mark_sent(self, user_id: UUID, request_id: UUID, now: datetime) -> None:
        entry = self.entries.get(user_id)
        if entry is not None and entry["request_id"] == request_id:
            entry["state"] = "sent"

    async def release(self, user_id: UUID, request_id: UUID) -> None:
        entry = self.entries.get(user_id)
        if entry is not None and entry["request_id"] == request_id and entry["state"] == "sending":
            del self.entries[user_id]


class FakeMailer:
    def __init__(self) -> None:
        self.outbox: list = []
        self.failing = False

    async def send(self, email) -> str:  # type: ignore[no-untyped-def]
        if self.failing:
            raise ServiceUnavailable("fake mail service refused the message")
        self.outbox.append(email)
        return f"mail-{len(self.outbox)}"
