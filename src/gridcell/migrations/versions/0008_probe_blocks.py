"""telemetry: raw probes as packed per-(USIM, cell) blocks instead of one row per probe

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-26 07:00:00

Existing raw rows are converted (one block per USIM and cell), then probe_results is dropped. The block
encoding is written out here rather than imported, so this migration keeps meaning what it meant.
"""
from __future__ import annotations

from typing import Any

from alembic import op
import numpy as np
import sqlalchemy as sa


revision = '0008'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('probe_blocks',
    sa.Column('usim_pk', sa.Integer(), nullable=False),
    sa.Column('t0_ms', sa.BigInteger(), nullable=False),
    sa.Column('t1_ms', sa.BigInteger(), nullable=False),
    sa.Column('cell_pk', sa.Integer(), nullable=True),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('ts', sa.LargeBinary(), nullable=False),
    sa.Column('ok', sa.LargeBinary(), nullable=False),
    sa.Column('rtt', sa.LargeBinary(), nullable=False),
    sa.Column('rsrp', sa.LargeBinary(), nullable=True),
    sa.Column('sinr', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('usim_pk', 't0_ms', name=op.f('pk_probe_blocks')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('probe_blocks', schema=None) as batch_op:
        batch_op.create_index('ix_probe_blocks_cell', ['cell_pk', 't1_ms'], unique=False)
        batch_op.create_index('ix_probe_blocks_t1', ['t1_ms'], unique=False)
    _convert()
    op.drop_table('probe_results')


def _f32(values: list[Any]) -> bytes:
    return np.array([np.nan if v is None else v for v in values], dtype='<f4').tobytes()


def _convert() -> None:
    conn = op.get_bind()
    blocks = sa.table('probe_blocks', *(sa.column(c) for c in (
        'usim_pk', 't0_ms', 't1_ms', 'cell_pk', 'n', 'failures', 'ts', 'ok', 'rtt', 'rsrp', 'sinr')))
    rows = conn.execute(sa.text('SELECT usim_pk, cell_pk, ts_ms, ok, rtt_ms, rsrp, sinr FROM probe_results '
                                'ORDER BY usim_pk, cell_pk, ts_ms'))
    group: list[tuple[Any, ...]] = []
    out: list[dict[str, Any]] = []

    def flush() -> None:
        if not group:
            return
        ts = np.array([r[2] for r in group], dtype=np.int64)
        ok = np.array([bool(r[3]) for r in group], dtype=np.bool_)
        rsrp = [r[5] for r in group]
        sinr = [r[6] for r in group]
        out.append({'usim_pk': group[0][0], 't0_ms': int(ts[0]), 't1_ms': int(ts[-1]), 'cell_pk': group[0][1],
                    'n': len(group), 'failures': int((~ok).sum()), 'ts': (ts - ts[0]).astype('<u4').tobytes(),
                    'ok': np.packbits(ok).tobytes(), 'rtt': _f32([r[4] for r in group]),
                    'rsrp': _f32(rsrp) if any(v is not None for v in rsrp) else None,
                    'sinr': _f32(sinr) if any(v is not None for v in sinr) else None})
        group.clear()
        if len(out) >= 1000:
            conn.execute(sa.insert(blocks), out)
            out.clear()

    for r in rows:
        if group and (r[0], r[1]) != (group[0][0], group[0][1]):
            flush()
        group.append(tuple(r))
    flush()
    if out:
        conn.execute(sa.insert(blocks), out)


def downgrade() -> None:
    op.create_table('probe_results',
    sa.Column('usim_pk', sa.Integer(), nullable=False),
    sa.Column('ts_ms', sa.BigInteger(), nullable=False),
    sa.Column('ok', sa.SmallInteger(), nullable=False),
    sa.Column('rtt_ms', sa.Float(), nullable=True),
    sa.Column('cell_pk', sa.Integer(), nullable=True),
    sa.Column('rsrp', sa.Float(), nullable=True),
    sa.Column('sinr', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('usim_pk', 'ts_ms', name=op.f('pk_probe_results')),
    sqlite_with_rowid=False
    )
    conn = op.get_bind()
    results = sa.table('probe_results', *(sa.column(c) for c in (
        'usim_pk', 'ts_ms', 'ok', 'rtt_ms', 'cell_pk', 'rsrp', 'sinr')))
    for b in conn.execute(sa.text('SELECT usim_pk, t0_ms, cell_pk, n, ts, ok, rtt, rsrp, sinr FROM probe_blocks')):
        ts = np.frombuffer(b[4], dtype='<u4').astype(np.int64) + b[1]
        ok = np.unpackbits(np.frombuffer(b[5], dtype=np.uint8), count=b[3])
        cols = [np.frombuffer(x, dtype='<f4').astype(np.float64) if x is not None else np.full(b[3], np.nan)
                for x in (b[6], b[7], b[8])]
        conn.execute(sa.insert(results), [
            {'usim_pk': b[0], 'ts_ms': int(t), 'ok': int(o), 'cell_pk': b[2],
             **{k: None if np.isnan(v[i]) else round(float(v[i]), 3) for k, v in zip(('rtt_ms', 'rsrp', 'sinr'), cols, strict=True)}}
            for i, (t, o) in enumerate(zip(ts.tolist(), ok.tolist(), strict=True))])
    op.drop_table('probe_blocks')
