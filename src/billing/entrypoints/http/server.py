"""`billing local`'s server: the HTTP app and its companions in one process and one event loop,
until SIGINT/SIGTERM, then the graceful shutdown of lifecycle.GracefulRunner.

`billing serve` runs the app in gunicorn's worker processes instead (gunicorn_app.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from aiohttp import web

from billing.container import Container
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.lifecycle import GracefulRunner
from billing.entrypoints.listening import CannotListen

log = logging.getLogger("billing.server")


def _loop_factory() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


Prepare = Callable[[], Awaitable[None]]
Companion = Callable[[asyncio.Event], Coroutine[Any, Any, None]]  # runs beside the server until the event is set


def run_http_server(container: Container, *, banner: str, prepare: Prepare | None = None,
                    companions: Sequence[Companion] = ()) -> int:
    with asyncio.Runner(loop_factory=_loop_factory) as runner:
        return runner.run(serve(container, banner=banner, prepare=prepare, companions=companions))


async def serve(container: Container, *, banner: str, prepare: Prepare | None = None,
                companions: Sequence[Companion] = ()) -> int:
    """Serve until SIGINT/SIGTERM; return the exit code.

    `prepare` runs once the container's resources are open, before the port accepts requests (the
    local mode bootstraps its emulator there). `companions` (the local worker and Lambda stand-in)
    run in the same loop and get the same stop signal; if one dies, everything stops with code 1.
    """
    settings = container.settings()
    runner = GracefulRunner(create_app(container), drain_seconds=settings.shutdown_drain_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runner.setup()
    exit_code = 0
    tasks: list[asyncio.Task[None]] = []
    try:
        if prepare is not None:
            await prepare()
        try:
            await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        except OSError as exc:
            raise CannotListen(settings.http_host, settings.http_port, exc) from exc
        tasks = [asyncio.create_task(companion(stop)) for companion in companions]
        print(banner, file=sys.stderr, flush=True)  # a person reads it
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({stopping, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        if stopping not in done:
            for task in done:
                log.error("a companion task ended unexpectedly; stopping", exc_info=task.exception())
            exit_code = 1
            runner.drain_seconds = 0  # nothing to wait for: this is a failure, not a planned stop
            stop.set()
    finally:
        stop.set()
        # /readyz turns 503 at once; the companions stop while the server drains and finishes its requests.
        cleanup = asyncio.ensure_future(runner.cleanup())
        await asyncio.gather(*tasks, return_exceptions=True)
        await cleanup
    return exit_code
