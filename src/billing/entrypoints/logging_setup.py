"""Logging for every entrypoint: JSON lines on stdout (one object per line, what the CloudWatch
agent ships), or a readable one-line format for `billing local` on a terminal.

Context: `log_context(request_id=..., message_id=...)` binds fields in a contextvar, so every line
logged while it is active (in that task and the tasks it starts) carries them. Secrets: nothing
logs passwords, Authorization headers, password hashes or email addresses in the first place;
`RedactingFilter` masks them anyway, in the message, the exception text and string fields.
Bounds: clients choose part of what is logged (a path), so every line is cut to a bounded size
and redaction runs in linear time on at most a bounded part of each value.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any, TextIO

import orjson

_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("billing_log_context", default=MappingProxyType({}))

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
# Every pattern runs in time linear in the text (clients choose what reaches a log: paths, header
# values): each starts at a literal or at the first character of a run (a lookbehind), and no run
# is scanned from more than one start. Each also has trigger substrings, looked for in the
# lower-cased text first, so ordinary lines (no "@", "$", "://", no secret-like word) cost a
# lower() and a few `in` tests.
_REDACTIONS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    # Password hashes: Argon2 (PHC string), bcrypt, and other modular-crypt strings.
    (("$argon2",), re.compile(r"\$argon2(?:id|i|d)(?:\$v=\d+)?\$[mtp]=[\d,mtp=]+(?:\$[A-Za-z0-9+/=]*){0,2}"),
     "[password-hash]"),
    (("$argon2",), re.compile(r"\$argon2(?:id|i|d)\$[^\s\"']+"), "[password-hash]"),
    (("$2",), re.compile(r"\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}"), "[password-hash]"),
    (("$",), re.compile(r"\$(?:pbkdf2[-\w]*|scrypt|[156])\$[^\s\"',;)}\]]+"), "[password-hash]"),
    # Authorization header values ("Authorization: <scheme> <credentials>"), and "Basic <base64>",
    # "Bearer <token>" wherever they appear.
    (("authorization",),
     re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(?:[A-Za-z0-9-]+\s+)?(?!\[)[^\s\"',}]+"),
     r"\1[redacted]"),
    (("basic", "bearer"), re.compile(r"\b(Basic|Bearer|basic|bearer|BASIC|BEARER)\s+[A-Za-z0-9+/=._~-]{8,}"),
     r"\1 [redacted]"),
    # key=value and "key": "value" pairs whose key names a secret.
    (("pass", "pwd", "secret", "token", "api_key"),
     re.compile(r"(?i)\b((?:password|passwd|pwd|secret|token|api_key)\w*[\"']?\s*[:=]\s*[\"']?)(?!\[)[^\"'\s,;&}\]]+"),
     r"\1[redacted]"),
    # Credentials in URLs (scheme://user:password@host); from the "://", so no scheme is rescanned.
    (("://",), re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1[redacted]@"),
    # Email addresses: the local part starts where a run of its characters starts.
    (("@",), re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
     "[email]"),
)

# A log line is bounded: the message and each string field at most MAX_FIELD_CHARS, a traceback
# at most MAX_TRACE_CHARS (its end, where the error is); what is cut is replaced by a marker.
MAX_FIELD_CHARS = 1024
MAX_TRACE_CHARS = 8192
# Redaction looks this far past a cut, so a secret that straddles it is masked before it is cut
# (a Basic token of the longest email and password is about 500 characters).
_SECRET_LOOKAHEAD = 512


def redact(text: str) -> str:
    """`text` with passwords, hashes, credentials and email addresses masked; linear time."""
    lowered = text.lower()
    for triggers, pattern, replacement in _REDACTIONS:
        if any(trigger in lowered for trigger in triggers):
            text = pattern.sub(replacement, text)
    return text


def bounded(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    """`text` redacted, and when longer than `limit` its first `limit` characters and a marker.
    The cost depends on `limit`, not on the length of `text`."""
    if len(text) <= limit:
        return redact(text)
    return f"{redact(text[:limit + _SECRET_LOOKAHEAD])[:limit]}…[cut, {len(text)} chars in all]"


def bounded_tail(text: str, limit: int = MAX_TRACE_CHARS) -> str:
    """Like `bounded`, keeping the end of `text` (a traceback's last lines say what failed)."""
    if len(text) <= limit:
        return redact(text)
    return f"[cut, {len(text)} chars in all]…{redact(text[-(limit + _SECRET_LOOKAHEAD):])[-limit:]}"


class RedactingFilter(logging.Filter):
    """Rewrites the record in place, redacted and bounded: message (with its args), exception and
    stack text, and the string fields added with `extra=`. Put it on the handler so it sees
    propagated records."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = bounded(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = bounded_tail(record.exc_text)
        if record.stack_info:
            record.stack_info = bounded_tail(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, bounded(value))
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
        context = "  ".join(f"{k}={extras[k]}" for k in ("path", "request_id", "message_id") if k in extras)
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


def configure_logging(
    level: int | str = logging.INFO, fmt: str = "json", stream: TextIO | None = None
) -> logging.Handler:
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
