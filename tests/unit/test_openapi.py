"""/openapi.json is a valid OpenAPI 3.1 document and describes exactly the routes the app serves."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.ops import openapi_document

UNDOCUMENTED = re.compile(r"^/docs/")  # Swagger UI's own static files and config


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_document_and_router_agree(fake_container) -> None:
    app = create_app(fake_container)
    served = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in ("HEAD", "*") or UNDOCUMENTED.match(path) or path == "/docs/":
            continue
        served.add((route.method.lower(), path))
    documented = {
        (method, path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }
    assert served == documented


async def test_served_document_is_the_yaml_source(aiohttp_client, fake_container) -> None:
    client = await aiohttp_client(create_app(fake_container))
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert await response.json() == openapi_document()
