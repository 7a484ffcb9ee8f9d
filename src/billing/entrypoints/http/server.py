"""Run the HTTP app until SIGINT/SIGTERM, then shut down gracefully."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from types import FrameType

from aiohttp import web

from billing.container import Container
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.headers import security_header_values
from billing.entrypoints.http.keys import IN_FLIGHT, SHUTTING_DOWN
from billing.entrypoints.http.lifecycle import InFlight
from billing.entrypoints.http.protocol import BillingAppRunner
from billing.entrypoints.listening import CannotListen, probe_address

# Below the usual 30 s that platforms (systemd, ECS, CodeDeploy) wait before SIGKILL.
SHUTDOWN_TIMEOUT = 20.0
AIOHTTP_SHUTDOWN_TIMEOUT = 1.0
# How long the parent of several workers waits for them after forwarding a signal, before SIGKILL.
WORKER_STOP_TIMEOUT = SHUTDOWN_TIMEOUT + 5.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
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
    # aiohttp's own wait comes after ours (InFlight, below): it only meets requests that outlived it.
    runner = BillingAppRunner(app, headers=security_header_values(settings), shutdown_timeout=AIOHTTP_SHUTDOWN_TIMEOUT,
                              access_log=None, handle_signals=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    # A worker process starts with these signals blocked (see run_http_workers): from here on they
    # reach the handlers above, including one that arrived while the worker was starting.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    await runner.setup()
    exit_code = 0
    site: web.TCPSite | None = None
    try:
        if prepare is not None:
            await prepare()
        site = web.TCPSite(runner, settings.http_host, settings.http_port, reuse_port=True)
        try:
            await site.start()
        except OSError as exc:
            site = None
            raise CannotListen(settings.http_host, settings.http_port, exc) from exc
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
        app[SHUTTING_DOWN].set()  # /readyz: 503 from now on
        if settings.shutdown_drain_seconds and exit_code == 0:
            # Keep accepting while the load balancer notices (its health check) and stops sending.
            log.info("shutting down: draining for %.1f s", settings.shutdown_drain_seconds)
            await asyncio.sleep(settings.shutdown_drain_seconds)
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        app[SHUTTING_DOWN].set()
        if site is not None:
            await site.stop()  # no new connections
        # aiohttp's shutdown stops reading request bodies: let the requests in progress finish first.
        in_flight = app[IN_FLIGHT]
        assert isinstance(in_flight, InFlight)
        if not await in_flight.wait_idle(SHUTDOWN_TIMEOUT - AIOHTTP_SHUTDOWN_TIMEOUT):
            log.warning("%d requests still in progress after %.0f s; closing them", in_flight.count, SHUTDOWN_TIMEOUT)
        # Closes the remaining (idle) connections, then runs the cleanup context: the container's
        # pools and clients close.
        await runner.cleanup()
    return exit_code


def run_http_workers(make_container: Callable[[], Container], workers: int, *, banner: str | None = None) -> int:
    """Serve with `workers` processes and return the exit code.

    A single worker runs in this process. Several are forked children, each with its own event loop,
    container and connection pool, all listening on the same address with SO_REUSEPORT so the
    kernel spreads incoming connections among them. The parent only supervises: it forwards
    SIGTERM/SIGINT to every child and exits 0 when all of them exited 0. A child that dies on its
    own (a crash, the OOM killer) makes the parent stop the others and exit 1, so the service
    manager (systemd `Restart=on-failure`) restarts the whole set rather than run short-handed.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if workers == 1:
        return run_http_server(make_container(), banner=banner)
    settings = make_container().settings()
    probe_address(settings.http_host, settings.http_port)
    context = multiprocessing.get_context("fork")  # the parent holds no loop, thread or connection yet
    children = [
        context.Process(target=_worker, args=(make_container, banner), name=f"billing-worker-{i}")
        for i in range(workers)
    ]
    stopping = False
    deadline = float("inf")

    def stop_children(signum: int, _frame: FrameType | None = None) -> None:
        nonlocal stopping, deadline
        if not stopping:
            stopping, deadline = True, time.monotonic() + WORKER_STOP_TIMEOUT
        for child in children:
            if child.pid is not None and child.exitcode is None:
                try:
                    os.kill(child.pid, signum)
                except ProcessLookupError:
                    pass

    # Children are forked with the stop signals blocked and unblock them once their event loop
    # handles them: a signal during their start-up is then delivered late instead of lost.
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        for child in children:
            child.start()
        for sig in _STOP_SIGNALS:
            signal.signal(sig, stop_children)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
    log.info("started %d workers: %s", workers, ", ".join(str(c.pid) for c in children))

    exit_code = 0
    running = list(children)
    while running:
        timeout = None if not stopping else max(0.0, deadline - time.monotonic())
        multiprocessing.connection.wait([c.sentinel for c in running], timeout=timeout)
        for child in [c for c in running if c.exitcode is not None]:
            running.remove(child)
            if child.exitcode != 0 or not stopping:
                log.error("worker %s exited with %s%s", child.pid, child.exitcode,
                          "" if stopping else "; stopping the others")
                exit_code = 1
            if not stopping:
                stop_children(signal.SIGTERM)
        if stopping and running and time.monotonic() >= deadline:
            for child in running:
                log.error("worker %s did not stop within %.0f s; killing it", child.pid, WORKER_STOP_TIMEOUT)
                child.kill()
                child.join()
            exit_code, running = 1, []
    return exit_code


def _worker(make_container: Callable[[], Container], banner: str | None) -> None:
    for sig in _STOP_SIGNALS:  # not the parent's forwarding handlers; serve() installs the real ones
        signal.signal(sig, signal.SIG_DFL)
    raise SystemExit(run_http_server(make_container(), banner=banner))  # its code is the exit code
