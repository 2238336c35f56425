"""Identifiers: short, prefixed, unguessable."""

from __future__ import annotations

import secrets
import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def new_uuid() -> str:
    return str(uuid.uuid4())
