"""For the embedded mode: keep a copy of every sent email as an .eml file a developer can open."""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from billing.domain.model.due_bills import Email
from billing.ports import Mailer


class OutboxCopyingMailer:
    """Wraps a Mailer; after each successful send, writes `<time>-<message id>.eml` into `directory`."""

    def __init__(self, inner: Mailer, directory: str, sender: str) -> None:
        self._inner = inner
        self._directory = Path(directory)
        self._sender = sender

    async def send(self, email: Email) -> str:
        message_id = await self._inner.send(email)
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{message_id}@billing.local>"
        message.set_content(email.text)
        message.add_alternative(email.html, subtype="html")
        name = re.sub(r"[^A-Za-z0-9._-]", "_", message_id)
        await asyncio.to_thread(self._write, f"{name}.eml", message.as_bytes())
        return message_id

    def _write(self, name: str, data: bytes) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        (self._directory / name).write_bytes(data)
