"""Response headers every answer gets (security; no-store on private answers), and CORS when configured."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web, web_response
from aiohttp.typedefs import Handler

from billing.config import Settings
from billing.entrypoints.http.keys import ANSWER_HEADERS, SETTINGS

SERVER = "billing"  # no product version to look up vulnerabilities by
HSTS = "max-age=31536000; includeSubDomains"
CORS_METHODS = "GET, POST, PUT, DELETE"
CORS_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
CORS_EXPOSED_HEADERS = "Location, Link, Retry-After, X-Request-Id, Idempotent-Replayed, WWW-Authenticate"
CORS_MAX_AGE = "600"

# Answers aiohttp writes before any application code runs (a malformed request line, say) take
# their Server header from this module global; the signal below covers every other answer.
# aiohttp has no public setting for it: a module attribute it does not re-export.
web_response.SERVER_SOFTWARE = SERVER  # type: ignore[attr-defined]


# Every /v1 answer is somebody's data (bills, profiles, pre-signed download URLs) or an error about
# it: no browser, proxy or CDN may keep a copy.
PRIVATE_PREFIX = "/v1/"
NO_STORE = "no-store"


def security_header_values(settings: Settings) -> dict[str, str]:
    """The security headers every answer carries, including those aiohttp writes itself."""
    headers = {hdrs.SERVER: SERVER, "X-Content-Type-Options": "nosniff"}
    if settings.base_url.startswith("https://"):
        headers[hdrs.STRICT_TRANSPORT_SECURITY] = HSTS
    return headers


def security_headers(settings: Settings) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An on_response_prepare handler, so it also reaches answers no middleware sees (static files,
    Swagger UI, streamed downloads). The headers are worked out once, not per response: the
    public set, and the private set (`Cache-Control: no-store` as well) for every /v1 answer. It
    adds the middlewares' ANSWER_HEADERS too: a streamed answer is prepared before they see it."""
    public = security_header_values(settings)
    private = {**public, hdrs.CACHE_CONTROL: NO_STORE}

    async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(private if request.path.startswith(PRIVATE_PREFIX) else public)
        answer = request.get(ANSWER_HEADERS)
        if answer is not None:
            response.headers.update(answer)

    return add_security_headers


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Off unless BILLING_CORS_ORIGINS lists origins: then those (and only those) may call the API
    from a browser, with credentials in the Authorization header. Preflights are answered here."""
    origins = request.app[SETTINGS].cors_origins
    origin = request.headers.get(hdrs.ORIGIN)
    if not origins or origin is None or origin.rstrip("/") not in origins:
        return await handler(request)
    # Added when the answer is prepared (security_headers), so a streamed answer has them too.
    answer = request.setdefault(ANSWER_HEADERS, {})
    answer |= {hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin, hdrs.VARY: "Origin"}
    if request.method == hdrs.METH_OPTIONS and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
        return web.Response(status=204, headers={
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: CORS_METHODS,
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: CORS_REQUEST_HEADERS,
            hdrs.ACCESS_CONTROL_MAX_AGE: CORS_MAX_AGE,
        })
    answer[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = CORS_EXPOSED_HEADERS
    return await handler(request)
