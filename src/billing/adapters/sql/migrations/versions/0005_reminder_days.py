"""users.reminder_days: the automatic reminder's look-ahead (NULL: no reminders)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable with no default: existing users get NULL, so nobody is emailed without asking.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("reminder_days", sa.SmallInteger, nullable=True))
    op.create_index("ix_users_reminder_days_id", "users", ["reminder_days", "id"])


def downgrade() -> None:
    op.drop_index("ix_users_reminder_days_id", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("reminder_days")
