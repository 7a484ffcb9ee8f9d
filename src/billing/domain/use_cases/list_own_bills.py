from __future__ import annotations

from dataclasses import dataclass

from billing.domain.model import BillQuery, User
from billing.domain.use_cases.authenticate import Authenticate, Credentials, login_address
from billing.domain.use_cases.list_bills import BillPage, bill_page, probe
from billing.ports import FileStore, ReadOnlyUnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOwnBillsCommand:
    credentials: Credentials
    query: BillQuery


@dataclass(frozen=True, slots=True)
class OwnBills:
    caller: User
    page: BillPage


class ListOwnBills:
    """Authenticate the caller and list their bills as ListBills does, with one query for both
    (one round trip instead of two).

    Raises AuthenticationFailed exactly as Authenticate does; the user is read on every call, so a
    password change counts from the next request, and no bill is returned before the password is
    verified."""

    def __init__(self, reads: ReadOnlyUnitOfWork, authenticate: Authenticate, store: FileStore) -> None:
        self._reads = reads
        self._authenticate = authenticate
        self._store = store

    async def execute(self, command: ListOwnBillsCommand) -> OwnBills:
        email = login_address(command.credentials)
        async with self._reads as reads:
            found = await reads.caller_views.bills(email, probe(command.query))
        user, bills = found if found is not None else (None, [])
        caller = await self._authenticate.verified(command.credentials, user)
        return OwnBills(caller, await bill_page(command.query, [b for b in bills if b.owner_id == caller.id],
                                                self._store))
