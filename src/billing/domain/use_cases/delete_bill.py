from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from billing.domain.model import NotFound
from billing.ports import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteBillCommand:
    owner_id: UUID
    bill_id: UUID


class DeleteBill:
    """Delete one of the owner's bills. Raises NotFound for a missing or foreign bill."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def execute(self, command: DeleteBillCommand) -> None:
        async with self._uow as uow:
            if not await uow.bills.delete(command.owner_id, command.bill_id):
                raise NotFound()
            await uow.commit()
