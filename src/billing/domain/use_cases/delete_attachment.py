from __future__ import annotations

from billing.domain.use_cases.get_attachment import AttachmentCommand, owned_attachment
from billing.ports import FileStore, UnitOfWork


class DeleteAttachment:
    """Remove a bill's attachment: the metadata row first (committed), then the object.

    If the object deletion fails after the commit, the bucket's 30-day lifecycle rule expires
    it; the reverse order could leave a row pointing at nothing.
    """

    def __init__(self, uow: UnitOfWork, store: FileStore) -> None:
        self._uow = uow
        self._store = store

    async def execute(self, command: AttachmentCommand) -> None:
        async with self._uow as uow:
            attachment = await owned_attachment(uow, command)
            await uow.attachments.delete(attachment.bill_id, attachment.id)
            await uow.commit()
        await self._store.delete(attachment.object_key)
