"""HTTP Basic authentication in front of the handlers that need a caller."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import BasicAuth, hdrs, web

from billing.domain.model import AuthenticationFailed, NotFound, User, ValidationFailed
from billing.domain.use_cases.authenticate import Credentials
from billing.entrypoints.http.keys import CONTAINER, SETTINGS

T = TypeVar("T")
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
    Sign-ins are throttled (429 with Retry-After) inside the use case."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        container = request.app[CONTAINER]
        user = await signed_in(request, container.authenticate().execute)
        return await handler(request, user)

    return wrapper


async def signed_in(request: web.Request, attempt: Callable[[Credentials], Awaitable[T]]) -> T:
    """`attempt(credentials)` for the Authorization header's credentials: Authenticate, or a use
    case that authenticates the caller as part of its read. It raises AuthenticationFailed when
    they are wrong, TooManyAttempts when the sign-in is throttled (the password unchecked). A
    header that names no credentials at all is a 401 here: no password is checked for it."""
    header = request.headers.get(hdrs.AUTHORIZATION)
    if not header:
        raise AuthenticationFailed()
    try:
        credentials = BasicAuth.decode(header, encoding="utf-8")
    except ValueError:
        raise AuthenticationFailed() from None
    return await attempt(Credentials(email_address=credentials.login, password=credentials.password,
                                     client_address=client_address(request)))


async def caller_input(request: web.Request, parse: Callable[[], T]) -> T:
    """`parse()` of the request's path or query for a handler that authenticates inside its use
    case. When the input is bad, the caller is still signed in first, so a stranger gets 401
    rather than learning from a 400 or 404."""
    try:
        return parse()
    except (ValidationFailed, NotFound):
        await signed_in(request, request.app[CONTAINER].authenticate().execute)
        raise
