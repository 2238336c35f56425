"""Probe telemetry: ingest, rollups, change detection, availability, outside-in cell health."""
