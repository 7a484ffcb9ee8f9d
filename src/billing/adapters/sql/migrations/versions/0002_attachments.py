"""attachments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing.adapters.sql.types import UTCDateTime, UUIDString

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", UUIDString, nullable=False),
        sa.Column("bill_id", UUIDString, nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("md5", sa.CHAR(32), nullable=False),
        sa.Column("sha256", sa.CHAR(64), nullable=False),
        sa.Column("mime_type", sa.String(64), nullable=False),
        sa.Column("object_key", sa.String(512), nullable=False),
        sa.Column("upload_date", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
        sa.UniqueConstraint("bill_id", name="uq_attachments_bill_id"),
        sa.ForeignKeyConstraint(["bill_id"], ["bills.id"], name="fk_attachments_bill_id_bills", ondelete="CASCADE"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("attachments")
