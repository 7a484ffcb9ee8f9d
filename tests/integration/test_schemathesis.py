"""Property-based testing of the live server from its own /openapi.json (schemathesis).

`schemathesis run --checks all` with the examples, coverage, fuzzing and stateful phases, configured
by schemathesis.toml beside this file (hooks and extra checks in schemathesis_hooks.py). The fuzzing
identity is user A (HTTP Basic); user B owns a bill with an attachment, which A must never reach.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from billing.entrypoints.http.ops import openapi_document
from tests.conftest import PASSWORD
from tests.integration.live import live_env, start_serve

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
A = ("fuzz-a@example.com", PASSWORD)
B = ("fuzz-b@example.com", PASSWORD)
BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 10,
        "payment_status": "due"}
PHASES = ("examples", "coverage", "fuzzing", "stateful")
RUN_TIMEOUT = 600  # seconds; a quiet 2-CPU machine needs well under 2 minutes


class Live:
    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def register(self, who: tuple[str, str]) -> None:
        body = {"first_name": "Fuzz", "last_name": "User", "email_address": who[0], "password": who[1]}
        assert self.session.post(f"{self.base}/v1/user", json=body, timeout=10).status_code == 201

    def bill(self, who: tuple[str, str]) -> str:
        response = self.session.post(f"{self.base}/v1/bill", json=BILL, auth=who, timeout=10)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def attach(self, who: tuple[str, str], bill_id: str) -> str:
        files = {"attachment": ("invoice.pdf", io.BytesIO(b"%PDF-1.7\n" + b"x" * 100), "application/pdf")}
        response = self.session.post(f"{self.base}/v1/bill/{bill_id}/file", files=files, auth=who, timeout=10)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, aws_endpoint: str) -> Iterator[Live]:
    tmp_path: Path = tmp_path_factory.mktemp("fuzz")
    # The fuzzer sends wrong credentials and many registrations on purpose (ignored_auth, examples of
    # POST /v1/user): throttling is tested elsewhere.
    env = live_env(tmp_path, aws_endpoint, login_failures_per_account=1_000_000,
                   login_failures_per_address=1_000_000, login_failures_per_pair=1_000_000,
                   registrations_per_address=1_000_000, public_base_url="https://billing.test")
    process = start_serve(tmp_path, env)
    try:
        live = Live(f"http://127.0.0.1:{env['BILLING_HTTP_PORT']}")
        live.register(A)
        live.register(B)
        a_bills = [live.bill(A) for _ in range(3)]
        live.targets = {  # type: ignore[attr-defined]
            "password": A[1],
            "a_bills": [[a_bills[0], None], [a_bills[1], live.attach(A, a_bills[1])], [a_bills[2], None]],
        }
        b_bill = live.bill(B)
        live.targets |= {"b_bill": b_bill, "b_file": live.attach(B, b_bill)}  # type: ignore[attr-defined]
        yield live
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors = [line for line in (tmp_path / "serve.log").read_text().splitlines() if '"level": "ERROR"' in line]
        assert not errors, "\n".join(errors)[-5000:]


def test_another_users_bill_and_file_are_404(live: Live) -> None:
    bill, file = live.targets["b_bill"], live.targets["b_file"]  # type: ignore[attr-defined]
    calls = [("GET", f"/v1/bill/{bill}", None), ("PUT", f"/v1/bill/{bill}", BILL), ("DELETE", f"/v1/bill/{bill}", None),
             ("GET", f"/v1/bill/{bill}/file/{file}", None), ("DELETE", f"/v1/bill/{bill}/file/{file}", None)]
    for method, path, body in calls:
        response = live.session.request(method, f"{live.base}{path}", json=body, auth=A, timeout=10)
        assert response.status_code == 404, (method, path, response.status_code)
        assert response.headers["Content-Type"] == "application/problem+json"
    files = {"attachment": ("x.pdf", io.BytesIO(b"%PDF-1.7\n"), "application/pdf")}
    assert live.session.post(f"{live.base}/v1/bill/{bill}/file", files=files, auth=A, timeout=10).status_code == 404
    # and B still has both
    assert live.session.get(f"{live.base}/v1/bill/{bill}/file/{file}", auth=B, timeout=10).status_code == 200


def run_schemathesis(live: Live, report: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    command = [SCHEMATHESIS, "--no-color", "--config-file", str(CONFIG), "run", "--checks", "all",
               "--phases", ",".join(PHASES), "--auth", f"{A[0]}:{A[1]}", "--report", "json",
               "--report-json-path", str(report), f"{live.base}/openapi.json"]
    env = {"SCHEMATHESIS_BILLING_TARGETS": json.dumps(live.targets),  # type: ignore[attr-defined]
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=os.environ | env, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT, check=False)
    assert report.exists(), result.stdout[-5000:] + result.stderr[-5000:]
    return result, json.loads(report.read_text())


def test_schemathesis_finds_no_failure_with_every_check(live: Live, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    result, report = run_schemathesis(live, tmp_path / "report.json")
    output = result.stdout[-20000:] + result.stderr[-5000:]
    cases = report["test_cases"]
    # Every operation but GET /openapi.json, which schemathesis leaves out as the schema it loaded.
    operations = sum(1 for path, item in openapi_document()["paths"].items() for method in item
                     if method != "parameters" and path != "/openapi.json")
    with capsys.disabled():
        print(f"\nschemathesis: {report['operations']['tested']} operations, {cases['generated']} cases, "
              f"{len(report['failures'])} failures, {cases['errored']} errored, in {report['running_time']:.0f} s")
    assert result.returncode == 0, output
    assert report["failures"] == [] and report["errors"] == [] and cases["errored"] == 0, output
    assert report["operations"]["tested"] == operations, output
    phases = {name: phase["status"] for name, phase in report["phases"].items()}
    assert phases == dict.fromkeys(PHASES, "success"), output
    # A pattern schemathesis cannot read would be skipped silently (no data from it, no failure).
    assert report["warnings"]["unsupported_regex"] == [], output
