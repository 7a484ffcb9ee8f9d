"""Upload a 100 MiB file through the real server and record its peak memory growth and throughput.

Usage: .venv/bin/python bench/upload_memory.py [--mib 100]
The server (`billing serve`) runs as its own process against SQLite and the local AWS emulator
(a separate process, so its memory is not counted). RSS is sampled from /proc every 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from billing.entrypoints.local_aws import LocalAwsEmulator

ROOT = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def run(mib: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    port = free_port()
    with LocalAwsEmulator(free_port(), work / "moto.log") as endpoint:
        env = os.environ | {
            "BILLING_HTTP_PORT": str(port), "BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{work}/b.db",
            "BILLING_AWS_ENDPOINT_URL": endpoint, "BILLING_MAX_UPLOAD_BYTES": str((mib + 1) * 1024 * 1024),
            "BILLING_LOG_LEVEL": "WARNING", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        }
        for command in ("migrate", "bootstrap"):
            subprocess.run([str(BIN / "billing"), command], env=env, check=True, capture_output=True)
        server = subprocess.Popen([str(BIN / "billing"), "serve", "--workers", "1"], env=env, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                for _ in range(100):
                    try:
                        async with http.get(f"{base}/healthz"):
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.1)
                auth = {"Authorization": aiohttp.BasicAuth("bench@example.com", "Abcd1234!").encode()}
                await http.post(f"{base}/v1/user", json={"first_name": "B", "last_name": "B",
                                                         "email_address": "bench@example.com", "password": "Abcd1234!"})
                async with http.post(f"{base}/v1/bill", headers=auth, json={
                        "vendor": "V", "bill_date": "2026-01-01", "due_date": "2026-01-02", "amount_due": 1,
                        "payment_status": "due"}) as response:
                    bill = await response.json()
                # warm up: one small upload so lazy imports and pools are counted in the baseline
                warm = aiohttp.FormData()
                warm.add_field("attachment", b"%PDF-warm", filename="w.pdf")
                async with http.post(f"{base}/v1/bill/{bill['id']}/file", data=warm, headers=auth) as response:
                    file_id = (await response.json())["id"]
                await http.delete(f"{base}/v1/bill/{bill['id']}/file/{file_id}", headers=auth)

                baseline = rss_bytes(server.pid)
                peak = baseline
                done = asyncio.Event()

                async def sample() -> None:
                    nonlocal peak
                    while not done.is_set():
                        peak = max(peak, rss_bytes(server.pid))
                        await asyncio.sleep(0.02)

                async def body():
                    yield b"%PDF-1.7\n"
                    block = os.urandom(1024 * 1024)
                    for _ in range(mib):
                        yield block

                writer = aiohttp.MultipartWriter("form-data")
                part = writer.append(body(), {"Content-Type": "application/pdf"})
                part.set_content_disposition("form-data", name="attachment", filename="big.pdf")
                sampler = asyncio.create_task(sample())
                started = time.perf_counter()
                async with http.post(f"{base}/v1/bill/{bill['id']}/file", data=writer, headers=auth) as response:
                    status = response.status
                    size = (await response.json()).get("size")
                elapsed = time.perf_counter() - started
                done.set()
                await sampler
        finally:
            server.terminate()
            server.wait(timeout=30)
    growth = peak - baseline
    return {
        "benchmark": "upload_memory",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs,"
        f" {platform.python_implementation()} {platform.python_version()}",
        "file_mib": mib,
        "status": status,
        "stored_size": size,
        "seconds": round(elapsed, 2),
        "throughput_mib_s": round(mib / elapsed, 1),
        "baseline_rss_mib": round(baseline / 2**20, 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "peak_growth_mib": round(growth / 2**20, 1),
        "target_growth_mib": 32,
        "met": status == 201 and growth < 32 * 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=100)
    result = asyncio.run(run(parser.parse_args().mib))
    (ROOT / "results" / "upload_memory.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
