"""Read models: a bill and its attachment as a client reads them, in domain values.

What the reads return (ports and use cases), and what the HTTP layer writes as JSON. They carry
no rule and no wire format: amounts are Decimals, dates and timestamps are date and aware UTC
datetime, ids are UUIDs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from billing.domain.model.attachment import Attachment
from billing.domain.model.bill import Bill, PaymentStatus


@dataclass(frozen=True, slots=True)
class AttachmentView:
    """An attachment's metadata; `url` is its short-lived download link, None until a use case
    has signed `object_key` (reads from storage leave it None)."""

    id: UUID
    bill_id: UUID
    file_name: str
    upload_date: datetime
    size: int
    md5: str
    sha256: str
    mime_type: str
    object_key: str
    url: str | None = None

    @classmethod
    def of(cls, attachment: Attachment, url: str | None = None) -> AttachmentView:
        a = attachment
        return cls(a.id, a.bill_id, a.file_name, a.upload_date, a.size, a.md5, a.sha256, a.mime_type, a.object_key,
                   url)

    def signed(self, url: str) -> AttachmentView:
        return replace(self, url=url)


@dataclass(frozen=True, slots=True)
class BillView:
    """A bill with its attachment (None when it has none)."""

    id: UUID
    owner_id: UUID
    created_ts: datetime
    updated_ts: datetime
    vendor: str
    bill_date: date
    due_date: date
    amount_due: Decimal
    currency: str
    categories: tuple[str, ...]
    payment_status: PaymentStatus
    attachment: AttachmentView | None = None

    @classmethod
    def of(cls, bill: Bill) -> BillView:
        d = bill.details
        return cls(bill.id, bill.owner_id, bill.created_ts, bill.updated_ts, d.vendor, d.bill_date, d.due_date,
                   d.amount_due, d.currency, d.categories, d.payment_status,
                   None if bill.attachment is None else AttachmentView.of(bill.attachment))

    def with_attachment(self, attachment: AttachmentView) -> BillView:
        return replace(self, attachment=attachment)
