"""Credentials the exchange presents to peers (a listener's bearer token, a basic password, an API key), kept
encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256) under keys from GRIDCELL_SECRET_KEYS.

Unlike API tokens, these cannot be hashed: the exchange must send them. Several comma-separated keys may be
given: the first seals, any of them opens, so a key is rotated by putting the new one first and re-sealing.
Configured once per process when the app is made; a process that made no app (the CLI) reads the setting.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gridcell.core.errors import Conflict

_fernet: MultiFernet | None = None
_configured = False


class SealingUnavailable(Conflict):
    """No key is configured: a credential toward a peer cannot be stored (nor one stored before be read)."""


def configure(keys: str | None) -> None:
    """`keys`: comma-separated url-safe base64 Fernet keys (`gridcell admin new-secret-key` prints one)."""
    global _fernet, _configured
    parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
    try:
        _fernet = MultiFernet([Fernet(k) for k in parts]) if parts else None
    except ValueError as exc:
        raise ValueError(f"GRIDCELL_SECRET_KEYS: not a Fernet key ({exc})") from exc
    _configured = True


def _current() -> MultiFernet:
    if not _configured:
        from gridcell.config import get_settings

        configure(get_settings().secret_keys)
    if _fernet is None:
        raise SealingUnavailable("credentials toward peers are stored encrypted, and GRIDCELL_SECRET_KEYS is not "
                                 "set on this exchange", errors=[{"loc": "auth", "msg": "no key to store it"}])
    return _fernet


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def seal(secret: str) -> str:
    return _current().encrypt(secret.encode("utf-8")).decode("ascii")


def unseal(token: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise SealingUnavailable("a stored credential cannot be opened with GRIDCELL_SECRET_KEYS (was its key "
                                 "removed?)") from exc
