"""The OpenAPI document says what the server enforces, no more and no less, so that generated
clients and fuzzers (schemathesis) agree with the server. One regression case per mismatch that
fuzzing found in the document (issue 16), plus properties that hold the schemas to the domain's rules.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from billing.domain.model.bill import BillDetails, parse_days
from billing.domain.model.email import EmailError, normalize_email
from billing.domain.model.errors import ValidationFailed
from billing.domain.model.money import ISO_4217
from billing.domain.model.password import MAX_BYTES, PATTERN, password_problem
from billing.domain.model.validation import text
from billing.entrypoints.http.ops import openapi_document
from tests.conftest import PASSWORD
from tests.unit.conftest import AUTH

DOCUMENT = openapi_document()
COMPONENTS = DOCUMENT["components"]
PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for `schema`, its $refs resolved against the document (formats checked too)."""
    return Draft202012Validator(schema | {"components": COMPONENTS},
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def component(name: str) -> Draft202012Validator:
    return validator({"$ref": f"#/components/schemas/{name}"})


def operation(path: str, method: str) -> dict[str, Any]:
    return DOCUMENT["paths"][path][method]


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = COMPONENTS[kind][name]
    return node


def parameter(path: str, method: str, name: str) -> dict[str, Any]:
    item = DOCUMENT["paths"][path]
    for p in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        if resolve(p)["name"] == name:
            return resolve(p)
    raise KeyError(name)


def bill_property(name: str) -> Draft202012Validator:
    return validator(COMPONENTS["schemas"]["BillInput"]["properties"][name])


# --- X-Request-Id: any value is accepted (and an unusable one replaced), so no pattern on the way in.

async def test_any_request_id_is_documented_as_accepted_when_the_server_replaces_it(client) -> None:
    sent = "not a usable id!"
    assert validator(parameter("/healthz", "get", "X-Request-Id")["schema"]).is_valid(sent)
    response = await client.get("/healthz", headers={"X-Request-Id": sent})
    assert response.status == 200
    echoed = response.headers["X-Request-Id"]
    assert echoed != sent
    assert validator(COMPONENTS["headers"]["RequestId"]["schema"]).is_valid(echoed)


async def test_a_usable_request_id_comes_back_as_the_response_header_schema_says(client) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "lb-1.2:3_x"})
    assert response.headers["X-Request-Id"] == "lb-1.2:3_x"
    assert validator(COMPONENTS["headers"]["RequestId"]["schema"]).is_valid("lb-1.2:3_x")


# --- payment_status is required, as the server requires it.

BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 10,
        "payment_status": "due"}


def test_payment_status_is_required_when_the_server_refuses_a_bill_without_it() -> None:
    without = {k: v for k, v in BILL.items() if k != "payment_status"}
    with pytest.raises(ValidationFailed):
        BillDetails.from_mapping(without)
    assert not component("BillInput").is_valid(without)
    assert component("BillInput").is_valid(BILL)


# --- Password rules as schema: pattern and lengths; only the byte limit stays prose.

@pytest.mark.parametrize("password", ["Abcdefg1", "abcd1234!", "ABCD1234!", "Abcdefgh!", "Aaaa1234!", "Abc1!",
                                      "éééé1234!A", "Ab1!" + "xy" * 34 + "z"])
def test_password_the_server_refuses_is_refused_by_the_schema(password: str) -> None:
    assert password_problem(password) is not None
    assert not component("Password").is_valid(password)


@pytest.mark.parametrize("password", [PASSWORD, "xY9#xY9#", "Pässwörd1!", "Ab1\n" * 2, "Ab1!" + "xy" * 34])
def test_password_the_server_accepts_is_accepted_by_the_schema(password: str) -> None:
    assert password_problem(password) is None
    assert component("Password").is_valid(password)


def test_password_pattern_is_the_domains() -> None:
    assert COMPONENTS["schemas"]["Password"]["pattern"] == PATTERN


