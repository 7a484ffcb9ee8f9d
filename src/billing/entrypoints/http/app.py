"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from billing.container import Container, init_resources, shutdown_resources
from billing.entrypoints.http import attachments, bills, ops, users
from billing.entrypoints.http.headers import cors_middleware, security_headers
from billing.entrypoints.http.idempotency import FINGERPRINTS, Fingerprints
from billing.entrypoints.http.keys import (
    CONTAINER,
    IN_FLIGHT,
    METRICS,
    SETTINGS,
    SHUTTING_DOWN,
    STREAM_TURN,
)
from billing.entrypoints.http.lifecycle import InFlight, in_flight_middleware
from billing.entrypoints.http.observability import observability_middleware
from billing.entrypoints.http.problems import problem_middleware

# JSON bodies are small; anything bigger than this is refused with 413 before it is read.
MAX_JSON_BODY = 64 * 1024


def create_app(container: Container) -> web.Application:
    settings = container.settings()
    # Outermost first: observability sees the status problem_middleware settled on.
    # CORS sits outside the problem middleware so its headers reach error answers too; without
    # BILLING_CORS_ORIGINS it would pass every request through, so it is left out (a layer less).
    cors = [cors_middleware] if settings.cors_origins else []
    app = web.Application(middlewares=[in_flight_middleware, observability_middleware, *cors, problem_middleware],
                          client_max_size=MAX_JSON_BODY)
    app.on_response_prepare.append(security_headers(settings))
    app[CONTAINER] = container
    app[SETTINGS] = settings
    app[METRICS] = container.metrics()
    app[SHUTTING_DOWN] = asyncio.Event()
    app[IN_FLIGHT] = InFlight()  # a plain singleton; its UDP endpoint opens with the resources
    # `billing serve` and `billing local` always pass a secret (cli.py); an app built without one
    # (tests, embedding) gets its own, so its fingerprints are never unkeyed.
    app[FINGERPRINTS] = Fingerprints(settings.idempotency_secret or secrets.token_hex(32))
    app[STREAM_TURN] = asyncio.Semaphore(1)
    app.add_routes(users.routes)
    app.add_routes(bills.routes)
    app.add_routes(attachments.routes)
    app.add_routes(ops.routes)
    ops.add_docs(app)
    app.cleanup_ctx.append(_container_resources)
    return app


async def _container_resources(app: web.Application) -> AsyncIterator[None]:
    """Open the container's resources (engine, clients) at startup; close them at shutdown."""
    container = app[CONTAINER]
    await init_resources(container)
    try:
        yield
    finally:
        await shutdown_resources(container)
