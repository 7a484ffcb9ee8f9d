"""A client that stops sending in the middle of an upload, on real MariaDB/SQLite and moto's S3:
408 (or a closed connection) within the body deadline, no object, no multipart upload, no row."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from billing.container import Container
from billing.entrypoints.http.app import create_app
from tests.integration.conftest import bootstrapped, make_container
from tests.integration.test_attachments_s3 import AUTH, BILL, USER, objects_in, rows_in

DEADLINE = 1.0  # BILLING_BODY_TIMEOUT_SECONDS here
BOUNDARY = "stall-boundary"
HEAD = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"scan.pdf\"\r\n"
        f"Content-Type: application/pdf\r\n\r\n").encode()
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()


@pytest.fixture
async def container(database_url: str, aws_endpoint: str) -> AsyncIterator[Container]:
    async with bootstrapped(make_container(database_url, aws_endpoint, body_timeout_seconds=DEADLINE)) as container:
        yield container


@pytest.fixture
async def session(aiohttp_client, container) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(container))
    assert (await client.post("/v1/user", json=USER)).status == 201
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    return client, bill["id"]


async def multipart_uploads_in(container: Container) -> list[str]:
    s3 = container.aws_clients()["s3"]
    listing = await s3.list_multipart_uploads(Bucket=container.settings().s3_bucket)
    return [upload["Key"] for upload in listing.get("Uploads", [])]


async def send_then_stall(port: int, bill_id: str, sent: bytes, declared: int) -> tuple[bytes, float]:
    """Send the request's headers (a Content-Length of `declared`) and `sent` of the body, then
    nothing more; return what the server answered (until it closed) and when."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = (f"POST /v1/bill/{bill_id}/file HTTP/1.1\r\nHost: billing.test\r\n"
                f"Authorization: {AUTH['Authorization']}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {declared}\r\n\r\n")
        writer.write(head.encode() + sent)
        await writer.drain()
        started = time.monotonic()
        async with asyncio.timeout(DEADLINE + 20):
            answer = await reader.read(-1)  # until the server closes the connection
        return answer, time.monotonic() - started
    finally:
        writer.close()


@pytest.mark.parametrize("sent_mib", [0.2, 6], ids=["single-part", "multipart-started"])
async def test_stalled_upload_is_cut_off_and_leaves_nothing_when_the_client_stops_sending(
        session, container, sent_mib: float) -> None:
    client, bill_id = session
    data = b"%PDF-1.7\n" + os.urandom(int(sent_mib * 1024 * 1024))  # 6 MiB: S3 has a multipart upload open
    answer, elapsed = await send_then_stall(client.port, bill_id, HEAD + data, declared=len(HEAD) + len(data) + 10**6)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:200]
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"Content-Type: application/problem+json" in headers and json.loads(body)["status"] == 408
    assert DEADLINE <= elapsed < DEADLINE + 3  # the 408, then the connection closed, at the deadline
    assert await objects_in(container) == []
    assert await multipart_uploads_in(container) == []
    assert await rows_in(container) == 0
    listed = await (await client.get(f"/v1/bill/{bill_id}", headers=AUTH)).json()
    assert listed["attachment"] == {}


async def test_slow_large_upload_succeeds_when_it_keeps_sending(session, container) -> None:
    client, bill_id = session
    data = b"%PDF-1.7\n" + os.urandom(6 * 1024 * 1024)  # two S3 parts

    async def trickle() -> AsyncIterator[bytes]:
        whole = HEAD + data + TAIL
        step = len(whole) // 8 + 1
        for start in range(0, len(whole), step):
            yield whole[start:start + step]
            await asyncio.sleep(DEADLINE / 2)  # each gap within the deadline; the whole well beyond it

    started = time.monotonic()
    response = await client.post(f"/v1/bill/{bill_id}/file", data=trickle(),
                                 headers=AUTH | {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status == 201, await response.text()
    assert time.monotonic() - started > 3 * DEADLINE
    assert (await response.json())["size"] == len(data)
    assert len(await objects_in(container)) == 1 and await rows_in(container) == 1
