"""ImportLegacyData over fakes: what the old webapp's rows become, and what is refused and why."""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from billing.domain.model import PaymentStatus, ServiceUnavailable, User, ValidationFailed
from billing.domain.model.legacy import (
    LegacyAttachment,
    LegacyBill,
    LegacySourceError,
    LegacyUser,
    attachment_from_legacy,
    bill_from_legacy,
    user_from_legacy,
)
from billing.domain.use_cases.import_legacy import ImportLegacyData, ImportLegacyDataCommand, ImportReport, SkippedRow
from billing.entrypoints.import_legacy import ProgressBar, summary
from tests.fakes import FakeFileStore, FakeLegacySource, FakeUnitOfWork, RecordingProgress, Tables

BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
JANE = "8b0c6a43-5d7e-4a55-9d0c-2f1f7c3a1b01"
OLD = datetime(2019, 3, 1, 12, 0, 0)


def legacy_user(user_id: str | None = None, email: str = "Jane@Example.com", **changes: object) -> LegacyUser:
    row = LegacyUser(id=user_id or str(uuid4()), first_name="Jane", last_name="Doe", email_address=email,
                     password=BCRYPT, account_created=OLD, account_updated=datetime(2019, 4, 1, 8, 30, 0, 123456))
    return replace(row, **changes)  # type: ignore[arg-type]


def legacy_bill(user_id: str | None = JANE, **changes: object) -> LegacyBill:
    row = LegacyBill(id=str(uuid4()), user_id=user_id, vendor="Northwind", bill_date=datetime(2019, 5, 1),
                     due_date=datetime(2019, 5, 31), amount_due=120.5, payment_status="due",
                     categories='["power","home"]',
                     created_at=datetime(2019, 6, 2, 10, 0), updated_at=datetime(2019, 5, 1, 9, 0))
    return replace(row, **changes)  # type: ignore[arg-type]


async def run(tables: Tables, source: FakeLegacySource, store: FakeFileStore | None = None,
              **options: object) -> ImportReport:
    command = ImportLegacyDataCommand(**options)  # type: ignore[arg-type]
    return await ImportLegacyData(FakeUnitOfWork(tables), source, store or FakeFileStore()).execute(command)


def reasons(report: ImportReport) -> dict[str, tuple[str, ...]]:
    return {row.id: row.reasons for row in report.skipped}


async def test_user_keeps_id_and_bcrypt_hash_with_lower_case_email_when_imported(tables) -> None:
    await run(tables, FakeLegacySource(users=[legacy_user(JANE)]))
    user = tables.users[UUID(JANE)]
    assert user.email_address == "jane@example.com"
    assert user.password_hash == BCRYPT
    assert user.account_created == datetime(2019, 3, 1, 12, tzinfo=UTC)
    assert user.account_updated == datetime(2019, 4, 1, 8, 30, 0, 123000, tzinfo=UTC)


async def test_bill_keeps_id_dates_exact_amount_and_unswaps_timestamps_when_imported(tables) -> None:
    bill_row = legacy_bill(amount_due=0.1 + 0.7)  # 0.7999999999999999 as a double: refused below
    ok_row = legacy_bill(amount_due=19.99)
    report = await run(tables, FakeLegacySource(users=[legacy_user(JANE)], bills=[bill_row, ok_row]))
    bill = tables.bills[UUID(ok_row.id)]
    assert bill.owner_id == UUID(JANE)
    assert (bill.details.bill_date, bill.details.due_date) == (date(2019, 5, 1), date(2019, 5, 31))
    assert bill.details.amount_due == Decimal("19.99") and bill.details.currency == "USD"
    assert bill.details.categories == ("power", "home")
    assert bill.details.payment_status is PaymentStatus.DUE
    assert bill.created_ts == datetime(2019, 5, 1, 9, 0, tzinfo=UTC)  # the column named updated_at
    assert bill.updated_ts == datetime(2019, 6, 2, 10, 0, tzinfo=UTC)
    assert reasons(report) == {bill_row.id: ("amount_due: must have at most two decimals",)}
    assert report.imported == {"user": 1, "bill": 1}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"email_address": "not an address"}, "email_address: must be a valid email address"),
    ({"email_address": None}, "email_address: must be a string"),
    ({"first_name": "x" * 101}, "first_name: must be at most 100 characters"),
    ({"last_name": "   "}, "last_name: must not be blank"),
    ({"password": "plaintext"}, "password: must be a bcrypt hash"),
    ({"account_created": None}, "account_created: must be a date and time"),
])
async def test_user_skipped_with_reason_when_it_breaks_a_rule(tables, changes, reason) -> None:
    row = legacy_user(**changes)
    report = await run(tables, FakeLegacySource(users=[row]))
    assert reasons(report) == {row.id: (reason,)}
    assert tables.users == {}


