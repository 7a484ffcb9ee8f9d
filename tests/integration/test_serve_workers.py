"""`billing serve --workers N`: gunicorn's master and N worker processes on one port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

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


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for the master to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def stop(process: subprocess.Popen[str]) -> list[dict[str, Any]]:
    """SIGTERM, then the output: one JSON object per line, gunicorn's own lines too."""
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return [json.loads(line) for line in output.splitlines()]


def test_workers_share_the_port_and_stop_cleanly_on_sigterm(tmp_path: Path) -> None:
    process, port = start_serve(tmp_path, workers=2)
    try:
        workers = children_of(process.pid)
        assert len(workers) == 2
        assert all(answers(port) for _ in range(20))
    finally:
        lines = stop(process)
    assert process.returncode == 0, lines
    messages = [line["message"] for line in lines]
    assert f"Listening at: http://127.0.0.1:{port} ({process.pid})" in messages
    assert sorted(m for m in messages if m.startswith("Booting worker")) == sorted(
        f"Booting worker with pid: {pid}" for pid in workers)
    assert sorted(m for m in messages if m.startswith("Worker exiting")) == sorted(
        f"Worker exiting (pid: {pid})" for pid in workers)
    assert not [line for line in lines if line["level"] not in ("INFO", "WARNING")]
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


def test_a_worker_that_dies_is_replaced_while_the_others_keep_answering(tmp_path: Path) -> None:
    process, port = start_serve(tmp_path, workers=2)
    try:
        victim, survivor = children_of(process.pid)
        os.kill(victim, signal.SIGKILL)
        while alive(victim):  # its socket closes as it dies
            time.sleep(0.01)
        assert all(answers(port) for _ in range(20))  # the survivor, before the replacement is up
        deadline = time.monotonic() + 30
        while len(replacements := [p for p in children_of(process.pid) if p not in (victim, survivor)]) < 1:
            assert time.monotonic() < deadline, "the master did not replace the worker within 30 s"
            time.sleep(0.1)
        assert sorted(children_of(process.pid)) == sorted([survivor, *replacements])  # the survivor was left alone
        assert all(answers(port) for _ in range(20))
    finally:
        lines = stop(process)
    assert process.returncode == 0, lines
    errors = [line["message"] for line in lines if line["level"] == "ERROR"]
    assert errors == [f"Worker (pid:{victim}) was sent SIGKILL! Perhaps out of memory?"]
    assert not any(Path(f"/proc/{pid}").exists() for pid in (survivor, *replacements))


def test_serve_stops_with_one_line_and_code_2_when_the_ca_bundle_is_no_certificate(tmp_path: Path) -> None:
    """A CA bundle that is no certificate is refused with the settings, in the master, before any
    worker starts: no worker restarted over and over, no traceback, no password."""
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    env = os.environ | {"BILLING_HTTP_PORT": str(free_port()), "BILLING_DATABASE_SSL_CA": str(tmp_path / "ca.pem"),
                        "BILLING_DATABASE_URL": "mysql+aiomysql://billing:db-password@127.0.0.1:1/billing"}
    billing = Path(sys.executable).with_name("billing")
    result = subprocess.run([str(billing), "serve", "--workers", "2"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("billing: configuration error: BILLING_DATABASE_SSL_CA="), result.stderr
    assert "holds no certificate" in result.stderr
    assert "db-password" not in result.stderr


def test_workers_that_cannot_start_stop_the_server_with_code_3(tmp_path: Path) -> None:
    """A misconfiguration only the workers find (an AWS config file the SDK cannot parse: the master
    checks the database, not AWS): the master stops instead of restarting them forever, for the
    service manager to see the failure."""
    (tmp_path / "aws-config").write_text("[default\nregion = eu-west-1\n")
    secret = "never-logged-" + "s" * 32
    env = os.environ | {"BILLING_HTTP_PORT": str(free_port()), "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
                        "BILLING_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/billing.db",
                        "BILLING_IDEMPOTENCY_SECRET": secret}
    billing = Path(sys.executable).with_name("billing")
    result = subprocess.run([str(billing), "serve", "--workers", "2"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr == ""
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["level"], line["message"]) for line in lines[-2:]] == [
        ("ERROR", "Shutting down: Master"), ("ERROR", "Reason: Worker failed to boot.")]
    assert "ConfigParseError" in "".join(line.get("exception", "") for line in lines)  # the cause, logged
    assert secret not in result.stdout
