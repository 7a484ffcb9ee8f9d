from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, replace
from uuid import UUID

from billing.domain.model import BillQuery, BillView, User
from billing.domain.use_cases.authenticate import (
    Authenticate,
    Credentials,
    login_address,
)
from billing.domain.use_cases.views import signed_bills
from billing.ports import FileStore, ReadOnlyUnitOfWork

# Bills per page of an unpaged listing: the most one listing holds in memory at a time.
PAGE_SIZE = 250


@dataclass(frozen=True, slots=True, kw_only=True)
class ListOwnBillsCommand:
    credentials: Credentials
    query: BillQuery


@dataclass(frozen=True, slots=True)
class OwnBills:
    caller: User
    bills: Sequence[BillView]  # the page asked for; unpaged, the first page
    next: BillQuery | None  # paged: the query for the following page; None on the last one
    # Unpaged and longer than a page: the pages after `bills`, each read when asked for.
    rest: AsyncGenerator[Sequence[BillView], None] | None = None


class ListOwnBills:
    """Authenticate the caller and list their bills matching the query, ordered by (due_date, id),
    attachment links signed. The first page is read with the caller in one query (one round trip
    for authentication and the read).

    With `query.limit`: that page, and `next`, the query for the following one. Without: every
    bill, and a listing of any length costs one page of memory: `bills` holds the first
    `page_size`, and `rest` (None when they were all) reads the others page by page, after the
    last one read (keyset on due_date, id), each on a pooled connection given back before the
    page is handed over. Each page sees the bills as they are when it is read: a bill created,
    deleted or given another due_date meanwhile may be missed or met twice; none is met twice
    otherwise, and none that stayed is missed. Reading a page may raise ServiceUnavailable or
    ServiceBusy; a consumer that stops early closes `rest` (aclose).

    Raises AuthenticationFailed exactly as Authenticate does; the user is read on every call, so a
    password change counts from the next request, and no bill is returned before the password is
    verified. The later pages of an unpaged listing do not authenticate again."""

    def __init__(self, reads: ReadOnlyUnitOfWork, authenticate: Authenticate, store: FileStore,
                 page_size: int = PAGE_SIZE) -> None:
        self._reads = reads
        self._authenticate = authenticate
        self._store = store
        self._page_size = page_size

    async def execute(self, command: ListOwnBillsCommand) -> OwnBills:
        query = command.query
        limit = self._page_size if query.limit is None else query.limit
        email = login_address(command.credentials)
        async with self._reads as reads:  # one more than the page: whether another follows
            found = await reads.caller_views.bills(email, replace(query, limit=limit + 1))
        user, views = found if found is not None else (None, [])
        caller = await self._authenticate.verified(command.credentials, user)
        views = [view for view in views if view.owner_id == caller.id]
        page = await signed_bills(views[:limit], self._store)
        if len(views) <= limit:
            return OwnBills(caller, page, None)
        after = query.next_page(page[-1].due_date, page[-1].id)
        if query.limit is not None:
            return OwnBills(caller, page, after)
        return OwnBills(caller, page, None, self._pages(caller.id, after))

    async def _pages(self, owner_id: UUID, query: BillQuery) -> AsyncGenerator[Sequence[BillView], None]:
        size = self._page_size
        while True:
            async with self._reads as reads:  # the connection goes back before the page is yielded
                views = await reads.bill_views.page(owner_id, replace(query, limit=size + 1))
            page = views[:size]
            if page:
                yield await signed_bills(page, self._store)
            if len(views) <= size:
                return
            query = query.next_page(page[-1].due_date, page[-1].id)
