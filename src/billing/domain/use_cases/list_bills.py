from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from billing.domain.model import Bill, BillQuery
from billing.domain.use_cases.views import BillView, bill_view
from billing.ports import FileStore, ReadOnlyUnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class ListBillsCommand:
    owner_id: UUID
    query: BillQuery


@dataclass(frozen=True, slots=True)
class BillPage:
    bills: list[BillView]
    next: BillQuery | None  # the query for the following page; None on the last one


class ListBills:
    """The owner's bills with their attachment links, filtered and ordered by (due_date, id),
    one page at a time."""

    def __init__(self, uow: ReadOnlyUnitOfWork, store: FileStore) -> None:
        self._uow = uow
        self._store = store

    async def execute(self, command: ListBillsCommand) -> BillPage:
        async with self._uow as uow:
            bills = await uow.bills.list(command.owner_id, probe(command.query))
        return await bill_page(command.query, bills, self._store)


def probe(query: BillQuery) -> BillQuery:
    """`query` asking for one more bill than its limit: its presence says whether a next page exists."""
    return query if query.limit is None else replace(query, limit=query.limit + 1)


async def bill_page(query: BillQuery, found: Sequence[Bill], store: FileStore) -> BillPage:
    """The page of `query` from what `probe(query)` found."""
    bills = list(found)
    next_query = None
    if query.limit is not None and len(bills) > query.limit:
        bills = bills[: query.limit]
        next_query = query.next_page(bills[-1])
    return BillPage([await bill_view(bill, store) for bill in bills], next_query)

