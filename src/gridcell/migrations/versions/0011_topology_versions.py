"""topology: a version per organisation, bumped by every topology write

Revision ID: 0011
Revises: 0001
Create Date: 2026-12-02 14:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0001'
branch_labels = ('topology',)
depends_on = None


def upgrade() -> None:
    op.create_table('topology_versions',
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_topology_versions_org_id_organisations'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_topology_versions'))
    )


def downgrade() -> None:
    op.drop_table('topology_versions')
