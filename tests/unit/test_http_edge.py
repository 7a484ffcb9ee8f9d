"""The HTTP edge against hostile clients, over the fakes: stalled bodies, unparseable requests,
and what private answers tell caches."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing.config import ConfigError, Settings
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.headers import security_header_values
from billing.entrypoints.http.ops import openapi_document
from billing.entrypoints.http.protocol import BillingAppRunner
from tests.conftest import container_with_fakes
from tests.fakes import FakeFileStore
from tests.unit.conftest import AUTH, USER
from tests.unit.openapi_walk import operations, resolve
from tests.unit.test_http_api import BILL, problem_of

PDF = b"%PDF-1.7\n" + b"x" * 200_000
DEADLINE = 0.3  # BILLING_BODY_TIMEOUT_SECONDS in these tests
HTTP_DIR = Path(__file__).resolve().parents[2] / "src" / "billing" / "entrypoints" / "http"


@pytest.fixture
def store() -> FakeFileStore:
    return FakeFileStore()


@pytest.fixture
async def impatient(aiohttp_client, tables, clock, hasher, store) -> TestClient:  # type: ignore[no-untyped-def]
    """A client of an app whose body deadline is DEADLINE, with a user and a bill."""
    settings = Settings(public_base_url="https://billing.test", body_timeout_seconds=DEADLINE)
    client = await aiohttp_client(create_app(container_with_fakes(settings, tables, clock, hasher, file_store=store)))
    assert (await client.post("/v1/user", json=USER)).status == 201
    client.bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()  # type: ignore[attr-defined]
    return client


async def sent_then_stalled(*pieces: bytes, stall: float = 30.0) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece
    await asyncio.sleep(stall)  # the client stops sending: the server must not wait this long
    yield b"}"


async def trickled(data: bytes, pieces: int, gap: float) -> AsyncIterator[bytes]:
    size = -(-len(data) // pieces)
    for start in range(0, len(data), size):
        yield data[start:start + size]
        await asyncio.sleep(gap)


def multipart_head(boundary: str = "edge-boundary") -> tuple[bytes, dict[str, str]]:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode()
    return head, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def multipart_tail(boundary: str = "edge-boundary") -> bytes:
    return f"\r\n--{boundary}--\r\n".encode()


# --- request bodies with a deadline ------------------------------------------------------------

async def test_stalled_json_body_is_408_and_stores_nothing_when_the_client_stops_sending(impatient, tables) -> None:
    bills_before = dict(tables.bills)
    started = time.monotonic()
    response = await impatient.post("/v1/bill", data=sent_then_stalled(b'{"vendor": "Northw'),
                                    headers=AUTH | {"Content-Type": "application/json"})
    elapsed = time.monotonic() - started
    body = await problem_of(response, 408)
    assert "nothing was stored" in body["detail"]
    assert response.headers["Connection"] == "close"
    assert DEADLINE <= elapsed < DEADLINE + 2
    assert tables.bills == bills_before


async def test_stalled_json_body_with_an_idempotency_key_is_408_and_the_key_stays_usable(impatient, tables) -> None:
    headers = AUTH | {"Content-Type": "application/json", "Idempotency-Key": "stall-1"}
    await problem_of(await impatient.post("/v1/bill", data=sent_then_stalled(b'{"ven'), headers=headers), 408)
    retry = await impatient.post("/v1/bill", json=BILL, headers=headers)
    assert retry.status == 201 and "Idempotent-Replayed" not in retry.headers


async def test_stalled_upload_is_408_and_stores_nothing_when_the_client_stops_sending(impatient, store, tables) -> None:
    head, headers = multipart_head()
    bill_id = impatient.bill["id"]
    started = time.monotonic()
    response = await impatient.post(f"/v1/bill/{bill_id}/file", data=sent_then_stalled(head, PDF[:100_000]),
                                    headers=AUTH | headers)
    elapsed = time.monotonic() - started
    await problem_of(response, 408)
    assert DEADLINE <= elapsed < DEADLINE + 2
    assert store.objects == {}
    assert all(bill.attachment is None for bill in tables.bills.values())


async def test_stalled_multipart_headers_are_408(impatient, store) -> None:
    _, headers = multipart_head()
    response = await impatient.post(f"/v1/bill/{impatient.bill['id']}/file",
                                    data=sent_then_stalled(b"--edge-boundary\r\nContent-Dispo"), headers=AUTH | headers)
    await problem_of(response, 408)
    assert store.objects == {}


async def test_slow_upload_is_accepted_when_every_gap_is_below_the_deadline(impatient, store) -> None:
    head, headers = multipart_head()
    started = time.monotonic()
    response = await impatient.post(f"/v1/bill/{impatient.bill['id']}/file",
                                    data=trickled(head + PDF + multipart_tail(), pieces=12, gap=DEADLINE / 3),
                                    headers=AUTH | headers)
    assert response.status == 201, await response.text()
    assert time.monotonic() - started > 3 * DEADLINE  # longer in all than the deadline: it is per gap
    assert [data for data, _ in store.objects.values()] == [PDF]


async def test_slow_json_body_is_accepted_when_every_gap_is_below_the_deadline(impatient) -> None:
    import json
    raw = json.dumps(BILL).encode()
    response = await impatient.post("/v1/bill", data=trickled(raw, pieces=6, gap=DEADLINE / 3),
                                    headers=AUTH | {"Content-Type": "application/json"})
    assert response.status == 201, await response.text()


def test_body_timeout_setting_is_positive_and_at_most_30_s_by_default() -> None:
    assert 0 < Settings().body_timeout_seconds <= 30
    assert Settings.from_env({"BILLING_BODY_TIMEOUT_SECONDS": "2.5"}).body_timeout_seconds == 2.5
    for bad in ("0", "-1", "abc", "99999"):
        with pytest.raises(ConfigError, match="BILLING_BODY_TIMEOUT_SECONDS"):
            Settings.from_env({"BILLING_BODY_TIMEOUT_SECONDS": bad})


def test_handlers_read_bodies_only_through_the_deadline_module() -> None:
    # A read that bypasses entrypoints/http/body.py would wait for a stalled client forever.
    direct_read = re.compile(r"\.(read|readany|readline|readexactly|read_chunk|release|post|json|text)\(\)|"
                             r"\.read_chunk\(|\bawait\s+\w+\.next\(|request\.content\b")
    offenders = [f"{path.name}:{number}: {line.strip()}"
                 for path in sorted(HTTP_DIR.glob("*.py")) if path.name != "body.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if direct_read.search(line)]
    assert offenders == []


# --- malformed HTTP ----------------------------------------------------------------------------

@pytest.fixture
async def real_server(fake_container) -> AsyncIterator[int]:
    """The app behind the server's own runner, on a TCP port (no test client in between)."""
    app = create_app(fake_container)
    runner = BillingAppRunner(app, headers=security_header_values(fake_container.settings()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site.port
    finally:
        await runner.cleanup()


async def exchange(port: int, raw: bytes) -> bytes:
    """Send `raw` on a fresh connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read(-1)
    finally:
        writer.close()


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


MALFORMED = {
    "nul in a header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Evil: ab\x00secret-in-header\r\n\r\n",
    "line too long": b"GET /" + b"secret-in-path" * 700 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad method": b"G\x01T /secret-in-path HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad content length": b"POST /v1/bill HTTP/1.1\r\nHost: x\r\nContent-Length: secret-in-header\r\n\r\n",
    "control character in the path": b"GET /secret-in-path\x7f\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    "header without a colon": b"GET / HTTP/1.1\r\nHost: x\r\nsecret-in-header\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_request_is_400_problem_json_without_echo_when_the_parser_refuses_it(
        real_server, raw, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    status, headers, body = parse(await exchange(real_server, raw))
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert headers["server"] == "billing" and headers["x-content-type-options"] == "nosniff"
    assert headers["x-request-id"]  # and the server closed the connection: exchange() read to its end
    assert b"secret-in" not in body and b"\x00" not in body
    assert body.startswith(b'{"type":"about:blank","title":"Bad Request","status":400')
    logged = [r for r in caplog.records if r.name.startswith(("billing", "aiohttp"))]
    assert [(r.name, r.levelname) for r in logged] == [("billing.http", "INFO")]
    assert logged[0].exc_info is None and logged[0].exc_text is None
    assert "secret-in" not in logged[0].getMessage()


async def test_error_escaping_the_middlewares_is_500_problem_json_logged_with_its_traceback(caplog) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret-detail")

    app = web.Application()  # none of our middlewares: the error reaches aiohttp's own handler
    app.router.add_get("/broken", broken)
    runner = BillingAppRunner(app, headers={"Server": "billing"}, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        status, headers, body = parse(await exchange(site.port, b"GET /broken HTTP/1.1\r\nHost: x\r\n\r\n"))
    finally:
        await runner.cleanup()
    assert status == 500 and headers["content-type"] == "application/problem+json" and headers["server"] == "billing"
    assert b"secret-detail" not in body
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.name for r in errors] == ["billing.http"] and errors[0].exc_info is not None


async def test_a_good_request_is_still_served_by_the_same_server(real_server) -> None:
    status, headers, body = parse(await exchange(real_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                                             b"Connection: close\r\n\r\n"))
    assert status == 200 and body == b'{"status":"ok"}' and headers["server"] == "billing"


async def test_path_deeper_than_any_route_is_404_without_the_routers_walk(real_server, caplog) -> None:
    caplog.set_level(logging.INFO)

    async def cost(path: str, count: int = 20) -> float:
        started = time.thread_time()  # server and client share this thread; the client's part is small
        for _ in range(count):
            status, headers, _body = parse(await exchange(real_server, f"GET {path} HTTP/1.1\r\nHost: x\r\n"
                                                                      f"Connection: close\r\n\r\n".encode()))
            assert status == 404 and headers["content-type"] == "application/problem+json", path
            assert headers["server"] == "billing" and headers["x-request-id"]
        return (time.thread_time() - started) / count

    short = min([await cost("/v1/nothing-here") for _ in range(3)])
    # aiohttp's router hashes every prefix of the path: quadratic in the slashes without our guard.
    deep = min([await cost("/v1/" + "a/" * 4000) for _ in range(3)])
    assert deep < 5 * short, (short, deep)
    raw = b"GET /v1/" + b"a/" * 4000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, headers, _ = parse(await exchange(real_server, raw))
    assert status == 404 and headers["cache-control"] == "no-store"
    assert [r.levelname for r in caplog.records if r.name == "billing.access"] == ["INFO"] * 121
    assert all(r.exc_info is None for r in caplog.records)


# --- Cache-Control: no-store on private answers ------------------------------------------------

def form(data: bytes) -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("attachment", io.BytesIO(data), filename="a.pdf", content_type="application/pdf")
    return body


async def test_every_private_answer_says_no_store(client) -> None:
    answers = {"register": await client.post("/v1/user", json=USER)}
    answers["register conflict"] = await client.post("/v1/user", json=USER)
    answers["profile"] = await client.get("/v1/user/self", headers=AUTH)
    answers["profile 401"] = await client.get("/v1/user/self")
    answers["profile edit"] = await client.put("/v1/user/self", json={"first_name": "J"}, headers=AUTH)
    answers["profile 400"] = await client.put("/v1/user/self", json={"password": "x"}, headers=AUTH)
    created = await client.post("/v1/bill", json=BILL, headers=AUTH)
    answers["bill create"] = created
    bill = await created.json()
    answers["bill"] = await client.get(f"/v1/bill/{bill['id']}", headers=AUTH)
    answers["bill 401"] = await client.get(f"/v1/bill/{bill['id']}")
    answers["bill 404"] = await client.get("/v1/bill/5f0c1d7e-3a52-4c4e-9d55-0d6f1f2a9b10", headers=AUTH)
    answers["bills"] = await client.get("/v1/bills", headers=AUTH)
    answers["bills page"] = await client.get("/v1/bills?limit=1", headers=AUTH)
    answers["bill edit"] = await client.put(f"/v1/bill/{bill['id']}", json=BILL, headers=AUTH)
    answers["due email"] = await client.get("/v1/bills/due/7", headers=AUTH)
    uploaded = await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF), headers=AUTH)
    answers["upload"] = uploaded
    attachment = await uploaded.json()
    answers["attachment (pre-signed URL)"] = await client.get(f"/v1/bill/{bill['id']}/file/{attachment['id']}",
                                                              headers=AUTH)
    answers["upload 400"] = await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF), headers=AUTH)
    answers["attachment delete"] = await client.delete(f"/v1/bill/{bill['id']}/file/{attachment['id']}",
                                                       headers=AUTH)
    answers["bill delete"] = await client.delete(f"/v1/bill/{bill['id']}", headers=AUTH)
    answers["unknown /v1 path"] = await client.get("/v1/nothing-here", headers=AUTH)
    answers["method not allowed"] = await client.patch("/v1/bills", headers=AUTH)
    assert {name: r.status for name, r in answers.items()} == {
        "register": 201, "register conflict": 400, "profile": 200, "profile 401": 401, "profile edit": 204,
        "profile 400": 400, "bill create": 201, "bill": 200, "bill 401": 401, "bill 404": 404, "bills": 200,
        "bills page": 200, "bill edit": 204, "due email": 202, "upload": 201, "attachment (pre-signed URL)": 200,
        "upload 400": 400, "attachment delete": 204, "bill delete": 204, "unknown /v1 path": 404,
        "method not allowed": 405}
    missing = [name for name, r in answers.items() if r.headers.get("Cache-Control") != "no-store"]
    assert missing == []


async def test_public_answers_do_not_say_no_store(client) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        response = await client.get(path)
        assert response.status == 200 and "Cache-Control" not in response.headers, path


def test_document_says_no_store_on_every_v1_answer_and_408_where_a_body_is_read() -> None:
    document = openapi_document()
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            headers = resolve(document, response).get("headers", {})
            assert ("Cache-Control" in headers) == path.startswith("/v1/"), (method, path, status)
        assert ("408" in operation["responses"]) == ("requestBody" in operation), (method, path)