async def test_younger_case_duplicate_skipped_and_older_account_keeps_address_when_emails_differ_in_case(
    tables,
) -> None:
    younger = legacy_user(email="jane@example.com", account_created=datetime(2020, 1, 1))
    older = legacy_user(JANE, email="JANE@example.com")
    report = await run(tables, FakeLegacySource(users=[younger, older]))
    assert list(tables.users) == [UUID(JANE)]
    assert tables.users[UUID(JANE)].email_address == "jane@example.com"
    [skipped] = report.skipped
    assert skipped.id == younger.id and skipped.reasons == (
        "email_address: differs only in case from an older account's address",)
    assert JANE in skipped.detail


async def test_user_skipped_when_address_already_registered_here_by_another_account(tables) -> None:
    here = User(id=uuid4(), first_name="J", last_name="D", email_address="jane@example.com", password_hash="fake$x",
                account_created=datetime(2026, 1, 1, tzinfo=UTC), account_updated=datetime(2026, 1, 1, tzinfo=UTC))
    tables.users[here.id] = here
    row = legacy_user(JANE)
    report = await run(tables, FakeLegacySource(users=[row], bills=[legacy_bill()]))
    assert set(tables.users) == {here.id} and tables.bills == {}
    assert reasons(report)[JANE] == ("email_address: is already registered here by another account",)
    assert str(here.id) in report.skipped[0].detail


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"user_id": None}, "UserId: is empty (the bill has no user)"),
        ({"amount_due": 12.345}, "amount_due: must have at most two decimals"),
        ({"amount_due": 0.0}, "amount_due: must be between 0.01 and 1000000000"),
        ({"amount_due": 2e9}, "amount_due: must be between 0.01 and 1000000000"),
        ({"amount_due": float("nan")}, "amount_due: must be a finite number"),
        ({"amount_due": None}, "amount_due: must be a number"),
        ({"categories": '"utilities"'}, "categories: must be an array of strings"),
        ({"categories": '{"a": 1}'}, "categories: must be an array of strings"),
        ({"categories": '["home","home"]'}, "categories: must not repeat a category"),
        ({"categories": "[home"}, "categories: must be a JSON array of strings (the stored text is not JSON)"),
        (
            {"bill_date": datetime(2019, 5, 1, 7, 0)},
            "bill_date: must be at midnight (the old webapp stored dates as midnight UTC)",
        ),
        ({"due_date": datetime(2019, 4, 1)}, "due_date: must not be before bill_date"),
        ({"payment_status": "overdue"}, "payment_status: must be one of paid, due, past_due, no_payment_required"),
        ({"vendor": ""}, "vendor: must not be blank"),
        ({"updated_at": None}, "updated_at: must be a date and time"),
    ],
)
async def test_bill_skipped_with_reason_when_it_breaks_a_rule(tables, changes, reason) -> None:
    row = legacy_bill(**changes)
    report = await run(tables, FakeLegacySource(users=[legacy_user(JANE)], bills=[row]))
    assert reasons(report) == {row.id: (reason,)}
    assert tables.bills == {}


@pytest.mark.parametrize(("stored", "categories"), [
    ('["power","home"]', ("power", "home")),
    ('"[\\"power\\",\\"home\\"]"', ("power", "home")),  # Sequelize on MariaDB: a JSON string of JSON
    (["power"], ("power",)),  # a driver that decodes JSON columns itself
    (None, ()),
])
def test_categories_decoded_when_stored_as_json_text(stored, categories) -> None:
    assert bill_from_legacy(legacy_bill(categories=stored)).details.categories == categories


