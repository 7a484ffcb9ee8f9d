from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from billing.domain.model import Attachment, AttachmentView, NotFound
from billing.domain.use_cases.views import attachment_view
from billing.ports import FileStore, ReadOnlyUnitOfWork, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachmentCommand:
    owner_id: UUID
    bill_id: UUID
    attachment_id: UUID


class GetAttachment:
    """The metadata and a fresh download link of a bill's attachment. NotFound otherwise."""

    def __init__(self, uow: ReadOnlyUnitOfWork, store: FileStore) -> None:
        self._uow = uow
        self._store = store

    async def execute(self, command: AttachmentCommand) -> AttachmentView:
        async with self._uow as uow:
            attachment = await owned_attachment(uow, command)
        return await attachment_view(attachment, self._store)


async def owned_attachment(uow: UnitOfWork, command: AttachmentCommand) -> Attachment:
    """The attachment named by `command`, on a bill of its owner; NotFound otherwise."""
    bill = await uow.bills.get(command.owner_id, command.bill_id)
    if bill is None or bill.attachment is None or bill.attachment.id != command.attachment_id:
        raise NotFound()
    return bill.attachment
