"""The MNO's TS 28.532 Fault MnS producer as gridcell, its consumer, talks to it: subscribe, unsubscribe, read
the alarm list. Every answer is checked before anything is built on it; a producer that answers garbage is a
`ProducerError` naming what was wrong, never a half-read alarm list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from gridcell.core.security import non_public_address

TIMEOUT_S = 10.0
MAX_ALARMS = 200_000


class ProducerError(Exception):
    """The producer could not be reached, refused, or answered something that is not what TS 28.532 defines."""


@dataclass(frozen=True)
class Producer:
    base_url: str  # ...FaultSupervisionMnS/v1 (no trailing slash)
    auth: dict[str, Any] | None
    allow_private: bool = False

    def _url(self, path: str) -> str:
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/"))

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.auth and self.auth.get("type") == "bearer":
            headers["Authorization"] = f"Bearer {self.auth['token']}"
        return headers

    def _basic(self) -> tuple[str, str] | None:
        if self.auth and self.auth.get("type") == "basic":
            return str(self.auth["username"]), str(self.auth["password"])
        return None

    def _check_address(self, url: str) -> None:
        """A producer that resolves to a loopback or private address is refused (as webhook targets are), checked
        at each request so a name that later resolves elsewhere is not followed."""
        if self.allow_private:
            return
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            refused = non_public_address(host, parts.port or 443)
        except OSError as exc:
            raise ProducerError(f"{host} does not resolve") from exc
        if refused is not None:
            raise ProducerError(f"{host} resolves to a non-public address ({refused}); refused")

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if "://" in path else self._url(path)
        self._check_address(url)
        try:
            with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False) as client:
                return client.request(method, url, headers=self._headers(), auth=self._basic(), **kwargs)
        except httpx.HTTPError as exc:
            raise ProducerError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc

    def subscribe(self, consumer_reference: str, filter_: str | None) -> str:
        """POST /subscriptions; the subscription's URI (the Location header, made absolute)."""
        body: dict[str, Any] = {"consumerReference": consumer_reference}
        if filter_:
            body["filter"] = filter_
        r = self._request("POST", "subscriptions", json=body)
        if r.status_code != 201:
            raise ProducerError(f"POST subscriptions answered {r.status_code}: {r.text[:200]}")
        location = r.headers.get("location")
        if not location:
            raise ProducerError("POST subscriptions answered 201 without a Location header")
        return urljoin(self._url("subscriptions"), location)

    def unsubscribe(self, subscription: str) -> None:
        r = self._request("DELETE", subscription)
        if r.status_code not in (204, 404):  # gone already is as good
            raise ProducerError(f"DELETE {subscription} answered {r.status_code}")

    def active_alarms(self) -> dict[str, dict[str, Any]]:
        """GET /alarms?alarmAckState=ALL_ACTIVE_ALARMS: the producer's active alarms by alarmId, each record
        checked to be an object (TS 28.532 answers a map keyed by alarmId)."""
        r = self._request("GET", "alarms", params={"alarmAckState": "ALL_ACTIVE_ALARMS"})
        if r.status_code != 200:
            raise ProducerError(f"GET alarms answered {r.status_code}: {r.text[:200]}")
        try:
            body = r.json()
        except ValueError as exc:
            raise ProducerError("GET alarms answered a body that is not JSON") from exc
        if not isinstance(body, dict):
            raise ProducerError(f"GET alarms answered a JSON {type(body).__name__}, not a map keyed by alarmId")
        if len(body) > MAX_ALARMS:
            raise ProducerError(f"GET alarms answered {len(body)} alarms, more than {MAX_ALARMS}")
        bad = next((k for k, v in body.items() if not isinstance(v, dict) or not k), None)
        if bad is not None:
            raise ProducerError(f"GET alarms: the record of {bad!r} is not an object")
        return body
