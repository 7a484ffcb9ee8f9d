from __future__ import annotations

from enum import StrEnum

from billing.domain.model.due_bills import DueBillsDigest, compose_email
from billing.ports import Clock, EmailLedger, Mailer


class SendOutcome(StrEnum):
    SENT = "sent"
    DEDUPLICATED = "deduplicated"
    STALE = "stale"  # a reminder for a UTC day that is over: not sent


class SendDueBillsEmail:
    """The Lambda's step: send the digest's email unless the user already has one this window.

    Claims the user's ledger slot first (a conditional write), so duplicate deliveries and
    concurrent digests send once. If sending fails, the claim is released and the error raised,
    so the invocation is retried and a retry can send.
    """

    def __init__(self, ledger: EmailLedger, mailer: Mailer, clock: Clock) -> None:
        self._ledger = ledger
        self._mailer = mailer
        self._clock = clock

    async def execute(self, digest: DueBillsDigest) -> SendOutcome:
        if not await self._ledger.claim(digest.user_id, digest.request_id, self._clock.now()):
            return SendOutcome.DEDUPLICATED
        try:
            await self._mailer.send(compose_email(digest))
        except BaseException:
            await self._ledger.release(digest.user_id, digest.request_id)
            raise
        await self._ledger.mark_sent(digest.user_id, digest.request_id, self._clock.now())
        return SendOutcome.SENT
