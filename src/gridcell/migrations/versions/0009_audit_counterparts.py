"""audit: counterpart organisations as indexed rows (the audit view no longer scans the log)

Revision ID: 0009
Revises: 0001
Create Date: 2026-11-26 13:00:00.000000
"""
from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0001'
branch_labels = ('audit',)
depends_on = None


def upgrade() -> None:
    op.create_table('audit_counterparts',
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['audit_log.id'], name=op.f('fk_audit_counterparts_entry_id_audit_log'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_id', 'org_id', name=op.f('pk_audit_counterparts'))
    )
    with op.batch_alter_table('audit_counterparts', schema=None) as batch_op:
        batch_op.create_index('ix_audit_counterparts_org_entry', ['org_id', 'entry_id'], unique=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_org_id', ['org_id', 'id'], unique=False)
    # Existing entries: their JSON list of counterparts becomes rows.
    conn = op.get_bind()
    log = sa.table('audit_log', sa.column('id', sa.Integer), sa.column('counterpart_org_ids', sa.Text))
    rows = sa.table('audit_counterparts', sa.column('entry_id', sa.Integer), sa.column('org_id', sa.String))
    batch: list[dict[str, object]] = []
    for entry_id, raw in conn.execute(sa.select(log.c.id, sa.cast(log.c.counterpart_org_ids, sa.Text))):
        for org in sorted(set(json.loads(raw) if raw else [])):
            batch.append({'entry_id': entry_id, 'org_id': org})
        if len(batch) >= 5000:
            conn.execute(rows.insert(), batch)
            batch = []
    if batch:
        conn.execute(rows.insert(), batch)


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_org_id')
    with op.batch_alter_table('audit_counterparts', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_counterparts_org_entry')
    op.drop_table('audit_counterparts')
