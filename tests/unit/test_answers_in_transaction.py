"""RecordAnswer: the writing use cases run their caller's hook in their own transaction, with their
result, after the writes and before the commit: both commit, or neither does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from billing.domain.model import AttachmentView
from billing.domain.model.throttle import RegistrationRules
from billing.domain.use_cases.attach_file import AttachFile, AttachFileCommand
from billing.domain.use_cases.create_bill import CreateBill, CreateBillCommand
from billing.domain.use_cases.register_user import RegisterUser, RegisterUserCommand
from billing.domain.use_cases.throttle import Throttle
from billing.ports import IdempotencyAnswers, KeyClaim
from tests.conftest import PASSWORD
from tests.fakes import (
    FakeClock,
    FakeFileStore,
    FakePasswordHasher,
    FakeUnitOfWork,
    IdempotencyRow,
    Tables,
)

BILL = {"vendor": "Acme", "bill_date": "2026-11-01", "due_date": "2026-11-20", "amount_due": Decimal("10"),
        "payment_status": "due"}
USER = {"first_name": "Jane", "last_name": "Doe", "email_address": "jane@example.com", "password": PASSWORD}
PDF = b"%PDF-1.7\n" + b"x" * 1000


class Broken(Exception):
    pass


def claimed(tables: Tables, clock: FakeClock) -> KeyClaim:
    """An in-flight claim, committed (as the HTTP layer's claim would be) before the use case runs."""
    now = clock.now()
    claim = KeyClaim(scope="s", key_hash="k", claimed_at=now, expires_at=now + timedelta(hours=24))
    tables.idempotency[("s", "k")] = IdempotencyRow(claim=claim)
    return claim


class Recorder:
    """A RecordAnswer that records the result's repr, or raises after recording when `fail`."""

    def __init__(self, claim: KeyClaim, fail: bool = False) -> None:
        self.claim, self.fail, self.results = claim, fail, []  # type: ignore[var-annotated]

    async def __call__(self, answers: IdempotencyAnswers, result: Any) -> None:
        self.results.append(result)
        assert await answers.record(self.claim, "f", repr(result).encode())
        if self.fail:
            raise Broken()


async def stream(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def bill_in(tables: Tables, clock: FakeClock) -> Any:
    return await CreateBill(FakeUnitOfWork(tables), clock).execute(CreateBillCommand(owner_id=uuid4(), fields=BILL))


async def test_the_answer_commits_with_a_new_bill_and_gets_it(tables, clock) -> None:
    record = Recorder(claimed(tables, clock))
    bill = await CreateBill(FakeUnitOfWork(tables), clock).execute(
        CreateBillCommand(owner_id=uuid4(), fields=BILL, record_answer=record))
    assert record.results == [bill] and list(tables.bills) == [bill.id]
    assert tables.idempotency[("s", "k")].replay == repr(bill).encode()


async def test_a_failing_answer_undoes_the_new_bill(tables, clock) -> None:
    record = Recorder(claimed(tables, clock), fail=True)
    with pytest.raises(Broken):
        await CreateBill(FakeUnitOfWork(tables), clock).execute(
            CreateBillCommand(owner_id=uuid4(), fields=BILL, record_answer=record))
    assert tables.bills == {} and tables.idempotency[("s", "k")].in_flight


async def test_the_answer_commits_with_a_new_user_and_a_failing_one_undoes_it(tables, clock) -> None:
    hasher = FakePasswordHasher()
    throttle = Throttle(lambda: FakeUnitOfWork(tables), clock)
    with pytest.raises(Broken):
        await RegisterUser(FakeUnitOfWork(tables), hasher, clock, throttle, RegistrationRules()).execute(
            RegisterUserCommand(fields=USER, record_answer=Recorder(claimed(tables, clock), fail=True)))
    assert tables.users == {} and tables.idempotency[("s", "k")].in_flight
    record = Recorder(claimed(tables, clock))
    user = await RegisterUser(FakeUnitOfWork(tables), hasher, clock, throttle, RegistrationRules()).execute(
        RegisterUserCommand(fields=USER, record_answer=record))
    assert record.results == [user] and list(tables.users) == [user.id]
    assert not tables.idempotency[("s", "k")].in_flight


async def test_the_answer_commits_with_an_attachment_and_a_failing_one_leaves_no_object(tables, clock) -> None:
    bill, store = await bill_in(tables, clock), FakeFileStore()

    def command(record: Recorder) -> AttachFileCommand:
        return AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="i.pdf", chunks=stream(PDF),
                                 record_answer=record)

    with pytest.raises(Broken):
        await AttachFile(FakeUnitOfWork(tables), store, clock, 10_000).execute(
            command(Recorder(claimed(tables, clock), fail=True)))
    assert store.objects == {} and tables.bills[bill.id].attachment is None
    record = Recorder(claimed(tables, clock))
    view = await AttachFile(FakeUnitOfWork(tables), store, clock, 10_000).execute(command(record))
    assert record.results == [view] and view.url  # the answer gets the link the caller gets
    stored = tables.bills[bill.id].attachment
    assert stored is not None and AttachmentView.of(stored, view.url) == view and len(store.objects) == 1
