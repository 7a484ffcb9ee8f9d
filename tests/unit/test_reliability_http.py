"""Idempotency keys, login throttling, limits and response headers, over the fakes."""

from __future__ import annotations

import asyncio
import io

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from dependency_injector import providers

from billing.config import ConfigError, Settings
from billing.domain.use_cases.create_bill import CreateBill
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.idempotency import ABANDONED_AFTER, RETENTION
from tests.conftest import basic, container_with_fakes
from tests.fakes import FakeClock, FakeFileStore, FakePasswordHasher, Tables
from tests.unit.conftest import AUTH, USER
from tests.unit.test_http_api import BILL, problem_of

PDF = b"%PDF-1.7\n" + b"x" * 5000


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def client_for(aiohttp_client, tables, clock, hasher, **settings) -> TestClient:  # type: ignore[no-untyped-def]
    container = container_with_fakes(Settings(public_base_url="https://billing.test") if not settings
                                     else Settings(**settings), tables, clock, hasher, file_store=FakeFileStore())
    return await aiohttp_client(create_app(container))


def form(data: bytes, name: str = "invoice.pdf") -> aiohttp.FormData:
    body = aiohttp.FormData()
    body.add_field("attachment", io.BytesIO(data), filename=name, content_type="application/pdf")
    return body


# --- Idempotency-Key ---------------------------------------------------------------------------

async def test_replay_returns_the_first_answer_and_creates_nothing_more(client, user, tables) -> None:
    first = await client.post("/v1/bill", json=BILL, headers=AUTH | key("k-1"))
    again = await client.post("/v1/bill", json=BILL, headers=AUTH | key("k-1"))
    assert (first.status, again.status) == (201, 201)
    assert await again.read() == await first.read()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(tables.bills) == 1


async def test_same_key_with_another_body_or_path_is_422(client, user, tables) -> None:
    assert (await client.post("/v1/bill", json=BILL, headers=AUTH | key("k"))).status == 201
    await problem_of(await client.post("/v1/bill", json=BILL | {"vendor": "Other"}, headers=AUTH | key("k")), 422)
    bill_id = next(iter(tables.bills))
    await problem_of(await client.post(f"/v1/bill/{bill_id}/file", data=form(PDF), headers=AUTH | key("k")), 422)
    assert len(tables.bills) == 1


async def test_keys_are_scoped_to_the_caller(client, user, tables) -> None:
    other = USER | {"email_address": "other@example.com"}
    assert (await client.post("/v1/user", json=other)).status == 201
    a = await client.post("/v1/bill", json=BILL, headers=AUTH | key("shared"))
    b = await client.post("/v1/bill", json=BILL, headers=basic("other@example.com") | key("shared"))
    assert (a.status, b.status) == (201, 201)
    assert "Idempotent-Replayed" not in b.headers and (await a.json())["id"] != (await b.json())["id"]


async def test_failed_validation_is_not_stored(client, user, tables) -> None:
    await problem_of(await client.post("/v1/bill", json=BILL | {"vendor": ""}, headers=AUTH | key("v")), 400)
    response = await client.post("/v1/bill", json=BILL, headers=AUTH | key("v"))  # the corrected retry
    assert response.status == 201 and "Idempotent-Replayed" not in response.headers
    assert not any(e.in_flight for e in tables.idempotency.values())


async def test_a_failure_releases_the_key(client, user, tables) -> None:
    tables.down = True
    await problem_of(await client.post("/v1/bill", json=BILL, headers=AUTH | key("d")), 503)
    tables.down = False
    assert (await client.post("/v1/bill", json=BILL, headers=AUTH | key("d"))).status == 201


async def test_concurrent_duplicate_in_flight_is_409(client, user, tables, fake_container) -> None:
    gate = asyncio.Event()
    real = fake_container.create_bill()

    class Slow:
        async def execute(self, command):  # type: ignore[no-untyped-def]
            await gate.wait()
            return await real.execute(command)

    fake_container.create_bill.override(providers.Factory(Slow))
    first = asyncio.create_task(client.post("/v1/bill", json=BILL, headers=AUTH | key("c")))
    while not tables.idempotency:
        await asyncio.sleep(0.01)
    response = await client.post("/v1/bill", json=BILL, headers=AUTH | key("c"))
    await problem_of(response, 409)
    assert response.headers["Retry-After"]
    gate.set()
    assert (await first).status == 201
    assert len(tables.bills) == 1