def test_every_problem_of_a_row_is_named_once() -> None:
    with pytest.raises(ValidationFailed) as exc:
        bill_from_legacy(legacy_bill(user_id="nope", bill_date=None, amount_due=1.001, categories=3))
    assert [e.field for e in exc.value.errors] == ["UserId", "bill_date", "amount_due", "categories"]
    with pytest.raises(ValidationFailed) as exc:
        user_from_legacy(legacy_user(user_id="{" + JANE + "}", email="x", password=None))
    assert [e.field for e in exc.value.errors] == ["id", "email_address", "password"]


async def test_bill_skipped_when_its_user_was_not_imported(tables) -> None:
    bad_user = legacy_user(email="nobody")
    row = legacy_bill(user_id=bad_user.id)
    report = await run(tables, FakeLegacySource(users=[bad_user], bills=[row]))
    assert reasons(report)[row.id] == ("UserId: its user was not imported",)
    assert tables.bills == {}


def sample() -> FakeLegacySource:
    users = (
        [legacy_user(JANE)] + [legacy_user(email=f"u{i}@example.com") for i in range(6)] + [legacy_user(email="bad")]
    )
    bills = [legacy_bill(user_id=u.id) for u in users for _ in range(2)] + [legacy_bill(amount_due=1.005)]
    return FakeLegacySource(users=users, bills=bills)


async def test_second_run_imports_nothing_and_reports_rows_already_present(tables) -> None:
    source = sample()
    first = await run(tables, source, batch_size=4)
    before = (dict(tables.users), dict(tables.bills))
    second = await run(tables, source, batch_size=4)
    assert (tables.users, tables.bills) == before
    assert first.imported == {"user": 7, "bill": 14}
    assert second.imported == {} and second.already_present == {"user": 7, "bill": 14}
    assert [r.id for r in second.skipped] == [r.id for r in first.skipped]  # the same problems, again


async def test_dry_run_writes_nothing_and_counts_what_a_run_would_import(tables) -> None:
    dry = await run(tables, sample(), dry_run=True, batch_size=4)
    assert tables.users == {} and tables.bills == {} and tables.commits == 0
    real = await run(Tables(), sample(), batch_size=4)
    assert dry.imported == real.imported and len(dry.skipped) == len(real.skipped)


async def test_import_commits_in_batches(tables) -> None:
    await run(tables, sample(), batch_size=4)
    assert tables.commits == 2 + 4  # 7 users in batches of 4, 14 bills in batches of 4


async def test_interrupted_import_resumes_without_duplicates_when_run_again(tables) -> None:
    source = sample()
    source.fail_after = 8 + 12  # every user, then 12 of the 17 bills: whole batches of 4 are committed
    with pytest.raises(LegacySourceError):
        await run(tables, source, batch_size=4)
    committed = len(tables.bills)
    assert len(tables.users) == 7 and committed in (8, 12)  # 9 to 12 of the 12 bills read are valid
    source.fail_after = None
    report = await run(tables, source, batch_size=4)
    assert report.already_present == {"user": 7, "bill": committed} and report.imported == {"bill": 14 - committed}
    assert len(tables.bills) == 14


async def test_unreachable_old_database_raises_before_anything_is_written(tables) -> None:
    source = sample()
    source.down = True
    with pytest.raises(LegacySourceError):
        await run(tables, source)
    assert tables.commits == 0


async def test_progress_told_each_phase_total_and_rows(tables) -> None:
    progress = RecordingProgress()
    await run(tables, sample(), progress=progress)
    assert progress.phases == [["users", 8, 8], ["bills", 17, 17], ["attachments", 0, 0]]


