"""One middleware for what every request leaves behind: a request id, a counter and a timer
tagged by route pattern, method and status class, and one access-log line.

It is the outermost middleware, so it sees the final status (after problem_middleware mapped
errors) and the request id is bound while every inner middleware and handler logs.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from billing.entrypoints.http.auth import client_address
from billing.entrypoints.http.keys import ANSWER_HEADERS, METRICS
from billing.entrypoints.logging_setup import bind_log_context, reset_log_context
from billing.ports.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-Id"
# An incoming id is kept only when it is short and plain; anything else is replaced, not refused.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED = "unmatched"  # the route tag of a request no route matched (404, 405): never its raw path
access_log = logging.getLogger("billing.access")
_perf_counter = time.perf_counter


_valid_request_id = _VALID_REQUEST_ID.fullmatch
_getrandbits = random.getrandbits  # reseeded in each forked worker by the random module itself
_V4 = (0x4 << 76) | (0x8 << 60)  # version 4, RFC 4122 variant
_V4_MASK = ~((0xF << 76) | (0xC << 60)) & ((1 << 128) - 1)


def new_request_id() -> str:
    """A random (version 4) UUID in its usual text form. A request id needs uniqueness, not
    unpredictability: the module's PRNG gives it at a third of uuid4()'s cost (no getrandom
    call, no UUID object)."""
    h = "%032x" % (_getrandbits(128) & _V4_MASK | _V4)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def request_id_of(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER)
    return given if given is not None and _valid_request_id(given) else new_request_id()


def route_of(request: web.Request) -> str:
    """The route's pattern ("/v1/bill/{id}"), never the path the client sent."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def status_class(status: int) -> str:
    return f"{status // 100}xx"


# The tags of a (route, method, status) are built once: a dict per request was a visible share of
# a /healthz. Methods come from clients, so the memo is bounded; the dicts are never mutated.
_TAGS: dict[tuple[str, str, int], dict[str, str]] = {}
_TAGS_LIMIT = 4096


def _tags(route: str, method: str, status: int) -> dict[str, str]:
    key = (route, method, status)
    tags = _TAGS.get(key)
    if tags is None:
        tags = {"route": route, "method": method, "status_class": status_class(status)}
        if len(_TAGS) < _TAGS_LIMIT:
            _TAGS[key] = tags
    return tags


@web.middleware
async def observability_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_of(request)
    started = _perf_counter()
    status = 500
    context = bind_log_context(request_id=request_id)
    request[ANSWER_HEADERS] = {REQUEST_ID_HEADER: request_id}  # also on a streamed answer
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects and the like pass problem_middleware as raised
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away before the answer
        raise
    finally:
        duration_ms = (_perf_counter() - started) * 1000.0
        route = route_of(request)
        method = request.method
        tags = _tags(route, method, status)
        metrics = request.app[METRICS]
        metrics.increment(HTTP_REQUESTS, tags=tags)
        metrics.timing(HTTP_REQUEST_DURATION, duration_ms, tags=tags)
        if access_log.isEnabledFor(logging.INFO):  # the record is not even built below INFO
            log_access(request, route, status, duration_ms, client_address(request))
        reset_log_context(context)


def log_access(request: web.BaseRequest, route: str, status: int, duration_ms: float,
               client: str | None = None) -> None:
    """The access line. The path (ids are useful when debugging) once, as a field: the message names
    the route. Never the query string or headers. The log handler's filter bounds its length.
    `client`: the caller's address as throttling sees it (auth.client_address), when known."""
    method = request.method
    extra: dict[str, object] = {"route": route, "method": method, "path": request.path, "status": status,
                                "duration_ms": round(duration_ms, 3)}
    if client is not None:
        extra["client"] = client
    access_log.info("%s %s %d %.1fms", method, route, status, duration_ms, extra=extra)
