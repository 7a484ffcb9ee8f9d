"""The schema, as SQLAlchemy Core tables. Alembic migrations create it; keep both in step."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.mysql import MEDIUMTEXT

from billing.adapters.sql.types import Amount, UTCDateTime, UUIDString

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", UUIDString, primary_key=True),
    sa.Column("first_name", sa.String(100), nullable=False),
    sa.Column("last_name", sa.String(100), nullable=False),
    sa.Column("email_address", sa.String(254), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("account_created", UTCDateTime, nullable=False),
    sa.Column("account_updated", UTCDateTime, nullable=False),
    sa.Column("reminder_days", sa.SmallInteger, nullable=True),  # NULL: no reminders
    # A reminder round walks (reminder_days, id) for one value of reminder_days at a time: the
    # index serves the filter, the order and the keyset cursor (adapters/sql/repositories.py).
    sa.Index("ix_users_reminder_days_id", "reminder_days", "id"),
)

bills = sa.Table(
    "bills",
    metadata,
    sa.Column("id", UUIDString, primary_key=True),
    sa.Column("owner_id", UUIDString, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("vendor", sa.String(255), nullable=False),
    sa.Column("bill_date", sa.Date, nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("amount_due", Amount, nullable=False),
    sa.Column("currency", sa.CHAR(3), nullable=False),
    sa.Column("categories", sa.JSON, nullable=False),
    sa.Column("payment_status", sa.String(32), nullable=False),
    sa.Column("created_ts", UTCDateTime, nullable=False),
    sa.Column("updated_ts", UTCDateTime, nullable=False),
    # Listing walks (owner, due_date, id): the index serves the filter, the order and the cursor.
    sa.Index("ix_bills_owner_due", "owner_id", "due_date", "id"),
)

attachments = sa.Table(
    "attachments",
    metadata,
    sa.Column("id", UUIDString, primary_key=True),
    # unique: one attachment per bill, settled by the database even under concurrent uploads
    sa.Column("bill_id", UUIDString, sa.ForeignKey("bills.id", ondelete="CASCADE"), nullable=False, unique=True),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("md5", sa.CHAR(32), nullable=False),
    sa.Column("sha256", sa.CHAR(64), nullable=False),
    sa.Column("mime_type", sa.String(64), nullable=False),
    sa.Column("object_key", sa.String(512), nullable=False),
    sa.Column("upload_date", UTCDateTime, nullable=False),
)

# Idempotency-Key entries: the first answer to a POST, replayed to retries for 24 hours.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(64), primary_key=True),
    sa.Column("key_hash", sa.CHAR(64), primary_key=True),
    sa.Column("fingerprint", sa.CHAR(64), nullable=True),
    sa.Column("status", sa.SmallInteger, nullable=True),  # NULL while the first request is in flight
    sa.Column("content_type", sa.String(100), nullable=True),
    sa.Column("headers", sa.JSON, nullable=True),
    # UTF-8 text (the answers are JSON): aiomysql 0.3.2 cannot bind bytes parameters.
    sa.Column("body", sa.Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb"), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index("ix_idempotency_keys_expires_at", "expires_at"),
)

# Throttling counters (sign-in, registration): one row per key and its current fixed window.
attempt_counters = sa.Table(
    "attempt_counters",
    metadata,
    sa.Column("counter_key", sa.CHAR(64), primary_key=True),  # SHA-256 of the key: no address at rest
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("window_ends", UTCDateTime, nullable=False),
    sa.Index("ix_attempt_counters_window_ends", "window_ends"),
)
