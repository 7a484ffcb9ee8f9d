"""SIGTERM to a real `billing serve` (gunicorn's master, which passes it to its worker) while slow
requests are in progress."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import PASSWORD
from tests.integration.live import live_env, start_serve

SLOW_REQUESTS = 5


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_sigterm_turns_readyz_503_and_lets_slow_requests_finish(tmp_path: Path, aws_endpoint: str) -> None:
    env = live_env(tmp_path, aws_endpoint, shutdown_drain_seconds=1)
    process = start_serve(tmp_path, env)
    port = int(env["BILLING_HTTP_PORT"])
    base = f"http://127.0.0.1:{port}"
    assert status_of(f"{base}/readyz") == 200
    bodies, sockets = [], []
    try:
        for i in range(SLOW_REQUESTS):  # each sends its headers and the first bytes of its body, then waits
            body = json.dumps({"first_name": "Slow", "last_name": "Client", "password": PASSWORD,
                               "email_address": f"slow{i}@example.com"}).encode()
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            conn.sendall(f"POST /v1/user HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body[:5])
            bodies.append(body)
            sockets.append(conn)
        time.sleep(0.3)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        assert status_of(f"{base}/readyz") == 503  # at once: the load balancer stops sending here
        assert time.monotonic() - started < 1
        for step in range(5, 30, 5):  # the clients go on, slowly, for about 3 s more
            time.sleep(0.5)
            for conn, body in zip(sockets, bodies, strict=True):
                conn.sendall(body[step:step + 5])
        for conn, body in zip(sockets, bodies, strict=True):
            conn.sendall(body[30:])
        answers = []
        for conn in sockets:
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            answers.append(data.split(b"\r\n", 1)[0])
        assert answers == [b"HTTP/1.1 201 Created"] * SLOW_REQUESTS
        assert process.wait(timeout=25) == 0
        assert time.monotonic() - started < 20
    finally:
        for conn in sockets:
            conn.close()
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]  # JSON only
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")], lines
