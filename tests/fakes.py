"""Hand-written in-memory fakes, one per port. They keep state; tests assert on that state."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar
from uuid import UUID

from billing.domain.model import (
    Attachment,
    Bill,
    BillQuery,
    BillView,
    Conflict,
    EmailAlreadyRegistered,
    NotFound,
    ServiceUnavailable,
    User,
)
from billing.domain.model.bill import UNPAID
from billing.domain.model.legacy import (
    CopiedObject,
    LegacyAttachment,
    LegacyBill,
    LegacyCounts,
    LegacySourceError,
    LegacyUser,
)
from billing.domain.model.reminders import REMINDER_BATCH, ReminderCursor, bills_to_remind
from billing.domain.model.throttle import Tally
from billing.ports import HeldKey, KeyClaim, VerificationGate

T = TypeVar("T")


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class FakePasswordHasher:
    """Transparent 'hashes' (fake$<password>); `legacy$...` hashes verify but need a rehash.

    Like the real one, it remembers successes: a verification it has seen succeed is answered
    without its gate (`remembered` counts those); any other passes the gate, and is counted in
    `computed` (`decoy_checks` for the decoy's)."""

    def __init__(self) -> None:
        self.decoy_checks = 0
        self.computed = 0
        self.remembered = 0
        self.remember = True  # False: every verification is computed (a cold cache in every process)
        self._known: set[tuple[str, str]] = set()
        self.hashed = 0  # how many hashes were computed (the slow part of a real hasher)

    async def hash(self, password: str) -> str:
        self.hashed += 1
        return f"fake${password}"

    async def verify(self, password: str, password_hash: str, gate: VerificationGate | None = None) -> bool:
        if self.remember and (password, password_hash) in self._known:
            self.remembered += 1
            return True
        if gate is not None:
            await gate.admit()
        self.computed += 1
        scheme, _, secret = password_hash.partition("$")
        ok = scheme in ("fake", "legacy") and secret == password
        if ok:
            self._known.add((password, password_hash))
        if gate is not None:
            await gate.settle(ok)
        return ok

    async def verify_decoy(self, password: str, gate: VerificationGate | None = None) -> None:
        if not isinstance(password, str):  # a real hasher cannot verify what is not a password either
            raise TypeError("the decoy verification needs the password")
        if gate is not None:
            await gate.admit()
        self.decoy_checks += 1
        if gate is not None:
            await gate.settle(False)

    def needs_rehash(self, password_hash: str) -> bool:
        return password_hash.startswith("legacy$")


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyRow:
    """A row of the fake idempotency table: a claim, answered once `replay` is set."""

    claim: KeyClaim
    fingerprint: str | None = None
    replay: bytes | None = None

    @property
    def in_flight(self) -> bool:
        return self.replay is None


@dataclass
class Tables:
    """The committed state every FakeUnitOfWork works against."""

    users: dict[UUID, User] = field(default_factory=dict)
    bills: dict[UUID, Bill] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRow] = field(default_factory=dict)
    attempt_counters: dict[str, Tally] = field(default_factory=dict)
    commits: int = 0
    down: bool = False  # simulate an unreachable database
    fail_attachment_insert: bool = False
    error: Exception | None = None  # raised when a unit of work starts (simulate a bug: a 500)
    open_units: int = 0  # units of work entered and not yet left (connections a real pool would lend)
    # bill_views.page (the later pages of a listing): how many were read; when given, each waits
    # for `page_hold` to be set (a slow database) and then raises `page_error`.
    pages_read: int = 0
    page_hold: asyncio.Event | None = None
    page_error: Exception | None = None
    # The `limit` of every listing read (caller_views.bills, then bill_views.page), in order: the
    # most rows a read could bring into memory.
    limits_asked: list[int | None] = field(default_factory=list)
    # users.due_for_reminder (a reminder round's pages): each call's (after, limit); past
    # `max_reminder_pages` calls it fails the test, so a round that would never end fails instead
    # of hanging; the later pages (after a cursor) wait for `reminder_page_hold` when it is given.
    reminder_pages: list[tuple[ReminderCursor | None, int]] = field(default_factory=list)
    max_reminder_pages: int = 100
    reminder_page_hold: asyncio.Event | None = None


