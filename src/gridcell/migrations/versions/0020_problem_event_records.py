"""problems: TMF656 ServiceProblemEventRecord (each event a problem went through)

Revision ID: 0020
Revises: 0004
Create Date: 2026-12-05 10:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0020'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_problem_events',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('problem_id', sa.String(length=40), nullable=False),
    sa.Column('dso_id', sa.String(length=40), nullable=False),
    sa.Column('mno_id', sa.String(length=40), nullable=False),
    sa.Column('event_type', sa.String(length=60), nullable=False),
    sa.Column('event_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('record_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('notification', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['dso_id'], ['organisations.id'], name=op.f('fk_service_problem_events_dso_id_organisations')),
    sa.ForeignKeyConstraint(['mno_id'], ['organisations.id'], name=op.f('fk_service_problem_events_mno_id_organisations')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_service_problem_events')),
    sa.UniqueConstraint('id', name=op.f('uq_service_problem_events_id'))
    )
    with op.batch_alter_table('service_problem_events', schema=None) as batch_op:
        batch_op.create_index('ix_service_problem_events_dso', ['dso_id', 'pk'], unique=False)
        batch_op.create_index('ix_service_problem_events_mno', ['mno_id', 'pk'], unique=False)
        batch_op.create_index('ix_service_problem_events_problem', ['problem_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('service_problem_events', schema=None) as batch_op:
        batch_op.drop_index('ix_service_problem_events_problem')
        batch_op.drop_index('ix_service_problem_events_mno')
        batch_op.drop_index('ix_service_problem_events_dso')
    op.drop_table('service_problem_events')
