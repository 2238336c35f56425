"""outages: MNOs' own answers per outage, and the site × PLMN effects of a plan that status shows

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-02 14:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outage_infos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mno_answers', sa.JSON(), nullable=False, server_default='{}'))
    op.create_table('outage_site_effects',
    sa.Column('outage_pk', sa.Integer(), nullable=False),
    sa.Column('site_pk', sa.Integer(), nullable=False),
    sa.Column('plmn', sa.String(length=6), nullable=False),
    sa.Column('mno_id', sa.String(length=40), nullable=False),
    sa.Column('lost_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('regain_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['outage_pk'], ['outage_infos.pk'],
                            name=op.f('fk_outage_site_effects_outage_pk_outage_infos'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_pk'], ['dso_sites.pk'], name=op.f('fk_outage_site_effects_site_pk_dso_sites'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('outage_pk', 'site_pk', 'plmn', name=op.f('pk_outage_site_effects'))
    )
    with op.batch_alter_table('outage_site_effects', schema=None) as batch_op:
        batch_op.create_index('ix_outage_site_effects_site', ['site_pk'], unique=False)


def downgrade() -> None:
    op.drop_table('outage_site_effects')
    with op.batch_alter_table('outage_infos', schema=None) as batch_op:
        batch_op.drop_column('mno_answers')
