"""Alembic environment: uses the application's engine and models. Generated migrations name plain SQLAlchemy
types only (UtcDateTime is a timestamp with time zone in the schema), so a migration never imports runtime code."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

import gridcell.models  # noqa: F401  (registers every table)
from gridcell.core.db import Base, UtcDateTime


def _render(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False

engine = context.config.attributes.get("engine")
if engine is None:
    from sqlalchemy import create_engine

    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                      render_item=_render)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
