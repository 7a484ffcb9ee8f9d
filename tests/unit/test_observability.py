"""Request metrics, request ids and logs of the HTTP layer over fakes; the logging setup itself."""

from __future__ import annotations

import base64
import io
import json
import logging

import pytest
from aiohttp.test_utils import TestClient
from dependency_injector import providers

from billing.adapters.metrics.timing import timed
from billing.config import Settings
from billing.entrypoints.http.app import create_app
from billing.entrypoints.logging_setup import (
    choose_format,
    configure_logging,
    log_context,
    redact,
)
from billing.ports.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from tests.conftest import PASSWORD, basic, container_with_fakes
from tests.fakes import FakeMetrics, Tables

USER = {"first_name": "Jane", "last_name": "Doe", "email_address": "Jane@Example.com", "password": PASSWORD}
BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 120.5,
        "payment_status": "due"}
AUTH = basic("jane@example.com")
ARGON2_HASH = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYg"
BCRYPT_HASH = "$2b$12$KIXQJgV5Rj0mJtqgXq8G4uQ3mQ0sH0qkq3Xn9E0u1xYzR7g9tPZ1u"


@pytest.fixture
def metrics(fake_container) -> FakeMetrics:
    fake = FakeMetrics()
    fake_container.metrics.override(providers.Object(fake))
    return fake


def lines_of(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture
async def client(aiohttp_client, fake_container, metrics) -> TestClient:
    return await aiohttp_client(create_app(fake_container))


# ---------------------------------------------------------------- metrics


async def test_request_counted_and_timed_by_route_pattern_when_served(client, metrics) -> None:
    assert (await client.post("/v1/user", json=USER)).status == 201
    created = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    assert (await client.get(f"/v1/bill/{created['id']}", headers=AUTH)).status == 200
    assert (await client.get("/v1/bill/00000000-0000-4000-8000-000000000000", headers=AUTH)).status == 404

    assert metrics.count(HTTP_REQUESTS, route="/v1/user", method="POST", status_class="2xx") == 1
    assert metrics.count(HTTP_REQUESTS, route="/v1/bill/{id}", method="GET", status_class="2xx") == 1
    assert metrics.count(HTTP_REQUESTS, route="/v1/bill/{id}", method="GET", status_class="4xx") == 1
    timed_tags = metrics.timed(HTTP_REQUEST_DURATION)
    assert len(timed_tags) == 4
    assert all(set(tags) == {"route", "method", "status_class"} for tags in timed_tags)
    assert all(ms >= 0 for name, ms, _ in metrics.timings)
    assert created["id"] not in repr(metrics.counters) + repr(metrics.timings)


async def test_unknown_path_is_tagged_unmatched_when_no_route(client, metrics) -> None:
    assert (await client.get("/v1/nothing/jane@example.com")).status == 404
    assert (await client.delete("/v1/bills")).status == 405
    assert metrics.count(HTTP_REQUESTS, route="unmatched", status_class="4xx") == 2
    assert "jane@example.com" not in repr(metrics.counters)


async def test_failure_counted_as_5xx_when_handler_breaks(client, metrics, tables: Tables) -> None:
    tables.error = RuntimeError("boom")
    response = await client.post("/v1/user", json=USER)
    assert response.status == 500
    assert metrics.count(HTTP_REQUESTS, route="/v1/user", method="POST", status_class="5xx") == 1


async def test_unavailable_database_counted_as_5xx_when_down(client, metrics, tables: Tables) -> None:
    tables.down = True
    assert (await client.get("/v1/user/self", headers=AUTH)).status == 503
    assert metrics.count(HTTP_REQUESTS, route="/v1/user/self", status_class="5xx") == 1


def test_timed_records_outcome_when_block_succeeds_or_raises() -> None:
    metrics = FakeMetrics()
    with timed(metrics, "db.duration", operation="commit"):
        pass
    with pytest.raises(ValueError), timed(metrics, "db.duration", operation="commit"):
        raise ValueError("x")
    assert metrics.timed("db.duration") == [{"operation": "commit", "outcome": "ok"},
                                            {"operation": "commit", "outcome": "error"}]


# ---------------------------------------------------------------- request id


async def test_request_id_generated_and_echoed_when_absent(client) -> None:
    first = (await client.get("/healthz")).headers["X-Request-Id"]
    second = (await client.get("/healthz")).headers["X-Request-Id"]
    assert len(first) == 36 and first != second


async def test_request_id_kept_when_plain(client) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "abc-123_x.y:z"})
    assert response.headers["X-Request-Id"] == "abc-123_x.y:z"


