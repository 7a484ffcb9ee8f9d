"""/openapi.json is a valid OpenAPI 3.1 document and describes exactly the routes the app serves."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.ops import openapi_document
from tests.unit.openapi_walk import operations, resolve

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
    documented = {(method, path) for path, method, _ in operations(openapi_document())}
    assert served == documented


async def test_served_document_is_the_yaml_source(aiohttp_client, fake_container) -> None:
    client = await aiohttp_client(create_app(fake_container))
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert await response.json() == openapi_document()


def test_every_operation_documents_the_request_id_header() -> None:
    document = openapi_document()
    for path, method, operation in operations(document):
        params = [resolve(document, p)
                  for p in [*document["paths"][path].get("parameters", []), *operation.get("parameters", [])]]
        assert any(p["in"] == "header" and p["name"] == "X-Request-Id" for p in params), (method, path)
        for status, response in operation["responses"].items():
            assert "X-Request-Id" in resolve(document, response).get("headers", {}), (method, path, status)


def test_throttling_is_documented_where_the_server_answers_it() -> None:
    """429 with Retry-After on every operation that signs the caller in, and on registration."""
    document = openapi_document()
    responses = document["components"]["responses"]
    for path, method, operation in operations(document):
        signs_in = operation.get("security", document["security"]) != []
        if signs_in or (method, path) == ("post", "/v1/user"):
            ref = operation["responses"].get("429", {}).get("$ref", "")
            assert ref, f"{method} {path}: no 429"
            assert "Retry-After" in responses[ref.split("/")[-1]]["headers"], f"{method} {path}"
        else:
            assert "429" not in operation["responses"], f"{method} {path}"
