"""cluster: leases (singleton jobs, per-subscription delivery ownership)

Revision ID: 0090
Revises: 0001
Create Date: 2026-12-01 10:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0090'
down_revision = '0001'
branch_labels = ('cluster',)
depends_on = None


def upgrade() -> None:
    op.create_table('cluster_leases',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('holder', sa.String(length=120), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('renewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cluster_leases'))
    )


def downgrade() -> None:
    op.drop_table('cluster_leases')
