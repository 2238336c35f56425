"""Incidents between DSO and MNO: TMF621 trouble tickets with automatic attribution."""
