"""The graceful shutdown of a server process: readiness off, drain, requests in progress finish,
resources close.

aiohttp's own shutdown stops reading from every connection at once: a request whose body is still
arriving (a slow upload) would never complete. So the server first stops listening, then waits
here until the requests in progress have been answered, and only then lets aiohttp close the rest.
"""

from __future__ import annotations

import asyncio
import gc
import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from billing.entrypoints.http.headers import security_header_values
from billing.entrypoints.http.keys import IN_FLIGHT, SETTINGS, SHUTTING_DOWN
from billing.entrypoints.http.protocol import BillingAppRunner

# From SIGTERM to the end of a server process: gunicorn's graceful_timeout, after which its master
# SIGKILLs the worker. Below the platforms' stop timeouts (systemd's TimeoutStopSec in
# deploy/systemd/billing-serve.service, CodeDeploy's ApplicationStop hook).
GRACEFUL_TIMEOUT = 25
# aiohttp's own wait, after ours: it only meets requests that outlived it.
AIOHTTP_SHUTDOWN_TIMEOUT = 1.0
# Kept for closing the container's resources (pools, clients) once the requests are done.
RESOURCES_CLOSE_TIME = 2.0
log = logging.getLogger("billing.server")


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


class GracefulRunner(BillingAppRunner):
    """The runner of every server of the app (gunicorn's workers, `billing local`): the
    BillingAppRunner (protocol.py), whose `cleanup` is the service's shutdown, in this order:

    1. /readyz answers 503 (SHUTTING_DOWN);
    2. the port stays open for `drain_seconds`, while the load balancer notices and stops sending;
    3. the port closes; the requests in progress finish (a slow upload too: aiohttp's own shutdown
       would stop reading its body), within what is left of GRACEFUL_TIMEOUT;
    4. aiohttp closes the connections left, then the cleanup context closes the container's
       resources (pools, clients).
    """

    def __init__(self, app: web.Application, *, drain_seconds: float) -> None:
        super().__init__(app, headers=security_header_values(app[SETTINGS]), shutdown_timeout=AIOHTTP_SHUTDOWN_TIMEOUT,
                         access_log=None, handle_signals=False)
        self.drain_seconds = drain_seconds  # 0 skips the drain (`billing local` when a companion died)

    async def setup(self) -> None:
        await super().setup()
        # What startup built (modules, the app, the container's pools and clients) lives as long as
        # the process: out of the collector's reach, a full collection walks what requests allocate,
        # not the ~185,000 objects of startup (a 120 ms pause of the worker's event loop otherwise).
        gc.collect()
        gc.freeze()

    async def cleanup(self) -> None:
        self.app[SHUTTING_DOWN].set()
        drain = self.drain_seconds if self.sites else 0.0  # nothing to drain before the port opened
        if drain:
            log.info("shutting down: draining for %.1f s", drain)
            await asyncio.sleep(drain)
        for site in list(self.sites):
            await site.stop()
        in_flight = self.app[IN_FLIGHT]
        assert isinstance(in_flight, InFlight)
        budget = max(0.0, GRACEFUL_TIMEOUT - drain - AIOHTTP_SHUTDOWN_TIMEOUT - RESOURCES_CLOSE_TIME)
        if not await in_flight.wait_idle(budget):
            log.warning("%d requests still in progress after %.0f s; closing them", in_flight.count, budget)
        await super().cleanup()
