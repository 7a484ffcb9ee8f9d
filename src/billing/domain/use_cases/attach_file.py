from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID, uuid4

from billing.domain.model import (
    Attachment,
    AttachmentView,
    Conflict,
    FieldError,
    FileTooLarge,
    NotFound,
    UnsupportedFileType,
    ValidationFailed,
)
from billing.domain.model.attachment import (
    SNIFF_BYTES,
    clean_file_name,
    object_key,
    sniff_mime_type,
)
from billing.domain.model.clock import to_millis
from billing.domain.use_cases.views import attachment_view
from billing.ports import Clock, FileStore, RecordAnswer, UnitOfWork


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachFileCommand:
    owner_id: UUID
    bill_id: UUID
    file_name: str | None
    chunks: AsyncIterator[bytes]  # the upload as it arrives; never buffered whole
    record_answer: RecordAnswer[AttachmentView] | None = None  # runs in the transaction, with the result


class _Measured:
    """Passes chunks through while counting and hashing them, and stops at the size limit."""

    def __init__(self, head: bytes, rest: AsyncIterator[bytes], max_bytes: int) -> None:
        self._head, self._rest, self._max = head, rest, max_bytes
        self.size = 0
        # usedforsecurity matters only on a FIPS build (True refuses MD5 there): no test here can tell.
        self.md5 = hashlib.md5(usedforsecurity=False)  # pragma: no mutate
        self.sha256 = hashlib.sha256()

    def _take(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.size > self._max:
            raise FileTooLarge(self._max)
        self.md5.update(chunk)
        self.sha256.update(chunk)
        return chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._head:
            yield self._take(self._head)
        async for chunk in self._rest:
            if chunk:
                yield self._take(chunk)


class AttachFile:
    """Attach the invoice file to one of the owner's bills.

    Checks the bill (NotFound) and that it has no attachment yet (ValidationFailed), judges the
    type by the first bytes (UnsupportedFileType), streams the bytes to the FileStore under a
    key the server chooses while enforcing the size limit (FileTooLarge), then records the
    metadata, and whatever `record_answer` records, in one transaction. If that fails, the
    stored object is deleted: neither an orphan row nor a dangling object is left.
    """

    def __init__(self, uow: UnitOfWork, store: FileStore, clock: Clock, max_bytes: int) -> None:
        self._uow = uow
        self._store = store
        self._clock = clock
        self._max_bytes = max_bytes

    async def execute(self, command: AttachFileCommand) -> AttachmentView:
        async with self._uow as uow:
            bill = await uow.bills.get(command.owner_id, command.bill_id)
        if bill is None:
            raise NotFound()
        if bill.attachment is not None:
            raise _already_attached()

        head = await _read_head(command.chunks)
        mime_type = sniff_mime_type(head)
        if mime_type is None:
            raise UnsupportedFileType()

        attachment_id = uuid4()
        key = object_key(bill.id, attachment_id)
        upload = _Measured(head, command.chunks, self._max_bytes)
        await self._store.put(key, aiter(upload), content_type=mime_type)
        attachment = Attachment(
            id=attachment_id,
            bill_id=bill.id,
            file_name=clean_file_name(command.file_name),
            size=upload.size,
            md5=upload.md5.hexdigest(),
            sha256=upload.sha256.hexdigest(),
            mime_type=mime_type,
            object_key=key,
            upload_date=to_millis(self._clock.now()),
        )
        try:
            view = await attachment_view(attachment, self._store)
            async with self._uow as uow:
                if await uow.bills.get(command.owner_id, command.bill_id) is None:
                    raise NotFound()  # deleted while we uploaded
                await uow.attachments.add(attachment)
                if command.record_answer is not None:
                    await command.record_answer(uow.idempotency, view)
                await uow.commit()
        except BaseException as exc:
            await self._store.delete(key)  # compensate: the object must not outlive a failed insert
            if isinstance(exc, Conflict):
                raise _already_attached() from None
            raise
        return view


def _already_attached() -> ValidationFailed:
    return ValidationFailed(FieldError("attachment", "the bill already has an attachment; delete it first"))


async def _read_head(chunks: AsyncIterator[bytes]) -> bytes:
    head = b""
    # `<=` would read one chunk more before sniffing, which changes nothing: the head is passed on whole.
    while len(head) < SNIFF_BYTES:  # pragma: no mutate
        chunk = await anext(chunks, None)
        if chunk is None:
            break
        head += chunk
    return head