async def test_summary_groups_skipped_rows_by_reason(tables) -> None:
    source = sample()
    source.users_rows.append(legacy_user(email="also bad"))
    report = await run(tables, source)
    text = summary(report)
    assert "imported: 7 users, 14 bills, 0 attachments" in text
    assert "user email_address: must be a valid email address: 2" in text
    assert "bill UserId: its user was not imported: 2" in text
    assert "bill amount_due: must have at most two decimals: 1" in text
    again = summary(await run(tables, source, dry_run=True))
    assert "DRY RUN" in again and "would import: 0 users, 0 bills" in again
    assert "skipped, already present: 7 users, 14 bills" in again


def test_progress_bar_draws_nothing_when_not_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.phase("users", 3)
    bar.advance(3)
    bar.finish()
    assert stream.getvalue() == ""


def test_progress_bar_draws_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = ProgressBar(stream)
    bar.phase("users", 4)
    bar.advance(4)
    bar.finish()
    assert "users" in stream.getvalue() and "4/4 100%" in stream.getvalue() and stream.getvalue().endswith("\n")


PDF = b"%PDF-1.4 old invoice"


def legacy_attachment(bill_id: str, data: bytes = PDF, **changes: object) -> LegacyAttachment:
    row = LegacyAttachment(id=str(uuid4()), bill_id=bill_id, file_name="invoice.pdf", size=str(len(data)),
                           md5=hashlib.md5(data).hexdigest(), mime_type="application/pdf", upload_date=date(2019, 5, 2))
    return replace(row, **changes)  # type: ignore[arg-type]


def with_attachments(*rows: LegacyAttachment, bills: list[LegacyBill]) -> FakeLegacySource:
    return FakeLegacySource(users=[legacy_user(JANE)], bills=bills, attachments=rows)


async def test_attachment_metadata_imported_with_our_key_and_no_object_when_no_bucket(tables) -> None:
    bill = legacy_bill()
    row = legacy_attachment(bill.id)
    store = FakeFileStore()
    report = await run(tables, with_attachments(row, bills=[bill]), store)
    attachment = tables.bills[UUID(bill.id)].attachment
    assert attachment is not None and str(attachment.id) == row.id
    assert attachment.object_key == f"bills/{bill.id}/{row.id}"
    assert (attachment.file_name, attachment.size, attachment.md5) == ("invoice.pdf", len(PDF), row.md5)
    assert attachment.upload_date == datetime(2019, 5, 2, tzinfo=UTC) and attachment.sha256 == ""
    assert store.objects == {} and report.objects_not_copied == 1 and report.imported["attachment"] == 1


async def test_object_copied_from_old_key_and_verified_when_bucket_given(tables) -> None:
    bill = legacy_bill()
    row = legacy_attachment(bill.id)
    store = FakeFileStore()
    store.other_buckets["old", f"{bill.id}_invoice.pdf"] = PDF
    report = await run(tables, with_attachments(row, bills=[bill]), store, old_bucket="old")
    key = f"bills/{bill.id}/{row.id}"
    assert store.objects == {key: (PDF, "application/pdf")}
    assert tables.bills[UUID(bill.id)].attachment.sha256 == hashlib.sha256(PDF).hexdigest()  # type: ignore[union-attr]
    assert report.copied_objects == 1 and report.skipped == []
    again = await run(tables, with_attachments(row, bills=[bill]), store, old_bucket="old")
    assert again.copied_objects == 0 and again.objects_already_copied == 1
    assert again.already_present == {"user": 1, "bill": 1, "attachment": 1}


async def test_object_copied_on_a_later_run_when_first_run_had_no_bucket(tables) -> None:
    bill = legacy_bill()
    row = legacy_attachment(bill.id)
    store = FakeFileStore()
    await run(tables, with_attachments(row, bills=[bill]), store)
    store.other_buckets["old", f"{bill.id}_invoice.pdf"] = PDF
    report = await run(tables, with_attachments(row, bills=[bill]), store, old_bucket="old")
    assert report.copied_objects == 1 and list(store.objects) == [f"bills/{bill.id}/{row.id}"]