@PROPERTY
@given(st.one_of(st.text(max_size=80), st.from_regex(PATTERN).filter(lambda p: 8 <= len(p) <= 80),
                 st.text(alphabet="aA1!é \n", min_size=6, max_size=12)))
def test_password_schema_and_policy_agree_on_every_string(password: str) -> None:
    within_bytes = len(password.encode("utf-8")) <= MAX_BYTES
    assert (component("Password").is_valid(password) and within_bytes) == (password_problem(password) is None)


# --- Not blank, as the server's strip() understands white space.

@PROPERTY
@given(st.text(alphabet=st.sampled_from(" \t\n\x0b\x1c\x85\xa0\u2007\u3000\ufeff\u200bxé"), max_size=6))
def test_names_schema_and_server_agree_on_blank(value: str) -> None:
    try:
        text(100)(value)
        accepted = True
    except ValueError:
        accepted = False
    assert component("Name").is_valid(value) == accepted
    assert bill_property("vendor").is_valid(value) == accepted
    category = validator(COMPONENTS["schemas"]["BillInput"]["properties"]["categories"]["items"])
    assert category.is_valid(value) == accepted


def test_not_blank_pattern_names_exactly_what_python_calls_white_space() -> None:
    pattern = re.compile(COMPONENTS["schemas"]["Name"]["pattern"])
    assert [c for c in range(0x110000) if not pattern.search(chr(c))] == \
        [c for c in range(0x110000) if chr(c).isspace()]


# --- Email addresses: the schema's pattern is the server's syntax.

def _email_accepted(value: str) -> bool:
    try:
        normalize_email(value)
    except EmailError:
        return False
    return True


@pytest.mark.parametrize("value", ["jane.doe+bills@Example.COM", "a@b.co", "plain", "a@b", "a b@c.io", "a@-c.io",
                                   "@c.io", "a@c..io", "a@c.io\n", '"q"@c.io', "a@[1.2.3.4]", "x" * 65 + "@c.io",
                                   "x" * 64 + "@c.io", "a@" + "b" * 64 + ".io", "a@" + ("b" * 60 + ".") * 4 + "io",
                                   "a@" + ("b" * 60 + ".") * 5 + "io"])
def test_email_schema_and_server_agree(value: str) -> None:
    assert component("EmailAddress").is_valid(value) == _email_accepted(value), value


@PROPERTY
@given(st.one_of(st.emails(), st.text(alphabet="ab.@-+\n \"", max_size=12)))
def test_email_schema_and_server_agree_on_generated_addresses(value: str) -> None:
    assert component("EmailAddress").is_valid(value) == _email_accepted(value)


# --- An empty cursor is refused, so the schema excludes it.

def test_empty_cursor_is_excluded_by_the_schema() -> None:
    assert not validator(parameter("/v1/bills", "get", "cursor")["schema"]).is_valid("")


async def test_empty_cursor_is_refused_by_the_server(client, user) -> None:
    assert (await client.get("/v1/bills?cursor=", headers=AUTH)).status == 400


# --- Currency: the ISO 4217 enumeration the server uses.

def test_currency_enum_is_the_servers_iso_4217_list() -> None:
    enum = COMPONENTS["schemas"]["Currency"]["enum"]
    assert enum == sorted(ISO_4217), "regenerate Currency.enum in openapi.yaml from domain/model/money.py ISO_4217"


@pytest.mark.parametrize(("code", "valid"), [("USD", True), ("EUR", True), ("NZT", False), ("usd", False)])
def test_currency_the_server_refuses_is_refused_by_the_schema(code: str, valid: bool) -> None:
    assert bill_property("currency").is_valid(code) is valid
    assert component("BillInput").is_valid(BILL | {"currency": code}) is valid


# --- Statuses: each operation documents what it can answer.

