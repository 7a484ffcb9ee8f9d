"""Ports: the protocols the core needs from the outside world. Adapters implement them."""

from billing.ports.clock import Clock
from billing.ports.file_store import FileStore
from billing.ports.idempotency import (
    HeldKey,
    IdempotencyAnswers,
    IdempotencyStore,
    KeyClaim,
    RecordAnswer,
)
from billing.ports.legacy import LegacySource
from billing.ports.messaging import (
    DigestPublisher,
    DueBillsRequestQueue,
    EmailLedger,
    InboundMessage,
    InboundQueue,
    Mailer,
    ReminderLedger,
    ReminderQueue,
)
from billing.ports.metrics import Metrics, Tags
from billing.ports.passwords import PasswordHasher, VerificationGate
from billing.ports.unit_of_work import (
    AttachmentRepository,
    AttemptCounterRepository,
    BillRepository,
    BillViews,
    CallerViews,
    ReadOnlyUnitOfWork,
    UnitOfWork,
    UserRepository,
)

__all__ = [
    "AttachmentRepository",
    "AttemptCounterRepository",
    "BillRepository",
    "BillViews",
    "CallerViews",
    "Clock",
    "DigestPublisher",
    "DueBillsRequestQueue",
    "EmailLedger",
    "FileStore",
    "HeldKey",
    "IdempotencyAnswers",
    "IdempotencyStore",
    "InboundMessage",
    "InboundQueue",
    "KeyClaim",
    "LegacySource",
    "Mailer",
    "Metrics",
    "PasswordHasher",
    "ReadOnlyUnitOfWork",
    "RecordAnswer",
    "ReminderLedger",
    "ReminderQueue",
    "Tags",
    "UnitOfWork",
    "UserRepository",
    "VerificationGate",
]
