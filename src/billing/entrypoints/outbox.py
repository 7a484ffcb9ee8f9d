"""`billing outbox`: the emails the embedded mode sent, oldest first.

Every email the emulator's SES accepted is also written by the mailer as an .eml file (open one
in any mail client); this prints them. The emulator's own state dump cannot be relied on for
this: it fails once the emulator holds multipart S3 objects.
"""

from __future__ import annotations

import sys
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path


def read_outbox(directory: str) -> list[tuple[Path, EmailMessage]]:
    paths = sorted(Path(directory).glob("*.eml"), key=lambda p: p.stat().st_mtime)
    parser = BytesParser(policy=policy.default)
    return [(path, parser.parsebytes(path.read_bytes())) for path in paths]


def print_outbox(directory: str) -> int:
    if not Path(directory).is_dir():
        print(f"billing: no outbox at {directory} yet (emails appear there once `make run` sends one)",
              file=sys.stderr)
        return 0
    emails = read_outbox(directory)
    for path, message in emails:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        print(f"File: {path}\nDate: {message['Date'] or ''}\nFrom: {message['From']}\nTo: {message['To']}\n"
              f"Subject: {message['Subject']}\n\n{text.rstrip()}\n{'-' * 72}")
    print(f"{len(emails)} email(s) in {directory}", file=sys.stderr)
    return 0
