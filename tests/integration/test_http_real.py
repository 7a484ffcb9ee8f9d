"""The HTTP API on real adapters: the container as production wires it, on MariaDB and SQLite."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import bcrypt
import pytest
import sqlalchemy as sa
from dependency_injector import providers

from billing.adapters.sql.tables import bills, users
from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.config import Settings
from billing.container import Container
from billing.domain.use_cases.list_own_bills import PAGE_SIZE, ListOwnBills
from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic
from tests.integration.conftest import make_container, wipe

USER = {"first_name": "Jane", "last_name": "Doe", "email_address": "jane@example.com", "password": PASSWORD}
BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 0.1,
        "currency": "EUR", "categories": ["power", "home"], "paymentStatus": "past_due"}
AUTH = basic("jane@example.com")


@pytest.fixture
async def client(aiohttp_client, real_container):
    return await aiohttp_client(create_app(real_container))


async def test_full_session_on_real_database(client) -> None:
    assert (await client.post("/v1/user", json=USER)).status == 201
    created = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    assert created["amount_due"] == 0.1 and created["payment_status"] == "past_due"
    update = BILL | {"amount_due": 1000000000, "vendor": "Renamed"}
    assert (await client.put(f"/v1/bill/{created['id']}", json=update, headers=AUTH)).status == 204
    listed = await (await client.get("/v1/bills?payment_status=past_due", headers=AUTH)).json()
    assert [(b["vendor"], b["amount_due"]) for b in listed] == [("Renamed", 1000000000)]
    assert (await client.delete(f"/v1/bill/{created['id']}", headers=AUTH)).status == 204
    assert await (await client.get("/v1/bills", headers=AUTH)).json() == []
    assert (await client.get("/readyz")).status == 200


async def test_old_webapp_bcrypt_password_signs_in_and_is_upgraded(client, real_container) -> None:
    user = await (await client.post("/v1/user", json=USER)).json()
    legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    engine = real_container.engine()
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(users).where(users.c.email_address == "jane@example.com").values(password_hash=legacy)
        )
    response = await client.get("/v1/user/self", headers=basic("Jane@Example.com"))
    assert response.status == 200 and (await response.json())["id"] == user["id"]
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(users.c.password_hash))).scalar_one()
    assert stored.startswith("$argon2id$")
    assert (await client.get("/v1/user/self", headers=AUTH)).status == 200


async def test_old_password_is_401_right_after_a_change(client) -> None:
    await client.post("/v1/user", json=USER)
    assert (await client.get("/v1/user/self", headers=AUTH)).status == 200  # now cached
    assert (await client.put("/v1/user/self", json={"password": "Newpass99$"}, headers=AUTH)).status == 204
    assert (await client.get("/v1/user/self", headers=AUTH)).status == 401
    assert (await client.get("/v1/user/self", headers=basic("jane@example.com", "Newpass99$"))).status == 200


async def test_unreachable_database_is_a_fast_503(aiohttp_client) -> None:
    # Nothing listens on port 1: the connection is refused, and the answer must not hang.
    settings = Settings(database_url="mysql+aiomysql://nobody:x@127.0.0.1:1/none")
    container = Container(settings=settings)
    client = await aiohttp_client(create_app(container))
    started = time.monotonic()
    response = await client.post("/v1/user", json=USER)
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    assert (await client.get("/readyz")).status == 503
    assert time.monotonic() - started < 2
    await container.engine().dispose()


WIRE_TIMESTAMP = re.compile(r'"(?:created_ts|updated_ts|upload_date)":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"')


def exact(raw: bytes) -> Any:
    """The body with its numbers as exact Decimals (what a careful client reads)."""
    return json.loads(raw, parse_float=Decimal)


def unsigned(bill: dict[str, Any]) -> dict[str, Any]:
    """The bill without its attachment's link (signed anew for every answer)."""
    return bill | {"attachment": {k: v for k, v in bill["attachment"].items() if k != "url"}}


