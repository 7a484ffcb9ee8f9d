from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from billing.domain.model import Bill, NotFound
from billing.ports import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class GetBillCommand:
    owner_id: UUID
    bill_id: UUID


class GetBill:
    """One of the owner's bills. Raises NotFound when it is missing or someone else's."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def execute(self, command: GetBillCommand) -> Bill:
        async with self._uow as uow:
            bill = await uow.bills.get(command.owner_id, command.bill_id)
        if bill is None:
            raise NotFound()
        return bill
