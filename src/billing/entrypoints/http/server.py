"""Run the HTTP app until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

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
Companion = Callable[[asyncio.Event], Awaitable[None]]  # runs beside the server until the event is set


def run_http_server(container: Container, *, banner: str | None = None, prepare: Prepare | None = None,
                    companions: Sequence[Companion] = ()) -> int:
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        return runner.run(serve(container, banner=banner, prepare=prepare, companions=companions))


async def serve(container: Container, *, banner: str | None = None, prepare: Prepare | None = None,
                companions: Sequence[Companion] = ()) -> int:
    """Serve until SIGINT/SIGTERM; return the exit code.

    `prepare` runs once the container's resources are open, before the port accepts requests (the
    local mode bootstraps its emulator there). `companions` (the local worker and Lambda stand-in)
    run in the same loop and get the same stop signal; if one dies, everything stops with code 1.
    """
    settings = container.settings()
    app = create_app(container)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None, handle_signals=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runner.setup()
    exit_code = 0
    try:
        if prepare is not None:
            await prepare()
        site = web.TCPSite(runner, settings.http_host, settings.http_port, reuse_port=True)
        await site.start()
        tasks = [asyncio.create_task(companion(stop)) for companion in companions]
        if banner is not None:  # `billing local`: a person reads it
            print(banner, file=sys.stderr, flush=True)
        else:  # `billing serve`: a JSON line like every other one
            log.info("serving on http://%s:%s", settings.http_host, settings.http_port)
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        if stopping not in done:
            for task in done:
                log.error("a companion task ended unexpectedly; stopping", exc_info=task.exception())
            exit_code = 1
            stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await runner.cleanup()
    return exit_code
