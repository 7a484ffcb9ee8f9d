"""Read models (domain/model/views.py) and the signing of their download links (use_cases/views.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import uuid4

from billing.domain.model import Attachment, AttachmentView, Bill, BillView
from billing.domain.model.bill import BillDetails, PaymentStatus
from billing.domain.use_cases.views import attachment_view, signed_bill, signed_bills
from tests.fakes import FakeFileStore

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UPDATED = datetime(2026, 1, 3, 4, 5, 6, tzinfo=UTC)


def a_bill(*, with_attachment: bool) -> Bill:
    bill_id = uuid4()
    attachment = Attachment(id=uuid4(), bill_id=bill_id, file_name="Factura ñ.pdf", size=123, md5="a" * 32,
                            sha256="b" * 64, mime_type="application/pdf", object_key=f"bills/{bill_id}/x",
                            upload_date=UPDATED) if with_attachment else None
    details = BillDetails(vendor="Northwind", bill_date=date(2026, 1, 1), due_date=date(2026, 1, 31),
                          amount_due=Decimal("12.50"), currency="EUR", categories=("power", "home"),
                          payment_status=PaymentStatus("due"))
    return Bill(id=bill_id, owner_id=uuid4(), created_ts=CREATED, updated_ts=UPDATED, details=details,
                attachment=attachment)


def test_a_bill_view_holds_every_field_of_the_bill_and_its_attachment() -> None:
    bill = a_bill(with_attachment=True)
    assert bill.attachment is not None
    a = bill.attachment
    expected_attachment = AttachmentView(a.id, bill.id, "Factura ñ.pdf", UPDATED, 123, "a" * 32, "b" * 64,
                                         "application/pdf", a.object_key, None)
    assert BillView.of(bill) == BillView(bill.id, bill.owner_id, CREATED, UPDATED, "Northwind", date(2026, 1, 1),
                                         date(2026, 1, 31), Decimal("12.50"), "EUR", ("power", "home"),
                                         PaymentStatus("due"), expected_attachment)
    assert BillView.of(a_bill(with_attachment=False)).attachment is None


def test_signing_and_attaching_change_only_the_link_and_the_attachment() -> None:
    bill = a_bill(with_attachment=True)
    assert bill.attachment is not None
    view = BillView.of(bill)
    assert view.attachment is not None
    signed = view.attachment.signed("https://files.test/x")
    assert signed == AttachmentView.of(bill.attachment, "https://files.test/x")
    bare = BillView.of(a_bill(with_attachment=False))
    attached = bare.with_attachment(signed)
    assert attached == BillView(bare.id, bare.owner_id, bare.created_ts, bare.updated_ts, bare.vendor, bare.bill_date,
                                bare.due_date, bare.amount_due, bare.currency, bare.categories, bare.payment_status,
                                signed)


async def test_links_are_signed_for_the_object_under_the_file_name() -> None:
    store = FakeFileStore()
    bill = a_bill(with_attachment=True)
    assert bill.attachment is not None
    link = f"https://files.test/{bill.attachment.object_key}?name=Factura ñ.pdf"
    assert await attachment_view(bill.attachment, store) == AttachmentView.of(bill.attachment, link)
    bare = BillView.of(a_bill(with_attachment=False))
    assert await signed_bill(bare, store) is bare  # nothing to sign
    listed = await signed_bills([bare, BillView.of(bill), bare], store)
    assert listed[0] is bare and listed[2] is bare
    assert listed[1] == BillView.of(bill).with_attachment(AttachmentView.of(bill.attachment, link))
