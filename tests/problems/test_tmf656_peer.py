"""TMF656 as a peer's own tool drives it: its own party references, every v4 attribute, the task resources, event
records, and events on `{callback}/listener/{eventName}` with the listener's credentials. Every TMF body checked
against TMF656-ServiceProblem-v4.0.0.swagger.json."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gridcell.app import create_app
from gridcell.core import sealed
from gridcell.core.db import Database
from tests.conftest import Receiver, World, build_world, make_settings
from tests.tmf_swagger import TMF656, assert_event, assert_valid

SP = "/tmf-api/serviceProblemManagement/v4"
PUBLIC = "https://exchange.example.net"
KEY = sealed.new_key()


@pytest.fixture
def peer(db: Database) -> Iterator[tuple[TestClient, World]]:
    app = create_app(make_settings(db.url, public_url=PUBLIC, secret_keys=KEY), db=db, migrate=False)
    with TestClient(app) as client:
        yield client, build_world(client, db)


def ok(r: Any, status: int, definition: str = "ServiceProblem") -> Any:
    assert r.status_code == status, r.text
    return assert_valid(TMF656, definition, r.json())


def error(r: Any, status: int, loc: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = assert_valid(TMF656, "Error", r.json())
    if loc is not None:
        assert loc in body["message"], body
    return dict(body)


def peer_problem(world: World, **extra: Any) -> dict[str, Any]:
    """What a DSO's own service-assurance tool sends: its own party ids, and every kind of v4 attribute."""
    return {
        "category": "serviceProvider.declarer", "priority": 2, "name": "Telemetry gaps, Freiburg south",
        "description": "Secondary substations lose their LTE link at night", "reason": "probe statistics",
        "originatorParty": {"id": "ON-NOC-4711", "name": "Oberrhein Netz NOC", "role": "originator",
                            "@referredType": "Organization"},
        "responsibleParty": {"id": "TELCO-A-SD", "name": "mno", "@referredType": "Organization"},
        "relatedParty": [{"id": "ON-P-17", "name": "Jane Roe", "role": "contact", "@referredType": "Individual"}],
        "affectedNumberOfServices": 3, "impactImportanceFactor": "40", "originatingSystem": "ON-SQM",
        "creationDate": "2026-11-30T22:10:00Z",
        "affectedLocation": [{"id": "FR-S", "name": "Freiburg south", "role": "affectedArea",
                              "@referredType": "GeographicArea"}],
        "affectedResource": [{"id": "D1-S0", "@referredType": "DsoSite"}],
        "affectedService": [{"id": "scada-link-7", "name": "SCADA link", "@referredType": "Service"}],
        "characteristic": [{"name": "nightlyDrops", "valueType": "integer", "value": 14}],
        "externalIdentifier": [{"id": "SQM-2026-118", "owner": "ON-SQM", "externalIdentifierType": "Problem"}],
        "firstAlert": {"id": "ALM-77", "role": "threshold", "@referredType": "ThresholdCrossing"},
        "impactPattern": {"description": "nightly, 01:00-04:00", "characteristic": [{"name": "window",
                                                                                      "value": "01-04"}]},
        "relatedEntity": [{"id": "D1-CPE0", "role": "affectedCpe", "@referredType": "Cpe"}],
        "relatedEvent": [{"id": "EV-1", "eventTime": "2026-11-30T01:12:00Z", "name": "link down"}],
        "slaViolation": [{"id": "SLA-3"}], "troubleTicket": [{"id": "TT-99", "href": "https://on.example/tt/99"}],
        "underlyingAlarm": [{"id": "ALM-77"}], "note": [{"text": "raised from SQM"}],
        "trackingRecord": [{"id": "sqm-1", "description": "opened in SQM", "time": "2026-11-30T22:10:00Z",
                            "user": "jane"}],
        "@type": "ServiceProblem", **extra}


