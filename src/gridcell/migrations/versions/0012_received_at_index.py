"""faults: an index on received_notifications.received_at, for the retention job

Revision ID: 0012
Revises: 0001
Create Date: 2026-12-02 16:00:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '0012'
down_revision = '0001'
branch_labels = ('faults',)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('received_notifications', schema=None) as batch_op:
        batch_op.create_index('ix_received_notifications_at', ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('received_notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_received_notifications_at')
