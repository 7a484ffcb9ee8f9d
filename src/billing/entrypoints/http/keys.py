"""Everything stored on the application, under typed keys."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

from billing.config import Settings
from billing.container import Container
from billing.ports.metrics import Metrics

if TYPE_CHECKING:  # lifecycle imports this module
    from billing.entrypoints.http.lifecycle import InFlight

CONTAINER = web.AppKey("container", Container)
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
SHUTTING_DOWN = web.AppKey("shutting_down", asyncio.Event)  # set on SIGTERM: /readyz turns 503
IN_FLIGHT: web.AppKey[InFlight] = web.AppKey("in_flight")  # the requests in progress
# One page of a streamed answer is produced (read and encoded) at a time per process: see wire.py.
STREAM_TURN = web.AppKey("stream_turn", asyncio.Semaphore)
# Headers a middleware wants on the answer, added when it is prepared (headers.answer_headers):
# a streamed answer sends its headers before the middlewares see it returned.
ANSWER_HEADERS = web.RequestKey("answer_headers", dict[str, str])
