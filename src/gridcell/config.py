"""Settings from GRIDCELL_* environment variables, so one binary serves laptop, CI and production."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDCELL_", extra="ignore")

    database_url: str = "sqlite:///gridcell.db"
    # FULL: an acknowledged event survives power loss, not only a process crash.
    sqlite_synchronous: str = "FULL"
    allow_private_webhooks: bool = False
    max_body_bytes: int = 1024 * 1024
    webhook_timeout_s: float = 5.0
    webhook_max_backoff_s: float = 300.0
    webhook_concurrency: int = 64
    outbox_retention_days: int = 14
    tick_interval_s: float = 1.0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
