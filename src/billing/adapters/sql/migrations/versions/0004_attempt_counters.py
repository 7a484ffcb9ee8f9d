"""attempt counters (sign-in and registration throttling)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from billing.adapters.sql.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempt_counters",
        sa.Column("counter_key", sa.CHAR(64), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("window_ends", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("counter_key", name="pk_attempt_counters"),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_attempt_counters_window_ends", "attempt_counters", ["window_ends"])


def downgrade() -> None:
    op.drop_index("ix_attempt_counters_window_ends", table_name="attempt_counters")
    op.drop_table("attempt_counters")
