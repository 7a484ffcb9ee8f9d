from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from billing.domain.model import NotFound
from billing.domain.use_cases.views import BillView, bill_view
from billing.ports import FileStore, ReadOnlyUnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class GetBillCommand:
    owner_id: UUID
    bill_id: UUID


class GetBill:
    """One of the owner's bills with its attachment link. NotFound when missing or someone else's."""

    def __init__(self, uow: ReadOnlyUnitOfWork, store: FileStore) -> None:
        self._uow = uow
        self._store = store

    async def execute(self, command: GetBillCommand) -> BillView:
        async with self._uow as uow:
            bill = await uow.bills.get(command.owner_id, command.bill_id)
        if bill is None:
            raise NotFound()
        return await bill_view(bill, self._store)
