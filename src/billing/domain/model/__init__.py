"""Entities, value objects and rules. Standard library only: no I/O, no clock, no frameworks."""

from billing.domain.model.attachment import Attachment
from billing.domain.model.bill import (
    Bill,
    BillCursor,
    BillDetails,
    BillQuery,
    PaymentStatus,
)
from billing.domain.model.errors import (
    AuthenticationFailed,
    Conflict,
    DomainError,
    EmailAlreadyRegistered,
    FieldError,
    FileTooLarge,
    NotFound,
    ServiceBusy,
    ServiceUnavailable,
    UnsupportedFileType,
    ValidationFailed,
)
from billing.domain.model.user import ProfileChanges, Registration, User
from billing.domain.model.views import AttachmentView, BillView

__all__ = [
    "Attachment",
    "AttachmentView",
    "AuthenticationFailed",
    "Bill",
    "BillCursor",
    "BillDetails",
    "BillQuery",
    "BillView",
    "Conflict",
    "DomainError",
    "EmailAlreadyRegistered",
    "FieldError",
    "FileTooLarge",
    "NotFound",
    "PaymentStatus",
    "ProfileChanges",
    "Registration",
    "ServiceBusy",
    "ServiceUnavailable",
    "UnsupportedFileType",
    "User",
    "ValidationFailed",
]
