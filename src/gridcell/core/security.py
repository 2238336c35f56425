"""Token hashing and webhook signing."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable


def new_token() -> str:
    return "gc_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of entropy, so a fast hash is safe and keeps auth off the hot path.
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_hex(32)


def first_non_public(addresses: Iterable[str]) -> str | None:
    """The first address that is not globally routable (loopback, private, link-local, …), or None: webhook
    targets must not reach into the exchange's own network."""
    for address in addresses:
        if not ipaddress.ip_address(address).is_global:
            return address
    return None


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)
