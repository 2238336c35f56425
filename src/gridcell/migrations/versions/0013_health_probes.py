"""ops: a probe row per process, written by /readyz to prove the store takes writes

Revision ID: 0013
Revises: 0001
Create Date: 2026-12-02 16:30:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0001'
branch_labels = ('ops',)
depends_on = None


def upgrade() -> None:
    op.create_table('health_probes',
    sa.Column('node', sa.String(length=120), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('node', name=op.f('pk_health_probes'))
    )


def downgrade() -> None:
    op.drop_table('health_probes')