async def test_entries_expire_after_24_hours_and_abandoned_claims_free_themselves(client, user, tables, clock) -> None:
    assert (await client.post("/v1/bill", json=BILL, headers=AUTH | key("t"))).status == 201
    clock.advance(seconds=RETENTION.total_seconds() + 1)
    response = await client.post("/v1/bill", json=BILL, headers=AUTH | key("t"))
    assert response.status == 201 and "Idempotent-Replayed" not in response.headers
    assert len(tables.bills) == 2
    # a claim left in flight by a crash
    [(scope, key_hash)] = [k for k, e in tables.idempotency.items()]
    import dataclasses
    tables.idempotency[(scope, key_hash)] = dataclasses.replace(tables.idempotency[(scope, key_hash)],
                                                                  replay=None, fingerprint=None)
    await problem_of(await client.post("/v1/bill", json=BILL, headers=AUTH | key("t")), 409)
    clock.advance(seconds=ABANDONED_AFTER.total_seconds() + 1)
    assert (await client.post("/v1/bill", json=BILL, headers=AUTH | key("t"))).status == 201


@pytest.mark.parametrize("value", ["", "x" * 256, "tab\there", "é"])
async def test_malformed_key_is_400(client, user, value) -> None:
    body = await problem_of(await client.post("/v1/bill", json=BILL, headers=AUTH | {"Idempotency-Key": value}), 400)
    assert body["errors"][0]["field"] == "Idempotency-Key"


async def test_key_of_255_characters_is_accepted(client, user) -> None:
    assert (await client.post("/v1/bill", json=BILL, headers=AUTH | key("k" * 255))).status == 201


async def test_registration_replays_and_refuses_another_body(client, tables) -> None:
    first = await client.post("/v1/user", json=USER, headers=key("reg"))
    again = await client.post("/v1/user", json=USER, headers=key("reg"))
    assert (first.status, again.status) == (201, 201) and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    other = USER | {"email_address": "someone@example.com"}
    await problem_of(await client.post("/v1/user", json=other, headers=key("reg")), 422)
    assert len(tables.users) == 1


async def test_a_request_whose_claim_was_taken_over_writes_nothing_and_is_409(client, user, tables, clock,
                                                                            fake_container) -> None:
    gate, calls = asyncio.Event(), []

    class FirstIsSlow:
        async def execute(self, command):  # type: ignore[no-untyped-def]
            calls.append(command)
            if len(calls) == 1:
                await gate.wait()
            return await CreateBill(fake_container.uow(), fake_container.clock()).execute(command)

    fake_container.create_bill.override(providers.Factory(FirstIsSlow))
    first = asyncio.create_task(client.post("/v1/bill", json=BILL, headers=AUTH | key("s")))
    while not calls:
        await asyncio.sleep(0.01)
    clock.advance(seconds=ABANDONED_AFTER.total_seconds() + 1)  # the first looks abandoned now
    second = await client.post("/v1/bill", json=BILL, headers=AUTH | key("s"))
    assert second.status == 201 and "Idempotent-Replayed" not in second.headers
    gate.set()
    late = await first
    await problem_of(late, 409)
    assert late.headers["Retry-After"]
    assert [str(b) for b in tables.bills] == [(await second.json())["id"]]
    again = await client.post("/v1/bill", json=BILL, headers=AUTH | key("s"))
    assert again.headers["Idempotent-Replayed"] == "true" and await again.read() == await second.read()


