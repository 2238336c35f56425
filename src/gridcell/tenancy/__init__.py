"""Organisations, API clients and roles, DSO↔MNO agreements, the audit log."""