@pytest.mark.parametrize("given", ["x" * 129, "jane@example.com", "a b", "<script>", "é", ""])
async def test_request_id_replaced_when_unsafe(client, given: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": given})
    echoed = response.headers["X-Request-Id"]
    assert echoed != given and len(echoed) == 36


async def test_request_id_echoed_on_errors(client) -> None:
    for response in (await client.get("/v1/user/self", headers={"X-Request-Id": "r-401"}),
                     await client.get("/nowhere", headers={"X-Request-Id": "r-404"})):
        assert response.headers["X-Request-Id"] == f"r-{response.status}"


# ---------------------------------------------------------------- logs


async def test_one_json_access_line_per_request_with_its_fields(client, log_stream) -> None:
    await client.post("/v1/user", json=USER)
    response = await client.get("/v1/bills?limit=5", headers=AUTH | {"X-Request-Id": "req-1"})
    assert response.status == 200
    access = [line for line in lines_of(log_stream) if line["logger"] == "billing.access"]
    assert len(access) == 2
    line = access[1]
    assert {"time", "level", "logger", "message", "request_id", "route", "method", "status",
            "duration_ms"} <= set(line)
    assert line["time"].endswith("Z") and line["level"] == "INFO"
    assert (line["request_id"], line["route"], line["method"], line["status"]) == ("req-1", "/v1/bills", "GET", 200)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["client"] == "127.0.0.1"  # the peer: no proxy is trusted by default
    assert "limit=5" not in json.dumps(line)  # the query string stays out


async def test_the_access_line_names_the_client_behind_trusted_proxies(aiohttp_client, tables, clock, hasher,
                                                                       log_stream) -> None:
    container = container_with_fakes(Settings(forwarded_hops=1), tables, clock, hasher)
    client = await aiohttp_client(create_app(container))
    await client.get("/v1/user/self", headers={"X-Forwarded-For": "192.0.2.7, 203.0.113.9"})
    (line,) = [line for line in lines_of(log_stream) if line["logger"] == "billing.access"]
    assert line["client"] == "203.0.113.9"  # what the proxy appended, not what the client wrote


async def test_lines_logged_during_a_request_carry_its_request_id(client, log_stream, tables: Tables) -> None:
    tables.down = True  # problem_middleware logs a warning inside the request
    await client.get("/v1/user/self", headers=AUTH | {"X-Request-Id": "req-503"})
    lines = lines_of(log_stream)
    warning = next(line for line in lines if line["level"] == "WARNING")
    assert warning["request_id"] == "req-503"
    ours = [line for line in lines if line["logger"].startswith("billing.")]  # not the test server's log
    assert len(ours) == 2 and all(line["request_id"] == "req-503" for line in ours)


async def test_no_secret_in_logs_even_on_errors(client, log_stream, tables: Tables) -> None:
    wrong = basic("jane@example.com", "Wrong999!")
    assert (await client.post("/v1/user", json=USER)).status == 201
    assert (await client.get("/v1/user/self", headers=wrong)).status == 401
    assert (await client.get("/v1/user/self", headers=basic("nobody@example.com"))).status == 401
    bad = USER | {"email_address": "bad@example.com", "password": "short"}
    assert (await client.post("/v1/user", json=bad)).status == 400
    assert (await client.put("/v1/user/self", json={"password": "nodigits"}, headers=AUTH)).status == 400
    # A bug whose exception text carries what a driver error might: an email and a stored hash.
    tables.error = RuntimeError(f"Duplicate entry 'jane@example.com' for key 'email' "
                                f"[password_hash={ARGON2_HASH!r}, legacy={BCRYPT_HASH!r}]")
    assert (await client.get("/v1/user/self", headers=AUTH)).status == 500
    tables.error = None
    tables.down = True
    assert (await client.get("/v1/user/self", headers=AUTH)).status == 503

    output = log_stream.getvalue()
    lines = lines_of(log_stream)
    assert [line["status"] for line in lines if line["logger"] == "billing.access"] == [
        201,
        401,
        401,
        400,
        400,
        500,
        503,
    ]
    assert any("RuntimeError" in line.get("exception", "") for line in lines)  # the 500 was logged, redacted
    secrets = [PASSWORD, "Wrong999!", "short", "nodigits", "fake$", ARGON2_HASH, BCRYPT_HASH, "argon2id", "$2b$",
               *ARGON2_HASH.split("$")[-2:], BCRYPT_HASH[-31:], "m=19456",
               "jane@example.com", "Jane@Example.com", "nobody@example.com", "bad@example.com",
               AUTH["Authorization"], AUTH["Authorization"].split()[1], wrong["Authorization"].split()[1]]
    for secret in secrets:
        assert secret not in output, secret


TOKEN = base64.b64encode(b"jane@example.com:Abcd1234!").decode()


@pytest.mark.parametrize(("text", "secrets"), [
    pytest.param(f"Authorization: Basic {TOKEN} user Jane.Doe+x@Example.co.uk hash {ARGON2_HASH} "
                 f"old {BCRYPT_HASH} url mysql+aiomysql://app:s3cr3t@db:3306/billing "
                 f"{{'password': 'Abcd1234!', \"password_hash\": \"x\"}} password=hunter2&x=1",
                 (TOKEN, "Jane.Doe+x@Example.co.uk", ARGON2_HASH, BCRYPT_HASH, "s3cr3t", "Abcd1234!", "hunter2",
                  *ARGON2_HASH.split("$")[-2:], BCRYPT_HASH[-31:], "m=19456"),
                 id="hashes-and-passwords"),
    # Every kind again after the linear-time rewrite of the patterns (test_log_bounds).
    pytest.param(f"Authorization: Basic {TOKEN} user Jane.Doe+x@Example.co.uk hash {ARGON2_HASH} "
                 f"url mysql+aiomysql://app:s3cr3t@db:3306/billing password=hunter2&x=1 "
                 f"legacy $pbkdf2-sha256$29000$abc$def {{\"api_key\": \"k-123\"}} Bearer abcdefgh.ijk",
                 (TOKEN, "Jane.Doe+x@Example.co.uk", ARGON2_HASH, "s3cr3t", "hunter2", "abc$def", "k-123",
                  "abcdefgh.ijk"),
                 id="pbkdf2-api-keys-and-bearer-tokens"),
])
def test_redact_masks_secrets_in_any_text(text: str, secrets: tuple[str, ...]) -> None:
    redacted = redact(text)
    for secret in secrets:
        assert secret not in redacted, (secret, redacted)
    assert "mysql+aiomysql://app:[redacted]@db:3306/billing" in redacted


def test_redact_leaves_ordinary_text_alone() -> None:
    text = 'GET /v1/bill/{id} 200 3.1ms route=/v1/bills Basic realm="billing" 1a2b-3c'
    assert redact(text) == text


def test_context_fields_reach_json_lines_outside_http(log_stream) -> None:
    with log_context(message_id="m-1"):
        logging.getLogger("billing.worker").info("processed")
    logging.getLogger("billing.worker").info("idle")
    processed, idle = lines_of(log_stream)
    assert processed["message_id"] == "m-1" and "message_id" not in idle


def test_text_format_is_one_readable_line() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    try:
        configure_logging(logging.INFO, "text", stream)
        with log_context(request_id="r-1"):
            logging.getLogger("billing.access").info("GET /v1/bills 200 1.0ms", extra={"route": "/v1/bills"})
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    line = stream.getvalue()
    assert line.count("\n") == 1 and not line.startswith("{")
    assert "INFO" in line and "billing.access: GET /v1/bills 200 1.0ms" in line and "request_id=r-1" in line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("setting", "command", "stream", "expected"), [
    ("auto", "local", _Terminal(), "text"),
    ("auto", "local", io.StringIO(), "json"),
    ("auto", "serve", _Terminal(), "json"),
    ("json", "local", _Terminal(), "json"),
    ("text", "serve", io.StringIO(), "text"),
])
def test_format_is_text_only_for_local_on_a_terminal(setting, command, stream, expected) -> None:
    assert choose_format(setting, command, stream) == expected
