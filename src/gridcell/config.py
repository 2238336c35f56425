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
    # Where peers reach this exchange: the consumerReference of gridcell's Fault MnS subscriptions, TMF `href`s.
    public_url: str = "http://127.0.0.1:8000"
    # Fernet keys (comma-separated, the first seals) for credentials the exchange presents to peers: TMF listener
    # auth, federated MNO systems. Without one, such credentials are refused (`gridcell admin new-secret-key`).
    secret_keys: str | None = None
    # The DN of this exchange as a 3GPP MnS producer: `systemDN` in the header of every ProvMnS notification.
    system_dn: str = "DC=gridcell.example"
    webhook_ca_file: str | None = None  # PEM CAs trusted for https webhooks besides the system's (a DSO's own PKI)
    max_body_bytes: int = 1024 * 1024
    # Ingest requests in the exchange at a time per path (MNO notifications, probe uploads); the next is refused
    # with 503 + Retry-After. One writer takes them in groups: more waiting only adds latency (measured: p99 of an
    # accepted request at 3x capacity 0.9 s with 48, see `gridcell bench robustness`).
    max_in_flight_ingest: int = 16
    # A request head (request line and headers) must arrive within this long of the connection opening or the
    # previous response ending; slower connections are closed (slowloris).
    head_timeout_s: float = 10.0
    # ... and its body within this long of the head (a body trickled a byte at a time holds a socket otherwise).
    body_timeout_s: float = 30.0
    webhook_timeout_s: float = 5.0
    # The longest pause between attempts at a failing subscriber: one POST per 4 s is nothing for a receiver that
    # is down, and when it answers again its backlog starts within 5 s (not after minutes).
    webhook_max_backoff_s: float = 4.0
    webhook_concurrency: int = 64
    outbox_retention_days: int = 14
    # Fleet safety: at most this share of the CPEs served by one cell moves to another PLMN per interval.
    failover_fleet_share: float = 0.2
    failover_fleet_interval_s: float = 10.0
    tick_interval_s: float = 1.0
    # Cluster (docs/cluster.md): several identical processes on PostgreSQL with NATS JetStream as the bus.
    # `cluster=true` or a nats:// bus URL joins; without either, the in-process bus (one process).
    cluster: bool = False
    bus_url: str | None = None  # e.g. nats://10.0.0.5:4222,nats://10.0.0.6:4222
    bus_prefix: str = "gridcell"  # JetStream stream names (<PREFIX>_EVENTS, _DELIVERIES) and subjects
    bus_replicas: int = 1  # JetStream stream replicas (3 on a 3-node NATS cluster)
    node_id: str | None = None  # this process's name in the lease table; default host-pid-random
    lease_ttl_s: float = 10.0  # a dead process's jobs and subscriptions move after at most this long
    shutdown_grace_s: float = 10.0  # SIGTERM: time to finish in-flight requests and webhook deliveries

    @property
    def clustered(self) -> bool:
        return self.cluster or (self.bus_url or "").startswith("nats")

    @property
    def nats_url(self) -> str:
        return self.bus_url or "nats://127.0.0.1:4222"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