async def test_unkeyed_posts_never_reach_the_idempotency_store(client, user, tables, fake_container) -> None:
    class Unreachable:
        async def claim(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("an unkeyed request claimed a key")

        release = claim

    fake_container.idempotency_store.override(providers.Object(Unreachable()))
    bill = await client.post("/v1/bill", json=BILL, headers=AUTH)
    assert bill.status == 201
    assert (await client.post("/v1/user", json=USER | {"email_address": "other@example.com"})).status == 201
    upload = await client.post(f"/v1/bill/{(await bill.json())['id']}/file", data=form(PDF), headers=AUTH)
    assert upload.status == 201, await upload.text()


async def test_upload_replays_by_content_and_refuses_other_content(client, user, file_store, tables) -> None:
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    path = f"/v1/bill/{bill['id']}/file"
    first = await client.post(path, data=form(PDF), headers=AUTH | key("u"))
    assert first.status == 201, await first.text()
    again = await client.post(path, data=form(PDF), headers=AUTH | key("u"))  # a new boundary, same file
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.json() == await first.json()
    await problem_of(await client.post(path, data=form(PDF + b"!"), headers=AUTH | key("u")), 422)
    await problem_of(await client.post(path, data=form(PDF, "other.pdf"), headers=AUTH | key("u")), 422)
    assert len(file_store.objects) == 1


# --- sign-in throttling (the rules themselves: tests/unit/test_throttle.py) -----------------------

ATTACKER = {"X-Forwarded-For": "203.0.113.9"}
OWNER = {"X-Forwarded-For": "198.51.100.7"}
WRONG = basic("jane@example.com", "Wrong999!")


async def behind_the_alb(aiohttp_client, tables, clock, hasher, **settings) -> TestClient:  # type: ignore[no-untyped-def]
    """A client of the app behind one trusted proxy (X-Forwarded-For names the client), Jane registered."""
    client = await client_for(aiohttp_client, tables, clock, hasher, forwarded_hops=1, **settings)
    assert (await client.post("/v1/user", json=USER)).status == 201
    return client


async def test_guesser_gets_429_while_the_owner_signs_in_from_another_address(aiohttp_client, tables, clock,
                                                                              hasher) -> None:
    client = await behind_the_alb(aiohttp_client, tables, clock, hasher)
    for _ in range(5):
        await problem_of(await client.get("/v1/user/self", headers=WRONG | ATTACKER), 401)
    computed = hasher.computed
    refused = await client.get("/v1/user/self", headers=WRONG | ATTACKER)
    body = await problem_of(refused, 429)
    assert refused.headers["Retry-After"] == "900" and "900 s" in body["detail"]
    assert "WWW-Authenticate" not in refused.headers
    # Refused unchecked, even with the right password: the guesser learns nothing more.
    await problem_of(await client.get("/v1/user/self", headers=AUTH | ATTACKER), 429)
    assert hasher.computed == computed
    assert (await client.get("/v1/user/self", headers=AUTH | OWNER)).status == 200
    clock.advance(seconds=900)  # the window ended: five more guesses, never locked for good
    await problem_of(await client.get("/v1/user/self", headers=WRONG | ATTACKER), 401)


async def test_a_correct_password_resets_its_pair(aiohttp_client, tables, clock, hasher) -> None:
    client = await behind_the_alb(aiohttp_client, tables, clock, hasher)
    for _ in range(4):
        await problem_of(await client.get("/v1/user/self", headers=WRONG | OWNER), 401)
    assert (await client.get("/v1/user/self", headers=AUTH | OWNER)).status == 200
    for _ in range(5):
        await problem_of(await client.get("/v1/user/self", headers=WRONG | OWNER), 401)
    await problem_of(await client.get("/v1/user/self", headers=WRONG | OWNER), 429)


async def test_a_remembered_success_touches_no_counter(aiohttp_client, tables, clock, hasher) -> None:
    client = await behind_the_alb(aiohttp_client, tables, clock, hasher)
    assert (await client.get("/v1/user/self", headers=AUTH | OWNER)).status == 200  # computed once
    counters = dict(tables.attempt_counters)
    for _ in range(5):
        await problem_of(await client.get("/v1/user/self", headers=WRONG | OWNER), 401)
    await problem_of(await client.get("/v1/user/self", headers=WRONG | OWNER), 429)
    after_the_failures = dict(tables.attempt_counters)
    assert after_the_failures != counters
    for _ in range(3):  # the owner, known to the hasher, from the very address that is refused
        assert (await client.get("/v1/user/self", headers=AUTH | OWNER)).status == 200
    assert tables.attempt_counters == after_the_failures and hasher.remembered == 3


async def test_reads_that_authenticate_in_their_query_are_throttled_alike(aiohttp_client, tables, clock,
                                                                          hasher) -> None:
    client = await behind_the_alb(aiohttp_client, tables, clock, hasher)
    bill = "/v1/bill/0b0b0b0b-0000-4000-8000-000000000000"
    for path in ("/v1/bills", bill, "/v1/bills", bill, "/v1/bills"):
        await problem_of(await client.get(path, headers=WRONG | ATTACKER), 401)
    await problem_of(await client.get("/v1/bills", headers=AUTH | ATTACKER), 429)
    await problem_of(await client.get(bill, headers=AUTH | ATTACKER), 429)
    await problem_of(await client.get(bill, headers=AUTH | OWNER), 404)
    assert (await client.get("/v1/bills", headers=AUTH | OWNER)).status == 200
    # A stranger learns nothing from a malformed id or query: 401 first, as on every route.
    await problem_of(await client.get("/v1/bill/not-a-uuid"), 401)
    await problem_of(await client.get("/v1/bills?limit=0", headers=WRONG | OWNER), 401)
    await problem_of(await client.get("/v1/bill/not-a-uuid", headers=AUTH | OWNER), 404)
    await problem_of(await client.get("/v1/bills?limit=0", headers=AUTH | OWNER), 400)


async def test_failures_from_one_address_throttle_every_account_it_tries(aiohttp_client, tables, clock,
                                                                         hasher) -> None:
    client = await behind_the_alb(aiohttp_client, tables, clock, hasher, login_failures_per_address=3)
    for i in range(3):
        await problem_of(await client.get("/v1/user/self", headers=basic(f"nobody{i}@example.com") | ATTACKER), 401)
    response = await client.get("/v1/user/self", headers=AUTH | ATTACKER)  # a known account, the right password
    await problem_of(response, 429)
    assert response.headers["Retry-After"] == "900"
    assert (await client.get("/v1/user/self", headers=AUTH | OWNER)).status == 200


async def test_unknown_and_known_accounts_are_throttled_alike(aiohttp_client, tables, clock, hasher) -> None:
    client = await behind_the_alb(aiohttp_client, tables, clock, hasher)
    answers = {}
    for login in ("jane@example.com", "ghost@example.com"):
        statuses = [(await client.get("/v1/user/self", headers=basic(login, "Wrong999!") | ATTACKER)).status
                    for _ in range(7)]
        answers[login] = statuses
    assert answers["jane@example.com"] == answers["ghost@example.com"] == [401] * 5 + [429] * 2


async def test_a_malformed_authorization_header_checks_no_password_and_counts_nothing(client, hasher,
                                                                                       tables) -> None:
    for header in ("Basic !!!", "Bearer x", "Basic " + "QQ=="):
        await problem_of(await client.get("/v1/user/self", headers={"Authorization": header}), 401)
    assert hasher.computed == hasher.decoy_checks == 0 and tables.attempt_counters == {}


async def test_forwarded_address_used_only_behind_trusted_proxies(aiohttp_client, tables, clock, hasher) -> None:
    client = await client_for(aiohttp_client, tables, clock, hasher, login_failures_per_address=1, forwarded_hops=1)
    for ip in ("10.0.0.1", "10.0.0.2"):  # one failure each: under the limit per address
        await problem_of(await client.get("/v1/user/self", headers=basic(f"a{ip}@example.com")
                                          | {"X-Forwarded-For": f"1.2.3.4, {ip}"}), 401)
    await problem_of(await client.get("/v1/user/self", headers=basic("b@example.com")
                                      | {"X-Forwarded-For": "10.0.0.3"}), 401)
    await problem_of(await client.get("/v1/user/self", headers=basic("c@example.com")
                                      | {"X-Forwarded-For": "10.0.0.2, 10.0.0.3"}), 429)  # 10.0.0.3 again


async def test_without_trusted_proxies_the_peer_is_the_client(aiohttp_client, tables, clock, hasher) -> None:
    client = await client_for(aiohttp_client, tables, clock, hasher, login_failures_per_address=1)
    await problem_of(await client.get("/v1/user/self", headers=basic("a@example.com")
                                      | {"X-Forwarded-For": "10.0.0.1"}), 401)
    await problem_of(await client.get("/v1/user/self", headers=basic("b@example.com")  # the forged header is ignored
                                      | {"X-Forwarded-For": "10.0.0.2"}), 429)


# --- registration throttling -------------------------------------------------------------------

async def test_registrations_past_the_limit_are_429_and_store_nothing(aiohttp_client, tables, clock, hasher) -> None:
    client = await client_for(aiohttp_client, tables, clock, hasher, forwarded_hops=1, registrations_per_address=3)
    here, there = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.7"}
    for i in range(3):
        response = await client.post("/v1/user", json=USER | {"email_address": f"u{i}@example.com"}, headers=here)
        assert response.status == 201
    # A taken address counts too: probing which addresses are registered is limited alike.
    await problem_of(await client.post("/v1/user", json=USER | {"email_address": "u0@example.com"}, headers=here), 429)
    refused = await client.post("/v1/user", json=USER | {"email_address": "u9@example.com"}, headers=here)
    body = await problem_of(refused, 429)
    assert refused.headers["Retry-After"] == "3600" and "3600 s" in body["detail"]
    assert len(tables.users) == 3
    assert (await client.post("/v1/user", json=USER | {"email_address": "v@example.com"}, headers=there)).status == 201
    clock.advance(seconds=3600)
    assert (await client.post("/v1/user", json=USER | {"email_address": "u9@example.com"}, headers=here)).status == 201


async def test_an_invalid_registration_is_400_and_not_counted(aiohttp_client, tables, clock, hasher) -> None:
    client = await client_for(aiohttp_client, tables, clock, hasher, registrations_per_address=1)
    for _ in range(3):
        await problem_of(await client.post("/v1/user", json=USER | {"email_address": "nope"}), 400)
    assert (await client.post("/v1/user", json=USER)).status == 201


# --- limits ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/user"), ("PUT", "/v1/user/self"), ("POST", "/v1/bill")])
async def test_json_over_64_kib_is_413_on_every_route(client, user, method, path) -> None:
    big = BILL | {"vendor": "v" * 70_000}
    await problem_of(await client.request(method, path, json=big, headers=AUTH), 413)


async def test_chunked_json_without_length_is_cut_at_64_kib(client, user) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"vendor": "'
        for _ in range(20):
            yield b"v" * 8192
        yield b'"}'

    await problem_of(
        await client.post("/v1/bill", data=chunks(), headers=AUTH | {"Content-Type": "application/json"}), 413
    )


async def test_more_than_50_categories_is_400(client, user) -> None:
    body = await problem_of(await client.post("/v1/bill", json=BILL | {"categories": [f"c{i}" for i in range(51)]},
                                              headers=AUTH), 400)
    assert [e["field"] for e in body["errors"]] == ["categories"]


async def test_upload_over_the_limit_is_413_and_stores_nothing(aiohttp_client, tables, clock, hasher) -> None:
    store = FakeFileStore()
    container = container_with_fakes(Settings(max_upload_bytes=1000), tables, clock, hasher, file_store=store)
    client = await aiohttp_client(create_app(container))
    assert (await client.post("/v1/user", json=USER)).status == 201
    bill = await (await client.post("/v1/bill", json=BILL, headers=AUTH)).json()
    await problem_of(await client.post(f"/v1/bill/{bill['id']}/file", data=form(PDF), headers=AUTH), 413)
    assert store.objects == {}


# --- headers -----------------------------------------------------------------------------------

async def test_no_version_in_server_header_and_nosniff_everywhere(client) -> None:
    for path in ("/healthz", "/nowhere", "/docs", "/openapi.json"):
        response = await client.get(path)
        assert response.headers["Server"] == "billing", path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


async def test_hsts_only_when_the_public_url_is_https(aiohttp_client, tables, clock, hasher, client) -> None:
    response = await client.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = await client_for(aiohttp_client, Tables(), FakeClock(), FakePasswordHasher(), public_base_url="http://x.test")
    assert "Strict-Transport-Security" not in (await plain.get("/healthz")).headers


async def test_cors_is_off_by_default(client) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://app.example.com"})
    assert not any(h.startswith("Access-Control-") for h in response.headers)
    preflight = await client.options("/v1/bill", headers={"Origin": "https://app.example.com",
                                                          "Access-Control-Request-Method": "POST"})
    assert preflight.status == 405 and "Access-Control-Allow-Origin" not in preflight.headers


async def test_cors_allows_only_configured_origins(aiohttp_client, tables, clock, hasher) -> None:
    client = await client_for(aiohttp_client, tables, clock, hasher, cors_origins=("https://app.example.com",))
    preflight = await client.options("/v1/bill", headers={"Origin": "https://app.example.com",
                                                          "Access-Control-Request-Method": "POST"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    response = await client.get("/v1/user/self", headers={"Origin": "https://app.example.com"})
    assert response.status == 401 and response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    evil = await client.get("/healthz", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in evil.headers


def test_cors_origins_setting_is_parsed_and_checked() -> None:
    settings = Settings.from_env({"BILLING_CORS_ORIGINS": "https://a.example.com, http://localhost:3000/"})
    assert settings.cors_origins == ("https://a.example.com", "http://localhost:3000")
    for bad in ("*", "a.example.com", "https://a.example.com/path"):
        with pytest.raises(ConfigError, match="BILLING_CORS_ORIGINS"):
            Settings.from_env({"BILLING_CORS_ORIGINS": bad})


async def test_readyz_is_503_once_shutting_down(client) -> None:
    from billing.entrypoints.http.keys import SHUTTING_DOWN
    assert (await client.get("/readyz")).status == 200
    client.app[SHUTTING_DOWN].set()
    await problem_of(await client.get("/readyz"), 503)
