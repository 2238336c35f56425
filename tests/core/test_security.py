"""Which webhook addresses are public: every IPv6 form that leads to an IPv4 address is judged by that address."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcell.core.security import first_non_public, is_public


@pytest.mark.parametrize("address", [
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b:1::a00:1",  # RFC 8215 local-use NAT64
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::ffff:127.0.0.1", "::ffff:10.1.2.3",  # IPv4-mapped
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "127.0.0.1", "10.0.0.1", "169.254.169.254", "::1", "fe80::1%eth0", "fc00::1",
])
def test_non_public_forms_are_refused(address: str) -> None:
    assert not is_public(address)
    assert first_non_public(["8.8.8.8", address]) == address


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::"])
def test_public_addresses_and_their_forms_pass(address: str) -> None:
    assert is_public(address)


@given(st.integers(0, 2**32 - 1))
def test_an_embedded_ipv4_address_decides(value: int) -> None:
    """NAT64 and 6to4 forms are public exactly when the IPv4 address they lead to is; an IPv4-mapped form of a
    non-public address is never public."""
    v4 = ipaddress.IPv4Address(value)
    hi, lo = value >> 16, value & 0xFFFF
    assert is_public(f"64:ff9b::{hi:x}:{lo:x}") == v4.is_global
    assert is_public(f"2002:{hi:x}:{lo:x}::1") == v4.is_global
    if not v4.is_global:
        assert not is_public(f"::ffff:{v4}")
