"""Shared plumbing: clock, bus, database, errors, ids, geo. Imports no capability."""
