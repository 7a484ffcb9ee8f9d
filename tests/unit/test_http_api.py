"""The HTTP layer over fakes: status codes, problem bodies, headers, representations."""

from __future__ import annotations

import json

import pytest

from tests.conftest import basic
from tests.unit.conftest import AUTH, USER

JSON = {"Content-Type": "application/json"}
BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 120.5,
        "categories": ["power"], "payment_status": "due"}


async def problem_of(response, status: int) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


async def test_registration_returns_user_without_password(client) -> None:
    response = await client.post("/v1/user", json=USER | {"id": "ignored", "account_created": "x", "extra": 1})
    body = await response.json()
    assert response.status == 201
    assert set(body) == {"id", "first_name", "last_name", "email_address", "account_created", "account_updated",
                         "reminder_days"}
    assert body["reminder_days"] is None  # nobody gets reminders without asking
    assert body["email_address"] == "jane@example.com"
    assert body["id"] != "ignored"
    assert body["account_created"].endswith("Z") and len(body["account_created"]) == 24


async def test_duplicate_email_is_400_with_field_error(client, user) -> None:
    body = await problem_of(await client.post("/v1/user", json=USER | {"email_address": "JANE@example.com"}), 400)
    assert body["errors"] == [{"field": "email_address", "message": "is already registered"}]


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b'{"a": NaN}', b"\xff\xfe", b"[" * 60_000])
async def test_malformed_body_is_400(client, raw: bytes) -> None:
    await problem_of(await client.post("/v1/user", data=raw, headers=JSON), 400)


async def test_oversized_body_is_413(client) -> None:
    await problem_of(await client.post("/v1/user", data=b" " * 100_000, headers=JSON), 413)