class FakeUserRepository:
    def __init__(self, users: dict[UUID, User], bills: dict[UUID, Bill] | None = None,
                 tables: Tables | None = None) -> None:
        self._users = users
        self._bills = {} if bills is None else bills
        self._tables = Tables() if tables is None else tables

    async def add(self, user: User) -> None:
        if any(u.email_address == user.email_address for u in self._users.values()):
            raise EmailAlreadyRegistered(user.email_address)
        self._users[user.id] = copy.deepcopy(user)

    async def add_many(self, users: Sequence[User]) -> None:
        for user in users:
            await self.add(user)

    async def get(self, user_id: UUID) -> User | None:
        return copy.deepcopy(self._users.get(user_id))

    async def get_by_email(self, email_address: str) -> User | None:
        return next((copy.deepcopy(u) for u in self._users.values() if u.email_address == email_address), None)

    async def update(self, user: User) -> None:
        self._users[user.id] = copy.deepcopy(user)

    async def existing_ids(self, user_ids: Collection[UUID]) -> set[UUID]:
        return {i for i in user_ids if i in self._users}

    async def ids_by_email(self, email_addresses: Collection[str]) -> Mapping[str, UUID]:
        wanted = set(email_addresses)
        return {u.email_address: u.id for u in self._users.values() if u.email_address in wanted}

    async def due_for_reminder(self, day: date, after: ReminderCursor | None, limit: int) -> Sequence[ReminderCursor]:
        pages = self._tables.reminder_pages
        pages.append((after, limit))
        if len(pages) > self._tables.max_reminder_pages:
            raise AssertionError(f"more than {self._tables.max_reminder_pages} pages of due users read: {pages[:5]}")
        if after is not None and self._tables.reminder_page_hold is not None:
            await self._tables.reminder_page_hold.wait()
        bills = list(self._bills.values())
        due = sorted(
            (ReminderCursor(u.reminder_days, u.id) for u in self._users.values()
             if u.reminder_days is not None and bills_to_remind(u, bills, day)),
            key=lambda c: (c.days, str(c.user_id)))
        return [c for c in due if after is None or (c.days, str(c.user_id)) > (after.days, str(after.user_id))][:limit]


class FakeBillRepository:
    def __init__(self, bills: dict[UUID, Bill]) -> None:
        self._bills = bills

    async def add(self, bill: Bill) -> None:
        self._bills[bill.id] = copy.deepcopy(bill)

    async def add_many(self, bills: Sequence[Bill]) -> None:
        for bill in bills:
            await self.add(bill)

    async def get(self, owner_id: UUID, bill_id: UUID) -> Bill | None:
        bill = self._bills.get(bill_id)
        return copy.deepcopy(bill) if bill is not None and bill.owner_id == owner_id else None

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

    async def existing_ids(self, bill_ids: Collection[UUID]) -> set[UUID]:
        return {i for i in bill_ids if i in self._bills}


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

    async def add_many(self, attachments: Sequence[Attachment]) -> None:
        for attachment in attachments:
            await self.add(attachment)

    async def ids_by_bill(self, bill_ids: Collection[UUID]) -> Mapping[UUID, UUID]:
        return {i: b.attachment.id for i in bill_ids if (b := self._bills.get(i)) and b.attachment is not None}

    async def delete(self, bill_id: UUID, attachment_id: UUID) -> bool:
        bill = self._bills.get(bill_id)
        if bill is None or bill.attachment is None or bill.attachment.id != attachment_id:
            return False
        bill.attachment = None
        return True


class FakeIdempotencyStore:
    """Claims and releases, each committed at once to the tables (as its own transaction)."""

    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    async def claim(self, claim: KeyClaim, *, abandoned_before: datetime) -> HeldKey | None:
        if self._tables.down:
            raise ServiceUnavailable("fake database is down")
        entries = self._tables.idempotency
        for key, old in list(entries.items()):
            if old.claim.scope == claim.scope and (old.claim.expires_at <= claim.claimed_at or (
                    old.in_flight and old.claim.claimed_at < abandoned_before)):
                del entries[key]
        existing = entries.get((claim.scope, claim.key_hash))
        if existing is not None:
            return HeldKey(existing.fingerprint, existing.replay)
        entries[(claim.scope, claim.key_hash)] = IdempotencyRow(claim=claim)
        return None

    async def release(self, claim: KeyClaim) -> None:
        if self._tables.down:
            raise ServiceUnavailable("fake database is down")
        entry = self._tables.idempotency.get((claim.scope, claim.key_hash))
        if entry is not None and entry.in_flight and entry.claim == claim:
            del self._tables.idempotency[(claim.scope, claim.key_hash)]


