"""The server below the application: what aiohttp does with a request before any middleware runs.

Two things happen there that a hostile client controls and no middleware or signal can change
(aiohttp issue #3287):

- A request the parser refuses (a NUL byte in a header, a request line over 8190 bytes, an unknown
  method) is answered from `RequestHandler.handle_error`: a text/plain body that repeats the
  offending input, and an ERROR log line with a traceback.
- The router tries every prefix of the path, longest first, as a dict key (hashing each): a path
  of thousands of "/" costs time quadratic in its length (about 10 ms for 8 KB of them).

So the server runs `BillingAppRunner`, an `AppRunner` whose server builds a `ProblemRequestHandler`
for each connection and sends a path deeper than any route straight to 404.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from billing.entrypoints.http.headers import NO_STORE, PRIVATE_PREFIX
from billing.entrypoints.http.observability import REQUEST_ID_HEADER, UNMATCHED, log_access, new_request_id
from billing.entrypoints.http.problems import problem
from billing.entrypoints.logging_setup import bind_log_context, reset_log_context

log = logging.getLogger("billing.http")
MALFORMED_DETAIL = "The request is not valid HTTP/1.1; it was not processed."
# No route (the API's, the docs' static files) has more than a handful of segments.
MAX_PATH_SLASHES = 32
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class ProblemRequestHandler(RequestHandler):
    """Answers a request the parser refused with 400 problem+json that does not repeat the input,
    and logs it at INFO without a traceback (it is the client's mistake, or a scanner's)."""

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        server = self._manager
        if request.writer.output_size > 0 or not isinstance(server, BillingServer):
            return super().handle_error(request, status, exc, message)  # an answer is on its way already
        request_id = new_request_id()
        if isinstance(exc, HttpProcessingError):
            log.info("malformed request answered %d: %s", status, type(exc).__name__,
                     extra={"request_id": request_id, "status": status, "remote": request.remote or ""})
            detail = MALFORMED_DETAIL
        else:  # an error that escaped the middlewares: a bug
            log.error("unhandled error answered %d", status, exc_info=exc,
                      extra={"request_id": request_id, "status": status})
            detail = "Internal error; it has been logged." if status >= 500 else "The request failed."
        response = problem(status, detail, headers={**server.headers, REQUEST_ID_HEADER: request_id})
        response.force_close()
        return response


class BillingServer(web.Server):
    """aiohttp's low-level server, building a ProblemRequestHandler for each connection and keeping
    over-deep paths from the router. `headers` (the security headers) go on the answers given here,
    which no on_response_prepare signal reaches."""

    def __init__(self, handler: Handler, *, headers: Mapping[str, str], **kwargs: object) -> None:
        self.headers = dict(headers)
        application = handler

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            if request.rel_url.raw_path.count("/") > MAX_PATH_SLASHES:
                return self._not_found(request)
            return await application(request)

        super().__init__(handle, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def like(cls, server: web.Server, headers: Mapping[str, str]) -> BillingServer:
        """A server configured as `server` (the application's handler, request factory and options)."""
        return cls(server.request_handler, request_factory=server.request_factory,
                   handler_cancellation=server.handler_cancellation, loop=server._loop, headers=headers,
                   **server._kwargs)

    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)

    def _not_found(self, request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = new_request_id()
        headers = {**self.headers, REQUEST_ID_HEADER: request_id}
        if request.path.startswith(PRIVATE_PREFIX):
            headers[hdrs.CACHE_CONTROL] = NO_STORE
        response = problem(404, "The resource does not exist.", headers=headers)
        context = bind_log_context(request_id=request_id)
        log_access(request, UNMATCHED, 404, (time.perf_counter() - started) * 1000.0)
        reset_log_context(context)
        return response


class BillingAppRunner(web.AppRunner):
    """`web.AppRunner` whose server is a BillingServer."""

    __slots__ = ("_headers",)

    def __init__(self, app: web.Application, *, headers: Mapping[str, str], **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]
        self._headers = dict(headers)

    async def _make_server(self) -> web.Server:
        return BillingServer.like(await super()._make_server(), self._headers)
