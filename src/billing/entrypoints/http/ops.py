"""Operations: liveness, readiness, the OpenAPI document and its Swagger UI."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from swagger_ui.core import ApplicationDocument

from billing.entrypoints.http.keys import CONTAINER, SHUTTING_DOWN
from billing.entrypoints.http.problems import problem
from billing.entrypoints.http.wire import json_response

routes = web.RouteTableDef()
SPEC_FILE = Path(__file__).with_name("openapi.yaml")
SPEC_URL = "/openapi.json"


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document: openapi.yaml is the single source, served as JSON."""
    with SPEC_FILE.open(encoding="utf-8") as f:
        document: dict[str, Any] = yaml.safe_load(f)
    return document


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    if request.app[SHUTTING_DOWN].is_set():  # the load balancer stops sending new requests here
        return problem(503, "The server is shutting down.", headers={"Retry-After": "2"})
    if await request.app[CONTAINER].database_ready():
        return json_response({"status": "ready"})
    return problem(503, "The database does not answer.", headers={"Retry-After": "2"})


@routes.get(SPEC_URL)
async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


class _SwaggerUi(ApplicationDocument):  # type: ignore[misc]  # swagger-ui-py has no type hints
    """Swagger UI that loads, and names in its top bar, the document served at /openapi.json
    (swagger-ui-py would otherwise serve a copy of it at /docs/swagger.json)."""

    @property
    def swagger_json_uri_absolute(self) -> str:
        return SPEC_URL


def add_docs(app: web.Application) -> None:
    """Swagger UI 5 at /docs, from the files of the swagger-ui-py package (no CDN)."""
    # config_rel_url: the document is served elsewhere, so swagger-ui-py adds no route of its own for it.
    docs = _SwaggerUi(app, config_rel_url=SPEC_URL, url_prefix="/docs", title="Billing API")
    docs.match_handler()(docs)
