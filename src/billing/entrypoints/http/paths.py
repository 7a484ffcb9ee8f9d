from __future__ import annotations

from uuid import UUID

from aiohttp import web

from billing.domain.model import NotFound


def path_uuid(request: web.Request, name: str) -> UUID:
    """A UUID path parameter; anything else names no resource, so it is a 404."""
    try:
        return UUID(request.match_info[name])
    except ValueError:
        raise NotFound() from None
