"""Requests in progress, so that a shutdown can let them finish.

aiohttp's own shutdown stops reading from every connection at once: a request whose body is still
arriving (a slow upload) would never complete. So the server first stops listening, then waits
here until the requests in progress have been answered, and only then lets aiohttp close the rest.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler

from billing.entrypoints.http.keys import IN_FLIGHT, SHUTTING_DOWN


class InFlight:
    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True when no request is in progress any more; False after `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


@web.middleware
async def in_flight_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    tracker = request.app[IN_FLIGHT]
    tracker.enter()
    try:
        response = await handler(request)
        if request.app[SHUTTING_DOWN].is_set():
            response.force_close()  # no further request on this connection: the process is leaving
        return response
    finally:
        tracker.leave()
