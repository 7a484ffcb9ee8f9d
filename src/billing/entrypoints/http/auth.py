"""HTTP Basic authentication in front of the handlers that need a caller."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import BasicAuth, hdrs, web

from billing.domain.model import AuthenticationFailed, User
from billing.domain.use_cases.authenticate import Credentials
from billing.entrypoints.http.keys import CONTAINER

AuthenticatedHandler = Callable[[web.Request, User], Awaitable[web.StreamResponse]]


def authenticated(handler: AuthenticatedHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Resolve the caller from the Authorization header, then call `handler(request, user)`."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        header = request.headers.get(hdrs.AUTHORIZATION)
        if not header:
            raise AuthenticationFailed()
        try:
            credentials = BasicAuth.decode(header, encoding="utf-8")
        except ValueError:
            raise AuthenticationFailed() from None
        use_case = request.app[CONTAINER].authenticate()
        user = await use_case.execute(Credentials(email_address=credentials.login, password=credentials.password))
        return await handler(request, user)

    return wrapper
