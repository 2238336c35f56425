"""feeds: MNO feeds (Fault MnS producers gridcell subscribes to, pushed feeds it supervises)

Revision ID: 0015
Revises: 0001
Create Date: 2026-12-04 16:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0015'
down_revision = '0001'
branch_labels = ('feeds',)
depends_on = None


def upgrade() -> None:
    op.create_table('mno_feeds',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('base_url', sa.String(length=2000), nullable=True),
    sa.Column('auth', sa.JSON(), nullable=True),
    sa.Column('filter', sa.String(length=2000), nullable=True),
    sa.Column('heartbeat_period_s', sa.Integer(), nullable=False),
    sa.Column('sink_key', sa.String(length=64), nullable=False),
    sa.Column('sink_base_url', sa.String(length=2000), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('producer_subscription', sa.String(length=2000), nullable=True),
    sa.Column('last_heard_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_reconciled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_reconcile', sa.JSON(), nullable=True),
    sa.Column('reconcile_due', sa.Boolean(), nullable=False),
    sa.Column('last_sequence_no', sa.BigInteger(), nullable=True),
    sa.Column('last_error', sa.String(length=2000), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_mno_feeds_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mno_feeds'))
    )
    with op.batch_alter_table('mno_feeds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mno_feeds_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('mno_feeds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mno_feeds_org_id'))
    op.drop_table('mno_feeds')
