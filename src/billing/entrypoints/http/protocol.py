"""The server's per-connection HTTP handler: aiohttp's, with our answer to what it cannot parse.

aiohttp answers a request its parser refuses (a NUL byte in a header, a request line over 8190
bytes, an unknown method) before any application code runs, from `RequestHandler.handle_error`:
a text/plain body that repeats the offending input, and an ERROR log line with a traceback. No
middleware or signal sees that request (aiohttp issue #3287), so the hook is the handler class the
server builds for each connection: `BillingAppRunner` is an `AppRunner` whose server builds a
`ProblemRequestHandler`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from billing.entrypoints.http.observability import REQUEST_ID_HEADER, new_request_id
from billing.entrypoints.http.problems import problem

log = logging.getLogger("billing.http")
MALFORMED_DETAIL = "The request is not valid HTTP/1.1; it was not processed."


class ProblemRequestHandler(RequestHandler):
    """Answers a request the parser refused with 400 problem+json that does not repeat the input,
    and logs it at INFO without a traceback (it is the client's mistake, or a scanner's)."""

    __slots__ = ()

    def handle_error(self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # an answer is on its way already: the connection is broken
            return super().handle_error(request, status, exc, message)
        request_id = new_request_id()
        if isinstance(exc, HttpProcessingError):
            log.info("malformed request answered %d: %s", status, type(exc).__name__,
                     extra={"request_id": request_id, "status": status, "remote": request.remote or ""})
            detail = MALFORMED_DETAIL
        else:  # an error that escaped the middlewares: a bug
            log.error("unhandled error answered %d", status, exc_info=exc,
                      extra={"request_id": request_id, "status": status})
            detail = "Internal error; it has been logged." if status >= 500 else "The request failed."
        response = problem(status, detail, headers={**self._manager_headers(), REQUEST_ID_HEADER: request_id})
        response.force_close()
        return response

    def _manager_headers(self) -> Mapping[str, str]:
        server = self._manager
        return server.headers if isinstance(server, BillingServer) else {}


class BillingServer(web.Server):
    """aiohttp's low-level server, building a ProblemRequestHandler for each connection. `headers`
    go on the answers that handler writes itself (no on_response_prepare signal reaches them)."""

    def __init__(self, *args: object, headers: Mapping[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.headers = dict(headers)

    @classmethod
    def like(cls, server: web.Server, headers: Mapping[str, str]) -> BillingServer:
        """A server configured as `server` (the application's handler, request factory and options)."""
        return cls(server.request_handler, request_factory=server.request_factory,
                   handler_cancellation=server.handler_cancellation, loop=server._loop, headers=headers,
                   **server._kwargs)

    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class BillingAppRunner(web.AppRunner):
    """`web.AppRunner` whose server answers unparseable requests with problem+json."""

    __slots__ = ("_headers",)

    def __init__(self, app: web.Application, *, headers: Mapping[str, str], **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]
        self._headers = dict(headers)

    async def _make_server(self) -> web.Server:
        return BillingServer.like(await super()._make_server(), self._headers)
