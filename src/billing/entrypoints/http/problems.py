"""Errors as RFC 9457 problem+json, mapped from domain errors in this one place."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from billing.domain.model import (
    AuthenticationFailed,
    Conflict,
    FileTooLarge,
    NotFound,
    ServiceBusy,
    ServiceUnavailable,
    UnsupportedFileType,
    ValidationFailed,
)
from billing.domain.model.throttle import TooManyAttempts
from billing.entrypoints.http.body import BodyTimeout
from billing.entrypoints.http.wire import json_response

PROBLEM = "application/problem+json"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="billing"'}
log = logging.getLogger("billing.http")


def problem(status: int, detail: str, *, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return json_response(body, status=status, headers=headers, content_type=PROBLEM)


_PASSED_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ValidationFailed as exc:
        return problem(400, exc.detail, errors=[{"field": e.field, "message": e.message} for e in exc.errors])
    except AuthenticationFailed:
        return problem(401, "Valid HTTP Basic credentials are required.", headers=CHALLENGE)
    except NotFound:
        return problem(404, "The resource does not exist.")
    except FileTooLarge as exc:
        return problem(413, f"The file exceeds the limit of {exc.limit} bytes; nothing was stored.")
    except UnsupportedFileType:
        return problem(415, "Only PDF, PNG and JPEG files are accepted (judged by their content).")
    except TooManyAttempts as exc:
        # The same answer whichever counter refused, for known and unknown accounts alike.
        return problem(429, f"Too many attempts from this client lately; retry after {exc.retry_after} s.",
                       headers={"Retry-After": str(exc.retry_after)})
    except BodyTimeout as exc:
        # The rest of the body may never come: answer, and close the connection rather than wait for it.
        log.info("request body stalled: %s", exc)
        response = problem(408, f"No part of the request body arrived for {exc.seconds:g} s; nothing was stored.")
        response.force_close()
        return response
    except Conflict as exc:
        return problem(409, str(exc) or "The request conflicts with the resource's state.")
    except ServiceBusy as exc:
        # Overload, not an outage: one line without a traceback (there may be many of them).
        log.warning("busy: %s", exc)
        return problem(503, "The service is busy; retry shortly.", headers={"Retry-After": "1"})
    except ServiceUnavailable as exc:
        log.warning("dependency unavailable: %s", exc, exc_info=exc.__cause__)
        return problem(503, "A dependency is unavailable; retry shortly.", headers={"Retry-After": "2"})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: exc.headers[k] for k in _PASSED_HEADERS if k in exc.headers}
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return problem(exc.status, detail, headers=headers)
    except ConnectionResetError:
        # The client went away mid-request (while its body was being read): not our error, and
        # the answer will most likely never arrive.
        log.info("client disconnected during %s %s", request.method, request.rel_url.path)
        return problem(400, "The request was not received completely.")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.rel_url.path)
        return problem(500, "Internal error; it has been logged.")
