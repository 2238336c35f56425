"""TMF621 v4 facade: CRUD, fields/filters/paging, lifecycle, hub events through the outbox, tenancy, errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import PLMN_A, Receiver, World, alarm, cell_dn
from tests.tmf_swagger import TMF621, assert_event

TT = "/tmf-api/troubleTicket/v4/troubleTicket"


def body(world: World, **extra: Any) -> dict[str, Any]:
    return {"description": "CPE unreachable", "severity": "Major", "ticketType": "incident",
            "relatedParty": [{"id": world.mno.id, "role": "addressee", "@referredType": "Organization"}],
            "relatedEntity": [{"id": "D1-S0", "role": "affectedSite", "@referredType": "DsoSite"}], **extra}


def create(c: TestClient, world: World, **extra: Any) -> dict[str, Any]:
    r = c.post(TT, json=body(world, **extra), headers=world.dso.auth())
    assert r.status_code == 201, r.text
    return dict(r.json())


def tmf_error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()
    assert err["code"] == str(status) and err["reason"] and err["@type"] == "Error"
    return dict(err)


def test_create_get_list_fields_filters_paging(app_client: TestClient, world: World) -> None:
    c = app_client
    t1 = create(c, world, severity="High", note=[{"author": "ops", "text": "first"}])
    t2 = create(c, world, severity="Low", ticketType="connectivity", status="nanana")
    assert t2["status"] == "acknowledged" and t2["statusChange"][0]["status"] == "acknowledged"
    assert t1["note"][0]["id"] == "1" and t1["note"][0]["date"]
    assert c.get(f"{TT}/{t1['id']}", headers=world.dso.auth("viewer")).json()["href"] == t1["href"]
    r = c.get(f"{TT}/{t1['id']}", params={"fields": "severity,status"}, headers=world.dso.auth("viewer"))
    assert r.json() == {"severity": "High", "status": "acknowledged"}
    r = c.get(TT, params={"severity": "High"}, headers=world.dso.auth("viewer"))
    assert [t["id"] for t in r.json()] == [t1["id"]]
    r = c.get(TT, params={"limit": 1, "offset": 1}, headers=world.dso.auth("viewer"))
    assert r.headers["X-Total-Count"] == "2" and r.headers["X-Result-Count"] == "1" and r.json()[0]["id"] == t2["id"]
    tmf_error(c.get(TT, params={"sevrity": "High"}, headers=world.dso.auth("viewer")), 400)
    # Each side sees its own: the addressee reads it, the other MNO and the other DSO do not.
    assert {t["id"] for t in c.get(TT, headers=world.mno.auth("viewer")).json()} == {t1["id"], t2["id"]}
    assert c.get(TT, headers=world.mno2.auth("viewer")).json() == []
    assert c.get(TT, headers=world.dso2.auth("viewer")).json() == []
    tmf_error(c.get(f"{TT}/{t1['id']}", headers=world.mno2.auth("viewer")), 404)
    tmf_error(c.get(f"{TT}/46846846846", headers=world.dso.auth("viewer")), 404)


def test_bad_input_is_a_tmf_error(app_client: TestClient, world: World) -> None:
    c, h = app_client, world.dso.auth()
    tmf_error(c.post(TT, json={"description": "x", "severity": "High"}, headers=h), 400)  # no ticketType
    tmf_error(c.post(TT, json={**body(world), "note": {"author": "a"}}, headers=h), 400)
    tmf_error(c.post(TT, json={**body(world), "note": [{"author": "a"}]}, headers=h), 400)
    tmf_error(c.post(TT, content=b"{not json", headers={**h, "Content-Type": "application/json"}), 400)
    tmf_error(c.post(TT, json={**body(world), "relatedEntity": [{"id": "NOPE", "role": "r",
                                                                   "@referredType": "DsoSite"}]}, headers=h), 400)
    # dso has two agreements: the addressee must be named.
    err = tmf_error(c.post(TT, json={"description": "x", "severity": "High", "ticketType": "t"}, headers=h), 400)
    assert "relatedParty" in err["message"]
    # dso2 has a single agreement: it may omit the addressee.
    assert c.post(TT, json={"description": "x", "severity": "High", "ticketType": "t"},
                  headers=world.dso2.auth()).status_code == 201
    tmf_error(c.post(TT, json=body(world), headers=world.mno.auth()), 403)


def test_lifecycle_and_who_writes_what(app_client: TestClient, world: World) -> None:
    c = app_client
    t = create(c, world)
    url, merge = f"{TT}/{t['id']}", {"Content-Type": "application/merge-patch+json"}
    err = tmf_error(c.patch(url, json={"status": "closed"}, headers=world.mno.auth()), 400)
    assert "inProgress, pending, held, rejected, cancelled" in err["message"]
    tmf_error(c.patch(url, json={"status": "nanana"}, headers=world.mno.auth()), 400)
    tmf_error(c.patch(url, json={"status": "inProgress"}, headers=world.dso.auth()), 403)
    tmf_error(c.patch(url, json={"description": "mine"}, headers=world.mno.auth()), 403)
    tmf_error(c.patch(url, json={"creationDate": "2020-01-01T00:00:00Z"}, headers=world.dso.auth()), 400)
    r = c.patch(url, content=b'{"status": "inProgress", "expectedResolutionDate": "2030-01-01T00:00:00Z"}',
                headers={**world.mno.auth(), **merge})
    assert r.status_code == 200, r.text
    assert r.json()["expectedResolutionDate"] == "2030-01-01T00:00:00Z"
    r = c.patch(url, json={"status": "resolved", "statusChangeReason": "cell restarted",
                           "note": [{"text": "fixed"}]}, headers=world.mno.auth())
    assert r.status_code == 200 and r.json()["resolutionDate"] and r.json()["note"][-1]["text"] == "fixed"
    assert [s["status"] for s in r.json()["statusChange"]] == ["acknowledged", "inProgress", "resolved"]
    r = c.patch(url, json={"status": "closed"}, headers=world.dso.auth())
    assert r.status_code == 200 and r.json()["status"] == "closed"
    err = tmf_error(c.patch(url, json={"status": "inProgress"}, headers=world.dso.auth()), 400)
    assert "final state" in err["message"]
    assert c.get("/api/v1/incidents", headers=world.dso.auth("viewer")).json() == []
    assert len(c.get("/api/v1/incidents", params={"all": True}, headers=world.dso.auth("viewer")).json()) == 1
    tmf_error(c.delete(url, headers=world.mno.auth()), 403)
    assert c.delete(url, headers=world.dso.auth()).status_code == 204
    tmf_error(c.get(url, headers=world.dso.auth()), 404)


def test_hub_events_reach_both_sides_through_the_outbox(app_client: TestClient, world: World,
                                                        receiver: Receiver) -> None:
    c = app_client
    hubs = {}
    for org in (world.dso, world.mno, world.mno2):
        r = c.post("/tmf-api/troubleTicket/v4/hub", json={"callback": receiver.url}, headers=org.auth())
        assert r.status_code == 201 and r.json()["callback"] == receiver.url, r.text
        hubs[org.id] = r.json()["id"]
    r = c.post("/tmf-api/troubleTicket/v4/hub", json={"callback": receiver.url,
                                                      "query": "eventType=TroubleTicketResolvedEvent"},
               headers=world.dso.auth())
    resolved_only = r.json()["id"]
    assert c.post("/tmf-api/troubleTicket/v4/hub", json={"callback": receiver.url, "query": "eventType=Nope"},
                  headers=world.dso.auth()).status_code == 400
    t = create(c, world)
    r = c.post("/api/v1/ingest/notifications", json=alarm("notifyNewAlarm", "HUB-1", cell_dn(PLMN_A, 0)),
               headers=world.mno.auth())
    assert r.status_code == 200
    for status in ("inProgress", "resolved"):
        assert c.patch(f"{TT}/{t['id']}", json={"status": status}, headers=world.mno.auth()).status_code == 200

    got = receiver.wait_for(lambda rs: sum(1 for r in rs if r["body"]["eventType"] == "TroubleTicketResolvedEvent")
                            >= 3)
    for g in got:  # at the listener path of each event, valid against TMF621, no null member (changeReason)
        event = assert_event(TMF621, g["body"])
        assert g["path"] == f"/hook/listener/{event['eventType'][:1].lower()}{event['eventType'][1:]}"
    types = [g["body"]["eventType"] for g in got]
    assert types.count("TroubleTicketCreateEvent") == 2  # dso and mno; mno2 is not a party
    assert "TroubleTicketAttributeValueChangeEvent" in types  # the alarm re-attributed it
    assert types.count("TroubleTicketStatusChangeEvent") == 4
    reattributed = [g["body"]["event"]["troubleTicket"] for g in got
                    if g["body"]["eventType"] == "TroubleTicketAttributeValueChangeEvent"]
    assert {x["attribution"]["cause"] for x in reattributed} == {"mno_network"}
    assert c.delete(f"/tmf-api/troubleTicket/v4/hub/{resolved_only}", headers=world.dso.auth()).status_code == 204
    assert c.delete(f"/tmf-api/troubleTicket/v4/hub/{hubs[world.dso.id]}",
                    headers=world.mno.auth()).status_code == 404
