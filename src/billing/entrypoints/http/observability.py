"""One middleware for what every request leaves behind: a request id, a counter and a timer
tagged by route pattern, method and status class, and one access-log line.

It is the outermost middleware, so it sees the final status (after problem_middleware mapped
errors) and the request id is bound while every inner middleware and handler logs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from billing.entrypoints.http.keys import METRICS
from billing.entrypoints.logging_setup import log_context
from billing.ports.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS

REQUEST_ID_HEADER = "X-Request-Id"
# An incoming id is kept only when it is short and plain; anything else is replaced, not refused.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED = "unmatched"  # the route tag of a request no route matched (404, 405): never its raw path
access_log = logging.getLogger("billing.access")


def request_id_of(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _VALID_REQUEST_ID.fullmatch(given) else str(uuid.uuid4())


def route_of(request: web.Request) -> str:
    """The route's pattern ("/v1/bill/{id}"), never the path the client sent."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def status_class(status: int) -> str:
    return f"{status // 100}xx"


@web.middleware
async def observability_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request_id_of(request)
    started = time.perf_counter()
    status = 500
    with log_context(request_id=request_id):
        try:
            response = await handler(request)
            status = response.status
            if not response.prepared:  # a streamed response has sent its headers already
                response.headers[REQUEST_ID_HEADER] = request_id
            return response
        except web.HTTPException as exc:  # redirects and the like pass problem_middleware as raised
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away before the answer
            raise
        finally:
            duration_ms = (time.perf_counter() - started) * 1000.0
            route = route_of(request)
            tags = {"route": route, "method": request.method, "status_class": status_class(status)}
            metrics = request.app[METRICS]
            metrics.increment(HTTP_REQUESTS, tags=tags)
            metrics.timing(HTTP_REQUEST_DURATION, duration_ms, tags=tags)
            # The path (ids are useful when debugging) but never the query string or headers.
            access_log.info(
                "%s %s %d %.1fms", request.method, request.path, status, duration_ms,
                extra={"route": route, "method": request.method, "path": request.path, "status": status,
                       "duration_ms": round(duration_ms, 3)},
            )
