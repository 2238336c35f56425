"""Running gridcell as a cluster (docs/cluster.md). The mechanisms live in `gridcell.core.leases` (singleton
jobs, per-subscription delivery ownership) and `gridcell.core.nats_bus`; this package adds the CLI."""