def test_peer_with_its_own_party_ids_creates_gets_lists_and_patches(peer: tuple[TestClient, World]) -> None:
    c, world = peer
    sent = peer_problem(world)
    r = c.post(f"{SP}/serviceProblem", json=sent, headers=world.dso.auth())
    p = ok(r, 201)
    assert p["href"] == f"{PUBLIC}{SP}/serviceProblem/{p['id']}" == r.headers["Location"]
    for key, value in sent.items():  # every attribute kept as supplied (notes and tracking get ids and authors)
        if key not in ("note", "trackingRecord"):
            assert p[key] == value, key
    assert p["status"] == "acknowledged" and p["note"][0]["author"] == f"DSO {world.dso.id}"
    assert p["trackingRecord"][0] == sent["trackingRecord"][0] and p["trackingRecord"][-1]["systemId"] == "gridcell"
    # The calling organisations decide who sees it: the MNO named by name, not the DSO's party ids.
    got = ok(c.get(f"{SP}/serviceProblem/{p['id']}", headers=world.mno.auth("viewer")), 200)
    assert got["originatorParty"]["id"] == "ON-NOC-4711"
    error(c.get(f"{SP}/serviceProblem/{p['id']}", headers=world.mno2.auth("viewer")), 404)
    error(c.get(f"{SP}/serviceProblem/{p['id']}", headers=world.dso2.auth("viewer")), 404)
    page = c.get(f"{SP}/serviceProblem", params={"category": "serviceProvider.declarer", "fields": "id,href,status"},
                 headers=world.mno.auth("viewer"))
    assert ok(page, 200) == [{"id": p["id"], "href": p["href"], "status": "acknowledged"}]
    # Each side writes its own fields; the other side's is a 403 that changes nothing.
    url, merge = f"{SP}/serviceProblem/{p['id']}", {"Content-Type": "application/merge-patch+json"}
    error(c.patch(url, json={"description": "ours"}, headers={**world.mno.auth(), **merge}), 403)
    error(c.patch(url, json={"rootCauseService": [{"id": "x"}]}, headers={**world.dso.auth(), **merge}), 403)
    error(c.patch(url, json={"responsibleParty": {"id": "x", "@referredType": "Organization"}},
                  headers=world.dso.auth()), 403)
    r = c.patch(url, json={"status": "inProgress", "rootCauseResource": [{"id": "backhaul-7", "@referredType": "Link"}],
                           "responsibleParty": {"id": "TELCO-A-RAN", "name": "RAN ops", "@referredType": "Team"},
                           "statusChangeReason": "analysing"}, headers={**world.mno.auth(), **merge})
    mine = ok(r, 200)
    assert mine["responsibleParty"]["id"] == "TELCO-A-RAN" and mine["status"] == "inProgress"
    r = c.patch(url, json={"impactImportanceFactor": "55", "originatorParty": {"id": "ON-NOC-2", "@referredType":
                                                                              "Organization"}},
                headers=world.dso.auth())
    theirs = ok(r, 200)
    assert theirs["impactImportanceFactor"] == "55" and theirs["originatorParty"]["id"] == "ON-NOC-2"
    # The MNO still sees it (the body's parties never route).
    assert ok(c.get(url, headers=world.mno.auth("viewer")), 200)["rootCauseResource"][0]["id"] == "backhaul-7"


@pytest.mark.parametrize(("patch", "loc"), [
    ({"priority": "high"}, "priority"), ({"priority": 0}, "priority"), ({"relatedEvent": [{"name": "x"}]},
                                                                          "relatedEvent/0/id"),
    ({"originatorParty": {"id": "x"}}, "originatorParty/@referredType"), ({"trackingRecord": []}, "trackingRecord"),
    ({"firstAlert": {"id": "x", "role": "r", "@referredType": "T"}}, "firstAlert"), ({"href": "x"}, "href"),
    ({"characteristic": [{"name": "no value"}]}, "characteristic/0/value"), ({"status": "done"}, "status"),
    ({"troubleTicket": [{"id": "t", "href": "relative/path"}]}, "troubleTicket/0/href"),
    ({"lastUpdate": "2026-01-01T00:00:00Z"}, "lastUpdate"), ({"bogus": 1}, "bogus"),
])
def test_schema_invalid_patches_name_the_field_and_change_nothing(peer: tuple[TestClient, World],
                                                                    patch: dict[str, Any], loc: str) -> None:
    c, world = peer
    p = ok(c.post(f"{SP}/serviceProblem", json=peer_problem(world), headers=world.dso.auth()), 201)
    url = f"{SP}/serviceProblem/{p['id']}"
    error(c.patch(url, json=patch, headers=world.dso.auth()), 400, loc)
    assert ok(c.get(url, headers=world.dso.auth()), 200) == p


