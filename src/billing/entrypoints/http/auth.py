"""HTTP Basic authentication in front of the handlers that need a caller."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import BasicAuth, hdrs, web

from billing.domain.model import AuthenticationFailed, User
from billing.domain.use_cases.authenticate import Credentials
from billing.entrypoints.http.keys import CONTAINER, SETTINGS

AuthenticatedHandler = Callable[[web.Request, User], Awaitable[web.StreamResponse]]


def client_address(request: web.Request) -> str:
    """The caller's address: the peer, or with BILLING_FORWARDED_HOPS = N trusted proxies in front
    (each appending the address it saw to X-Forwarded-For), the N-th entry from the right. Entries
    further left were written by the client and prove nothing."""
    hops = request.app[SETTINGS].forwarded_hops
    if hops:
        forwarded = [a.strip() for a in ",".join(request.headers.getall(hdrs.X_FORWARDED_FOR, [])).split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote or ""


def authenticated(handler: AuthenticatedHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Resolve the caller from the Authorization header, then call `handler(request, user)`.
    Failed sign-ins are throttled per account and per client address (429 with Retry-After)."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        header = request.headers.get(hdrs.AUTHORIZATION)
        if not header:
            raise AuthenticationFailed()
        container = request.app[CONTAINER]
        throttle, now, address = container.login_throttle(), container.clock().now(), client_address(request)
        try:
            credentials = BasicAuth.decode(header, encoding="utf-8")
        except ValueError:
            throttle.check("", address, now)
            throttle.failed("", address, now)
            raise AuthenticationFailed() from None
        throttle.check(credentials.login, address, now)  # TooManyAttempts: refused unchecked
        use_case = container.authenticate()
        try:
            user = await use_case.execute(Credentials(email_address=credentials.login, password=credentials.password))
        except AuthenticationFailed:
            throttle.failed(credentials.login, address, container.clock().now())
            raise
        throttle.succeeded(credentials.login)
        return await handler(request, user)

    return wrapper
