"""schemathesis hooks and checks for fuzzing the live service (schemathesis.toml names this module).

The fuzzing identity is user A. SCHEMATHESIS_BILLING_TARGETS (JSON) gives A's password and, when
there are any, what the run may aim at: A's bills and attachment (`a_bills`: [[bill, file or
null], ...]), so that fuzzing gets past "404: no such bill", and user B's bill and attachment
(`b_bill`, `b_file`), which A must never reach.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any
from uuid import UUID

import schemathesis
from schemathesis import Case, CheckContext, HookContext, Response
from schemathesis.specs.openapi.checks import is_unexpected_http_status_case

from billing.domain.model.password import password_problem

TARGETS: dict[str, Any] = json.loads(os.environ["SCHEMATHESIS_BILLING_TARGETS"])  # "password" at least

# A schema-valid request may still be refused for a rule JSON Schema cannot state: the state of the
# account (an address already registered, a bill that already has its file, a cursor the service
# never issued), a comparison of two fields, or a length in bytes. positive_data_acceptance lets
# these operations answer 400 (see schemathesis.toml); this table says which refusals, exactly.
BYTES = ("password", "must be at most 72 bytes in UTF-8")
SCHEMA_CANNOT_STATE: dict[str, set[tuple[str, str]]] = {
    "POST /v1/user": {("email_address", "is already registered"), BYTES},
    "PUT /v1/user/self": {("email_address", "cannot be changed"), BYTES},
    "POST /v1/bill": {("due_date", "must not be before bill_date")},
    "PUT /v1/bill/{id}": {("due_date", "must not be before bill_date")},
    "GET /v1/bills": {("cursor", "is not a cursor this service issued")},
    "POST /v1/bill/{id}/file": {("attachment", "the bill already has an attachment; delete it first")},
}


@schemathesis.check
def refused_only_for_rules_the_schema_cannot_state(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """positive_data_acceptance, narrowed: where the configuration lets an operation answer a valid
    request with 400, the problem must name only reasons listed in SCHEMA_CANNOT_STATE."""
    meta = case.meta
    if meta is None or response.status_code != 400 or is_unexpected_http_status_case(case):
        return None
    # Every part positive (a coverage case varying one header may carry a negative body).
    if not meta.generation.mode.is_positive or not all(c.mode.is_positive for c in meta.components.values()):
        return None
    label = case.operation.label
    problem = response.json()
    errors = {(e["field"], e["message"]) for e in problem.get("errors", [])}
    allowed = SCHEMA_CANNOT_STATE.get(label, set())
    if not errors or not errors <= allowed:
        raise AssertionError(f"400 for a schema-valid request, for a rule the document could state: {problem}")
    return None


def _is_uuid(value: object) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


@schemathesis.hook
def before_call(context: HookContext, case: Case, kwargs: dict[str, Any]) -> None:
    _keep_the_password(case)
    if _phase(case) == "stateful":
        _fresh_creations(case)
    else:
        _aim(case)


def _phase(case: Case) -> str | None:
    return case.meta.phase.name.value if case.meta is not None else None


def _fresh_creations(case: Case) -> None:
    """A stateful run follows what a POST created. With an Idempotency-Key used before, the answer is
    the first request's, replayed (`Idempotent-Replayed: true`), and names a bill that an earlier
    scenario may have deleted since; so the links would lead nowhere. Idempotency has its own tests."""
    if case.headers:
        case.headers.pop("Idempotency-Key", None)


def _keep_the_password(case: Case) -> None:
    """A's password must not change half-way: a valid new one becomes A's own (still valid, so the
    case stays what it was generated as); an invalid one is sent as generated, to be refused."""
    if case.operation.label != "PUT /v1/user/self" or not isinstance(case.body, dict):
        return
    if isinstance(case.body.get("password"), str) and password_problem(case.body["password"]) is None:
        case.body["password"] = TARGETS["password"]


def _aim(case: Case) -> None:
    """Point some well-formed ids at real resources: 20 % at B's, 40 % at A's (never a DELETE of a
    bill: the next cases need them). Not in a stateful run, which follows its own links."""
    params = case.path_parameters
    if not params or not _is_uuid(params.get("id")):
        return
    a_bills: list[list[str | None]] = TARGETS.get("a_bills", [])
    chosen = random.Random(repr(sorted(params.items()))).random()
    if chosen < 0.2 and "b_bill" in TARGETS:
        bill, file = TARGETS["b_bill"], TARGETS["b_file"]
    elif 0.2 <= chosen < 0.6 and a_bills and case.operation.label != "DELETE /v1/bill/{id}":
        bill, file = a_bills[int(chosen * 100) % len(a_bills)]
    else:
        return
    params["id"] = bill
    if _is_uuid(params.get("file_id")) and file:
        params["file_id"] = file


@schemathesis.check
def another_users_resources_stay_hidden(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A names B's bill or file: anything but an error is a leak (B's resources are a 404 to A)."""
    params = case.path_parameters or {}
    named = "b_bill" in TARGETS and (params.get("id") == TARGETS["b_bill"]
                                     or params.get("file_id") == TARGETS["b_file"])
    if named and response.status_code < 400:
        raise AssertionError(f"{response.status_code} for B's resource: {response.text[:500]}")
    return None


# An attachment part is one of these types; schemathesis knows only the image ones as raw files.
schemathesis.serializer.alias("application/pdf", "application/octet-stream")