@pytest.mark.parametrize(("change", "loc"), [
    ({"originatorParty": {"id": "ON-1", "name": "no referredType"}}, "originatorParty/@referredType"),
    ({"relatedParty": [{"@referredType": "Individual"}]}, "relatedParty/0/id"),
    ({"creationDate": "2026-11-30 22:10"}, "creationDate"), ({"creationDate": "1900-01-01T00:00:00Z"}, "creationDate"),
    ({"relatedEntity": [{"id": "x", "@referredType": "Cpe"}]}, "relatedEntity/0/role"),
    ({"note": {"text": "not a list"}}, "note"), ({"id": "mine"}, "id"), ({"reason": None}, "reason"),
    ({"affectedNumberOfServices": 1.5}, "affectedNumberOfServices"),
    ({"responsibleParty": {"id": "TELCO-?", "@referredType": "Organization"}}, "responsibleParty"),
])
def test_schema_invalid_creates_name_the_field_and_store_nothing(peer: tuple[TestClient, World],
                                                                 change: dict[str, Any], loc: str) -> None:
    c, world = peer
    body = {k: v for k, v in {**peer_problem(world), **change}.items() if v is not None}
    error(c.post(f"{SP}/serviceProblem", json=body, headers=world.dso.auth()), 400, loc)
    assert c.get(f"{SP}/serviceProblem", headers=world.dso.auth()).json() == []
    assert c.get(f"{SP}/serviceProblemEventRecord", headers=world.dso.auth()).json() == []


