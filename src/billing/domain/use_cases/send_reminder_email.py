from __future__ import annotations

from billing.domain.model.due_bills import ReminderDigest, compose_reminder_email
from billing.domain.use_cases.send_due_bills_email import SendOutcome
from billing.ports import Clock, Mailer, ReminderLedger


class SendReminderEmail:
    """The Lambda's step for a reminder digest: send it unless the user's reminder for its day
    was sent or is being sent, the same way as the on-demand email (SendDueBillsEmail).

    The ledger's conditional claim on (user, day) comes first, so concurrent rounds, duplicate
    deliveries and a worker killed after publishing send once; if sending fails, the claim is
    released and the error raised, so a retry can send; a sender that died after claiming holds
    the day only for the claim's lease. A digest for a day other than the Clock's UTC date is not
    sent (STALE): a retry that crossed midnight must not make a second reminder on the new day.
    """

    def __init__(self, ledger: ReminderLedger, mailer: Mailer, clock: Clock) -> None:
        self._ledger = ledger
        self._mailer = mailer
        self._clock = clock

    async def execute(self, digest: ReminderDigest) -> SendOutcome:
        now = self._clock.now()
        if digest.day != now.date():
            return SendOutcome.STALE
        if not await self._ledger.claim(digest.user_id, digest.day, digest.request_id, now):
            return SendOutcome.DEDUPLICATED
        try:
            await self._mailer.send(compose_reminder_email(digest))
        except BaseException:
            await self._ledger.release(digest.user_id, digest.day, digest.request_id)
            raise
        await self._ledger.mark_sent(digest.user_id, digest.day, digest.request_id, self._clock.now())
        return SendOutcome.SENT
