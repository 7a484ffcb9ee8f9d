"""How a server process runs the app: gunicorn's options for `billing serve`, its logs, and the
graceful shutdown every server runs (lifecycle.GracefulRunner), over the fake container."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time
from collections.abc import Iterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.worker import GunicornUVLoopWebWorker
from gunicorn.config import Config
from gunicorn.util import import_app, load_class

from billing.config import ConfigError, Settings
from billing.container import Container
from billing.entrypoints.http import gunicorn_app
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.gunicorn_app import (
    MAX_DRAIN_SECONDS,
    GunicornLogger,
    gunicorn_options,
)
from billing.entrypoints.http.keys import SHUTTING_DOWN
from billing.entrypoints.http.lifecycle import GRACEFUL_TIMEOUT, GracefulRunner
from billing.entrypoints.logging_setup import configure_logging


def gunicorn_config(options: dict[str, object]) -> Config:
    """The options as gunicorn takes them (its validators run on each)."""
    config = Config()
    for name, value in options.items():
        config.set(name, value)
    return config


def test_gunicorn_runs_the_uvloop_aiohttp_worker_on_the_configured_address() -> None:
    settings = Settings(http_host="0.0.0.0", http_port=8080, log_level="WARNING")
    config = gunicorn_config(gunicorn_options(settings, 3))
    assert config.bind == ["0.0.0.0:8080"] and config.workers == 3
    assert issubclass(config.worker_class, GunicornUVLoopWebWorker)
    assert config.graceful_timeout == GRACEFUL_TIMEOUT
    assert config.loglevel == "warning" and config.accesslog is None
    assert issubclass(config.logger_class, GunicornLogger)
    assert config.control_socket_disable
    assert import_app(config.wsgi_app) is gunicorn_app.serving_runner  # what `gunicorn -c` loads


def test_workers_come_from_the_argument_then_the_setting_then_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gunicorn_app, "default_workers", lambda: 7)
    assert gunicorn_options(Settings(http_workers=4), 2)["workers"] == 2
    assert gunicorn_options(Settings(http_workers=4))["workers"] == 4
    assert gunicorn_options(Settings())["workers"] == 7


def test_an_ipv6_address_is_bound_in_brackets() -> None:
    assert gunicorn_config(gunicorn_options(Settings(http_host="::", http_port=8080), 1)).bind == ["[::]:8080"]


def test_a_drain_that_leaves_requests_too_little_time_is_refused_when_serving() -> None:
    assert gunicorn_options(Settings(shutdown_drain_seconds=MAX_DRAIN_SECONDS), 1)
    with pytest.raises(ConfigError) as exc:
        gunicorn_options(Settings(shutdown_drain_seconds=MAX_DRAIN_SECONDS + 1), 1)
    assert str(exc.value).startswith("BILLING_SHUTDOWN_DRAIN_SECONDS=") and "\n" not in str(exc.value)


def test_any_free_port_is_refused_for_several_workers_each_binding_it() -> None:
    assert gunicorn_options(Settings(http_port=0), 1)["workers"] == 1
    with pytest.raises(ConfigError) as exc:
        gunicorn_options(Settings(http_port=0), 2)
    assert str(exc.value).startswith("BILLING_HTTP_PORT=0")


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The production logging setup (JSON) on a buffer; the root logger and gunicorn's are restored."""
    loggers = [logging.getLogger(name) for name in ("", "gunicorn.error", "gunicorn.access")]
    saved = [(logger, list(logger.handlers), logger.level, logger.propagate) for logger in loggers]
    stream = io.StringIO()
    configure_logging(logging.INFO, "json", stream)
    yield stream
    for logger, handlers, level, propagate in saved:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def test_gunicorn_logs_json_lines_through_the_service_handler_and_no_access_log(log_stream: io.StringIO) -> None:
    config = gunicorn_config(gunicorn_options(Settings(), 1))
    logger = load_class(config.logger_class)(config)
    logger.info("Booting worker with pid: %s", 1234)
    logger.error("Worker (pid:%s) was sent SIGKILL! Perhaps out of memory?", 1234)
    logger.warning("connecting to mysql://billing:hunter2@db/billing")
    assert not logging.getLogger("gunicorn.error").handlers and not logging.getLogger("gunicorn.access").handlers
    assert not logger.access_log_enabled
    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    assert [(line["logger"], line["level"], line["message"]) for line in lines] == [
        ("gunicorn.error", "INFO", "Booting worker with pid: 1234"),
        ("gunicorn.error", "ERROR", "Worker (pid:1234) was sent SIGKILL! Perhaps out of memory?"),
        ("gunicorn.error", "WARNING", "connecting to mysql://billing:[redacted]@db/billing"),
    ]


# --------------------------------------------------------------------------- graceful shutdown

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def status(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        return response.status


async def test_the_port_accepts_during_the_drain_with_readyz_503_then_closes(fake_container: Container) -> None:
    runner = GracefulRunner(create_app(fake_container), drain_seconds=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    connector = aiohttp.TCPConnector(force_close=True)  # each request on a new connection
    async with aiohttp.ClientSession(connector=connector) as session:
        assert await status(session, f"{base}/readyz") == 200
        started = time.monotonic()
        cleanup = asyncio.ensure_future(runner.cleanup())
        await asyncio.sleep(0.1)
        assert runner.app[SHUTTING_DOWN].is_set()
        assert await status(session, f"{base}/readyz") == 503  # the load balancer takes this one out
        assert await status(session, f"{base}/healthz") == 200  # and what it still sends is served
        await cleanup
        assert time.monotonic() - started >= 0.5
        with pytest.raises(aiohttp.ClientConnectionError):
            await status(session, f"{base}/healthz")


async def test_a_request_in_progress_finishes_after_the_port_closed(fake_container: Container) -> None:
    app = create_app(fake_container)
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    app.router.add_get("/slow", slow)
    runner = GracefulRunner(app, drain_seconds=0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession() as session:
        request = asyncio.ensure_future(session.get(f"http://127.0.0.1:{port}/slow"))
        await asyncio.sleep(0.1)
        cleanup = asyncio.ensure_future(runner.cleanup())
        await asyncio.sleep(0.2)
        assert not cleanup.done()  # waiting for /slow, with the port closed
        with pytest.raises(aiohttp.ClientConnectionError):
            await status(session, f"http://127.0.0.1:{port}/healthz")
        release.set()
        async with await request as response:
            assert response.status == 200 and await response.text() == "done"
        await cleanup
