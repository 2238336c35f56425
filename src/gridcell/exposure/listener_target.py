"""Where one notification of a channel subscription goes, and the credentials presented there.

A subscription without `listener` settings gets every notification at its callback, signed (the native
webhooks). A TM Forum hub registration (`paths: tmfListener`) gets each event at
`{callback}/listener/{eventName}` (TMF630; `TroubleTicketCreateEvent` → `/listener/troubleTicketCreateEvent`),
with the listener's own credentials if it gave any: bearer, basic, or an API-key header (stored sealed).
"""

from __future__ import annotations

import base64
from typing import Any

from gridcell.core import sealed

Headers = tuple[tuple[str, str], ...]


def url(callback: str, listener: dict[str, Any] | None, kind: str | None) -> str:
    if not listener or listener.get("paths") != "tmfListener" or not kind:
        return callback
    return f"{callback.rstrip('/')}/listener/{kind[:1].lower()}{kind[1:]}"


def auth_headers(listener: dict[str, Any] | None) -> Headers:
    """The credential headers for the listener (opened from their sealed form); ValueError when they cannot be
    opened (the key was removed from GRIDCELL_SECRET_KEYS)."""
    return credential_headers((listener or {}).get("auth"))


def credential_headers(auth: dict[str, Any] | None) -> Headers:
    """Headers for credentials in `core.tmf_hub.parse_auth` form (also what gridcell presents to a federated
    MNO system); ValueError when they cannot be opened."""
    if not auth:
        return ()
    try:
        return _headers(auth)
    except sealed.SealingUnavailable as exc:
        raise ValueError(exc.detail) from exc


def _headers(auth: dict[str, Any]) -> Headers:
    kind = auth.get("type")
    if kind == "bearer":
        return (("Authorization", f"Bearer {sealed.unseal(auth['token'])}"),)
    if kind == "basic":
        pair = f"{auth['username']}:{sealed.unseal(auth['password'])}".encode()
        return (("Authorization", f"Basic {base64.b64encode(pair).decode('ascii')}"),)
    if kind == "apiKey":
        return ((str(auth["header"]), sealed.unseal(auth["value"])),)
    raise ValueError(f"unknown listener auth type {kind!r}")
