"""outages: grid models, supply links, OutageAndRecoveryInfo and DsoThresholdMonitor MOIs

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-26 04:00:00
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0001'
branch_labels = ('outages',)
depends_on = None


def upgrade() -> None:
    op.create_table('outage_grids',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dso_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('source', sa.String(length=300), nullable=False),
    sa.Column('net_json', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dso_id'], ['organisations.id'], name=op.f('fk_outage_grids_dso_id_organisations')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_outage_grids')),
    sa.UniqueConstraint('dso_id', 'name', name=op.f('uq_outage_grids_dso_id'))
    )
    with op.batch_alter_table('outage_grids', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outage_grids_dso_id'), ['dso_id'], unique=False)

    op.create_table('outage_grid_buses',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('grid_pk', sa.Integer(), nullable=False),
    sa.Column('bus_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('vn_kv', sa.Float(), nullable=False),
    sa.Column('feeder', sa.String(length=60), nullable=True),
    sa.Column('station', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['grid_pk'], ['outage_grids.pk'], name=op.f('fk_outage_grid_buses_grid_pk_outage_grids'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_outage_grid_buses')),
    sa.UniqueConstraint('grid_pk', 'bus_id', name=op.f('uq_outage_grid_buses_grid_pk'))
    )
    with op.batch_alter_table('outage_grid_buses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outage_grid_buses_grid_pk'), ['grid_pk'], unique=False)

    op.create_table('outage_supply_links',
    sa.Column('grid_pk', sa.Integer(), nullable=False),
    sa.Column('ran_site_pk', sa.Integer(), nullable=False),
    sa.Column('bus_id', sa.String(length=40), nullable=False),
    sa.Column('distance_m', sa.Float(), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.ForeignKeyConstraint(['grid_pk'], ['outage_grids.pk'], name=op.f('fk_outage_supply_links_grid_pk_outage_grids'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['ran_site_pk'], ['ran_sites.pk'], name=op.f('fk_outage_supply_links_ran_site_pk_ran_sites'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('grid_pk', 'ran_site_pk', name=op.f('pk_outage_supply_links'))
    )
    with op.batch_alter_table('outage_supply_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outage_supply_links_ran_site_pk'), ['ran_site_pk'], unique=False)

    op.create_table('outage_infos',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dso_id', sa.String(length=40), nullable=False),
    sa.Column('moi_id', sa.String(length=100), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expected_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('actual_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('switching', sa.JSON(), nullable=False),
    sa.Column('mno_attributes', sa.JSON(), nullable=False),
    sa.Column('affected_ran_site_pks', sa.JSON(), nullable=False),
    sa.Column('covered_site_pks', sa.JSON(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=True),
    sa.Column('plan_key', sa.String(length=64), nullable=True),
    sa.Column('plan_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dso_id'], ['organisations.id'], name=op.f('fk_outage_infos_dso_id_organisations')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_outage_infos')),
    sa.UniqueConstraint('dso_id', 'moi_id', name=op.f('uq_outage_infos_dso_id'))
    )
    with op.batch_alter_table('outage_infos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outage_infos_dso_id'), ['dso_id'], unique=False)

    op.create_table('outage_threshold_monitors',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dso_id', sa.String(length=40), nullable=False),
    sa.Column('moi_id', sa.String(length=100), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('target', sa.JSON(), nullable=True),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dso_id'], ['organisations.id'], name=op.f('fk_outage_threshold_monitors_dso_id_organisations')),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_outage_threshold_monitors')),
    sa.UniqueConstraint('dso_id', 'moi_id', name=op.f('uq_outage_threshold_monitors_dso_id'))
    )
    with op.batch_alter_table('outage_threshold_monitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outage_threshold_monitors_dso_id'), ['dso_id'], unique=False)


def downgrade() -> None:
    for table in ('outage_threshold_monitors', 'outage_infos', 'outage_supply_links', 'outage_grid_buses',
                  'outage_grids'):
        op.drop_table(table)
