"""End to end: the real `billing local` process, over HTTP, as `make run` starts it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.conftest import PASSWORD, basic


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_local_mode_serves_the_api_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"BILLING_HTTP_PORT": str(port), "BILLING_LOG_LEVEL": "WARNING",
                        "BILLING_LOCAL_AWS_PORT": str(free_port())}
    billing = Path(sys.executable).with_name("billing")
    process = subprocess.Popen([str(billing), "local"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with http.get(f"{base}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "billing local did not answer within 30 s"
                await asyncio.sleep(0.1)  # not time.sleep: the session lives on this loop
            user = {"first_name": "E", "last_name": "Two", "email_address": "e2e@example.com", "password": PASSWORD}
            async with http.post(f"{base}/v1/user", json=user) as response:
                assert response.status == 201
            bill = {"vendor": "V", "bill_date": "2026-01-01", "due_date": "2026-01-31", "amount_due": 12.34,
                    "payment_status": "due"}
            async with http.post(f"{base}/v1/bill", json=bill, headers=basic("e2e@example.com")) as response:
                assert response.status == 201
                bill_id = (await response.json())["id"]
            upload = aiohttp.FormData()
            upload.add_field("attachment", b"%PDF-1.4 e2e", filename="e2e.pdf")
            async with http.post(
                f"{base}/v1/bill/{bill_id}/file", data=upload, headers=basic("e2e@example.com")
            ) as response:
                assert response.status == 201, await response.text()
                url = (await response.json())["url"]
            async with http.get(url) as response:  # served by the local AWS emulator
                assert await response.read() == b"%PDF-1.4 e2e"
            async with http.get(f"{base}/v1/bills", headers=basic("e2e@example.com")) as response:
                assert [b["amount_due"] for b in await response.json()] == [12.34]
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200
        assert (tmp_path / "var" / "billing.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}" in stderr


def test_bad_setting_stops_the_start_with_exit_code_2(tmp_path: Path) -> None:
    billing = Path(sys.executable).with_name("billing")
    result = subprocess.run([str(billing), "local"], cwd=tmp_path, capture_output=True, text=True, timeout=30,
                            env=os.environ | {"BILLING_HTTP_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "billing: configuration error: BILLING_HTTP_PORT='eighty': must be an integer"
    ]
