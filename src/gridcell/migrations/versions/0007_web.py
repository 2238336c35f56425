"""web: dashboard users and sessions

Revision ID: 0007
Revises: 0001
Create Date: 2026-12-01 10:00:00.000000
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0001'
branch_labels = ('web',)
depends_on = None


def upgrade() -> None:
    op.create_table('web_users',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_web_users_org_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_users')),
    sa.UniqueConstraint('org_id', 'username', name=op.f('uq_web_users_org_id'))
    )
    op.create_index(op.f('ix_web_users_org_id'), 'web_users', ['org_id'], unique=False)
    op.create_table('web_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.Column('principal', sa.String(length=60), nullable=False),
    sa.Column('display', sa.String(length=200), nullable=False),
    sa.Column('csrf', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organisations.id'], name=op.f('fk_web_sessions_org_id_organisations')),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_web_sessions'))
    )
    op.create_index(op.f('ix_web_sessions_expires_at'), 'web_sessions', ['expires_at'], unique=False)
    op.create_index(op.f('ix_web_sessions_org_id'), 'web_sessions', ['org_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_web_sessions_org_id'), table_name='web_sessions')
    op.drop_index(op.f('ix_web_sessions_expires_at'), table_name='web_sessions')
    op.drop_table('web_sessions')
    op.drop_index(op.f('ix_web_users_org_id'), table_name='web_users')
    op.drop_table('web_users')
