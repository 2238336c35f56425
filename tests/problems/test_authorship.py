"""TMF656: what the originating DSO wrote stays the DSO's; notes record the organisation that wrote them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import World
from tests.incidents.test_authorship import _merge
from tests.incidents.test_tmf621 import tmf_error

SP = "/tmf-api/serviceProblemManagement/v4/serviceProblem"


def test_problem_fields_stay_with_their_author(app_client: TestClient, world: World) -> None:
    c = app_client
    base = {"category": "availability", "priority": 2, "description": "PLMN A drops every night", "reason": "r",
            "originatorParty": {"id": world.dso.id, "@referredType": "Organization"},
            "responsibleParty": {"id": world.mno.id, "@referredType": "Organization"},
            "note": [{"author": f"MNO {world.mno.id}", "text": "forged at creation"}]}
    tmf_error(c.post(SP, json=base, headers=world.dso.auth()), 403)
    base["note"] = [{"text": "raised by the NOC"}]
    r = c.post(SP, json=base, headers=world.dso.auth())
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["note"][0]["author"] == f"DSO {world.dso.id}"
    url = f"{SP}/{p['id']}"
    for field, value in (("description", "works for us"), ("priority", 9)):
        err = tmf_error(_merge(c, url, {field: value}, world.mno.auth()), 403)
        assert field in err["reason"] + err.get("message", "")
    tmf_error(_merge(c, url, {"note": [*p["note"], {"author": f"DSO {world.dso.id}", "text": "x"}]},
                     world.mno.auth()), 403)
    tmf_error(_merge(c, url, {"rootCauseService": [{"id": "svc"}]}, world.dso.auth()), 403)
    now = c.get(url, headers=world.dso.auth("viewer")).json()
    assert (now["description"], now["priority"], len(now["note"])) == ("PLMN A drops every night", 2, 1)
    r = _merge(c, url, {"rootCauseService": [{"id": "svc"}], "note": [*p["note"], {"text": "cell 7 faulty"}]},
               world.mno.auth())
    assert r.status_code == 200, r.text
    assert r.json()["note"][-1]["author"] == f"MNO {world.mno.id}"