async def test_non_json_content_type_is_415(client) -> None:
    await problem_of(
        await client.post("/v1/user", data="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}), 415
    )


@pytest.mark.parametrize("headers", [{}, basic("jane@example.com", "Wrong999!"), {"Authorization": "Basic !!!"},
                                     {"Authorization": "Bearer abc"}, basic("nobody@example.com")])
async def test_bad_credentials_are_401_with_challenge(client, user, headers) -> None:
    response = await client.get("/v1/user/self", headers=headers)
    await problem_of(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Basic realm="billing"'


async def test_self_readable_with_email_in_any_case(client, user) -> None:
    response = await client.get("/v1/user/self", headers=basic("JANE@EXAMPLE.COM"))
    assert response.status == 200
    assert (await response.json())["id"] == user["id"]


async def test_password_change_takes_effect_at_once(client, user) -> None:
    response = await client.put("/v1/user/self", json={"password": "Newpass99$", "first_name": "J"}, headers=AUTH)
    assert response.status == 204
    await problem_of(await client.get("/v1/user/self", headers=AUTH), 401)
    response = await client.get("/v1/user/self", headers=basic("jane@example.com", "Newpass99$"))
    assert (await response.json())["first_name"] == "J"


async def test_changing_email_is_400(client, user) -> None:
    body = await problem_of(
        await client.put("/v1/user/self", json={"email_address": "x@example.com"}, headers=AUTH), 400
    )
    assert body["errors"][0]["field"] == "email_address"


async def test_bill_round_trip_keeps_fields_and_exact_amount(client, user) -> None:
    response = await client.post("/v1/bill", data=b'{"vendor":"V","bill_date":"2026-01-01","due_date":"2026-01-02",'
                                 b'"amount_due":999999999.99,"paymentStatus":"paid"}', headers=AUTH | JSON)
    created = await response.json()
    assert response.status == 201
    assert response.headers["Location"] == f"/v1/bill/{created['id']}"
    assert created["amount_due"] == 999999999.99
    assert created["payment_status"] == "paid" and created["currency"] == "USD" and created["attachment"] == {}
    assert created["owner_id"] == user["id"]
    fetched = await (await client.get(f"/v1/bill/{created['id']}", headers=AUTH)).json()
    assert fetched == created


async def test_bill_validation_lists_each_bad_field(client, user) -> None:
    response = await client.post(
        "/v1/bill", json=BILL | {"amount_due": "12", "due_date": "2026-10-01", "currency": "usd"}, headers=AUTH
    )
    body = await problem_of(response, 400)
    assert {e["field"] for e in body["errors"]} == {"amount_due", "due_date", "currency"}


async def test_put_replaces_bill_and_delete_removes_it(client, user) -> None:
    created = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    response = await client.put(
        f"/v1/bill/{created['id']}", json=BILL | {"vendor": "New", "categories": []}, headers=AUTH
    )
    assert response.status == 204
    fetched = await (await client.get(f"/v1/bill/{created['id']}", headers=AUTH)).json()
    assert fetched["vendor"] == "New" and fetched["categories"] == [] and fetched["created_ts"] == created["created_ts"]
    assert (await client.delete(f"/v1/bill/{created['id']}", headers=AUTH)).status == 204
    await problem_of(await client.get(f"/v1/bill/{created['id']}", headers=AUTH), 404)


async def test_another_users_bill_is_404(client, user) -> None:
    created = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    await client.post("/v1/user", json=USER | {"email_address": "eve@example.com"})
    eve = basic("eve@example.com")
    for method in ("GET", "PUT", "DELETE"):
        await problem_of(await client.request(method, f"/v1/bill/{created['id']}", json=BILL, headers=eve), 404)
    assert (await client.get(f"/v1/bill/{created['id']}", headers=AUTH)).status == 200


@pytest.mark.parametrize("path", ["/v1/bill/not-a-uuid", "/v1/bill/123", "/nowhere"])
async def test_unknown_ids_and_routes_are_404(client, user, path) -> None:
    await problem_of(await client.get(path, headers=AUTH), 404)


async def test_wrong_method_is_405_with_allow(client) -> None:
    response = await client.patch("/v1/bills")
    await problem_of(response, 405)
    assert "GET" in response.headers["Allow"]


async def test_list_pages_with_link_header(client, user) -> None:
    for day in range(1, 6):
        await client.post(
            "/v1/bill", json=BILL | {"bill_date": "2026-01-01", "due_date": f"2026-01-0{day}"}, headers=AUTH
        )
    assert await (await client.get("/v1/bills", headers=AUTH)).json() != []
    seen, url = [], "/v1/bills?limit=2"
    while url:
        response = await client.get(url, headers=AUTH)
        seen += [b["due_date"] for b in await response.json()]
        link = response.headers.get("Link")
        url = link[link.index("<") + 1 : link.index(">")].removeprefix("https://billing.test") if link else None
    assert seen == [f"2026-01-0{d}" for d in range(1, 6)]


async def test_empty_list_is_an_empty_array(client, user) -> None:
    response = await client.get("/v1/bills", headers=AUTH)
    assert response.status == 200 and await response.json() == []


async def test_bad_list_parameters_are_400(client, user) -> None:
    body = await problem_of(await client.get("/v1/bills?limit=5000&cursor=zz", headers=AUTH), 400)
    assert {e["field"] for e in body["errors"]} == {"limit", "cursor"}


async def test_database_down_is_503_and_not_ready(client, tables) -> None:
    tables.down = True
    response = await client.post("/v1/user", json=USER)
    await problem_of(response, 503)
    assert response.headers["Retry-After"]
    await problem_of(await client.get("/readyz"), 503)
    assert (await client.get("/healthz")).status == 200


async def test_docs_served_from_local_files(client) -> None:
    page = await client.get("/docs")
    html = await page.text()
    assert page.status == 200 and "swagger" in html.lower()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert (await client.get("/docs/static/swagger-ui-bundle.js")).status == 200


async def test_due_bills_request_is_queued_and_accepted(client, user, queue) -> None:
    response = await client.get("/v1/bills/due/30", headers=AUTH)
    assert response.status == 202
    body = await response.json()
    assert body["days"] == 30 and body["message"]
    [queued] = queue.bodies
    message = json.loads(queued)
    # Ids, never the address: the worker looks the user up.
    assert set(message) == {"type", "version", "request_id", "user_id", "days", "requested_at"}
    assert (message["type"], message["version"], message["user_id"], message["days"]) == (
        "due_bills_request", 2, user["id"], 30)
    assert user["email_address"] not in queued


@pytest.mark.parametrize("days", ["366", "-1", "7.5", "x", "0366"])
async def test_due_bills_days_out_of_range_is_400(client, user, queue, days) -> None:
    await problem_of(await client.get(f"/v1/bills/due/{days}", headers=AUTH), 400)
    assert queue.bodies == []


async def test_due_bills_is_503_when_the_queue_is_down(client, user, queue) -> None:
    queue.down = True
    await problem_of(await client.get("/v1/bills/due/7", headers=AUTH), 503)


async def test_client_disconnect_mid_body_is_not_an_internal_error(fake_container, caplog) -> None:
    from aiohttp.test_utils import make_mocked_request

    from billing.entrypoints.http.problems import problem_middleware

    async def reading_handler(request):  # what request.read() raises when the peer hangs up
        raise ConnectionResetError("Connection lost")

    response = await problem_middleware(make_mocked_request("POST", "/v1/bill"), reading_handler)
    assert response.status == 400
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("raw", [b'"vendor": "\\ud800"', b'"categories": ["a\\udfff"]', b'"\\ud83d": 1',
                                 b'"nested": ' + b"[" * 900 + b'"\\ud800"' + b"]" * 900])
async def test_unpaired_surrogate_in_json_is_400_when_utf8_cannot_hold_it(client, user, raw: bytes) -> None:
    body = b'{"bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 1, "payment_status": "due", ' \
           b'"vendor": "V", ' + raw + b"}"
    problem = await problem_of(await client.post("/v1/bill", data=body, headers=AUTH | JSON), 400)
    assert problem["errors"][0]["field"] == "body"


async def test_surrogate_pair_in_json_is_one_character(client, user) -> None:
    body = b'{"bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 1, "payment_status": "due", ' \
           b'"vendor": "\\ud83d\\ude00"}'
    response = await client.post("/v1/bill", data=body, headers=AUTH | JSON)
    assert response.status == 201 and (await response.json())["vendor"] == "\U0001f600"
