from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from billing.domain.model import Bill, BillDetails, NotFound
from billing.domain.model.clock import to_millis
from billing.ports import Clock, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateBillCommand:
    owner_id: UUID
    bill_id: UUID
    fields: Mapping[str, object]


class UpdateBill:
    """Replace every editable field of one of the owner's bills.

    Raises ValidationFailed for bad fields, NotFound for a missing or foreign bill.
    """

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, command: UpdateBillCommand) -> Bill:
        details = BillDetails.from_mapping(command.fields)
        async with self._uow as uow:
            bill = await uow.bills.get(command.owner_id, command.bill_id)
            if bill is None:
                raise NotFound()
            bill.details = details
            bill.updated_ts = to_millis(self._clock.now())
            await uow.bills.update(bill)
            await uow.commit()
        return bill
