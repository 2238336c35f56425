"""web: the history of each DSO site × PLMN status (the console's per-site timeline)

Revision ID: 0072
Revises: 0071
Create Date: 2026-12-05 12:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0072'
down_revision = '0071'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_status_history',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('site_id', sa.String(length=100), nullable=False),
    sa.Column('plmn', sa.String(length=6), nullable=False),
    sa.Column('mno_id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('previous', sa.String(length=12), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_web_status_history'))
    )
    with op.batch_alter_table('web_status_history', schema=None) as batch_op:
        batch_op.create_index('ix_web_status_history_site', ['org_id', 'site_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_status_history', schema=None) as batch_op:
        batch_op.drop_index('ix_web_status_history_site')
    op.drop_table('web_status_history')
