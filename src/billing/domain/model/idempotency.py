"""Idempotency keys: a client's retry of a POST gets the first answer instead of a second effect."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.domain.model.errors import DomainError, FieldError, ValidationFailed

HEADER = "Idempotency-Key"
KEY_MAX_LENGTH = 255
RETENTION = timedelta(hours=24)
# An entry still in flight after this long was abandoned (its process crashed or lost the database
# before it could record the answer or release the key): the key may be used again.
ABANDONED_AFTER = timedelta(minutes=2)
ANONYMOUS = "anonymous"  # the scope of unauthenticated calls (registration)


class IdempotencyKeyInFlight(DomainError):
    """A request with the same key is still being processed (HTTP 409)."""


class IdempotencyKeyReused(DomainError):
    """The key was already used for a different request (method, path or body) (HTTP 422)."""


def parse_key(raw: str) -> str:
    """1-255 visible ASCII characters (what RFC 9110 field values carry without surprises)."""
    if not 1 <= len(raw) <= KEY_MAX_LENGTH or not all(" " <= c <= "~" for c in raw) or raw.strip() != raw:
        raise ValidationFailed(FieldError(HEADER, f"must be 1-{KEY_MAX_LENGTH} visible ASCII characters"),
                               f"The {HEADER} header is invalid.")
    return raw


def user_scope(user_id: object) -> str:
    return f"user:{user_id}"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(method: str, path: str, body_digest: str) -> str:
    """What makes two requests "the same": method, path and a digest of the body."""
    return digest(f"{method.upper()} {path} {body_digest}".encode())


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The first answer, replayed as it was (status, content type, the headers worth keeping, body)."""

    status: int
    content_type: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyEntry:
    scope: str  # whose key: "user:<id>" or ANONYMOUS
    key_hash: str  # sha256 of the key: fixed width, and the client's text is not kept
    created_at: datetime
    expires_at: datetime
    fingerprint: str | None = None  # set with the response
    response: StoredResponse | None = None  # None while the first request is in flight

    @property
    def in_flight(self) -> bool:
        return self.response is None
