"""`billing serve --workers N`: N processes on one port, a parent that forwards signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.integration.test_local_process import free_port


def start_serve(tmp_path: Path, workers: int) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = os.environ | {"BILLING_HTTP_PORT": str(port), "BILLING_LOG_LEVEL": "INFO",
                        "BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/billing.db"}
    billing = Path(sys.executable).with_name("billing")
    process = subprocess.Popen([str(billing), "serve", "--workers", str(workers)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while len(children_of(process.pid)) < workers or not answers(port):
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        assert time.monotonic() < deadline, "billing serve did not answer within 30 s"
        time.sleep(0.1)
    return process, port


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_workers_share_the_port_and_stop_cleanly_on_sigterm(tmp_path: Path) -> None:
    process, port = start_serve(tmp_path, workers=2)
    try:
        workers = children_of(process.pid)
        assert len(workers) == 2
        assert all(answers(port) for _ in range(20))
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert output.count(f"serving on http://127.0.0.1:{port}") == 2, output  # one line per worker
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_worker_that_dies_stops_the_others_and_the_parent_fails(tmp_path: Path) -> None:
    process, _ = start_serve(tmp_path, workers=2)
    try:
        victim, survivor = children_of(process.pid)
        os.kill(victim, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 1, output
    assert f"worker {victim} exited with -9; stopping the others" in output
    assert not Path(f"/proc/{survivor}").exists()
