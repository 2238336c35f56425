"""Alembic migrations, run programmatically so `gridcell serve` and the tests need no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from gridcell.core.db import Database

HERE = Path(__file__).parent


def config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["engine"] = db.write_engine
    return cfg


def upgrade(db: Database, revision: str = "heads") -> None:
    """Each capability keeps its own branch of migrations from the base schema, hence `heads`."""
    command.upgrade(config(db), revision)
