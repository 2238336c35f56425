"""Alembic environment: uses the application's engine and models."""

from __future__ import annotations

from alembic import context

import gridcell.models  # noqa: F401  (registers every table)
from gridcell.core.db import Base

engine = context.config.attributes.get("engine")
if engine is None:
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