class FakeIdempotencyAnswers:
    """Answers recorded in a unit of work: `pending` until it commits (other rows, claimed or
    released meanwhile by the store, are left as they are)."""

    def __init__(self, committed: dict[tuple[str, str], IdempotencyRow]) -> None:
        self._committed = committed
        self.pending: dict[tuple[str, str], IdempotencyRow] = {}

    async def record(self, claim: KeyClaim, fingerprint: str, replay: bytes) -> bool:
        entry = self._committed.get((claim.scope, claim.key_hash))
        if entry is None or not entry.in_flight or entry.claim != claim:
            return False
        self.pending[(claim.scope, claim.key_hash)] = dataclasses.replace(entry, fingerprint=fingerprint, replay=replay)
        return True


class FakeAttemptCounterRepository:
    """Counters by key (the SQL adapter's rows, undigested). The fake unit of work runs one task
    at a time, so the lock the real one takes is not needed here."""

    def __init__(self, counters: dict[str, Tally]) -> None:
        self._counters = counters

    async def count(self, keys: Sequence[str], now: datetime, window: timedelta) -> Sequence[Tally]:
        tallies = []
        for key in keys:
            old = self._counters.get(key)
            if old is None or old.window_ends <= now:
                new = Tally(key, 1, now + window)
            else:
                new = dataclasses.replace(old, attempts=old.attempts + 1)
            self._counters[key] = new
            tallies.append(new)
        return tallies

    async def uncount(self, tallies: Sequence[Tally], *, clear: Collection[str] = ()) -> None:
        for tally in tallies:
            current = self._counters.get(tally.key)
            if current is not None and current.window_ends == tally.window_ends:
                attempts = 0 if tally.key in clear else max(0, current.attempts - 1)
                self._counters[tally.key] = dataclasses.replace(current, attempts=attempts)

    async def purge(self, now: datetime, limit: int) -> int:
        ended = [k for k, t in self._counters.items() if t.window_ends <= now][:limit]
        for key in ended:
            del self._counters[key]
        return len(ended)


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
        self.idempotency = FakeIdempotencyAnswers(self._tables.idempotency)
        self._attempts = dict(self._tables.attempt_counters)
        self.attempts = FakeAttemptCounterRepository(self._attempts)
        self.users = FakeUserRepository(self._users, self._bills, self._tables)
        self.bills = FakeBillRepository(self._bills)
        self.attachments = FakeAttachmentRepository(self._bills)
        self.attachments.fail_next_add = self._tables.fail_attachment_insert
        self._tables.open_units += 1
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tables.open_units -= 1
        self._users = self._bills = None  # type: ignore[assignment]

    async def commit(self) -> None:
        self._tables.users = copy.deepcopy(self._users)
        self._tables.bills = copy.deepcopy(self._bills)
        self._tables.idempotency.update(self.idempotency.pending)
        self.idempotency.pending = {}
        self._tables.attempt_counters = dict(self._attempts)
        self._tables.commits += 1


def matching_views(bills: dict[UUID, Bill], owner_id: UUID, query: BillQuery) -> list[BillView]:
    """The owner's bills matching `query`, as read models, in the SQL adapter's order."""

    def keep(b: Bill) -> bool:
        d = b.details
        return (
            b.owner_id == owner_id
            and (query.payment_status is None or d.payment_status == query.payment_status)
            and (query.due_before is None or d.due_date <= query.due_before)
            and (query.due_after is None or d.due_date >= query.due_after)
            and (query.after is None or (d.due_date, str(b.id)) > (query.after.due_date, str(query.after.id)))
        )

    found = sorted((b for b in bills.values() if keep(b)), key=lambda b: (b.details.due_date, str(b.id)))
    return [BillView.of(b) for b in (found[: query.limit] if query.limit is not None else found)]


class FakeBillViews:
    """Read models of the fake bill table, in the SQL adapter's order (due_date, then the id's text)."""

    def __init__(self, bills: dict[UUID, Bill], tables: Tables) -> None:
        self._bills = bills
        self._tables = tables

    async def page(self, owner_id: UUID, query: BillQuery) -> Sequence[BillView]:
        self._tables.pages_read += 1
        self._tables.limits_asked.append(query.limit)
        if self._tables.page_hold is not None:
            await self._tables.page_hold.wait()
        if self._tables.page_error is not None:
            raise self._tables.page_error
        return matching_views(self._bills, owner_id, query)


