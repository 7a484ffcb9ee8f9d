"""The idempotency repository on MariaDB and SQLite, through the use case."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from billing.adapters.sql.unit_of_work import SqlUnitOfWork
from billing.domain.model.idempotency import (
    ABANDONED_AFTER,
    RETENTION,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    StoredResponse,
)
from billing.domain.use_cases.run_idempotently import IdempotentCall, RunIdempotently
from tests.fakes import FakeClock

ANSWER = StoredResponse(201, "application/json", (("Location", "/v1/bill/1"),), b'{"id": 1}')


def call(runs: list[int], key: str = "k", fingerprint: str = "f" * 64, gate: asyncio.Event | None = None,
         status: int = 201) -> IdempotentCall:
    async def run() -> tuple[StoredResponse, str]:
        runs.append(1)
        if gate is not None:
            await gate.wait()
        return StoredResponse(status, ANSWER.content_type, ANSWER.headers, ANSWER.body), fingerprint

    async def same() -> str:
        return fingerprint

    return IdempotentCall(scope="user:1", key=key, run=run, fingerprint=same)


async def test_first_answer_is_kept_and_replayed(engine) -> None:
    clock, runs = FakeClock(), []
    use_case = RunIdempotently(SqlUnitOfWork(engine), clock)
    first = await use_case.execute(call(runs))
    again = await RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs))
    assert (first.replayed, again.replayed, len(runs)) == (False, True, 1)
    assert again.response == ANSWER
    with pytest.raises(IdempotencyKeyReused):
        await RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs, fingerprint="0" * 64))
    clock.advance(seconds=RETENTION.total_seconds())
    assert not (await RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs))).replayed
    assert len(runs) == 2


async def test_in_flight_duplicate_is_refused_and_a_4xx_frees_the_key(engine) -> None:
    clock, runs, gate = FakeClock(), [], asyncio.Event()
    first = asyncio.create_task(RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs, gate=gate)))
    while not runs:
        await asyncio.sleep(0.01)
    with pytest.raises(IdempotencyKeyInFlight):
        await RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs))
    gate.set()
    assert (await first).response.status == 201
    refused = await RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs, key="bad", status=400))
    assert refused.response.status == 400
    assert not (await RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs, key="bad"))).replayed


async def test_a_claim_abandoned_by_a_crash_frees_itself(engine) -> None:
    clock, runs = FakeClock(), []

    async def crash() -> tuple[StoredResponse, str]:
        raise asyncio.CancelledError  # the process dies: nothing releases the key...

    use_case = RunIdempotently(SqlUnitOfWork(engine), clock)
    use_case._release = lambda entry: asyncio.sleep(0)  # type: ignore[method-assign]  # ...as in a crash
    with pytest.raises(asyncio.CancelledError):
        await use_case.execute(IdempotentCall(scope="user:1", key="c", run=crash, fingerprint=crash))
    with pytest.raises(IdempotencyKeyInFlight):
        await RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs, key="c"))
    clock.advance(seconds=(ABANDONED_AFTER + timedelta(seconds=1)).total_seconds())
    assert not (await RunIdempotently(SqlUnitOfWork(engine), clock).execute(call(runs, key="c"))).replayed