def test_attach_file_documents_a_second_attachment_as_400_and_a_wrong_file_type_as_415() -> None:
    responses = operation("/v1/bill/{id}/file", "post")["responses"]
    assert "already has an attachment" in resolve(responses["400"])["description"]
    assert "PDF, PNG or JPEG" in resolve(responses["415"])["description"]


def test_every_authenticated_operation_documents_401_and_429_with_retry_after() -> None:
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            if method == "parameters" or op.get("security", DOCUMENT["security"]) == []:
                continue
            for status in ("401", "429"):
                assert status in op["responses"], (method, path, status)
            assert "Retry-After" in resolve(op["responses"]["429"])["headers"], (method, path)


# --- days: an integer path parameter from 0 to 365.

@pytest.mark.parametrize(("days", "valid"), [(0, True), (365, True), (366, False), (-1, False)])
def test_days_is_an_integer_from_0_to_365_as_the_server_parses_it(days: int, valid: bool) -> None:
    schema = parameter("/v1/bills/due/{days}", "get", "days")["schema"]
    assert schema["type"] == "integer"
    assert validator(schema).is_valid(days) is valid
    try:
        parse_days(str(days))
        parsed = True
    except ValidationFailed:
        parsed = False
    assert parsed is valid


# --- The bill's attachment: generators try oneOf's branches in order, so the attachment comes first.

ATTACHMENT = {"id": "7f9fdbcf-87e0-4f96-9cb9-4389a1f4fbb0", "file_name": "invoice.pdf", "url": "https://s3.test/x",
              "upload_date": "2026-11-24T09:30:00.123Z", "size": 3, "md5": "0" * 32, "mime_type": "application/pdf"}


def test_bill_attachment_tries_the_attachment_before_the_empty_object() -> None:
    branches = COMPONENTS["schemas"]["Bill"]["properties"]["attachment"]["oneOf"]
    assert branches[0] == {"$ref": "#/components/schemas/Attachment"}
    attachment = validator(COMPONENTS["schemas"]["Bill"]["properties"]["attachment"])
    assert attachment.is_valid({}) and attachment.is_valid(ATTACHMENT)
    assert not component("NoAttachment").is_valid(ATTACHMENT)


# --- /docs names /openapi.json.

async def test_docs_page_loads_the_document_served_at_openapi_json(client) -> None:
    html = await (await client.get("/docs")).text()
    assert 'url: "/openapi.json"' in html
    assert "swagger.json" not in html
    assert (await client.get("/docs/swagger.json")).status == 404


# --- Every pattern means the same to Python's re (schemathesis, hypothesis) and to ECMA-262.

def _patterns(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


SAMPLES = [PASSWORD, "Abcdefg1", "Aaaa1234!", "Ab1!\U0001f600\U0001f600\U0001f600", "Ab1!é", " ", "\u3000", "\ufeff",
           "x", "jane@example.com", "a@b", "a@b.co\n", "req-1", "bad id!", "USD", "USD\n", "a\x17b", "a\tb", "",
           "2026-11-24T09:30:00.123Z", "\u0662026-11-24T09:30:00.123Z", "0" * 32, "\u0660" * 32]


def test_every_pattern_compiles_and_matches_alike_in_python_and_ecma_262() -> None:
    patterns = sorted(set(_patterns(DOCUMENT)))
    assert patterns
    python = [[bool(re.search(p, s)) for s in SAMPLES] for p in patterns]
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (an ECMA-262 engine) is not installed")
    # The "u" flag: JSON Schema 2020-12 asks for Unicode-aware patterns (code points, not UTF-16 units).
    script = ("const [ps, ss] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "const test = p => { const r = new RegExp(p, 'u'); return ss.map(s => r.test(s)); };"
              "console.log(JSON.stringify(ps.map(test)));")
    result = subprocess.run([node, "-e", script], input=json.dumps([patterns, SAMPLES]), capture_output=True,
                            text=True, timeout=30, check=True)
    assert json.loads(result.stdout) == python
