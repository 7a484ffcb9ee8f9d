from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

from billing.domain.model import User
from billing.domain.model.due_bills import DueBillsRequest
from billing.ports import Clock, DueBillsRequestQueue


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestDueBillsEmailCommand:
    user: User  # the authenticated caller: only the id goes on the queue
    days: int  # already validated: 0..365


class RequestDueBillsEmail:
    """Queue a request for the email of the user's bills due within `days` days.

    The request carries the user's id, never the address: the worker looks the user up when it
    handles it. Returns once the queue has accepted it; raises ServiceUnavailable when it cannot
    (the caller must not be told the request was accepted). Sending happens asynchronously, at most
    once per user per 60 minutes however many requests arrive.
    """

    def __init__(self, queue: DueBillsRequestQueue, clock: Clock) -> None:
        self._queue = queue
        self._clock = clock

    async def execute(self, command: RequestDueBillsEmailCommand) -> DueBillsRequest:
        request = DueBillsRequest(
            request_id=uuid4(),
            user_id=command.user.id,
            days=command.days,
            requested_at=self._clock.now(),
        )
        await self._queue.send(request)
        return request
