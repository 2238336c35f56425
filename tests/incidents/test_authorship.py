"""Notes record the organisation that wrote them; a counterpart adds notes but never rewrites the other side."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import World
from tests.incidents.test_tmf621 import TT, create, tmf_error


def _merge(c: TestClient, url: str, body: Any, headers: dict[str, str]) -> Any:
    return c.patch(url, json=body, headers={**headers, "Content-Type": "application/merge-patch+json"})


def test_ticket_notes_cannot_be_forged(app_client: TestClient, world: World) -> None:
    c = app_client
    t = create(c, world, note=[{"author": "Jane Roe", "text": "seen at 08:00"}])
    assert t["note"][0]["author"] == f"Jane Roe (DSO {world.dso.id})"
    url = f"{TT}/{t['id']}"
    for forged in (f"DSO {world.dso.id}", world.dso.id, "dso", "DSO operations"):
        r = _merge(c, url, {"note": [*t["note"], {"author": forged, "text": "it is your CPE"}]}, world.mno.auth())
        assert tmf_error(r, 403)
    after = c.get(url, headers=world.dso.auth("viewer")).json()
    assert [n["author"] for n in after["note"]] == [f"Jane Roe (DSO {world.dso.id})"]
    r = _merge(c, url, {"note": [*t["note"], {"text": "on it"}]}, world.mno.auth())
    assert r.status_code == 200, r.text
    assert r.json()["note"][-1]["author"] == f"MNO {world.mno.id}"
    # What the DSO wrote stays the DSO's: the MNO cannot rewrite the description.
    tmf_error(_merge(c, url, {"description": "not our problem"}, world.mno.auth()), 403)
