"""Absolute links to this exchange's own resources: TM Forum `href`s are URIs (`format: uri`), and a peer that
follows one from an event or a list must reach the resource, whatever host it read it from.

The base is GRIDCELL_PUBLIC_URL (where peers reach this exchange), configured once per process when the app is
made, like the clock; a process that made no app (the CLI) reads the setting itself.
"""

from __future__ import annotations

_base: str | None = None


def configure(public_url: str) -> None:
    global _base
    _base = public_url.rstrip("/")


def base() -> str:
    if _base is None:
        from gridcell.config import get_settings

        configure(get_settings().public_url)
    assert _base is not None
    return _base


def absolute(path: str) -> str:
    """`path` (starting with '/') as an absolute URL under the public base."""
    return f"{base()}{path}"
