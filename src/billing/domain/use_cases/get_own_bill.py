from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from billing.domain.model import BillView, User
from billing.domain.use_cases.authenticate import (
    Authenticate,
    Credentials,
    login_address,
)
from billing.domain.use_cases.views import signed_bill
from billing.ports import FileStore, ReadOnlyUnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class GetOwnBillCommand:
    credentials: Credentials
    bill_id: UUID


@dataclass(frozen=True, slots=True)
class OwnBill:
    caller: User
    bill: BillView | None  # None when the caller has no such bill (missing or someone else's)


class GetOwnBill:
    """Authenticate the caller and read one of their bills (its attachment's link signed), with
    one query for both: one round trip instead of Authenticate's and the read's.

    Raises AuthenticationFailed exactly as Authenticate does; the user is read on every call, so a
    password change counts from the next request, and nothing about the bill is returned before the
    password is verified. The bill is None when missing or someone else's."""

    def __init__(self, reads: ReadOnlyUnitOfWork, authenticate: Authenticate, store: FileStore) -> None:
        self._reads = reads
        self._authenticate = authenticate
        self._store = store

    async def execute(self, command: GetOwnBillCommand) -> OwnBill:
        email = login_address(command.credentials)
        async with self._reads as reads:
            found = await reads.caller_views.bill(email, command.bill_id)
        user, bill = found if found is not None else (None, None)
        caller = await self._authenticate.verified(command.credentials, user)
        if bill is None or bill.owner_id != caller.id:
            return OwnBill(caller, None)
        return OwnBill(caller, await signed_bill(bill, self._store))
