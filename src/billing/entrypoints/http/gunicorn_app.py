"""`billing serve`: gunicorn runs the HTTP app in worker processes.

gunicorn's master starts the workers and replaces one that dies. Each worker is aiohttp's uvloop
worker class running `serving_runner`: its own event loop, container and connection pools, and
the app in a lifecycle.GracefulRunner. On SIGTERM the master passes the signal to every worker,
which shuts down gracefully, and SIGKILLs a worker still running GRACEFUL_TIMEOUT later.

`billing serve` starts gunicorn from Python (ServeApplication); `gunicorn -c
deploy/gunicorn.conf.py` starts the same server from gunicorn's command line. Both take their
options from `gunicorn_options`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from types import FrameType
from typing import Any

from aiohttp import web
from aiohttp.worker import GunicornUVLoopWebWorker
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer

from billing.config import ConfigError, Settings
from billing.container import Container
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.lifecycle import (
    AIOHTTP_SHUTDOWN_TIMEOUT,
    GRACEFUL_TIMEOUT,
    RESOURCES_CLOSE_TIME,
    GracefulRunner,
)
from billing.entrypoints.listening import probe_address
from billing.entrypoints.logging_setup import choose_format, configure_logging

# The drain must leave the requests in progress at least this long within GRACEFUL_TIMEOUT.
FINISH_AT_LEAST = 5.0
MAX_DRAIN_SECONDS = GRACEFUL_TIMEOUT - AIOHTTP_SHUTDOWN_TIMEOUT - RESOURCES_CLOSE_TIME - FINISH_AT_LEAST
log = logging.getLogger("billing.server")

RunnerFactory = Callable[[], Awaitable[web.AppRunner]]


def default_workers() -> int:
    """The CPUs this process may run on (a container's or taskset's limit), else the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def gunicorn_options(settings: Settings, workers: int | None = None) -> dict[str, Any]:
    """gunicorn's settings for the service: `workers` processes (default BILLING_HTTP_WORKERS, else
    one per CPU) on BILLING_HTTP_HOST:BILLING_HTTP_PORT. Raises ConfigError for settings it cannot
    honour."""
    workers = workers or settings.http_workers or default_workers()
    if workers > 1 and settings.http_port == 0:
        raise ConfigError("BILLING_HTTP_PORT=0 (any free port) cannot be shared by several workers; "
                          "use --workers 1 or a fixed port")
    if settings.shutdown_drain_seconds > MAX_DRAIN_SECONDS:
        raise ConfigError(
            f"BILLING_SHUTDOWN_DRAIN_SECONDS={settings.shutdown_drain_seconds:g}: at most {MAX_DRAIN_SECONDS:g}, "
            f"for the requests in progress to finish within the {GRACEFUL_TIMEOUT} s a worker has to stop")
    return {
        "wsgi_app": f"{__name__}:serving_runner",
        "bind": [_address(settings.http_host, settings.http_port)],
        # Each worker binds the port itself (SO_REUSEPORT): the kernel spreads new connections evenly
        # among them, where workers sharing the master's socket take them unevenly (one may hold most
        # of a load balancer's keep-alive connections while another idles).
        "reuse_port": True,
        "workers": workers,
        "worker_class": f"{__name__}.BillingWorker",
        "graceful_timeout": GRACEFUL_TIMEOUT,
        "logger_class": f"{__name__}.GunicornLogger",
        "loglevel": settings.log_level.lower(),
        "proc_name": "billing-serve",
        # gunicornc's socket (default ~/.gunicorn/gunicorn.ctl) would be shared by every server of
        # the user, and could change the worker count at run time: not wanted.
        "control_socket_disable": True,
        "worker_exit": _end_worker_process,
    }


def _end_worker_process(arbiter: object, worker: object) -> None:
    """gunicorn's last call in a worker process, once the app has shut down: end the process now,
    without the interpreter's teardown (seconds of garbage collection over every module, under
    load, out of the graceful timeout), as multiprocessing ends its children."""
    stop = sys.exc_info()[1]  # called while gunicorn lets the worker's SystemExit through
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_code(stop) if isinstance(stop, SystemExit) else 1)


