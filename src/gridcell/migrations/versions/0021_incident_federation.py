"""incidents: federation with an MNO's own TMF621 system (where, credentials sealed, each ticket's twin there)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 12:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incident_federations',
    sa.Column('mno_id', sa.String(length=40), nullable=False),
    sa.Column('base_url', sa.String(length=2000), nullable=False),
    sa.Column('auth', sa.JSON(), nullable=True),
    sa.Column('listener_client_id', sa.String(length=40), nullable=False),
    sa.Column('listener_token', sa.Text(), nullable=False),
    sa.Column('hub_id', sa.String(length=200), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mno_id'], ['organisations.id'], name=op.f('fk_incident_federations_mno_id_organisations')),
    sa.PrimaryKeyConstraint('mno_id', name=op.f('pk_incident_federations'))
    )
    op.create_table('incident_federated_tickets',
    sa.Column('ticket_pk', sa.Integer(), nullable=False),
    sa.Column('mno_id', sa.String(length=40), nullable=False),
    sa.Column('remote_id', sa.String(length=200), nullable=True),
    sa.Column('remote_href', sa.String(length=2000), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('ops', sa.JSON(), nullable=False),
    sa.Column('own_notes', sa.JSON(), nullable=False),
    sa.Column('seen_notes', sa.JSON(), nullable=False),
    sa.Column('remote_notes', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['ticket_pk'], ['incident_tickets.pk'], name=op.f('fk_incident_federated_tickets_ticket_pk_incident_tickets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('ticket_pk', name=op.f('pk_incident_federated_tickets'))
    )
    with op.batch_alter_table('incident_federated_tickets', schema=None) as batch_op:
        batch_op.create_index('ix_incident_federated_tickets_due', ['next_attempt_at'], unique=False)
        batch_op.create_index('ix_incident_federated_tickets_remote', ['mno_id', 'remote_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('incident_federated_tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_incident_federated_tickets_remote')
        batch_op.drop_index('ix_incident_federated_tickets_due')
    op.drop_table('incident_federated_tickets')
    op.drop_table('incident_federations')
