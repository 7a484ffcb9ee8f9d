"""Attaching invoice files: type sniffing, the size limit, one per bill, and compensation."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from billing.domain.model import (
    AttachmentView,
    FileTooLarge,
    NotFound,
    ServiceUnavailable,
    UnsupportedFileType,
    ValidationFailed,
)
from billing.domain.model.attachment import clean_file_name, sniff_mime_type
from billing.domain.use_cases.attach_file import AttachFile, AttachFileCommand
from billing.domain.use_cases.create_bill import CreateBill, CreateBillCommand
from billing.domain.use_cases.delete_attachment import DeleteAttachment
from billing.domain.use_cases.delete_bill import DeleteBill, DeleteBillCommand
from billing.domain.use_cases.get_attachment import AttachmentCommand, GetAttachment
from tests.fakes import FakeClock, FakeFileStore, FakeUnitOfWork, Tables

PDF = b"%PDF-1.7\n" + b"x" * 1000
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 100
BILL = {"vendor": "Acme", "bill_date": "2026-11-01", "due_date": "2026-11-20", "amount_due": Decimal("10"),
        "payment_status": "due"}


async def stream(data: bytes, chunk: int = 3) -> AsyncIterator[bytes]:
    for i in range(0, len(data), chunk):
        yield data[i : i + chunk]


@pytest.fixture
def store() -> FakeFileStore:
    return FakeFileStore()


@pytest.fixture
async def bill(tables: Tables, clock: FakeClock):
    return await CreateBill(FakeUnitOfWork(tables), clock).execute(CreateBillCommand(owner_id=uuid4(), fields=BILL))


def attach(tables: Tables, store: FakeFileStore, clock: FakeClock, max_bytes: int = 10_000) -> AttachFile:
    return AttachFile(FakeUnitOfWork(tables), store, clock, max_bytes)


@pytest.mark.parametrize(("head", "mime"), [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg"),
                                            (b"GIF89a", None), (b"", None), (b"<html>", None)])
def test_type_judged_by_magic_bytes(head: bytes, mime: str | None) -> None:
    assert sniff_mime_type(head) == mime


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\inv.pdf", "inv.pdf"),
        (None, "attachment"),
        ("a\x00b\nc.pdf", "abc.pdf"),
        ("", "attachment"),
        ("ß.pdf", "ß.pdf"),
    ],
)
def test_file_names_lose_paths_and_control_characters(raw: str | None, clean: str) -> None:
    assert clean_file_name(raw) == clean


async def test_upload_stored_under_server_key_with_metadata(tables, store, clock, bill) -> None:
    view = await attach(tables, store, clock).execute(
        AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="../invoice.pdf", chunks=stream(PDF)))
    a = view
    assert a.object_key == f"bills/{bill.id}/{a.id}"
    assert store.objects[a.object_key] == (PDF, "application/pdf")
    assert (a.size, a.file_name, a.mime_type) == (len(PDF), "invoice.pdf", "application/pdf")
    import hashlib
    assert a.md5 == hashlib.md5(PDF).hexdigest() and a.sha256 == hashlib.sha256(PDF).hexdigest()
    stored = tables.bills[bill.id].attachment
    assert stored is not None and AttachmentView.of(stored, view.url) == view
    assert view.url is not None and view.url.startswith("https://files.test/")


async def test_second_upload_is_refused(tables, store, clock, bill) -> None:
    command = lambda: AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="a.png", chunks=stream(PNG))  # noqa: E731
    await attach(tables, store, clock).execute(command())
    with pytest.raises(ValidationFailed):
        await attach(tables, store, clock).execute(command())
    assert len(store.objects) == 1


async def test_unsupported_type_stores_nothing(tables, store, clock, bill) -> None:
    with pytest.raises(UnsupportedFileType):
        await attach(tables, store, clock).execute(
            AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.pdf", chunks=stream(b"GIF89a....")))
    assert store.objects == {} and tables.bills[bill.id].attachment is None


async def test_too_large_stores_nothing(tables, store, clock, bill) -> None:
    with pytest.raises(FileTooLarge):
        await attach(tables, store, clock, max_bytes=500).execute(
            AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.pdf", chunks=stream(PDF, 64)))
    assert store.objects == {} and tables.bills[bill.id].attachment is None


async def test_object_deleted_when_the_metadata_insert_fails(tables, store, clock, bill) -> None:
    tables.fail_attachment_insert = True
    with pytest.raises(ServiceUnavailable):
        await attach(tables, store, clock).execute(
            AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.pdf", chunks=stream(PDF)))
    assert store.objects == {} and tables.bills[bill.id].attachment is None


async def test_another_users_bill_is_not_found(tables, store, clock, bill) -> None:
    with pytest.raises(NotFound):
        await attach(tables, store, clock).execute(
            AttachFileCommand(owner_id=uuid4(), bill_id=bill.id, file_name="x.pdf", chunks=stream(PDF)))
    assert store.objects == {}


async def test_get_and_delete_attachment_then_bill(tables, store, clock, bill) -> None:
    view = await attach(tables, store, clock).execute(
        AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.pdf", chunks=stream(PDF)))
    command = AttachmentCommand(owner_id=bill.owner_id, bill_id=bill.id, attachment_id=view.id)
    got = await GetAttachment(FakeUnitOfWork(tables), store).execute(command)
    assert got.url is not None and dataclasses.replace(got, url=view.url) == view  # its link signed again
    stored = tables.bills[bill.id].attachment
    assert stored is not None and AttachmentView.of(stored, view.url) == view  # the bill carries it, as bills are read
    await DeleteAttachment(FakeUnitOfWork(tables), store).execute(command)
    assert store.objects == {} and tables.bills[bill.id].attachment is None
    with pytest.raises(NotFound):
        await GetAttachment(FakeUnitOfWork(tables), store).execute(command)


async def test_deleting_a_bill_deletes_its_object(tables, store, clock, bill) -> None:
    await attach(tables, store, clock).execute(
        AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.jpg", chunks=stream(JPEG)))
    await DeleteBill(FakeUnitOfWork(tables), store).execute(DeleteBillCommand(owner_id=bill.owner_id, bill_id=bill.id))
    assert store.objects == {} and tables.bills == {}


@pytest.mark.parametrize("chunk", [3, len(PDF)])
async def test_upload_of_exactly_max_bytes_is_stored(tables, store, clock, bill, chunk) -> None:
    view = await attach(tables, store, clock, max_bytes=len(PDF)).execute(
        AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.pdf", chunks=stream(PDF, chunk)))
    assert view.size == len(PDF) and store.objects[view.object_key][0] == PDF


@pytest.mark.parametrize("chunk", [3, len(PDF)])
async def test_upload_one_byte_over_max_bytes_stores_nothing(tables, store, clock, bill, chunk) -> None:
    with pytest.raises(FileTooLarge) as exc:
        await attach(tables, store, clock, max_bytes=len(PDF) - 1).execute(
            AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.pdf", chunks=stream(PDF, chunk)))
    assert exc.value.limit == len(PDF) - 1 and str(exc.value) == f"the file exceeds the limit of {len(PDF) - 1} bytes"
    assert store.objects == {} and tables.bills[bill.id].attachment is None


async def test_upload_shorter_than_the_sniffed_head_stored_whole(tables, store, clock, bill) -> None:
    view = await attach(tables, store, clock).execute(
        AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.pdf", chunks=stream(b"%PDF-", 2)))
    assert store.objects[view.object_key] == (b"%PDF-", "application/pdf") and view.size == 5


async def test_empty_upload_is_an_unsupported_type(tables, store, clock, bill) -> None:
    with pytest.raises(UnsupportedFileType):
        await attach(tables, store, clock).execute(
            AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="x.pdf", chunks=stream(b"")))
    assert store.objects == {}


async def test_each_upload_gets_a_fresh_id_of_its_own(tables, store, clock, bill) -> None:
    other = await CreateBill(FakeUnitOfWork(tables), clock).execute(
        CreateBillCommand(owner_id=bill.owner_id, fields=BILL)
    )
    ids = []
    for target in (bill, other):
        view = await attach(tables, store, clock).execute(
            AttachFileCommand(owner_id=bill.owner_id, bill_id=target.id, file_name="x.pdf", chunks=stream(PDF)))
        assert isinstance(view.id, UUID) and view.object_key == f"bills/{target.id}/{view.id}"
        ids.append(view.id)
    assert ids[0] != ids[1] and len(store.objects) == 2


async def test_second_upload_refused_with_the_field_message(tables, store, clock, bill) -> None:
    await attach(tables, store, clock).execute(
        AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="a.png", chunks=stream(PNG)))
    with pytest.raises(ValidationFailed) as exc:
        await attach(tables, store, clock).execute(
            AttachFileCommand(owner_id=bill.owner_id, bill_id=bill.id, file_name="b.png", chunks=stream(PNG)))
    assert [(e.field, e.message) for e in exc.value.errors] == [
        ("attachment", "the bill already has an attachment; delete it first")]