def test_task_resources(peer: tuple[TestClient, World]) -> None:
    c, world = peer
    ids = [ok(c.post(f"{SP}/serviceProblem", json=peer_problem(world, name=f"p{i}"), headers=world.dso.auth()),
              201)["id"] for i in range(3)]
    other = ok(c.post(f"{SP}/serviceProblem", json=peer_problem(world, responsibleParty={
        "id": "T", "@referredType": "Organization"}), headers=world.dso2.auth()), 201)["id"]  # dso2: one agreement
    refs = [{"id": i} for i in ids]
    error(c.post(f"{SP}/problemAcknowledgement", json={"problem": refs[:1]}, headers=world.dso.auth()), 403)
    error(c.post(f"{SP}/problemAcknowledgement", json={"problem": refs[:1]}, headers=world.mno2.auth()), 404)
    error(c.post(f"{SP}/problemAcknowledgement", json={"problem": [{"name": "x"}]}, headers=world.mno.auth()), 400,
          "problem/0/id")
    error(c.post(f"{SP}/problemAcknowledgement", json={"problem": [*refs[:1], {"id": "nope"}]},
                 headers=world.mno.auth()), 404)
    r = c.post(f"{SP}/problemAcknowledgement", json={"problem": refs[:2], "trackingRecord": {
        "user": "Max Mustermann", "description": "taken by RAN ops"}}, headers=world.mno.auth())
    ack = ok(r, 201, "ProblemAcknowledgement")
    assert [a["id"] for a in ack["ackProblem"]] == ids[:2] and ack["id"]
    tracked = ok(c.get(f"{SP}/serviceProblem/{ids[0]}", headers=world.dso.auth()), 200)["trackingRecord"][-1]
    assert tracked["description"] == "taken by RAN ops" and tracked["user"] == f"Max Mustermann (MNO {world.mno.id})"
    # Taking it back: only while acknowledged and not yet worked; all or nothing.
    error(c.post(f"{SP}/problemUnacknowledgement", json={"problem": refs}, headers=world.mno.auth()), 400,
          ids[2])
    assert c.patch(f"{SP}/serviceProblem/{ids[1]}", json={"status": "inProgress"},
                   headers=world.mno.auth()).status_code == 200
    error(c.post(f"{SP}/problemUnacknowledgement", json={"problem": refs[:2]}, headers=world.mno.auth()), 400)
    un = ok(c.post(f"{SP}/problemUnacknowledgement", json={"problem": refs[:1]}, headers=world.mno.auth()), 201,
            "ProblemUnacknowledgement")
    assert [u["id"] for u in un["unackProblem"]] == ids[:1]
    # Grouping: the parent lists its children, each child its parent; not across DSOs, no cycles.
    g = ok(c.post(f"{SP}/problemGroup", json={"parentProblem": refs[0], "childProblem": refs[1:]},
                  headers=world.mno.auth()), 201, "ProblemGroup")
    assert g["parentProblem"]["href"] == f"{PUBLIC}{SP}/serviceProblem/{ids[0]}"
    parent = ok(c.get(f"{SP}/serviceProblem/{ids[0]}", headers=world.mno.auth()), 200)
    assert [u["id"] for u in parent["underlyingProblem"]] == ids[1:]
    child = ok(c.get(f"{SP}/serviceProblem/{ids[2]}", headers=world.dso.auth()), 200)
    assert [u["id"] for u in child["parentProblem"]] == ids[:1]
    error(c.post(f"{SP}/problemGroup", json={"parentProblem": refs[2], "childProblem": refs[:1]},
                 headers=world.mno.auth()), 400, ids[0])
    error(c.post(f"{SP}/problemGroup", json={"parentProblem": refs[0], "childProblem": [{"id": other}]},
                 headers=world.mno.auth()), 400, other)
    error(c.post(f"{SP}/problemGroup", json={"parentProblem": refs[0]}, headers=world.mno.auth()), 400,
          "childProblem")
    error(c.post(f"{SP}/problemUngroup", json={"parentProblem": refs[1], "childProblem": refs[2:]},
                 headers=world.mno.auth()), 400)
    ok(c.post(f"{SP}/problemUngroup", json={"parentProblem": refs[0], "childProblem": refs[2:]},
              headers=world.mno.auth()), 201, "ProblemUngroup")
    assert [u["id"] for u in ok(c.get(f"{SP}/serviceProblem/{ids[0]}", headers=world.mno.auth()), 200)
            ["underlyingProblem"]] == ids[1:2]
    assert "parentProblem" not in ok(c.get(f"{SP}/serviceProblem/{ids[2]}", headers=world.mno.auth()), 200)


