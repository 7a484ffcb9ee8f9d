"""GET /v1/bills without `limit` and longer than a page: streamed page by page (over fakes, pages of 2)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from aiohttp import web
from dependency_injector import providers

from billing.container import Container
from billing.domain.model import ServiceBusy, ServiceUnavailable
from billing.domain.use_cases.list_own_bills import ListOwnBills
from billing.entrypoints.http.app import create_app
from tests.fakes import Tables
from tests.unit.conftest import AUTH

BILL = {"vendor": "Northwind", "bill_date": "2026-11-01", "amount_due": 120.5, "payment_status": "due"}
PAGE = 2


@pytest.fixture
async def client(aiohttp_client, fake_container: Container):  # type: ignore[no-untyped-def]
    c = fake_container
    c.list_own_bills.override(providers.Factory(ListOwnBills, c.read_uow, c.authenticate, c.file_store, page_size=PAGE))
    return await aiohttp_client(create_app(c))


async def add_bills(client, count: int) -> list[dict]:  # type: ignore[no-untyped-def]
    created = []
    for i in range(count):  # two bills per due date: ties on the page boundaries, ordered by id
        bill = BILL | {"due_date": f"2026-12-{1 + i // 2:02d}", "amount_due": 10 + i + 0.01}
        response = await client.post("/v1/bill", json=bill, headers=AUTH)
        assert response.status == 201
        created.append(await response.json())
    return sorted(created, key=lambda b: (b["due_date"], b["id"]))


async def walk_pages(client, limit: int) -> list[dict]:  # type: ignore[no-untyped-def]
    seen, url = [], f"/v1/bills?limit={limit}"
    while url:
        response = await client.get(url, headers=AUTH)
        seen += await response.json()
        link = response.headers.get("Link")
        url = link[link.index("<") + 1 : link.index(">")].removeprefix("https://billing.test") if link else None
    return seen


@pytest.mark.parametrize("count", [PAGE + 1, 2 * PAGE, 3 * PAGE + 1])
async def test_every_bill_streamed_in_order_as_paged_and_single_reads_give_them_when_longer_than_a_page(
        client, user, count: int) -> None:
    created = await add_bills(client, count)
    response = await client.get("/v1/bills", headers=AUTH | {"X-Request-Id": "list-1"})
    assert response.status == 200 and response.content_type == "application/json"
    assert response.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in response.headers
    assert response.headers["X-Request-Id"] == "list-1"  # a streamed answer keeps the middlewares' headers
    listed = await response.json()
    assert listed == created  # every one, once, ordered by (due_date, id), as POST answered them
    assert listed == await walk_pages(client, PAGE) == await walk_pages(client, 3)
    for bill in listed:
        assert await (await client.get(f"/v1/bill/{bill['id']}", headers=AUTH)).json() == bill


@pytest.mark.parametrize("count", [0, 1, PAGE])
async def test_one_plain_answer_when_a_page_holds_every_bill(client, user, count: int) -> None:
    created = await add_bills(client, count)
    response = await client.get("/v1/bills", headers=AUTH)
    assert response.status == 200 and "Transfer-Encoding" not in response.headers
    assert int(response.headers["Content-Length"]) == len(await response.read())
    assert await response.json() == created


async def test_head_of_a_long_listing_reads_no_further_page(client, user, tables: Tables) -> None:
    await add_bills(client, 3 * PAGE)
    response = await client.head("/v1/bills", headers=AUTH)
    assert response.status == 200 and await response.read() == b""
    assert tables.pages_read == 0 and tables.open_units == 0


@pytest.mark.parametrize(("error", "logged"), [(ServiceUnavailable("fake database is down"), "dependency unavailable"),
                                                (ServiceBusy("fake pool is exhausted"), "busy")])
async def test_connection_cut_before_the_array_ends_when_a_later_page_cannot_be_read(
        client, user, tables: Tables, caplog, error: ServiceUnavailable, logged: str) -> None:
    await add_bills(client, 3 * PAGE)
    tables.page_error = error
    response = await client.get("/v1/bills", headers=AUTH)
    assert response.status == 200  # the status line went with the first page
    with pytest.raises(aiohttp.ClientError):
        await response.read()  # never a shorter array that looks whole
    await until(lambda: tables.open_units == 0)
    warnings = [r.getMessage() for r in caplog.records if r.name == "billing.http" and r.levelno == logging.WARNING]
    assert warnings == [f"{logged}: {error}"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("cancelled", [False, True], ids=["aiohttp-default", "handler-cancellation"])
async def test_pages_stop_quietly_when_the_client_goes_away_mid_stream(
        client, user, fake_container: Container, tables: Tables, caplog, cancelled: bool) -> None:
    await add_bills(client, 4 * PAGE)
    caplog.set_level(logging.INFO, logger="billing.http")
    # `billing serve` leaves aiohttp's default (the handler runs on and its next write fails); the
    # test client's server cancels the handler instead. Either way, no further page is read.
    runner = web.AppRunner(create_app(fake_container), handler_cancellation=cancelled)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        tables.page_hold = asyncio.Event()  # the second page waits
        async with aiohttp.ClientSession() as http:
            response = await http.get(f"http://127.0.0.1:{runner.addresses[0][1]}/v1/bills", headers=AUTH)
            assert response.status == 200
            assert (await response.content.readany()).startswith(b'[{"id":')
            response.close()  # the client hangs up
        await until(lambda: tables.pages_read == 1)
        await asyncio.sleep(0.05)  # the server sees the connection closed
        tables.page_hold.set()
        await until(lambda: tables.open_units == 0 and not runner.server.connections)  # type: ignore[union-attr]
        assert tables.pages_read == 1  # no page read for nobody
        if not cancelled:
            assert [r.getMessage() for r in caplog.records if r.name == "billing.http"] == [
                "client disconnected during GET /v1/bills"]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        await runner.cleanup()


async def until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