@pytest.mark.parametrize(("old_bytes", "reasons_expected"), [
    (None, ("object: is not in the old bucket",)),
    (b"%PDF-1.4 tampered!!!", ("md5: the object's md5 differs from the recorded one",)),
    (PDF + b"x", ("md5: the object's md5 differs from the recorded one",
                  "size: the object's size differs from the recorded one")),
])
async def test_attachment_skipped_and_copy_removed_when_object_missing_or_different(tables, old_bytes,
                                                                                     reasons_expected) -> None:
    bill = legacy_bill()
    row = legacy_attachment(bill.id)
    store = FakeFileStore()
    if old_bytes is not None:
        store.other_buckets["old", f"{bill.id}_invoice.pdf"] = old_bytes
    report = await run(tables, with_attachments(row, bills=[bill]), store, old_bucket="old")
    assert reasons(report) == {row.id: reasons_expected}
    assert store.objects == {} and tables.bills[UUID(bill.id)].attachment is None


async def test_copied_objects_deleted_when_their_rows_cannot_be_written(tables) -> None:
    bill = legacy_bill()
    row = legacy_attachment(bill.id)
    store = FakeFileStore()
    store.other_buckets["old", f"{bill.id}_invoice.pdf"] = PDF
    tables.fail_attachment_insert = True
    with pytest.raises(ServiceUnavailable):
        await run(tables, with_attachments(row, bills=[bill]), store, old_bucket="old")
    assert store.objects == {}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"bill_id": None}, "BillId: is empty (the file has no bill)"),
    ({"size": "12 kB"}, "size: must be a number of bytes"),
    ({"md5": "xyz"}, "md5: must be 32 hexadecimal digits"),
    ({"mime_type": "image/gif"}, "mime_type: must be one of application/pdf, image/png, image/jpeg"),
    ({"file_name": "../../etc/passwd"},
     "file_name: must be a plain file name (no directory part or control characters, 1-255 characters)"),
    ({"upload_date": None}, "upload_date: must be a date"),
])
async def test_attachment_skipped_with_reason_when_it_breaks_a_rule(tables, changes, reason) -> None:
    bill = legacy_bill()
    row = replace(legacy_attachment(bill.id), **changes)
    report = await run(tables, with_attachments(row, bills=[bill]))
    assert reasons(report) == {row.id: (reason,)}


async def test_second_attachment_of_a_bill_and_attachment_of_missing_bill_skipped(tables) -> None:
    bill = legacy_bill()
    first = legacy_attachment(bill.id, id="00000000-0000-4000-8000-000000000001")
    second = legacy_attachment(bill.id, id="00000000-0000-4000-8000-000000000002")
    orphan = legacy_attachment(str(uuid4()))
    for dry_run in (True, False, False):
        report = await run(tables, with_attachments(first, second, orphan, bills=[bill]), dry_run=dry_run)
        assert reasons(report) == {second.id: ("BillId: its bill already has another attachment (one per bill)",),
                                   orphan.id: ("BillId: its bill was not imported",)}
    assert str(tables.bills[UUID(bill.id)].attachment.id) == first.id  # type: ignore[union-attr]


async def test_dry_run_copies_nothing_and_counts_objects_to_copy(tables) -> None:
    bill = legacy_bill()
    store = FakeFileStore()
    store.other_buckets["old", f"{bill.id}_invoice.pdf"] = PDF
    report = await run(tables, with_attachments(legacy_attachment(bill.id), bills=[bill]), store, old_bucket="old",
                       dry_run=True)
    assert store.objects == {} and tables.users == {} and report.copied_objects == 1
    assert report.imported == {"user": 1, "bill": 1, "attachment": 1}


async def test_rows_after_a_skipped_row_still_imported(tables) -> None:
    bad_user = legacy_user(email="bad", account_created=datetime(2018, 1, 1))  # the oldest: read first
    good_user = legacy_user(JANE)
    bad_bill = legacy_bill(id="00000000-0000-4000-8000-000000000001", vendor="")  # the smallest id: read first
    good_bill = legacy_bill(id="00000000-0000-4000-8000-000000000002")
    bill = legacy_bill(id="00000000-0000-4000-8000-000000000003")
    bad_file = legacy_attachment(bill.id, id="00000000-0000-4000-8000-000000000001", md5="xyz")
    good_file = legacy_attachment(bill.id, id="00000000-0000-4000-8000-000000000002")
    source = FakeLegacySource(users=[good_user, bad_user], bills=[good_bill, bad_bill, bill],
                              attachments=[good_file, bad_file])
    report = await run(tables, source, batch_size=1)
    assert [row.id for row in report.skipped] == [bad_user.id, bad_bill.id, bad_file.id]
    assert report.imported == {"user": 1, "bill": 2, "attachment": 1}
    assert str(tables.bills[UUID(bill.id)].attachment.id) == good_file.id  # type: ignore[union-attr]


