"""exposure: Fault MnS per-DSO acknowledgements and comments; what Fault MnS subscribers were last told

Revision ID: 0014
Revises: 0001
Create Date: 2026-12-03 10:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0014'
down_revision = '0001'
branch_labels = ('exposure',)
depends_on = None


def upgrade() -> None:
    op.create_table('fault_mns_acks',
    sa.Column('dso_id', sa.String(length=40), nullable=False),
    sa.Column('mno_id', sa.String(length=40), nullable=False),
    sa.Column('alarm_key', sa.String(length=400), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ack_state', sa.String(length=16), nullable=True),
    sa.Column('ack_user_id', sa.String(length=200), nullable=True),
    sa.Column('ack_system_id', sa.String(length=200), nullable=True),
    sa.Column('ack_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('comments', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dso_id'], ['organisations.id'], name=op.f('fk_fault_mns_acks_dso_id_organisations')),
    sa.PrimaryKeyConstraint('dso_id', 'mno_id', 'alarm_key', name=op.f('pk_fault_mns_acks'))
    )
    op.create_table('fault_mns_published',
    sa.Column('cell_pk', sa.Integer(), nullable=False),
    sa.Column('mno_id', sa.String(length=40), nullable=False),
    sa.Column('alarm_key', sa.String(length=400), nullable=False),
    sa.Column('facts', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['cell_pk'], ['cells.pk'], name=op.f('fk_fault_mns_published_cell_pk_cells'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cell_pk', 'mno_id', 'alarm_key', name=op.f('pk_fault_mns_published'))
    )
    with op.batch_alter_table('fault_mns_published', schema=None) as batch_op:
        batch_op.create_index('ix_fault_mns_published_alarm', ['mno_id', 'alarm_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fault_mns_published', schema=None) as batch_op:
        batch_op.drop_index('ix_fault_mns_published_alarm')
    op.drop_table('fault_mns_published')
    op.drop_table('fault_mns_acks')