class FakeCallerViews:
    """The caller by address, with their bill(s) read through the fake bill table."""

    def __init__(self, users: FakeUserRepository, bills: dict[UUID, Bill], tables: Tables) -> None:
        self._users = users
        self._bills = bills
        self._tables = tables

    async def bill(self, email_address: str, bill_id: UUID) -> tuple[User, BillView | None] | None:
        user = await self._users.get_by_email(email_address)
        if user is None:
            return None
        bill = self._bills.get(bill_id)
        return user, None if bill is None or bill.owner_id != user.id else BillView.of(bill)

    async def bills(self, email_address: str, query: BillQuery) -> tuple[User, Sequence[BillView]] | None:
        self._tables.limits_asked.append(query.limit)
        user = await self._users.get_by_email(email_address)
        return None if user is None else (user, matching_views(self._bills, user.id, query))


class FakeReadOnlyUnitOfWork(FakeUnitOfWork):
    """The read-only unit of work: reads like the other; a commit is a wiring mistake."""

    caller_views: FakeCallerViews
    bill_views: FakeBillViews

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.caller_views = FakeCallerViews(self.users, self._bills, self._tables)
        self.bill_views = FakeBillViews(self._bills, self._tables)
        return self

    async def commit(self) -> None:
        raise AssertionError("commit through a read-only unit of work")


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
        self.other_buckets: dict[tuple[str, str], bytes] = {}  # (bucket, key) -> bytes, e.g. the old webapp's
        self.down = False
        self.refusing_deletes = False  # storage that stores and copies but fails every delete

    async def put(self, key: str, chunks, *, content_type: str) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            raise ServiceUnavailable("fake storage is down")
        data = bytearray()
        async for chunk in chunks:  # an exception here leaves nothing stored, as the port promises
            data += chunk
        self.objects[key] = (bytes(data), content_type)

    async def delete(self, key: str) -> None:
        if self.down or self.refusing_deletes:
            raise ServiceUnavailable("fake storage is down")
        self.objects.pop(key, None)

    async def download_url(self, key: str, file_name: str) -> str:
        return f"https://files.test/{key}?name={file_name}"

    async def copy_from(self, source_bucket: str, source_key: str, key: str, *, content_type: str) -> CopiedObject:
        if self.down:
            raise ServiceUnavailable("fake storage is down")
        copied = key not in self.objects
        if copied:
            if (source_bucket, source_key) not in self.other_buckets:
                raise NotFound(f"s3://{source_bucket}/{source_key} does not exist")
            self.objects[key] = (self.other_buckets[source_bucket, source_key], content_type)
        data = self.objects[key][0]
        return CopiedObject(size=len(data), md5=hashlib.md5(data).hexdigest(), sha256=hashlib.sha256(data).hexdigest(),
                            copied=copied)


class FakeQueue:
    """An in-memory queue with at-least-once semantics: received messages stay until deleted, and
    (like an SQS redrive policy) move to `dead_letters` once received `max_receives` times, or at
    once by `dead_letter` (whose reasons are kept in `dead_letter_reasons`)."""

    def __init__(self, max_receives: int = 1_000_000) -> None:
        self.messages: dict[str, dict] = {}  # id -> {"body", "receives", "visible"}
        self.dead_letters: list[str] = []
        self.dead_letter_reasons: list[str] = []
        self.max_receives = max_receives
        self.down = False
        self.batches_until_down = -1  # >= 0: that many send_batch calls succeed, then the queue is down
        self.batch_sizes: list[int] = []
        self.in_flight = 0  # send_batch calls started and not yet answered
        self.most_in_flight = 0
        self._next = 0

    async def send(self, request) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            raise ServiceUnavailable("fake queue is down")
        self.put(request.to_json())

    async def send_batch(self, reminders) -> None:  # type: ignore[no-untyped-def]
        assert 1 <= len(reminders) <= REMINDER_BATCH, len(reminders)
        if self.down or self.batches_until_down == 0:
            raise ServiceUnavailable("fake queue is down")
        self.batches_until_down -= 1
        self.batch_sizes.append(len(reminders))
        for reminder in reminders:
            self.put(reminder.to_json())
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # awaiting the answer: the caller's other batches start meanwhile
        finally:
            self.in_flight -= 1

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
        for message_id, m in list(self.messages.items()):
            if m["visible"] and m["receives"] >= self.max_receives:
                self.dead_letters.append(self.messages.pop(message_id)["body"])
                continue
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

    async def dead_letter(self, message, reason: str) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            raise ServiceUnavailable("fake queue is down")
        self.dead_letters.append(message.body)
        self.dead_letter_reasons.append(reason)
        self.messages.pop(message.message_id, None)


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
            entry["sent_at"] = now  # as the DynamoDB ledger records it

    async def release(self, user_id: UUID, request_id: UUID) -> None:
        entry = self.entries.get(user_id)
        if entry is not None and entry["request_id"] == request_id and entry["state"] == "sending":
            del self.entries[user_id]


