"""The HTTP API on real adapters: the container as production wires it, on MariaDB and SQLite."""

from __future__ import annotations

import time

import bcrypt
import pytest
import sqlalchemy as sa
from dependency_injector import providers

from billing.adapters.sql.tables import users
from billing.config import Settings
from billing.container import Container
from billing.entrypoints.http.app import create_app
from tests.conftest import PASSWORD, basic

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
        await conn.execute(sa.update(users).where(users.c.email_address == "jane@example.com").values(password_hash=legacy))
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
