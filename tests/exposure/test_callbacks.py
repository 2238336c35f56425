"""Callback URLs are normalised when a subscription is made, and refused with the field named when they cannot
be reached as given: nothing is stored that would fail for ever at delivery."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gridcell.exposure.subscriptions import normalise_callback
from tests.conftest import World


@pytest.mark.parametrize("url", ["http://[::1/", "http://h.example:99999/x", "http://h.example:abc/",
                                 "http://h.example:0/", "http://user:secret@h.example/hook", "ftp://h.example/",
                                 "http:///nohost", "http://h.example/a\x00b", "http://h.example/a\nb", "x" * 3000])
def test_unusable_callbacks_are_refused_naming_the_field(app_client: TestClient, world: World, url: str) -> None:
    c = app_client
    before = c.get("/api/v1/subscriptions", headers=world.dso.auth("viewer")).json()
    for path, body, field in (("/api/v1/subscriptions", {"callbackUri": url}, "callbackUri"),
                              ("/ProvMnS/v1900/subscriptions", {"consumerReference": url}, "consumerReference"),
                              ("/tmf-api/troubleTicket/v4/hub", {"callback": url}, "callback")):
        r = c.post(path, json=body, headers=world.dso.auth())
        if path.startswith("/tmf-api") and "user:secret@" in url:  # TMF hubs take them as the listener's basic auth
            assert r.status_code == 201 and r.json()["auth"] == {"type": "basic"} and "secret" not in r.text, r.text
            continue
        assert 400 <= r.status_code < 500 and r.status_code != 404, (path, url, r.text)
        assert field in r.text, (path, r.text)
    assert c.get("/api/v1/subscriptions", headers=world.dso.auth("viewer")).json() == before


def test_callbacks_are_stored_as_they_go_on_the_wire(app_client: TestClient, world: World) -> None:
    r = app_client.post("/api/v1/subscriptions", json={"callbackUri": "HTTP://Bücher.example/a hook?x=ü#frag"},
                        headers=world.dso.auth())
    assert r.status_code == 201, r.text
    assert r.json()["callbackUri"] == "http://xn--bcher-kva.example/a%20hook?x=%C3%BC"


@pytest.mark.parametrize(("given", "wire"), [
    ("https://Example.COM", "https://example.com/"),
    ("http://[2001:db8::1]:8080/hook", "http://[2001:db8::1]:8080/hook"),
    ("https://example.com:443/a%20b", "https://example.com:443/a%20b"),  # already encoded: kept
])
def test_normalisation(given: str, wire: str) -> None:
    assert normalise_callback(given) == wire
