"""Run the HTTP app until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from billing.container import Container
from billing.entrypoints.http.app import create_app

# Below the usual 30 s that platforms (systemd, ECS, CodeDeploy) wait before SIGKILL.
SHUTDOWN_TIMEOUT = 20.0
log = logging.getLogger("billing.server")


def _loop_factory() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


Prepare = Callable[[], Awaitable[None]]


def run_http_server(container: Container, *, banner: str | None = None, prepare: Prepare | None = None) -> None:
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        runner.run(serve(container, banner=banner, prepare=prepare))


async def serve(container: Container, *, banner: str | None = None, prepare: Prepare | None = None) -> None:
    """Serve until SIGINT/SIGTERM. `prepare` runs once the container's resources are open,
    before the port accepts requests (the local mode bootstraps its emulator there)."""
    settings = container.settings()
    app = create_app(container)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if prepare is not None:
            await prepare()
        site = web.TCPSite(runner, settings.http_host, settings.http_port, reuse_port=True)
        await site.start()
        if banner is not None:  # `billing local`: a person reads it
            print(banner, file=sys.stderr, flush=True)
        else:  # `billing serve`: a JSON line like every other one
            log.info("serving on http://%s:%s", settings.http_host, settings.http_port)
        await stop.wait()
    finally:
        await runner.cleanup()
