"""A real `billing serve` process for the tests that need one (fuzzing, shutdown)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from tests.integration.conftest import free_port

BILLING = str(Path(sys.executable).with_name("billing"))


def live_env(tmp_path: Path, aws_endpoint: str, **settings: object) -> dict[str, str]:
    """The environment of a service on its own SQLite file and its own AWS resources in the emulator."""
    tag = uuid.uuid4().hex[:12]
    values: dict[str, object] = {
        "http_port": free_port(), "database_url": f"sqlite+aiosqlite:///{tmp_path}/billing.db",
        "aws_endpoint_url": aws_endpoint, "s3_bucket": f"live-{tag}", "due_queue_name": f"due-{tag}",
        "digest_topic_name": f"digest-{tag}", "ledger_table": f"ledger-{tag}", "log_level": "WARNING",
        "log_format": "json",
    } | settings
    return os.environ | {f"BILLING_{k.upper()}": str(v) for k, v in values.items()}


def start_serve(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Migrate, bootstrap, then `billing serve --workers 1`, answering /healthz."""
    for command in ("migrate", "bootstrap"):
        subprocess.run([BILLING, command], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=60)
    # The log goes to a file (tmp_path/serve.log): a pipe nobody reads would block the server.
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([BILLING, "serve", "--workers", "1"], cwd=tmp_path, env=env,
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    port = env["BILLING_HTTP_PORT"]
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        assert time.monotonic() < deadline, "billing serve did not answer within 30 s"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.1)


def settings_env(settings: object) -> dict[str, str]:
    """BILLING_* variables that give a child process the same Settings."""
    import dataclasses

    env = {}
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, field.name)
        if value in ("", ()):
            continue
        env[f"BILLING_{field.name.upper()}"] = ",".join(value) if isinstance(value, tuple) else str(value)
    return os.environ | env
