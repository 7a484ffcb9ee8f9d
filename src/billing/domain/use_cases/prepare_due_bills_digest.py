from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from billing.domain.model.due_bills import DueBillsDigest, DueBillsRequest
from billing.ports import Clock, DigestPublisher, EmailLedger, UnitOfWork


class DigestOutcome(StrEnum):
    PUBLISHED = "published"
    SKIPPED_RECENTLY_SENT = "skipped_recently_sent"


class PrepareDueBillsDigest:
    """The worker's step: for one queued request, select the user's due bills and publish the digest.

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
            bills = list(await uow.bills.due(request.user_id, today + timedelta(days=request.days)))
        await self._publisher.publish(DueBillsDigest.of(request, today, bills, self._base_url))
        return DigestOutcome.PUBLISHED
