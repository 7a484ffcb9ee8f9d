"""Domain errors: what went wrong, in the language of the domain.

Each transport maps these in one place (HTTP: the error middleware; worker: leave the
message for redelivery; Lambda: raise).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """Base class of every error the core raises on purpose."""


class ValidationFailed(DomainError):
    """Input breaks a rule; carries one FieldError per offending field."""

    def __init__(self, errors: list[FieldError] | FieldError, detail: str = "The request is invalid.") -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        self.detail = detail
        super().__init__(detail + " " + "; ".join(f"{e.field}: {e.message}" for e in self.errors))


class NotFound(DomainError):
    """The resource does not exist, or belongs to someone else (indistinguishable on purpose)."""


class AuthenticationFailed(DomainError):
    """Missing or wrong credentials."""


class EmailAlreadyRegistered(DomainError):
    """Another account already uses this email address (compared case-insensitively)."""


class Conflict(DomainError):
    """The request conflicts with the current state of the resource."""


class ServiceUnavailable(DomainError):
    """A dependency (database, storage, queue) cannot be reached; the caller may retry later."""


class ServiceBusy(ServiceUnavailable):
    """The dependency answers, but every connection to it is in use and none came free in time
    (the database pool is exhausted): the service is overloaded, not broken. A ServiceUnavailable,
    so whoever retries an unavailable dependency retries this too."""


class FileTooLarge(DomainError):
    """An upload exceeds the configured size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the file exceeds the limit of {limit} bytes")


class UnsupportedFileType(DomainError):
    """An upload is not a PDF, PNG or JPEG judged by its content; nothing was stored."""
