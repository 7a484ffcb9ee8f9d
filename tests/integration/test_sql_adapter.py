"""Repositories and the unit of work on real MariaDB and SQLite, migrated by Alembic."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from billing.adapters.sql.engine import (
    create_engine,
    create_read_engine,
    database_answers,
)
from billing.adapters.sql.tables import metadata, users
from billing.adapters.sql.unit_of_work import ReadOnlyViolation, SqlUnitOfWork
from billing.domain.model import (
    Attachment,
    AttachmentView,
    Bill,
    BillCursor,
    BillDetails,
    BillQuery,
    BillView,
    EmailAlreadyRegistered,
    PaymentStatus,
    ServiceBusy,
    ServiceUnavailable,
    User,
)

NOW = datetime(2026, 11, 24, 9, 30, 0, 123000, tzinfo=UTC)


def a_user(email: str = "jo@example.com") -> User:
    return User(id=uuid4(), first_name="Jo", last_name="Doe", email_address=email, password_hash="$argon2id$x",
                account_created=NOW, account_updated=NOW)


def a_bill(owner: User, due: date = date(2026, 12, 1), amount: str = "999999999.99", status: str = "due") -> Bill:
    details = BillDetails(vendor="Ström AG ⚡", bill_date=date(2026, 11, 1), due_date=due, amount_due=Decimal(amount),
                          currency="EUR", categories=("énergie", "home"), payment_status=PaymentStatus(status))
    return Bill(id=uuid4(), owner_id=owner.id, created_ts=NOW, updated_ts=NOW, details=details)


async def test_migrations_match_the_table_definitions(engine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    assert diff == []


async def test_user_and_bill_round_trip_exactly(engine) -> None:
    user = a_user()
    bill = a_bill(user)
    async with SqlUnitOfWork(engine) as uow:
        await uow.users.add(user)
        await uow.bills.add(bill)
        await uow.commit()
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.users.get_by_email("jo@example.com") == user
        stored = await uow.bills.get(user.id, bill.id)
    assert stored == bill
    assert stored.details.amount_due == Decimal("999999999.99")
    assert stored.created_ts.tzinfo is UTC and stored.created_ts.microsecond == 123000


async def test_duplicate_email_rejected_by_the_unique_index(engine) -> None:
    async with SqlUnitOfWork(engine) as uow:
        await uow.users.add(a_user())
        await uow.commit()
    async with SqlUnitOfWork(engine) as uow:
        with pytest.raises(EmailAlreadyRegistered):
            await uow.users.add(a_user())


async def test_leaving_without_commit_rolls_back(engine) -> None:
    user = a_user()
    async with SqlUnitOfWork(engine) as uow:
        await uow.users.add(user)
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.users.get(user.id) is None


async def test_error_inside_the_block_rolls_back(engine) -> None:
    user = a_user()
    with pytest.raises(RuntimeError):
        async with SqlUnitOfWork(engine) as uow:
            await uow.users.add(user)
            raise RuntimeError("boom")
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.users.get(user.id) is None


async def test_bill_views_filter_order_and_page_one_owners_bills(engine) -> None:
    owner, other = a_user(), a_user("other@example.com")
    bills = [
        a_bill(owner, date(2026, 12, d), status=s) for d, s in ((3, "due"), (1, "paid"), (3, "due"), (9, "past_due"))
    ]
    async with SqlUnitOfWork(engine) as uow:
        await uow.users.add(owner)
        await uow.users.add(other)
        for bill in [*bills, a_bill(other)]:
            await uow.bills.add(bill)
        await uow.commit()
    async with SqlUnitOfWork(engine) as uow:
        everything = await uow.bill_views.page(owner.id, BillQuery())
        expected = sorted(bills, key=lambda b: (b.details.due_date, str(b.id)))
        assert everything == [BillView.of(b) for b in expected]
        after = BillCursor(expected[1].details.due_date, expected[1].id)
        page = await uow.bill_views.page(owner.id, BillQuery(limit=2, after=after))
        assert [b.id for b in page] == [b.id for b in expected[2:4]]
        unpaid = await uow.bill_views.page(
            owner.id,
            BillQuery(payment_status=PaymentStatus.DUE, due_before=date(2026, 12, 3), due_after=date(2026, 12, 2)),
        )
        assert {b.id for b in unpaid} == {bills[0].id, bills[2].id}
        assert await uow.bill_views.page(uuid4(), BillQuery()) == []


async def test_update_and_delete_are_scoped_to_the_owner(engine) -> None:
    owner, other = a_user(), a_user("other@example.com")
    bill = a_bill(owner)
    async with SqlUnitOfWork(engine) as uow:
        await uow.users.add(owner)
        await uow.users.add(other)
        await uow.bills.add(bill)
        await uow.commit()
    async with SqlUnitOfWork(engine) as uow:
        assert not await uow.bills.delete(other.id, bill.id)
        assert await uow.bills.get(other.id, bill.id) is None
        assert await uow.bills.delete(owner.id, bill.id)
        await uow.commit()
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.bills.get(owner.id, bill.id) is None


async def test_unit_of_work_survives_a_pooled_connection_the_server_closed(mysql_url) -> None:
    # No pre-ping: the first statement meets the dead connection and is retried on a fresh one.
    engine = create_engine(mysql_url, pool_size=1)
    try:
        user = a_user("survivor@example.com")
        async with SqlUnitOfWork(engine) as uow:
            await uow.users.add(user)
            await uow.commit()
        async with engine.connect() as conn:
            doomed = (await conn.execute(sa.text("SELECT CONNECTION_ID()"))).scalar_one()
        killer = create_engine(mysql_url, pool_size=1)
        async with killer.connect() as conn:
            await conn.execute(sa.text(f"KILL {int(doomed)}"))
        await killer.dispose()

        async with SqlUnitOfWork(engine) as uow:
            assert await uow.users.get_by_email("survivor@example.com") == user
        assert await database_answers(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT CONNECTION_ID()"))).scalar_one() != doomed
    finally:
        async with engine.begin() as conn:
            await conn.execute(sa.delete(users).where(users.c.email_address == "survivor@example.com"))
        await engine.dispose()


async def test_read_only_unit_of_work_reads_committed_rows_without_rollback_and_refuses_writes(
        engine, database_url: str) -> None:
    reads_engine = create_read_engine(database_url, engine, pool_size=1)
    user = a_user()
    bill = a_bill(user)
    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.users.add(user)
            await uow.bills.add(bill)
            await uow.commit()
        async with SqlUnitOfWork(reads_engine, read_only=True) as reads:
            assert await reads.users.get_by_email("jo@example.com") == user
            assert await reads.bills.get(user.id, bill.id) == bill
            with pytest.raises(ReadOnlyViolation):
                await reads.users.add(a_user("other@example.com"))
            with pytest.raises(ReadOnlyViolation):
                await reads.commit()
        if reads_engine is not engine:  # MySQL: the one pooled connection, in autocommit, never rolled back
            async with reads_engine.connect() as conn:
                assert conn.sync_connection.connection.dbapi_connection.get_autocommit()
                status = await conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Com_rollback'")
                assert status.one()[1] == "0"
        async with SqlUnitOfWork(engine) as uow:
            assert await uow.users.get_by_email("other@example.com") is None
    finally:
        if reads_engine is not engine:
            await reads_engine.dispose()


async def test_caller_views_read_the_caller_with_their_bill_or_bills_in_one_query(engine, database_url: str) -> None:
    reads_engine = create_read_engine(database_url, engine, pool_size=1)
    owner, other, idle = a_user(), a_user("other@example.com"), a_user("idle@example.com")
    bills = [
        a_bill(owner, date(2026, 12, d), status=s) for d, s in ((3, "due"), (1, "paid"), (3, "due"), (9, "past_due"))
    ]
    theirs = a_bill(other)
    try:
        async with SqlUnitOfWork(engine) as uow:
            for user in (owner, other, idle):
                await uow.users.add(user)
            for bill in [*bills, theirs]:
                await uow.bills.add(bill)
            await uow.commit()
        expected = sorted(bills, key=lambda b: (b.details.due_date, str(b.id)))
        async with SqlUnitOfWork(reads_engine, read_only=True) as reads:
            views = reads.caller_views
            assert await views.bill("jo@example.com", bills[0].id) == (owner, BillView.of(bills[0]))
            assert await views.bill("jo@example.com", theirs.id) == (owner, None)  # someone else's: not found
            assert await views.bill("jo@example.com", uuid4()) == (owner, None)
            assert await views.bill("nobody@example.com", bills[0].id) is None
            def ids(found):  # type: ignore[no-untyped-def]
                return found[0], [view.id for view in found[1]]

            assert await views.bills("jo@example.com", BillQuery()) == (owner, [BillView.of(b) for b in expected])
            after = BillCursor(expected[1].details.due_date, expected[1].id)
            page = await views.bills("jo@example.com", BillQuery(limit=2, after=after))
            assert ids(page) == (owner, [b.id for b in expected[2:4]])
            unpaid = await views.bills(
                "jo@example.com",
                BillQuery(payment_status=PaymentStatus.DUE, due_before=date(2026, 12, 3), due_after=date(2026, 12, 2)),
            )
            assert unpaid[0] == owner and set(ids(unpaid)[1]) == {bills[0].id, bills[2].id}
            assert await views.bills("jo@example.com", BillQuery(payment_status=PaymentStatus.DUE,
                                                                  due_after=date(2027, 1, 1))) == (owner, [])
            assert await views.bills("idle@example.com", BillQuery(limit=3)) == (idle, [])
            assert await views.bills("nobody@example.com", BillQuery()) is None
    finally:
        if reads_engine is not engine:
            await reads_engine.dispose()


async def test_read_only_unit_of_work_has_one_deadline_and_gives_up_a_stuck_connection(mysql_url: str) -> None:
    engine = create_engine(mysql_url, pool_size=1)
    reads_engine = create_read_engine(mysql_url, engine, pool_size=1)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(ServiceUnavailable):
            async with SqlUnitOfWork(reads_engine, timeout=0.3, read_only=True) as reads:
                await reads.execute(sa.select(sa.func.sleep(0.2)))
                await reads.execute(sa.select(sa.func.sleep(0.2)))  # within its own 0.3 s, not the unit's
        assert asyncio.get_running_loop().time() - started < 1.0
        async with SqlUnitOfWork(reads_engine, timeout=0.3, read_only=True) as reads:  # the pool recovered
            assert (await reads.execute(sa.select(sa.literal(1)))).scalar() == 1
        with pytest.raises(ServiceUnavailable):  # a stuck checkout (the pool's one connection held)
            async with reads_engine.connect(), SqlUnitOfWork(reads_engine, timeout=0.2, read_only=True):
                pass
        async with SqlUnitOfWork(reads_engine, timeout=0.3, read_only=True) as reads:
            assert (await reads.execute(sa.select(sa.literal(2)))).scalar() == 2
    finally:
        await reads_engine.dispose()
        await engine.dispose()


async def test_read_models_hold_the_stored_values_exactly(engine, database_url: str) -> None:
    reads_engine = create_read_engine(database_url, engine, pool_size=1)
    owner = a_user()
    on_the_second = datetime(2026, 11, 24, 9, 30, 0, tzinfo=UTC)  # no fraction in the stored text either
    bills = [
        a_bill(owner, date(2026, 12, 1)),
        dataclasses.replace(
            a_bill(owner, date(2026, 12, 2), amount="0.10"), created_ts=on_the_second, updated_ts=on_the_second
        ),
    ]
    attachment = Attachment(id=uuid4(), bill_id=bills[0].id, file_name="facture été.pdf", size=1234, md5="0" * 32,
                            sha256="1" * 64, mime_type="application/pdf", object_key=f"bills/{bills[0].id}/x",
                            upload_date=NOW)
    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.users.add(owner)
            for bill in bills:
                await uow.bills.add(bill)
            await uow.attachments.add(attachment)
            await uow.commit()
        bills[0].attachment = attachment
        expected = [BillView.of(bill) for bill in bills]
        assert expected[0].attachment == AttachmentView.of(attachment)  # unsigned: url None
        async with SqlUnitOfWork(reads_engine, read_only=True) as reads:
            assert await reads.caller_views.bills("jo@example.com", BillQuery()) == (owner, expected)
            assert await reads.bill_views.page(owner.id, BillQuery()) == expected
            assert await reads.caller_views.bill("jo@example.com", bills[0].id) == (owner, expected[0])
        view = expected[1]
        assert (view.amount_due, view.created_ts.tzinfo, view.categories) == (Decimal("0.10"), UTC, ("énergie", "home"))
    finally:
        if reads_engine is not engine:
            await reads_engine.dispose()


async def test_units_of_work_get_pooled_connections_in_arrival_order(mysql_url: str) -> None:
    engine = create_engine(mysql_url, pool_size=1)
    reads_engine = create_read_engine(mysql_url, engine, pool_size=1)
    order: list[str] = []

    async def read(name: str) -> None:
        async with SqlUnitOfWork(reads_engine, timeout=5, read_only=True) as reads:
            order.append(name)
            await reads.execute(sa.select(sa.literal(1)))

    async def keep_alive_client() -> None:  # leaves and at once comes back, like a keep-alive connection
        async with SqlUnitOfWork(reads_engine, timeout=5, read_only=True) as reads:
            order.append("first")
            await reads.execute(sa.select(sa.literal(1)))
            await asyncio.sleep(0.1)  # meanwhile two others queue for the pool's one connection
        await read("first again")

    try:
        client = asyncio.create_task(keep_alive_client())
        await asyncio.sleep(0.02)
        others = [asyncio.create_task(read("second")), asyncio.create_task(read("third"))]
        await asyncio.gather(client, *others)
        assert order == ["first", "second", "third", "first again"]
    finally:
        await reads_engine.dispose()
        await engine.dispose()


@pytest.mark.parametrize("read_only", [True, False], ids=["reads", "transactions"])
async def test_unit_of_work_is_busy_not_unreachable_when_every_pooled_connection_is_in_use(
        mysql_url: str, read_only: bool) -> None:
    engine = create_engine(mysql_url, pool_size=1)
    pool = create_read_engine(mysql_url, engine, pool_size=1) if read_only else engine
    try:
        async with SqlUnitOfWork(pool, timeout=5, read_only=read_only):  # holds the pool's one connection
            started = asyncio.get_running_loop().time()
            with pytest.raises(ServiceBusy) as busy:
                async with SqlUnitOfWork(pool, timeout=0.2, read_only=read_only):
                    pass
            assert asyncio.get_running_loop().time() - started < 1.0
            assert "in use" in str(busy.value) and "cannot be reached" not in str(busy.value)
        async with SqlUnitOfWork(pool, timeout=0.2, read_only=read_only) as uow:  # given back: served again
            assert (await uow.execute(sa.select(sa.literal(1)))).scalar() == 1
    finally:
        if pool is not engine:
            await pool.dispose()
        await engine.dispose()


async def test_reminder_days_round_trips_and_due_users_page_by_keyset(engine) -> None:
    from datetime import timedelta

    from billing.domain.model.reminders import ReminderCursor

    today = date(2026, 11, 24)
    due, not_due = set(), set()
    people = []
    for i in range(23):
        user = dataclasses.replace(a_user(f"r{i}@example.com"), reminder_days=1 + i % 4)
        people.append(user)
    off = a_user("off@example.com")
    async with SqlUnitOfWork(engine) as uow:
        await uow.users.add_many([*people, off])
        for i, user in enumerate(people):
            offset = user.reminder_days + (i % 3) - 1  # one day before, at, one day after the window's end
            status = "paid" if i == 22 else "due"
            await uow.bills.add(a_bill(user, today + timedelta(days=offset), status=status))
            (due if offset <= user.reminder_days and status == "due" else not_due).add(user.id)
        await uow.bills.add(a_bill(people[0], today - timedelta(days=400), status="no_payment_required"))
        await uow.bills.add(a_bill(off, today))
        await uow.commit()
    async with SqlUnitOfWork(engine) as uow:
        assert (await uow.users.get(people[3].id)).reminder_days == 4  # type: ignore[union-attr]
        assert (await uow.users.get(off.id)).reminder_days is None  # type: ignore[union-attr]
        seen: list[ReminderCursor] = []
        after = None
        while page := await uow.users.due_for_reminder(today, after, 4):
            seen += page
            after = page[-1]
            if len(page) < 4:
                break
    assert {c.user_id for c in seen} == due and len(seen) == len(due) and not_due - due == not_due
    assert seen == sorted(seen, key=lambda c: (c.days, str(c.user_id)))  # the index's order, each user once
    assert {c.days for c in seen} == {1, 2, 3, 4}
