from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from billing.domain.model.due_bills import DueBillsDigest, DueBillsRequest
from billing.ports import Clock, DigestPublisher, EmailLedger, UnitOfWork


class DigestOutcome(StrEnum):
    PUBLISHED = "published"
    SKIPPED_RECENTLY_SENT = "skipped_recently_sent"
    DROPPED_USER_GONE = "dropped_user_gone"


class PrepareDueBillsDigest:
    """The worker's step: for one queued request, load the user and their due bills from the
    database and publish the digest.

    The request names only the user's id: the address in the digest is the one stored now, so a
    forged or stale request can at worst mail users their own bills. A request for a user who no
    longer exists is dropped (DROPPED_USER_GONE: nothing is published, the message is done).
    Skips users who got a due-bills email within the last 60 minutes (the ledger). Idempotent: a
    redelivered request publishes again at worst, and the sender's ledger claim makes that harmless.
    Raises ServiceUnavailable (database, ledger, topic) so the message is retried.
    """

    def __init__(self, uow: UnitOfWork, ledger: EmailLedger, publisher: DigestPublisher, clock: Clock,
                 base_url: str) -> None:
        self._uow = uow
        self._ledger = ledger
        self._publisher = publisher
        self._clock = clock
        self._base_url = base_url

    async def execute(self, request: DueBillsRequest) -> DigestOutcome:
        now = self._clock.now()
        if await self._ledger.sent_recently(request.user_id, now):
            return DigestOutcome.SKIPPED_RECENTLY_SENT
        today = now.date()
        async with self._uow as uow:
            user = await uow.users.get(request.user_id)
            if user is None:
                return DigestOutcome.DROPPED_USER_GONE
            bills = list(await uow.bills.due(request.user_id, today + timedelta(days=request.days)))
        await self._publisher.publish(DueBillsDigest.of(request, user, today, bills, self._base_url))
        return DigestOutcome.PUBLISHED
