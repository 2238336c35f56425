"""Server-side validation of dashboard forms: each field read once, every error collected with the field's name,
one InvalidInput for the lot (the browser's own checks are a convenience, never the guard).

Times in forms are UTC (the dashboard shows UTC everywhere): `YYYY-MM-DDTHH:MM` as a datetime-local input sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from gridcell.core.clock import in_range
from gridcell.core.errors import InvalidInput


class Form:
    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.errors: list[dict[str, str]] = []

    def _raw(self, name: str) -> str:
        return (self.data.get(name) or "").strip()

    def _error(self, name: str, msg: str) -> None:
        self.errors.append({"loc": name, "msg": msg})

    def text(self, name: str, *, required: bool = True, max_len: int = 500, min_len: int = 0) -> str | None:
        value = self._raw(name)
        if not value:
            if required:
                self._error(name, "required")
            return None
        if "\x00" in value:
            self._error(name, "must not contain NUL characters")
            return None
        if len(value) > max_len:
            self._error(name, f"at most {max_len} characters")
            return None
        if len(value) < min_len:
            self._error(name, f"at least {min_len} characters")
            return None
        return value

    def secret(self, name: str, *, min_len: int = 0, max_len: int = 500) -> str | None:
        """A value taken as typed (passwords: spaces count)."""
        value = self.data.get(name) or ""
        if len(value) < min_len:
            self._error(name, f"at least {min_len} characters")
            return None
        if len(value) > max_len:
            self._error(name, f"at most {max_len} characters")
            return None
        return value

    def choice(self, name: str, options: Iterable[str], *, required: bool = True) -> str | None:
        allowed = list(options)
        value = self._raw(name)
        if not value:
            if required:
                self._error(name, "choose one")
            return None
        if value not in allowed:
            self._error(name, f"must be one of {', '.join(allowed)}")
            return None
        return value

    def choices(self, name: str, options: Iterable[str]) -> list[str]:
        allowed = set(options)
        values = [v.strip() for v in (self.data.get(name) or "").split("\n") if v.strip()]
        bad = [v for v in values if v not in allowed]
        if bad:
            self._error(name, f"unknown: {', '.join(bad[:5])}")
        return [v for v in values if v in allowed]

    def integer(self, name: str, *, lo: int, hi: int, required: bool = True) -> int | None:
        value = self._raw(name)
        if not value:
            if required:
                self._error(name, "required")
            return None
        try:
            number = int(value)
        except ValueError:
            self._error(name, "must be a whole number")
            return None
        if not lo <= number <= hi:
            self._error(name, f"must be between {lo} and {hi}")
            return None
        return number

    def instant(self, name: str, *, required: bool = True) -> datetime | None:
        value = self._raw(name)
        if not value:
            if required:
                self._error(name, "required")
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return in_range(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
        except ValueError:
            self._error(name, "must be a date and time (YYYY-MM-DD HH:MM, UTC)")
            return None

    def flag(self, name: str) -> bool:
        return self._raw(name).lower() in ("1", "on", "true", "yes")

    def check(self, what: str = "form") -> None:
        """Raise every error found so far (nothing is changed by a form with errors)."""
        if self.errors:
            names = ", ".join(dict.fromkeys(e["loc"] for e in self.errors))
            raise InvalidInput(f"please correct the {what}: {names}", errors=list(self.errors))