def _exit_code(stop: SystemExit) -> int:
    return stop.code if isinstance(stop.code, int) else int(stop.code is not None)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def with_idempotency_secret(settings: Settings) -> Settings:
    """The settings, with an idempotency secret made up for this run when none is set, also put in
    the environment: every worker process keys fingerprints alike, however it is started."""
    if settings.idempotency_secret:
        return settings
    log.warning("BILLING_IDEMPOTENCY_SECRET is not set: using a random one for this run; a retry that reaches "
                "another instance, or comes after a restart, is refused (422) instead of replayed")
    settings = dataclasses.replace(settings, idempotency_secret=secrets.token_hex(32))
    os.environ["BILLING_IDEMPOTENCY_SECRET"] = settings.idempotency_secret
    return settings


async def serving_runner(settings: Settings | None = None) -> web.AppRunner:
    """gunicorn's application, called in each worker: the app on the worker's own container, in a
    runner that shuts down gracefully. Without `settings` they are read from BILLING_* variables."""
    settings = Settings.from_env() if settings is None else settings
    return GracefulRunner(create_app(Container(settings=settings)), drain_seconds=settings.shutdown_drain_seconds)


class BillingWorker(GunicornUVLoopWebWorker):
    """aiohttp's uvloop worker, with its shutdown starting at once and its failures in the logs."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # Leave the serve loop now, not at its next one-second tick: /readyz turns 503 at SIGTERM.
        self._notify_waiter_done()

    def run(self) -> None:
        # aiohttp gets the sockets themselves: the server closes the socket it is given, and
        # gunicorn's wrapper would close the same descriptor again (EBADF, logged at every stop).
        self.sockets = [getattr(sock, "sock", sock) for sock in self.sockets]
        try:
            super().run()
        except Exception:
            # One log line with the traceback, where gunicorn would add a plain-text line on stderr.
            self.log.exception("worker %s failed", self.pid)
            sys.exit(1 if self.booted else Arbiter.WORKER_BOOT_ERROR)


class GunicornLogger(glogging.Logger):
    """gunicorn's own records (start, workers booting and exiting, timeouts) go to the root logger's
    handler: the service's JSON lines, redacted like the others. gunicorn's access log stays off:
    the app logs every request itself (billing.access)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.propagate = True

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        if msg == "Listening at: %s (%s)" and args and not args[0]:
            # With reuse_port the workers bind, and the master has no socket of its own to name.
            args = (",".join(f"http://{address}" for address in self.cfg.bind), *args[1:])
        super().info(msg, *args, **kwargs)


class ServeApplication(BaseApplication):
    """gunicorn started from Python: `options` instead of a command line and a config file."""

    def __init__(self, options: Mapping[str, Any], runner: RunnerFactory) -> None:
        self._options = options
        self._runner = runner
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> RunnerFactory:  # type: ignore[override]  # aiohttp's worker takes a runner factory, not WSGI
        return self._runner


def serve_with_gunicorn(settings: Settings, workers: int | None = None) -> int:
    """`billing serve`: run gunicorn's master until it stops; its exit code."""
    options = gunicorn_options(settings, workers)
    probe_address(settings.http_host, settings.http_port)  # a port in use: one line, not workers failing in a loop
    settings = with_idempotency_secret(settings)
    try:
        ServeApplication(options, partial(serving_runner, settings)).run()
    except SystemExit as stop:
        return _exit_code(stop)
    except HaltServer as halt:  # gunicorn raises it again when a second worker fails to boot while it stops
        log.error("Shutting down: Master")  # gunicorn's last words, as its halt() says them
        log.error("Reason: %s", halt.reason)
        return int(halt.exit_status)
    return 0


def command_line_config() -> dict[str, Any]:
    """What deploy/gunicorn.conf.py sets: gunicorn_options for the BILLING_* settings and, as
    `billing serve` does first, the service's logging and a secret shared by the workers."""
    settings = Settings.from_env()
    configure_logging(settings.log_level_number, choose_format(settings.log_format, "serve", sys.stdout))
    options = gunicorn_options(settings)
    probe_address(settings.http_host, settings.http_port)  # a port in use: one line, not workers failing in a loop
    with_idempotency_secret(settings)
    return options
