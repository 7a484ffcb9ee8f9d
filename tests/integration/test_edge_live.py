"""The HTTP edge of a real `billing serve` process: what a hostile client gets, and what it logs."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.live import live_env, start_serve

DEADLINE = 1.0


@pytest.fixture
def serve(tmp_path: Path, aws_endpoint: str) -> Iterator[tuple[int, Path]]:
    env = live_env(tmp_path, aws_endpoint, log_level="INFO", body_timeout_seconds=DEADLINE)
    process = start_serve(tmp_path, env)
    try:
        yield int(env["BILLING_HTTP_PORT"]), tmp_path / "serve.log"
    finally:
        process.terminate()
        process.wait(timeout=30)


def exchange(port: int, raw: bytes) -> tuple[bytes, float]:
    """Send `raw`, then nothing more; return the answer, read until the server closes the
    connection, and how long that took."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks), time.monotonic() - started


def log_lines(log: Path) -> list[dict]:
    time.sleep(0.2)  # the server writes the line after the answer
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_hostile_requests_get_bounded_answers_and_bounded_log_lines(serve) -> None:
    port, log = serve
    answer, _ = exchange(port, b"GET /v1/bills HTTP/1.1\r\nHost: x\r\nX-Evil: a\x00secret-header-value\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 400") and b"Content-Type: application/problem+json" in head
    assert b"secret-header-value" not in answer and json.loads(body)["status"] == 400

    path = "/" + "a+" * 4000
    answer, _ = exchange(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 404")

    answer, elapsed = exchange(port, b"POST /v1/user HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: 100\r\n\r\n{\"first_name\": ")
    assert answer.startswith(b"HTTP/1.1 408") and b"Cache-Control: no-store" in answer
    assert DEADLINE <= elapsed < DEADLINE + 3

    lines = log_lines(log)
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL") or "exception" in line]
    malformed = [line for line in lines if line["message"].startswith("malformed request")]
    assert len(malformed) == 1 and malformed[0]["level"] == "INFO" and "secret" not in json.dumps(malformed[0])
    access = [line for line in lines if line["logger"] == "billing.access" and line["status"] == 404]
    assert len(access) == 1 and access[0]["path"].endswith("chars in all]")
    assert len(json.dumps(access[0])) < 2048 and "a+a+" not in access[0]["message"]
    assert any(line["logger"] == "billing.access" and line["status"] == 408 for line in lines)
