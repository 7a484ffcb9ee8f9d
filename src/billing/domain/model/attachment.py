"""The invoice file attached to a bill (metadata; the bytes live in the FileStore)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

FILE_NAME_MAX = 255
# Magic bytes: what the content is, whatever the client's file name or Content-Type claims.
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
SNIFF_BYTES = max(len(signature) for signature, _ in _SIGNATURES)


def sniff_mime_type(head: bytes) -> str | None:
    """The MIME type of a file starting with `head`, or None when it is not an allowed type."""
    return next((mime for signature, mime in _SIGNATURES if head.startswith(signature)), None)


def clean_file_name(name: str | None) -> str:
    """The client's file name without any directory part or control characters, never empty.
    Kept for the download's Content-Disposition only; storage keys never derive from it."""
    base = (name or "").replace("\\", "/").rpartition("/")[2]
    base = "".join(c for c in base if c.isprintable()).strip()
    return base[:FILE_NAME_MAX] or "attachment"


def object_key(bill_id: UUID, attachment_id: UUID) -> str:
    return f"bills/{bill_id}/{attachment_id}"


@dataclass(frozen=True, slots=True)
class Attachment:
    id: UUID
    bill_id: UUID
    file_name: str
    size: int
    md5: str
    sha256: str
    mime_type: str
    object_key: str
    upload_date: datetime
