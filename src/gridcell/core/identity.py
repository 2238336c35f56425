"""This exchange's identity as a 3GPP MnS producer: the `systemDN` in the header of every notification it sends
(Fault MnS, ProvMnS), one value for all of them."""

from __future__ import annotations

_configured_dn: str | None = None


def configure(system_dn: str | None) -> None:
    """The running app's systemDN (its settings may differ from the environment's); None: the environment's."""
    global _configured_dn
    _configured_dn = system_dn


def system_dn() -> str:
    if _configured_dn is not None:
        return _configured_dn
    from gridcell.config import get_settings

    return get_settings().system_dn
