from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from billing.domain.model import Attachment, Bill, BillQuery, User


class UserRepository(Protocol):
    """Users, looked up by id or by canonical (lower-case) email address."""

    async def add(self, user: User) -> None:
        """Store a new user. Raises EmailAlreadyRegistered when the address is taken."""
        ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def get_by_email(self, email_address: str) -> User | None: ...

    async def update(self, user: User) -> None:
        """Save names, password hash and account_updated of an existing user."""
        ...


class BillRepository(Protocol):
    """Bills, always scoped to their owner: another owner's bill is simply not found."""

    async def add(self, bill: Bill) -> None: ...

    async def get(self, owner_id: UUID, bill_id: UUID) -> Bill | None: ...

    async def list(self, owner_id: UUID, query: BillQuery) -> Sequence[Bill]:
        """The owner's bills matching `query`, ordered by (due_date, id), at most `query.limit`."""
        ...

    async def due(self, owner_id: UUID, until: date) -> Sequence[Bill]:
        """The owner's unpaid bills (due, past_due) with due_date on or before `until`."""
        ...

    async def update(self, bill: Bill) -> None: ...

    async def delete(self, owner_id: UUID, bill_id: UUID) -> bool:
        """Remove the bill; False when there was none."""
        ...


class AttachmentRepository(Protocol):
    """Attachment metadata; at most one per bill. Bills returned by BillRepository carry theirs."""

    async def add(self, attachment: Attachment) -> None:
        """Store the metadata. Raises Conflict when the bill already has an attachment."""
        ...

    async def delete(self, bill_id: UUID, attachment_id: UUID) -> bool:
        """Remove the metadata; False when there was none."""
        ...


class UnitOfWork(Protocol):
    """One transaction over the repositories.

    `async with uow:` begins; `await uow.commit()` makes the work durable; leaving the block
    without committing rolls back. A unit of work serves one request or message, never two tasks.
    Raises ServiceUnavailable when the database cannot be reached.
    """

    users: UserRepository
    bills: BillRepository
    attachments: AttachmentRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...
