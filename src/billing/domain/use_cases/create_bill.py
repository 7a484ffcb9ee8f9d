from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID, uuid4

from billing.domain.model import Bill, BillDetails
from billing.domain.model.clock import to_millis
from billing.ports import Clock, RecordAnswer, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateBillCommand:
    owner_id: UUID
    fields: Mapping[str, object]
    record_answer: RecordAnswer[Bill] | None = None  # runs in the transaction, with the new bill


class CreateBill:
    """Record a new bill for its owner. Raises ValidationFailed listing every bad field.

    One transaction: the bill, and whatever `record_answer` records, commit together."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, command: CreateBillCommand) -> Bill:
        details = BillDetails.from_mapping(command.fields)
        now = to_millis(self._clock.now())
        bill = Bill(id=uuid4(), owner_id=command.owner_id, created_ts=now, updated_ts=now, details=details)
        async with self._uow as uow:
            await uow.bills.add(bill)
            if command.record_answer is not None:
                await command.record_answer(uow.idempotency, bill)
            await uow.commit()
        return bill