def test_events_reach_listener_paths_with_credentials_and_are_recorded(peer: tuple[TestClient, World],
                                                                       receiver: Receiver, db: Database) -> None:
    c, world = peer
    base = receiver.url  # http://127.0.0.1:port/hook
    r = c.post(f"{SP}/hub", json={"callback": base, "auth": {"type": "bearer", "token": "dso-listener-token"}},
               headers=world.dso.auth())
    assert r.status_code == 201 and r.json()["auth"] == {"type": "bearer"}, r.text
    assert ok(r, 201, "EventSubscription")["callback"] == base
    with_user = base.replace("http://", "http://peer%40mno:s%3Acret@")
    r = c.post(f"{SP}/hub", json={"callback": with_user, "query": "eventType=ServiceProblemInformationRequiredEvent"},
               headers=world.mno.auth())
    assert r.status_code == 201 and r.json()["callback"] == base and r.json()["auth"] == {"type": "basic"}, r.text
    r = c.post(f"{SP}/hub", json={"callback": base, "auth": {"type": "apiKey", "header": "X-Api-Key",
                                                              "value": "k-123"}}, headers=world.mno.auth())
    assert r.json()["auth"] == {"type": "apiKey", "header": "X-Api-Key"}, r.text
    for bad, loc in (({"type": "digest"}, "auth/type"), ({"type": "apiKey", "header": "Host", "value": "v"},
                                                           "auth/header"), ({"type": "bearer"}, "auth/token")):
        error(c.post(f"{SP}/hub", json={"callback": base, "auth": bad}, headers=world.dso.auth()), 400, loc)
    with db.read() as s:  # credentials are stored sealed, never as sent
        stored = " ".join(str(q) for q in s.execute(sa.text("SELECT query FROM subscriptions")).scalars())
    assert "dso-listener-token" not in stored and "s:cret" not in stored and "k-123" not in stored

    p = ok(c.post(f"{SP}/serviceProblem", json=peer_problem(world), headers=world.dso.auth()), 201)
    url = f"{SP}/serviceProblem/{p['id']}"
    assert c.patch(url, json={"status": "pending", "statusChangeReason": "which CPE firmware?"},
                   headers=world.mno.auth()).status_code == 200
    assert c.patch(url, json={"note": [{"text": "firmware 4.2"}]}, headers=world.dso.auth()).status_code == 200

    def have(rs: list[dict[str, Any]]) -> bool:
        return len([x for x in rs if x["path"].startswith("/hook/listener/")]) >= 11  # 5 each side, 1 filtered

    got = receiver.wait_for(have, timeout=30)
    by_auth: dict[str, list[str]] = {}
    for x in got:
        body = assert_event(TMF656, x["body"])
        name = body["eventType"][0].lower() + body["eventType"][1:]
        assert x["path"] == f"/hook/listener/{name}", x["path"]
        assert body["event"]["serviceProblem"]["href"] == p["href"]
        auth = x["headers"].get("Authorization") or f"apiKey {x['headers'].get('X-Api-Key')}"
        by_auth.setdefault(auth, []).append(body["eventType"])
    basic = "Basic " + base64.b64encode(b"peer@mno:s:cret").decode()
    assert by_auth[basic] == ["ServiceProblemInformationRequiredEvent"]
    assert by_auth["Bearer dso-listener-token"] == by_auth["apiKey k-123"] == [
        "ServiceProblemCreateEvent", "ServiceProblemStateChangeEvent", "ServiceProblemInformationRequiredEvent",
        "ServiceProblemAttributeValueChangeEvent", "ServiceProblemAttributeValueChangeEvent"]

    # The same events, as records both sides read later.
    rec = c.get(f"{SP}/serviceProblemEventRecord", headers=world.dso.auth("viewer"))
    records = ok(rec, 200, "ServiceProblemEventRecord")
    assert [x["eventType"] for x in records] == by_auth["apiKey k-123"] and rec.headers["X-Total-Count"] == "5"
    assert all(x["serviceProblem"]["id"] == p["id"] for x in records)
    assert records[0]["notification"]["eventId"] == records[0]["id"]
    assert_event(TMF656, records[2]["notification"])
    one = c.get(f"{SP}/serviceProblemEventRecord", params={"eventType": "ServiceProblemStateChangeEvent"},
                headers=world.mno.auth("viewer"))
    (state,) = ok(one, 200, "ServiceProblemEventRecord")
    assert ok(c.get(state["href"].removeprefix(PUBLIC), headers=world.mno.auth("viewer")), 200,
              "ServiceProblemEventRecord") == state
    error(c.get(state["href"].removeprefix(PUBLIC), headers=world.mno2.auth("viewer")), 404)
    assert c.get(f"{SP}/serviceProblemEventRecord", headers=world.dso2.auth("viewer")).json() == []


def test_hub_credentials_need_a_key(db: Database) -> None:
    app = create_app(make_settings(db.url, secret_keys=None), db=db, migrate=False)
    with TestClient(app) as c:
        world = build_world(c, db)
        r = c.post(f"{SP}/hub", json={"callback": "http://127.0.0.1:9/h", "auth": {"type": "bearer", "token": "t"}},
                   headers=world.dso.auth())
        assert error(r, 409)["message"].find("GRIDCELL_SECRET_KEYS") >= 0
        assert c.post(f"{SP}/hub", json={"callback": "http://127.0.0.1:9/h"}, headers=world.dso.auth()).status_code \
            == 201
