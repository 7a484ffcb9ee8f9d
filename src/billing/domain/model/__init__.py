"""Entities, value objects and rules. Standard library only: no I/O, no clock, no frameworks."""

from billing.domain.model.attachment import Attachment
from billing.domain.model.bill import Bill, BillCursor, BillDetails, BillQuery, PaymentStatus
from billing.domain.model.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    EmailAlreadyRegistered,
    FieldError,
    FileTooLarge,
    NotFound,
    ServiceUnavailable,
    UnsupportedFileType,
    ValidationFailed,
)
from billing.domain.model.user import ProfileChanges, Registration, User

__all__ = [
    "Attachment",
    "AuthenticationFailed",
    "Bill",
    "BillCursor",
    "BillDetails",
    "BillQuery",
    "Conflict",
    "DomainError",
    "EmailAlreadyRegistered",
    "FieldError",
    "FileTooLarge",
    "NotFound",
    "PaymentStatus",
    "ProfileChanges",
    "Registration",
    "ServiceUnavailable",
    "UnsupportedFileType",
    "User",
    "ValidationFailed",
]
