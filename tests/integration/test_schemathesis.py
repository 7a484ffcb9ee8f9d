"""Property-based testing of the live server from its own /openapi.json (schemathesis).

Every operation, positive and negative data, with the checks for server errors, response schema
conformance, documented status codes and ignored authentication. The fuzzing identity is user A
(HTTP Basic); user B owns a bill with an attachment, and A must never reach them (404).
"""

from __future__ import annotations

import io
import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, response_schema_conformance, status_code_conformance

from tests.conftest import PASSWORD
from tests.integration.live import live_env, start_serve

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, ignored_auth]
MAX_EXAMPLES = 100  # per operation and mode: about 40 s for the whole run
A = ("fuzz-a@example.com", PASSWORD)
B = ("fuzz-b@example.com", PASSWORD)
BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 10,
        "payment_status": "due"}


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
        live.a_bills = [live.bill(A) for _ in range(3)]  # type: ignore[attr-defined]
        live.b_bill = live.bill(B)  # type: ignore[attr-defined]
        live.b_file = live.attach(B, live.b_bill)  # type: ignore[attr-defined]
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


@pytest.fixture(scope="module")
def api(live: Live) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live.base}/openapi.json")


def test_another_users_bill_and_file_are_404(live: Live) -> None:
    bill, file = live.b_bill, live.b_file  # type: ignore[attr-defined]
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


def aimed(case: schemathesis.Case, live: Live) -> bool:
    """Point some cases at real bills, A's own or B's, so the fuzzing gets past "404: no such bill".
    True when the case now names B's bill (A must get no 2xx)."""
    if case.operation.label == "PUT /v1/user/self" and isinstance(case.body, dict) and "password" in case.body:
        case.body["password"] = A[1]  # A keeps signing in: a new password would make the rest 401
    if not case.path_parameters or "id" not in case.path_parameters:
        return False
    chosen = random.Random(repr(sorted(case.path_parameters.items()))).random()
    if chosen < 0.4:
        case.path_parameters["id"] = live.a_bills[int(chosen * 10) % 3]  # type: ignore[attr-defined]
    elif chosen < 0.6:
        case.path_parameters["id"] = live.b_bill  # type: ignore[attr-defined]
        if "file_id" in case.path_parameters:
            case.path_parameters["file_id"] = live.b_file  # type: ignore[attr-defined]
        return True
    return False


# (Driven by hand rather than with schemathesis' pytest plugin, whose from_fixture does not run
# under pytest 9.)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_conforms(api: schemathesis.BaseSchema, live: Live, mode: GenerationMode) -> None:
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) == 15
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def run(case: schemathesis.Case) -> None:
            other = aimed(case, live)
            response = case.call_and_validate(base_url=live.base, session=live.session, auth=A, checks=CHECKS,
                                              timeout=10)
            statuses.setdefault(operation.label, set()).add(response.status_code)
            if other:
                assert not 200 <= response.status_code < 300, (response.status_code, response.text)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, report them all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert len(statuses) == len(operations)
    if mode is GenerationMode.POSITIVE:  # the fuzzing got past validation somewhere
        assert any(201 in codes for codes in statuses.values()), statuses
