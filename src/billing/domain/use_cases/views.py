"""The links a client needs beside the read models: short-lived download URLs from the store."""

from __future__ import annotations

from collections.abc import Sequence

from billing.domain.model import Attachment, AttachmentView, BillView
from billing.ports import FileStore


async def attachment_view(attachment: Attachment, store: FileStore) -> AttachmentView:
    """The attachment's read model with a fresh download link."""
    return AttachmentView.of(attachment, await store.download_url(attachment.object_key, attachment.file_name))


async def signed_bill(bill: BillView, store: FileStore) -> BillView:
    """`bill` with its attachment's download link signed (the bill itself when it has none)."""
    attachment = bill.attachment
    if attachment is None:
        return bill
    return bill.with_attachment(attachment.signed(await store.download_url(attachment.object_key,
                                                                            attachment.file_name)))


async def signed_bills(bills: Sequence[BillView], store: FileStore) -> list[BillView]:
    """`bills`, in order, with their attachments' download links signed."""
    # The test spares a coroutine per bill without an attachment (most of a listing); signed_bill
    # returns such a bill as it is, so no test can tell the two apart.
    return [bill if bill.attachment is None else await signed_bill(bill, store)  # pragma: no mutate
            for bill in bills]
