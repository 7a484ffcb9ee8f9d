"""users and bills

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing.adapters.sql.types import Amount, UTCDateTime, UUIDString

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", UUIDString, primary_key=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("email_address", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("account_created", UTCDateTime, nullable=False),
        sa.Column("account_updated", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email_address", name="uq_users_email_address"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_table(
        "bills",
        sa.Column("id", UUIDString, nullable=False),
        sa.Column("owner_id", UUIDString, nullable=False),
        sa.Column("vendor", sa.String(255), nullable=False),
        sa.Column("bill_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("amount_due", Amount, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("categories", sa.JSON, nullable=False),
        sa.Column("payment_status", sa.String(32), nullable=False),
        sa.Column("created_ts", UTCDateTime, nullable=False),
        sa.Column("updated_ts", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bills"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name="fk_bills_owner_id_users", ondelete="CASCADE"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_bills_owner_due", "bills", ["owner_id", "due_date", "id"])


def downgrade() -> None:
    op.drop_index("ix_bills_owner_due", table_name="bills")
    op.drop_table("bills")
    op.drop_table("users")
