"""The warm authenticated read's database work, counted statement by statement.

Sign-in throttling keeps its counters in the database; a read whose credentials were verified
lately must not pay for that. The counts below are what main measured before the throttle moved
into the database (one SELECT for the caller and the bill together, nothing else): they may
shrink, never grow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.entrypoints.http.app import create_app
from tests.conftest import basic

USER = {"first_name": "Jane", "last_name": "Doe", "email_address": "jane@example.com", "password": "Abcd1234!"}
BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "due_date": "2026-11-30", "amount_due": 12.5,
        "currency": "EUR", "categories": [], "paymentStatus": "due"}
AUTH = basic("jane@example.com")

# Measured on main before the throttle's counters moved into the database. "rollbacks" counts
# SQLAlchemy's rollback events: on MariaDB the read pool's autocommit connections skip sending it.
WARM_BILL_READ = {"mariadb": {"statements": 1, "commits": 0, "rollbacks": 1},
                  "sqlite": {"statements": 1, "commits": 0, "rollbacks": 1}}


@contextmanager
def counted(*engines: AsyncEngine) -> Iterator[dict[str, list[str]]]:
    """Every statement sent to, and every commit and rollback of, the engines' connections."""
    seen: dict[str, list[str]] = {"statements": [], "commits": [], "rollbacks": []}

    def statement(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        seen["statements"].append(text)

    def commit(_conn: Any) -> None:
        seen["commits"].append("COMMIT")

    def rollback(_conn: Any) -> None:
        seen["rollbacks"].append("ROLLBACK")

    listeners = [("before_cursor_execute", statement), ("commit", commit), ("rollback", rollback)]
    targets = list({id(e.sync_engine): e.sync_engine for e in engines}.values())
    for target in targets:
        for name, fn in listeners:
            sa.event.listen(target, name, fn)
    try:
        yield seen
    finally:
        for target in targets:
            for name, fn in listeners:
                sa.event.remove(target, name, fn)


async def test_a_warm_bill_read_sends_no_more_statements_than_before(aiohttp_client, real_container,
                                                                     database_url: str) -> None:
    client = await aiohttp_client(create_app(real_container))
    assert (await client.post("/v1/user", json=USER)).status == 201
    with counted(real_container.engine(), real_container.read_engine()) as cold:
        bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()  # verifies: now warm
    assert any("attempt_counters" in s for s in cold["statements"])  # the computed check was reserved
    path = f"/v1/bill/{bill['id']}"
    assert (await client.get(path, headers=AUTH)).status == 200

    with counted(real_container.engine(), real_container.read_engine()) as seen:
        for _ in range(3):
            response = await client.get(path, headers=AUTH)
            assert response.status == 200, await response.text()

    kind = "mariadb" if database_url.startswith("mysql") else "sqlite"
    per_read = {name: len(items) / 3 for name, items in seen.items()}
    assert per_read == pytest.approx(WARM_BILL_READ[kind]), seen
    assert not any("attempt_counters" in s for s in seen["statements"])
