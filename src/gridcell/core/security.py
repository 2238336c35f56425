"""Token hashing and webhook signing."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
from collections.abc import Iterable


def new_token() -> str:
    return "gc_" + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens carry 256 bits of entropy, so a fast hash is safe and keeps auth off the hot path.
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_hex(32)


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefix: translates into local networks


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo."""
    out: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        out.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        out.append(ip.sixtofour)
    if ip.teredo is not None:
        out.extend(ip.teredo)
    value = int(ip)
    if ip in _NAT64 or (value >> 32 == 0 and value > 1):  # NAT64, or ::a.b.c.d (deprecated IPv4-compatible)
        out.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    return out


def is_public(address: str) -> bool:
    """Globally routable, and so is every IPv4 address it embeds (a NAT64 or 6to4 form of 127.0.0.1 or of the
    cloud metadata address 169.254.169.254 is not public, whatever the IPv6 tables say)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        return all(v4.is_global for v4 in _embedded_ipv4(ip))
    return True


def first_non_public(addresses: Iterable[str]) -> str | None:
    """The first address that is not public (loopback, private, link-local, or an IPv6 form of one), or None:
    webhook targets must not reach into the exchange's own network."""
    for address in addresses:
        if not is_public(address):
            return address
    return None


def non_public_address(host: str, port: int) -> str | None:
    """The first address `host` resolves to that is not public, or None; OSError when it does not resolve. An IP
    literal is taken as it is."""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]
    return first_non_public(addresses)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)
