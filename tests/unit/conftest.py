"""The HTTP layer over fakes: a client on the app built from the fake container, and a signed-up user;
the production logging setup on a buffer."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient

from billing.entrypoints.http.app import create_app
from billing.entrypoints.logging_setup import configure_logging
from tests.conftest import PASSWORD, basic

USER = {"first_name": "Jane", "last_name": "Doe", "email_address": "Jane@Example.com", "password": PASSWORD}
AUTH = basic("jane@example.com")


@pytest.fixture
async def client(aiohttp_client, fake_container) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(create_app(fake_container))


@pytest.fixture
async def user(client) -> dict:  # type: ignore[no-untyped-def]
    response = await client.post("/v1/user", json=USER)
    assert response.status == 201
    return await response.json()


@pytest.fixture
def local_zone_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone at UTC+05:30, so that code converting to the local zone
    instead of UTC shows (the machines run in UTC, where the two agree)."""
    monkeypatch.setenv("TZ", "IST-05:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The production logging setup (JSON) on a buffer; the root logger is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(logging.INFO, "json", stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)
