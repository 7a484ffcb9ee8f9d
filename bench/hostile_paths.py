"""What a hostile 8 KB path costs the real server, next to a short one.

Usage: .venv/bin/python bench/hostile_paths.py [--requests 2000] [--probe-seconds 4]

`billing serve --workers 1` runs against SQLite with every request logged at INFO as JSON (to
/dev/null: formatting, redaction and the write are what a log line costs), so the whole middleware
stack and the access log run for each request. One process has one event loop, so the server's CPU
time per request (from /proc) is the event-loop time a request costs. For each path shape:
`--requests` unauthenticated GETs (each a 404) on 4 keep-alive connections. Then the latency of
`/healthz` on its own connection while 8 connections send short paths, and while they send the
8 KB `a+` path (the issue's example). Results in bench/results/hostile_paths.json.

To measure another version of the service, put its `src` first:
`PYTHONPATH=/path/to/checkout/src .venv/bin/python bench/hostile_paths.py --requests 40`.
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

ROOT = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CONNECTIONS = 4
PROBE_LOAD_CONNECTIONS = 8
# Path shapes; the request line stays under aiohttp's 8190-byte limit. Each hostile one is about
# 8 KB of what made the earlier redaction patterns backtrack, or of what the current ones match most.
PATHS = {
    "short": "/" + "a+" * 4,
    "slashes": "/" + "a/" * 4000,  # aiohttp's router tries each prefix: kept from it (protocol.py)
    "a+ (issue 13)": "/" + "a+" * 4000,
    "letters": "/" + "a" * 8000,
    "email-like": "/" + "x@a." * 2000,
    "url-like": "/" + "x://a:" * 1333,
    "secret words": "/" + "password=" * 888,
    "secret pairs, decoded": "/" + "pwd%3A%20" * 888,  # the path the server logs is "pwd: pwd: ..."
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> int:
    """One GET on a keep-alive connection; its status."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return status


async def send(port: int, path: str, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            assert await get(reader, writer, path) == 404
    finally:
        writer.close()


async def cost_per_request(port: int, pid: int, path: str, requests: int) -> float:
    """Server CPU milliseconds per request of `path`."""
    await asyncio.gather(*(send(port, path, 5) for _ in range(CONNECTIONS)))  # warm up
    before = cpu_seconds(pid)
    await asyncio.gather(*(send(port, path, requests // CONNECTIONS) for _ in range(CONNECTIONS)))
    return (cpu_seconds(pid) - before) * 1000 / (requests // CONNECTIONS * CONNECTIONS)


async def healthz_under_load(port: int, path: str, seconds: float) -> dict[str, float]:
    """/healthz latencies (ms) on its own connection while other connections send `path`."""
    stop = asyncio.Event()

    async def load() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not stop.is_set():
                await get(reader, writer, path)
        finally:
            writer.close()

    loaders = [asyncio.create_task(load()) for _ in range(PROBE_LOAD_CONNECTIONS)]
    await asyncio.sleep(0.2)
    latencies: list[float] = []
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        assert await get(reader, writer, "/healthz") == 200
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)
    writer.close()
    stop.set()
    await asyncio.gather(*loaders)
    latencies.sort()
    return {"samples": len(latencies), "p50_ms": round(latencies[len(latencies) // 2], 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2), "max_ms": round(latencies[-1], 2)}


async def measure(port: int, pid: int, requests: int, probe_seconds: float) -> dict[str, object]:
    costs = {name: await cost_per_request(port, pid, path, requests) for name, path in PATHS.items()}
    short = costs["short"]
    paths = {name: {"path_bytes": len(PATHS[name]), "cpu_ms_per_request": round(cost, 3),
                    "vs_short": round(cost / short, 2) if short else None} for name, cost in costs.items()}
    probe = {"while short paths": await healthz_under_load(port, PATHS["short"], probe_seconds),
             "while 8 KB a+ paths": await healthz_under_load(port, PATHS["a+ (issue 13)"], probe_seconds)}
    return {"paths": paths, "healthz_latency": probe}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per path shape (default 2000)")
    parser.add_argument("--probe-seconds", type=float, default=4.0, help="length of each /healthz probe")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    port = free_port()
    env = os.environ | {
        "BILLING_HTTP_PORT": str(port), "BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{work}/b.db",
        "BILLING_LOG_LEVEL": "INFO", "BILLING_LOG_FORMAT": "json",
        "BILLING_AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",  # never called by these requests
        "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    }
    subprocess.run([str(BIN / "billing"), "migrate"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([str(BIN / "billing"), "serve", "--workers", "1"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        figures = asyncio.run(measure(port, server.pid, args.requests, args.probe_seconds))
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "benchmark": "hostile_paths", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_implementation()} "
                   f"{platform.python_version()}",
        "git": subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True,
                              text=True).stdout.strip(),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "requests_per_path": args.requests // CONNECTIONS * CONNECTIONS, **figures,
    }
    (ROOT / "results" / "hostile_paths.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
