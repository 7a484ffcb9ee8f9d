from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from billing.domain.model import NotFound
from billing.ports import FileStore, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteBillCommand:
    owner_id: UUID
    bill_id: UUID


class DeleteBill:
    """Delete one of the owner's bills and its attachment. NotFound for a missing or foreign bill.

    Rows go first (the attachment's with the bill's, in one transaction), then the object.
    """

    def __init__(self, uow: UnitOfWork, store: FileStore) -> None:
        self._uow = uow
        self._store = store

    async def execute(self, command: DeleteBillCommand) -> None:
        async with self._uow as uow:
            bill = await uow.bills.get(command.owner_id, command.bill_id)
            if bill is None:
                raise NotFound()
            if bill.attachment is not None:
                # Deleting the bill deletes this row too (ON DELETE CASCADE; the fake keeps the attachment
                # on the bill): no test can tell this call from one that deletes nothing.
                await uow.attachments.delete(bill.id, bill.attachment.id)  # pragma: no mutate
            await uow.bills.delete(command.owner_id, command.bill_id)
            await uow.commit()
        if bill.attachment is not None:
            await self._store.delete(bill.attachment.object_key)