def field_errors(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_user_keeps_each_field_when_converted() -> None:
    user = user_from_legacy(legacy_user(JANE, first_name="Jane", last_name="Doe"))
    assert (user.id, user.first_name, user.last_name, user.email_address) == (
        UUID(JANE),
        "Jane",
        "Doe",
        "jane@example.com",
    )


def test_legacy_row_refused_with_every_problem_and_the_legacy_detail() -> None:
    with pytest.raises(ValidationFailed) as exc:
        user_from_legacy(legacy_user("{" + JANE + "}", account_created="2019-03-01", account_updated=None))
    assert exc.value.detail == "The legacy row cannot be imported as it is."
    assert field_errors(exc) == {"id": "must be a UUID in its canonical 36-character form",
                                 "account_created": "must be a date and time",
                                 "account_updated": "must be a date and time"}
    with pytest.raises(ValidationFailed) as exc:
        user_from_legacy(legacy_user("nope"))
    assert field_errors(exc) == {"id": "must be a UUID"}
    with pytest.raises(ValidationFailed) as exc:
        user_from_legacy(legacy_user(7))  # type: ignore[arg-type]
    assert field_errors(exc) == {"id": "must be a UUID"}


def test_bill_refused_with_every_problem_named_by_its_field() -> None:
    with pytest.raises(ValidationFailed) as exc:
        bill_from_legacy(legacy_bill(id="nope", bill_date="2019-05-01", due_date=datetime(2019, 5, 31, 1, 0),
                                     created_at=None, updated_at=None))
    assert field_errors(exc) == {"id": "must be a UUID", "bill_date": "must be a date",
                                 "due_date": "must be at midnight (the old webapp stored dates as midnight UTC)",
                                 "updated_at": "must be a date and time", "created_at": "must be a date and time"}


def test_aware_timestamps_read_as_the_instants_they_are(local_zone_not_utc: None) -> None:
    plus_two = timezone(timedelta(hours=2))
    bill = bill_from_legacy(legacy_bill(bill_date=datetime(2019, 5, 1, 2, 0, tzinfo=plus_two),  # midnight UTC
                                        updated_at=datetime(2019, 5, 1, 11, 0, tzinfo=plus_two)))
    assert bill.details.bill_date == date(2019, 5, 1)
    assert bill.created_ts == datetime(2019, 5, 1, 9, 0, tzinfo=UTC) and bill.created_ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(("amount", "expected"), [(Decimal("12.30"), Decimal("12.30")), (12, Decimal("12.00")),
                                                  (12.3, Decimal("12.30"))])
def test_amount_read_exactly_whatever_the_drivers_type(amount: object, expected: Decimal) -> None:
    assert bill_from_legacy(legacy_bill(amount_due=amount)).details.amount_due == expected


@pytest.mark.parametrize(("stored", "categories"), [
    (b'["power","home"]', ("power", "home")),
    (b'["caf\xe9"]', ("caf\ufffd",)),  # not UTF-8: the undecodable byte is replaced, not fatal
    ('" [\\"power\\"]"', ("power",)),  # JSON of JSON, the inner text starting with a space
])
def test_categories_decoded_when_stored_as_bytes_or_padded_json_of_json(
    stored: object, categories: tuple[str, ...]
) -> None:
    assert bill_from_legacy(legacy_bill(categories=stored)).details.categories == categories


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"size": 20}, {"size": 20}),
        ({"md5": "D41D8CD98F00B204E9800998ECF8427E"}, {"md5": "d41d8cd98f00b204e9800998ecf8427e"}),
        (
            {"upload_date": datetime(2019, 5, 2, 10, 30, tzinfo=UTC)},
            {"upload_date": datetime(2019, 5, 2, 10, 30, tzinfo=UTC)},
        ),
    ],
)
def test_attachment_fields_read_from_each_stored_form(changes: dict[str, object], expected: dict[str, object]) -> None:
    attachment = attachment_from_legacy(legacy_attachment(str(uuid4()), **changes))
    assert {k: getattr(attachment, k) for k in expected} == expected


