"""Logging for every entrypoint: JSON lines on stdout (one object per line, what the CloudWatch
agent ships), or a readable one-line format for `billing local` on a terminal.

Context: `log_context(request_id=..., message_id=...)` binds fields in a contextvar, so every line
logged while it is active (in that task and the tasks it starts) carries them. Secrets: nothing
logs passwords, Authorization headers, password hashes or email addresses in the first place;
`RedactingFilter` masks them anyway, in the message, the exception text and string fields.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any, TextIO

import orjson

_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("billing_log_context", default={})

# Fields a LogRecord always has; anything else on a record came from `extra=` and is output.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add fields (request_id, message_id, ...) to every log line until the block ends."""
    token = _CONTEXT.set({**_CONTEXT.get(), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind_log_context(**fields: str) -> Token[Mapping[str, str]]:
    """log_context without the context manager (the HTTP middleware's per-request path): bind the
    fields and return the token `reset_log_context` takes when the work is done."""
    current = _CONTEXT.get()
    return _CONTEXT.set({**current, **fields} if current else fields)


def reset_log_context(token: Token[Mapping[str, str]]) -> None:
    _CONTEXT.reset(token)


def current_context() -> Mapping[str, str]:
    return _CONTEXT.get()


# ---------------------------------------------------------------- redaction (defence in depth)
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Password hashes: Argon2 (PHC string), bcrypt, and other modular-crypt strings.
    (re.compile(r"\$argon2(?:id|i|d)(?:\$v=\d+)?\$[mtp]=[\d,mtp=]+(?:\$[A-Za-z0-9+/=]*){0,2}"), "[password-hash]"),
    (re.compile(r"\$argon2(?:id|i|d)\$[^\s\"']+"), "[password-hash]"),
    (re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}"), "[password-hash]"),
    (re.compile(r"\$(?:pbkdf2[-\w]*|scrypt|[156])\$[^\s\"',;)}\]]+"), "[password-hash]"),
    # Authorization header values ("Authorization: <scheme> <credentials>"), and "Basic <base64>",
    # "Bearer <token>" wherever they appear.
    (re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(?:[A-Za-z0-9-]+\s+)?(?!\[)[^\s\"',}]+"),
     r"\1[redacted]"),
    (re.compile(r"\b(Basic|Bearer|basic|bearer|BASIC|BEARER)\s+[A-Za-z0-9+/=._~-]{8,}"), r"\1 [redacted]"),
    # key=value and "key": "value" pairs whose key names a secret.
    (re.compile(r"(?i)\b((?:password|passwd|pwd|secret|token|api_key)\w*[\"']?\s*[:=]\s*[\"']?)(?!\[)[^\"'\s,;&}\]]+"),
     r"\1[redacted]"),
    # Credentials in URLs (scheme://user:password@host).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
    # Email addresses.
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites the record in place: message (with its args), exception and stack text, and the
    string fields added with `extra=`. Put it on the handler so it sees propagated records."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, redact(value))
        return True


class ContextFilter(logging.Filter):
    """Copies the bound context (request_id, message_id) onto the record, unless `extra=` set it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_")}


def _utc_iso(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the context and extra fields
    (request_id, route, method, status, duration_ms, message_id, ...), then `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """`09:30:01.123 INFO  billing.access: GET /v1/bills 200 3.1ms  request_id=...`"""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = _extras(record)
        context = "  ".join(f"{k}={extras[k]}" for k in ("request_id", "message_id") if k in extras)
        if context:
            first, newline, rest = text.partition("\n")
            text = f"{first}  [{context}]{newline}{rest}"
        return text


def choose_format(setting: str, command: str, stream: TextIO) -> str:
    """`auto`: readable text for `billing local` on a terminal, JSON everywhere else."""
    if setting != "auto":
        return setting
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return "text" if command == "local" and interactive else "json"


def configure_logging(level: int | str = logging.INFO, fmt: str = "json", stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one on `stream` (stdout by default)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(TextFormatter() if fmt == "text" else JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # The AWS SDK's DEBUG output holds request bodies and signed headers: never below WARNING.
    for chatty in ("botocore", "aiobotocore", "boto3", "urllib3"):
        logging.getLogger(chatty).setLevel(max(root.level, logging.WARNING))
    return handler
