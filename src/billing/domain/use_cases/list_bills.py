from __future__ import annotations

from dataclasses import dataclass, replace
from uuid import UUID

from billing.domain.model import Bill, BillQuery
from billing.ports import UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class ListBillsCommand:
    owner_id: UUID
    query: BillQuery


@dataclass(frozen=True, slots=True)
class BillPage:
    bills: list[Bill]
    next: BillQuery | None  # the query for the following page; None on the last one


class ListBills:
    """The owner's bills, filtered and ordered by (due_date, id), one page at a time."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def execute(self, command: ListBillsCommand) -> BillPage:
        query = command.query
        # Fetch one more than asked for: its presence says whether a next page exists.
        probe = query if query.limit is None else replace(query, limit=query.limit + 1)
        async with self._uow as uow:
            bills = list(await uow.bills.list(command.owner_id, probe))
        if query.limit is not None and len(bills) > query.limit:
            bills = bills[: query.limit]
            return BillPage(bills, query.next_page(bills[-1]))
        return BillPage(bills, None)

