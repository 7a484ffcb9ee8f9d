from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from uuid import UUID

from billing.domain.model import BillQuery, User
from billing.domain.use_cases.authenticate import Authenticate, Credentials, login_address
from billing.ports import FileStore, ReadOnlyUnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOwnBillsCommand:
    credentials: Credentials
    query: BillQuery


@dataclass(frozen=True, slots=True)
class OwnBills:
    caller: User
    bills: list[dict[str, Any]]  # each the JSON object of a bill, attachment link signed
    next: BillQuery | None  # the query for the following page; None on the last one


class ListOwnBills:
    """Authenticate the caller and list their bills as ListBills does, with one query for both
    (one round trip instead of two), as wire-ready rows (the listing is a read model: no entity
    is built for it).

    Raises AuthenticationFailed exactly as Authenticate does; the user is read on every call, so a
    password change counts from the next request, and no bill is returned before the password is
    verified."""

    def __init__(self, reads: ReadOnlyUnitOfWork, authenticate: Authenticate, store: FileStore) -> None:
        self._reads = reads
        self._authenticate = authenticate
        self._store = store

    async def execute(self, command: ListOwnBillsCommand) -> OwnBills:
        query = command.query
        email = login_address(command.credentials)
        async with self._reads as reads:
            found = await reads.caller_views.bills(email, probe(query))
        user, rows = found if found is not None else (None, [])
        caller = await self._authenticate.verified(command.credentials, user)
        owner = str(caller.id)
        rows = [row for row in rows if row.json["owner_id"] == owner]
        next_query = None
        if query.limit is not None and len(rows) > query.limit:
            rows = rows[: query.limit]
            last = rows[-1].json
            next_query = query.next_page(date.fromisoformat(last["due_date"]), UUID(last["id"]))
        bills = []
        for row in rows:
            if row.object_key is not None:
                attachment = row.json["attachment"]
                attachment["url"] = await self._store.download_url(row.object_key, attachment["file_name"])
            bills.append(row.json)
        return OwnBills(caller, bills, next_query)


def probe(query: BillQuery) -> BillQuery:
    """`query` asking for one more bill than its limit: its presence says whether a next page exists."""
    return query if query.limit is None else replace(query, limit=query.limit + 1)