class FakeReminderLedger:
    """The reminder ledger's conditional-write semantics, in a dict: (user, day) -> entry."""

    LEASE = timedelta(minutes=2)

    def __init__(self) -> None:
        self.entries: dict[tuple[UUID, date], dict] = {}

    async def sent(self, user_id: UUID, day: date) -> bool:
        entry = self.entries.get((user_id, day))
        return entry is not None and entry["state"] == "sent"

    async def claim(self, user_id: UUID, day: date, claimant: UUID, now: datetime) -> bool:
        entry = self.entries.get((user_id, day))
        if entry is not None and not (entry["state"] == "sending" and entry["lease_until"] <= now):
            return False
        self.entries[(user_id, day)] = {"claimant": claimant, "state": "sending", "lease_until": now + self.LEASE}
        return True

    async def mark_sent(self, user_id: UUID, day: date, claimant: UUID, now: datetime) -> None:
        # As the DynamoDB ledger records it: unconditional, the claim's fields kept.
        self.entries.setdefault((user_id, day), {}).update(state="sent", sent_at=now, sent_by=claimant)

    async def release(self, user_id: UUID, day: date, claimant: UUID) -> None:
        entry = self.entries.get((user_id, day))
        if entry is not None and entry["state"] == "sending" and entry["claimant"] == claimant:
            del self.entries[(user_id, day)]


class FakeMailer:
    def __init__(self) -> None:
        self.outbox: list = []
        self.failing = False

    async def send(self, email) -> str:  # type: ignore[no-untyped-def]
        if self.failing:
            raise ServiceUnavailable("fake mail service refused the message")
        self.outbox.append(email)
        return f"mail-{len(self.outbox)}"


class FakeLegacySource:
    """The old webapp's tables as lists of rows. `fail_after` breaks the stream after that many rows
    (an interrupted import); `down` makes it unreachable."""

    def __init__(self, users: Sequence[LegacyUser] = (), bills: Sequence[LegacyBill] = (),
                 attachments: Sequence[LegacyAttachment] = ()) -> None:
        self.users_rows = list(users)
        self.bills_rows = list(bills)
        self.attachments_rows = list(attachments)
        self.down = False
        self.fail_after: int | None = None
        self.closed = False
        self._yielded = 0

    async def counts(self) -> LegacyCounts:
        self._check()
        return LegacyCounts(users=len(self.users_rows), bills=len(self.bills_rows),
                            attachments=len(self.attachments_rows))

    def users(self) -> AsyncGenerator[LegacyUser, None]:
        oldest_first = sorted(self.users_rows, key=lambda u: (u.account_created or datetime.min, u.id))
        return self._stream(oldest_first)

    def bills(self) -> AsyncGenerator[LegacyBill, None]:
        return self._stream(sorted(self.bills_rows, key=lambda b: b.id))

    def attachments(self) -> AsyncGenerator[LegacyAttachment, None]:
        return self._stream(sorted(self.attachments_rows, key=lambda a: a.id))

    async def close(self) -> None:
        self.closed = True

    def _check(self) -> None:
        if self.down:
            raise LegacySourceError("fake old database is down")

    async def _stream(self, rows: list[T]) -> AsyncGenerator[T, None]:
        self._check()
        for row in rows:
            if self.fail_after is not None and self._yielded >= self.fail_after:
                raise LegacySourceError("fake old database went away")
            self._yielded += 1
            yield row


class RecordingProgress:
    """ImportProgress that keeps what it was told: [(phase, total, rows advanced)]."""

    def __init__(self) -> None:
        self.phases: list[list[object]] = []

    def phase(self, name: str, total: int) -> None:
        self.phases.append([name, total, 0])

    def advance(self, rows: int = 1) -> None:
        self.phases[-1][2] += rows  # type: ignore[operator]