@pytest.mark.parametrize(("changes", "problems"), [
    ({"size": True, "md5": None}, {"size": "must be a number of bytes", "md5": "must be 32 hexadecimal digits"}),
    ({"id": "nope", "upload_date": "2019-05-02"}, {"id": "must be a UUID", "upload_date": "must be a date"}),
    ({"upload_date": datetime(2019, 5, 2), "file_name": ""},
     {"file_name": "must be a plain file name (no directory part or control characters, 1-255 characters)"}),
    ({"file_name": None},
     {"file_name": "must be a plain file name (no directory part or control characters, 1-255 characters)"}),
    ({"file_name": 7},
     {"file_name": "must be a plain file name (no directory part or control characters, 1-255 characters)"}),
])
def test_attachment_refused_with_every_problem_named_by_its_field(changes: dict[str, object],
                                                                   problems: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as exc:
        attachment_from_legacy(legacy_attachment(str(uuid4()), **changes))
    assert field_errors(exc) == problems


async def test_each_skipped_row_reported_with_its_kind_and_detail(tables) -> None:
    here = User(id=uuid4(), first_name="J", last_name="D", email_address="taken@example.com", password_hash="fake$x",
                account_created=datetime(2026, 1, 1, tzinfo=UTC), account_updated=datetime(2026, 1, 1, tzinfo=UTC))
    tables.users[here.id] = here
    taken = legacy_user(email="taken@example.com")
    younger = legacy_user(email="JANE@example.com", account_created=datetime(2020, 1, 1))
    bad_user = legacy_user(email="bad")
    orphan_bill = legacy_bill(user_id=bad_user.id)
    bill = legacy_bill()
    bad_file = legacy_attachment(bill.id, md5="xyz")
    orphan_file = legacy_attachment(str(uuid4()))
    source = FakeLegacySource(users=[legacy_user(JANE), taken, younger, bad_user], bills=[bill, orphan_bill],
                              attachments=[bad_file, orphan_file])
    report = await run(tables, source)
    assert sorted(report.skipped, key=lambda r: r.id) == sorted([
        SkippedRow("user", taken.id, ("email_address: is already registered here by another account",),
                   f"account {here.id}"),
        SkippedRow("user", younger.id, ("email_address: differs only in case from an older account's address",),
                   f"the older account {JANE} keeps it"),
        SkippedRow("user", bad_user.id, ("email_address: must be a valid email address",)),
        SkippedRow("bill", orphan_bill.id, ("UserId: its user was not imported",), f"user {bad_user.id}"),
        SkippedRow("attachment", bad_file.id, ("md5: must be 32 hexadecimal digits",)),
        SkippedRow("attachment", orphan_file.id, ("BillId: its bill was not imported",), f"bill {orphan_file.bill_id}"),
    ], key=lambda r: r.id)


async def test_rows_after_one_refused_in_the_same_batch_still_imported(tables) -> None:
    here = User(id=uuid4(), first_name="J", last_name="D", email_address="taken@example.com", password_hash="fake$x",
                account_created=datetime(2026, 1, 1, tzinfo=UTC), account_updated=datetime(2026, 1, 1, tzinfo=UTC))
    tables.users[here.id] = here
    taken = legacy_user(email="taken@example.com", account_created=datetime(2018, 1, 1))  # met first
    bill = legacy_bill(id="00000000-0000-4000-8000-00000000000b")
    orphan_file = legacy_attachment(str(uuid4()), id="00000000-0000-4000-8000-000000000001")  # met first
    other_file = legacy_attachment(bill.id, id="00000000-0000-4000-8000-000000000002")
    second_file = legacy_attachment(bill.id, id="00000000-0000-4000-8000-000000000003")
    third_bill = legacy_bill(id="00000000-0000-4000-8000-00000000000c")
    third_file = legacy_attachment(third_bill.id, id="00000000-0000-4000-8000-000000000004")
    source = FakeLegacySource(users=[taken, legacy_user(JANE)], bills=[bill, third_bill],
                              attachments=[orphan_file, other_file, second_file, third_file])
    report = await run(tables, source)
    assert [row.id for row in report.skipped] == [taken.id, orphan_file.id, second_file.id]
    assert report.skipped[2] == SkippedRow("attachment", second_file.id,
                                           ("BillId: its bill already has another attachment (one per bill)",),
                                           f"attachment {other_file.id}")
    assert report.imported == {"user": 1, "bill": 2, "attachment": 2} and report.already_present == {}
    assert str(tables.bills[UUID(third_bill.id)].attachment.id) == third_file.id  # type: ignore[union-attr]


async def test_objects_counted_over_every_batch(tables) -> None:
    bills = [legacy_bill() for _ in range(3)]
    files = [legacy_attachment(b.id) for b in bills]
    store = FakeFileStore()
    for b in bills:
        store.other_buckets["old", f"{b.id}_invoice.pdf"] = PDF
    without_bucket = await run(Tables(), with_attachments(*files, bills=bills), batch_size=1)
    assert without_bucket.objects_not_copied == 3
    dry = await run(
        Tables(), with_attachments(*files, bills=bills), store, batch_size=1, old_bucket="old", dry_run=True
    )
    assert dry.copied_objects == 3
    first = await run(tables, with_attachments(*files, bills=bills), store, batch_size=1, old_bucket="old")
    assert (first.copied_objects, first.objects_already_copied, first.imported["attachment"]) == (3, 0, 3)
    again = await run(tables, with_attachments(*files, bills=bills), store, batch_size=1, old_bucket="old")
    assert (again.copied_objects, again.objects_already_copied, again.already_present["attachment"]) == (0, 3, 3)


async def test_object_problems_reported_with_where_and_what_was_found(tables) -> None:
    bill = legacy_bill()
    missing, different = legacy_attachment(bill.id), legacy_attachment(legacy_bill().id)
    store = FakeFileStore()
    store.other_buckets["old", f"{different.bill_id}_invoice.pdf"] = b"%PDF-other"
    source = FakeLegacySource(users=[legacy_user(JANE)], bills=[bill, legacy_bill(id=different.bill_id)],
                              attachments=[missing, different])
    report = await run(tables, source, store, old_bucket="old")
    md5 = hashlib.md5(b"%PDF-other").hexdigest()
    assert sorted(report.skipped, key=lambda r: r.id) == sorted([
        SkippedRow("attachment", missing.id, ("object: is not in the old bucket",), f"s3://old/{bill.id}_invoice.pdf"),
        SkippedRow("attachment", different.id, ("md5: the object's md5 differs from the recorded one",
                                                "size: the object's size differs from the recorded one"),
                   f"s3://old/{different.bill_id}_invoice.pdf: 10 bytes, md5 {md5}"),
    ], key=lambda r: r.id)


async def test_database_error_raised_even_when_the_copies_cannot_be_removed(tables) -> None:
    bill = legacy_bill()
    store = FakeFileStore()
    store.other_buckets["old", f"{bill.id}_invoice.pdf"] = PDF
    tables.fail_attachment_insert = True
    store.refusing_deletes = True
    with pytest.raises(ServiceUnavailable, match="fake database failed the insert"):
        await run(tables, with_attachments(legacy_attachment(bill.id), bills=[bill]), store, old_bucket="old")


async def test_no_attachment_counted_imported_when_no_object_checks_out(tables) -> None:
    bill = legacy_bill()
    report = await run(tables, with_attachments(legacy_attachment(bill.id), bills=[bill]), FakeFileStore(),
                       old_bucket="old")
    assert report.imported == {"user": 1, "bill": 1} and [r.reasons for r in report.skipped] == [
        ("object: is not in the old bucket",)]