async def test_every_answer_writes_a_bill_alike_from_the_database(client, real_container) -> None:
    assert (await client.post("/v1/user", json=USER)).status == 201
    posted = []
    for due, amount in (("2026-11-30", b"0.1"), ("2026-12-01", b"999999999.99"), ("2026-12-01", b"1000000000")):
        body = (b'{"vendor":"Northwind","bill_date":"2026-11-01","due_date":"%s","amount_due":%s,'
                b'"payment_status":"due"}' % (due.encode(), amount))
        response = await client.post("/v1/bill", data=body, headers=AUTH | {"Content-Type": "application/json"})
        assert response.status == 201
        created = exact(await response.read())
        assert created["amount_due"] == Decimal(amount.decode()) and created["attachment"] == {}
        posted.append(created)
    on_the_second = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    async with real_container.engine().begin() as conn:
        await conn.execute(sa.update(bills).where(bills.c.id == posted[0]["id"])
                           .values(created_ts=on_the_second, updated_ts=on_the_second))
    form = aiohttp.FormData()
    form.add_field("attachment", io.BytesIO(b"%PDF-1.7\n" + b"x" * 100), filename="facture été.pdf")
    response = await client.post(f"/v1/bill/{posted[1]['id']}/file", data=form, headers=AUTH)
    assert response.status == 201
    attachment = exact(await response.read())

    singles = [await client.get(f"/v1/bill/{bill['id']}", headers=AUTH) for bill in posted]
    raws = [await r.read() for r in singles]
    listing = await (await client.get("/v1/bills", headers=AUTH)).read()
    paged = [await (await client.get(f"/v1/bills?limit=1&due_after={d}&due_before={d}", headers=AUTH)).read()
             for d in ("2026-11-30",)]
    real_container.list_own_bills.override(providers.Factory(
        ListOwnBills, real_container.read_uow, real_container.authenticate, real_container.file_store, page_size=1))
    streamed = await client.get("/v1/bills", headers=AUTH)
    assert streamed.headers["Transfer-Encoding"] == "chunked"
    streamed_raw = await streamed.read()

    bills_read = [exact(raw) for raw in raws]
    in_order = sorted(bills_read, key=lambda b: (b["due_date"], b["id"]))
    assert [unsigned(b) for b in exact(listing)] == [unsigned(b) for b in exact(streamed_raw)] \
        == [unsigned(b) for b in in_order]
    assert exact(paged[0]) == [bills_read[0]]
    assert bills_read[0]["created_ts"] == bills_read[0]["updated_ts"] == "2026-11-24T09:30:00.000Z"
    assert [b["amount_due"] for b in bills_read] == [Decimal("0.1"), Decimal("999999999.99"), Decimal("1000000000")]
    assert [{k: v for k, v in b.items() if k not in ("created_ts", "updated_ts", "attachment")} for b in bills_read] \
        == [{k: v for k, v in b.items() if k not in ("created_ts", "updated_ts", "attachment")} for b in posted]
    assert bills_read[1]["attachment"]["url"].startswith(real_container.settings().aws_endpoint_url)
    assert unsigned(bills_read[1])["attachment"] == {k: v for k, v in attachment.items() if k != "url"}
    assert (bills_read[0]["attachment"], bills_read[2]["attachment"]) == ({}, {})
    for raw in (*raws, listing, streamed_raw, paged[0]):
        assert b'"attachment":{}' in raw or b'"attachment":{"id"' in raw
        stamps = WIRE_TIMESTAMP.findall(raw.decode())
        assert stamps and len(stamps) == raw.count(b'_ts"') + raw.count(b'"upload_date"')


async def insert_bills(container, owner_id: str, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """`count` bills of the owner, straight into the database; three due dates only, so that the
    order within a date (the id) decides each page boundary. Their ids, in the listing's order."""
    now = datetime(2026, 11, 24, 9, 30, 0, 123000, tzinfo=UTC)
    rows = [{"id": uuid.uuid4(), "owner_id": uuid.UUID(owner_id), "vendor": f"Vendor {i}",
             "bill_date": date(2026, 11, 1), "due_date": date(2026, 12, 1 + i % 3), "amount_due": Decimal("10.25"),
             "currency": "EUR", "categories": ["home"], "payment_status": "due", "created_ts": now, "updated_ts": now}
            for i in range(count)]
    async with container.engine().begin() as conn:
        await conn.execute(bills.insert(), rows)
    return [str(r["id"]) for r in sorted(rows, key=lambda r: (r["due_date"], str(r["id"])))]


@pytest.mark.parametrize("count", [PAGE_SIZE, PAGE_SIZE + 1, 2 * PAGE_SIZE, 2 * PAGE_SIZE + 1])
async def test_unpaged_listing_gives_every_bill_once_in_order_across_page_boundaries(
        client, real_container, count: int) -> None:
    user = await (await client.post("/v1/user", json=USER)).json()
    expected = await insert_bills(real_container, user["id"], count)
    response = await client.get("/v1/bills", headers=AUTH)
    assert response.status == 200
    assert ("Transfer-Encoding" in response.headers) == (count > PAGE_SIZE)  # streamed past one page
    listed = await response.json()
    assert [b["id"] for b in listed] == expected
    assert all(b["owner_id"] == user["id"] and b["attachment"] == {} for b in listed)


async def test_busy_pool_is_a_503_with_retry_after_logged_as_busy(aiohttp_client, mysql_url, aws_endpoint,
                                                                   caplog) -> None:
    # BILLING_DB_POOL_SIZE=2: one connection for transactions, one for reads.
    container = make_container(mysql_url, aws_endpoint, db_pool_size=2, db_timeout_seconds=1.0)
    await wipe(container.engine())
    client = await aiohttp_client(create_app(container))
    try:
        assert (await client.post("/v1/user", json=USER)).status == 201
        created = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
        # someone else's long read (no deadline) holds the read pool's connection
        async with SqlUnitOfWork(container.read_engine(), read_only=True):
            response = await client.get(f"/v1/bill/{created['id']}", headers=AUTH)
            assert response.status == 503 and response.content_type == "application/problem+json"
            assert response.headers["Retry-After"] == "1"
            assert "busy" in (await response.json())["detail"]
        assert (await client.get(f"/v1/bill/{created['id']}", headers=AUTH)).status == 200
        logged = [r.getMessage() for r in caplog.records if r.name == "billing.http"]
        assert logged == ["busy: every pooled database connection is in use; none came free in time"]
        assert not [r for r in caplog.records if "cannot be reached" in r.getMessage()]
    finally:
        await container.engine().dispose()
        await container.read_engine().dispose()
