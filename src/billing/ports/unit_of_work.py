from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from billing.domain.model import Attachment, Bill, BillQuery, BillView, User
from billing.domain.model.reminders import ReminderCursor
from billing.domain.model.throttle import Tally
from billing.ports.idempotency import IdempotencyAnswers


class UserRepository(Protocol):
    """Users, looked up by id or by canonical (lower-case) email address."""

    async def add(self, user: User) -> None:
        """Store a new user. Raises EmailAlreadyRegistered when the address is taken."""
        ...

    async def add_many(self, users: Sequence[User]) -> None:
        """Store new users in one round trip (imports). Raises EmailAlreadyRegistered when any address is taken."""
        ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def get_by_email(self, email_address: str) -> User | None: ...

    async def update(self, user: User) -> None:
        """Save names, password hash and account_updated of an existing user."""
        ...

    async def existing_ids(self, user_ids: Collection[UUID]) -> set[UUID]:
        """Which of `user_ids` are stored (one query for a batch; imports use it to skip what is there)."""
        ...

    async def ids_by_email(self, email_addresses: Collection[str]) -> Mapping[str, UUID]:
        """The id of each stored user whose canonical address is among `email_addresses`."""
        ...

    async def due_for_reminder(self, day: date, after: ReminderCursor | None, limit: int) -> Sequence[ReminderCursor]:
        """One page of a reminder round: up to `limit` users due for a reminder on `day` (reminder_days
        set, and an unpaid bill due on or before `day` + reminder_days), in (reminder_days, id)
        order, strictly after `after` (None: from the start). Each is its own cursor; a page
        shorter than `limit` is the last."""
        ...


class BillRepository(Protocol):
    """Bills, always scoped to their owner: another owner's bill is simply not found."""

    async def add(self, bill: Bill) -> None: ...

    async def add_many(self, bills: Sequence[Bill]) -> None:
        """Store new bills in one round trip (imports)."""
        ...

    async def get(self, owner_id: UUID, bill_id: UUID) -> Bill | None: ...

    async def due(self, owner_id: UUID, until: date) -> Sequence[Bill]:
        """The owner's unpaid bills (due, past_due) with due_date on or before `until`."""
        ...

    async def update(self, bill: Bill) -> None: ...

    async def delete(self, owner_id: UUID, bill_id: UUID) -> bool:
        """Remove the bill; False when there was none."""
        ...

    async def existing_ids(self, bill_ids: Collection[UUID]) -> set[UUID]:
        """Which of `bill_ids` are stored, whoever owns them (for imports: an id is used once)."""
        ...


class AttachmentRepository(Protocol):
    """Attachment metadata; at most one per bill. Bills returned by BillRepository carry theirs."""

    async def add(self, attachment: Attachment) -> None:
        """Store the metadata. Raises Conflict when the bill already has an attachment."""
        ...

    async def add_many(self, attachments: Sequence[Attachment]) -> None:
        """Store metadata rows in one round trip (imports). Raises Conflict when a bill already has one."""
        ...

    async def ids_by_bill(self, bill_ids: Collection[UUID]) -> Mapping[UUID, UUID]:
        """The id of the attachment each of `bill_ids` has, for those that have one."""
        ...

    async def delete(self, bill_id: UUID, attachment_id: UUID) -> bool:
        """Remove the metadata; False when there was none."""
        ...


class CallerViews(Protocol):
    """Reads that fetch the caller, by canonical (lower-case) email address, together with what
    the caller asked for: authentication's lookup and the read in one query. Nothing here checks
    the password; the use case verifies it before it returns anything. Bills come as read models
    whose attachment `url` is None (unsigned)."""

    async def bill(self, email_address: str, bill_id: UUID) -> tuple[User, BillView | None] | None:
        """None when no user has that address; else the user and their bill `bill_id` (None when
        there is none, or it is someone else's)."""
        ...

    async def bills(self, email_address: str, query: BillQuery) -> tuple[User, Sequence[BillView]] | None:
        """None when no user has that address; else the user and their bills matching `query`,
        as BillViews.page gives them."""
        ...


class BillViews(Protocol):
    """Bills as clients read them (read models, no entity built), scoped to their owner."""

    async def page(self, owner_id: UUID, query: BillQuery) -> Sequence[BillView]:
        """The owner's bills matching `query`'s filters, ordered by (due_date, id), those after
        `query.after` only, at most `query.limit` (every one when None). Attachment urls are None."""
        ...


class AttemptCounterRepository(Protocol):
    """Counters of attempts in fixed windows, one per key, shared by every process and instance
    that uses the database (throttling)."""

    async def count(self, keys: Sequence[str], now: datetime, window: timedelta) -> Sequence[Tally]:
        """Count one more attempt on each of `keys` (distinct) and return their tallies, in `keys`
        order. A key without a window open at `now` opens one that ends at `now + window`.

        The counters stay locked until the unit of work ends, so concurrent counts of a key are
        serialized and each sees the others' committed attempts: commit to keep the attempt,
        leave without commit to take it back."""
        ...

    async def uncount(self, tallies: Sequence[Tally], *, clear: Collection[str] = ()) -> None:
        """Take back the attempt each tally counted (every attempt of the keys in `clear`), in the
        window it was counted in: a window that has ended meanwhile is left alone."""
        ...

    async def purge(self, now: datetime, limit: int) -> int:
        """Remove at most `limit` counters whose window ended at or before `now`; how many went."""
        ...


class UnitOfWork(Protocol):
    """One transaction over the repositories.

    `async with uow:` begins; `await uow.commit()` makes the work durable; leaving the block
    without committing rolls back. A unit of work serves one request or message, never two tasks.
    Raises ServiceUnavailable when the database cannot be reached, and its subclass ServiceBusy
    when the database answers but no pooled connection came free in time (overload).
    """

    users: UserRepository
    bills: BillRepository
    attachments: AttachmentRepository
    idempotency: IdempotencyAnswers
    attempts: AttemptCounterRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...


class ReadOnlyUnitOfWork(UnitOfWork, Protocol):
    """The same repositories, for use cases that only read (and for authentication's lookup).

    No transaction: each query sees the latest committed data when it runs (what READ COMMITTED
    gives a transaction's reads anyway), and leaving the block costs nothing. Writing or
    committing through it is a programming error and raises. Serves one request or message,
    never two tasks; it may be entered again once left (a long read in several blocks holds a
    pooled connection only inside each). Raises ServiceUnavailable and ServiceBusy as above.
    """

    caller_views: CallerViews
    bill_views: BillViews
