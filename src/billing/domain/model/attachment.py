"""The invoice file attached to a bill (metadata; the bytes live in the FileStore)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Attachment:
    id: UUID
    bill_id: UUID
    file_name: str
    size: int
    md5: str
    mime_type: str
    object_key: str
    upload_date: datetime
