"""What read use cases hand back: entities plus the links a client needs."""

from __future__ import annotations

from dataclasses import dataclass

from billing.domain.model import Attachment, Bill
from billing.ports import FileStore


@dataclass(frozen=True, slots=True)
class AttachmentView:
    attachment: Attachment
    url: str  # a short-lived download link


@dataclass(frozen=True, slots=True)
class BillView:
    bill: Bill
    attachment: AttachmentView | None


async def attachment_view(attachment: Attachment, store: FileStore) -> AttachmentView:
    return AttachmentView(attachment, await store.download_url(attachment.object_key, attachment.file_name))


async def bill_view(bill: Bill, store: FileStore) -> BillView:
    if bill.attachment is None:
        return BillView(bill, None)
    return BillView(bill, await attachment_view(bill.attachment, store))
