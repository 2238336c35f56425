"""Federation against a second, real `gridcell serve` acting as the MNO's own TMF621 system: a ticket the DSO
raises in the exchange is created there; the MNO desk works it there (status, notes, expected and actual
resolution) and the exchange's ticket follows through gridcell's TMF621 listener; the DSO's note and closing go
back. Every TMF body (both systems' resources, the events) checked against the TMF621 swagger."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridcell.bench.exposure import Server
from gridcell.core import sealed
from gridcell.core.db import Database
from gridcell.migrations import upgrade
from gridcell.tenancy import service as tenancy
from tests.conftest import Receiver
from tests.tmf_swagger import TMF621, assert_event, assert_valid
from tests.waiting import wait_until

TT = "/tmf-api/troubleTicket/v4"
WAIT_S = 60.0  # generous: two servers and the test share a loaded machine


def _prepare(url: str, orgs: tuple[tuple[str, str], tuple[str, str]], roles: dict[str, str]) -> dict[str, str]:
    """A store with a DSO and an MNO under agreement; returns bearer tokens named by `roles` ({name: 'dso:admin'})."""
    db = Database(url, sqlite_synchronous="NORMAL")
    upgrade(db)
    try:
        with db.write() as s:
            ids = {kind: tenancy.create_org(s, name, kind) for name, kind in orgs}
            s.flush()
            tenancy.create_agreement(s, ids["dso"], ids["mno"], ["26201"], "cell")
            out = {}
            for name, spec in roles.items():
                kind, role = spec.split(":")
                out[name] = tenancy.create_client(s, ids[kind], role, name)[1]
    finally:
        db.dispose()
    return out


@dataclass
class Pair:
    exchange: httpx.Client
    mno_system: httpx.Client
    tokens: dict[str, str]

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    key = sealed.new_key()
    a_url, b_url = f"sqlite:///{tmp_path / 'exchange.db'}", f"sqlite:///{tmp_path / 'mno.db'}"
    tokens = _prepare(a_url, (("Oberrhein Netz", "dso"), ("Telco A", "mno")),
                      {"dso": "dso:operator", "mno_admin": "mno:admin"})
    tokens |= _prepare(b_url, (("Oberrhein Netz (customer)", "dso"), ("Telco A service desk", "mno")),
                       {"b_customer": "dso:operator", "b_desk": "mno:operator"})
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = Server(tmp_path / "a", a_url), Server(tmp_path / "b", b_url)
    for s in (a, b):
        s.settings = {"GRIDCELL_PUBLIC_URL": s.base, "GRIDCELL_SECRET_KEYS": key, "GRIDCELL_TICK_INTERVAL_S": "0.2"}
    with b, a, httpx.Client(base_url=a.base, timeout=30) as ca, httpx.Client(base_url=b.base, timeout=30) as cb:
        yield Pair(ca, cb, tokens)
        print("exchange log:", a.log_tail(4000), "\nMNO system log:", b.log_tail(4000))  # shown on failure


def tmf(r: httpx.Response, status: int, definition: str = "TroubleTicket") -> Any:
    assert r.status_code == status, r.text
    return assert_valid(TMF621, definition, r.json())


def test_a_ticket_raised_here_is_worked_in_the_mnos_own_system(pair: Pair, receiver: Receiver) -> None:
    ex, mno = pair.exchange, pair.mno_system
    r = ex.put("/api/v1/incidents/federation", headers=pair.auth("mno_admin"), json={
        "baseUrl": f"{mno.base_url}{TT}", "auth": {"type": "bearer", "token": pair.tokens["b_customer"]}})
    assert r.status_code == 200 and r.json()["auth"] == {"type": "bearer"}, r.text
    assert pair.tokens["b_customer"] not in r.text
    fed = wait_until(lambda: (f := ex.get("/api/v1/incidents/federation", headers=pair.auth("mno_admin")).json())
                     ["state"] == "active" and f, WAIT_S, "registration at the MNO system's hub")
    assert fed["hubId"] and "lastError" not in fed, fed
    r = ex.post(f"{TT}/hub", json={"callback": receiver.url}, headers=pair.auth("dso"))
    assert tmf(r, 201, "EventSubscription")["callback"] == receiver.url

    # The DSO names the MNO with its own party reference; the MNO system gets the ticket.
    r = ex.post(f"{TT}/troubleTicket", headers=pair.auth("dso"), json={
        "description": "Substation 4 unreachable over LTE since 03:10", "severity": "Major", "ticketType": "incident",
        "name": "S4 link down", "relatedParty": [{"id": "TA-77", "name": "Telco A", "@referredType": "Organization"}],
        "note": [{"text": "CPE rebooted, no change"}]})
    ticket = tmf(r, 201)
    assert ticket["href"] == f"{ex.base_url}{TT}/troubleTicket/{ticket['id']}"

    def remote() -> dict[str, Any] | None:
        r = mno.get(f"{TT}/troubleTicket", params={"externalId": ticket["id"]}, headers=pair.auth("b_desk"))
        items = tmf(r, 200)
        return items[0] if items else None

    there = wait_until(remote, WAIT_S, "the ticket in the MNO's system")
    assert (there["description"], there["severity"], there["name"]) == (
        ticket["description"], "Major", "S4 link down")
    assert there["note"][0]["text"] == "CPE rebooted, no change" and ticket["id"] in there["note"][1]["text"]

    # The MNO desk works it in its own system.
    url = f"{TT}/troubleTicket/{there['id']}"
    for patch in ({"status": "inProgress", "expectedResolutionDate": "2030-01-01T12:00:00Z",
                   "note": [*there["note"], {"text": "cell 26201-7 restarting"}]},
                  {"status": "resolved", "statusChangeReason": "cell restarted"}):
        tmf(mno.patch(url, json=patch, headers=pair.auth("b_desk")), 200)

    def here() -> dict[str, Any] | None:
        t = tmf(ex.get(f"{TT}/troubleTicket/{ticket['id']}", headers=pair.auth("dso")), 200)
        return t if t["status"] == "resolved" and "cell 26201-7 restarting" in [n["text"] for n in t["note"]] \
            else None

    mine = wait_until(here, WAIT_S, "status, notes and resolution back in the exchange")
    assert mine["expectedResolutionDate"] == "2030-01-01T12:00:00Z" and mine["resolutionDate"]
    assert [s["status"] for s in mine["statusChange"]] == ["acknowledged", "inProgress", "resolved"]
    assert mine["statusChange"][-1]["changeReason"] == "cell restarted"
    texts = [n["text"] for n in mine["note"]]
    assert texts[0] == "CPE rebooted, no change" and texts.count("CPE rebooted, no change") == 1
    assert texts == ["CPE rebooted, no change", "cell 26201-7 restarting"]
    assert [n["author"].split()[0] for n in mine["note"]] == ["DSO", "MNO"]

    # The DSO confirms and closes here; the MNO's system follows.
    r = ex.patch(f"{TT}/troubleTicket/{ticket['id']}", headers=pair.auth("dso"),
                 json={"status": "closed", "note": [*mine["note"], {"text": "link back, thanks"}]})
    tmf(r, 200)

    def closed_there() -> dict[str, Any] | None:
        t = tmf(mno.get(url, headers=pair.auth("b_desk")), 200)
        return t if t["status"] == "closed" and "link back, thanks" in [n["text"] for n in t["note"]] else None

    final = wait_until(closed_there, WAIT_S, "the DSO's note and closing in the MNO's system")
    assert [n["text"] for n in final["note"]].count("cell 26201-7 restarting") == 1
    # Nothing echoed back: the exchange's ticket holds each note once.
    again = tmf(ex.get(f"{TT}/troubleTicket/{ticket['id']}", headers=pair.auth("dso")), 200)
    assert sorted(n["text"] for n in again["note"]).count("link back, thanks") == 1

    # The DSO's own listener heard it all at TMF listener paths, every event valid.
    got = receiver.wait_for(lambda rs: any(x["body"]["eventType"] == "TroubleTicketResolvedEvent" for x in rs),
                            timeout=WAIT_S)
    for x in got:
        body = assert_event(TMF621, x["body"])
        assert x["path"] == f"/hook/listener/{body['eventType'][:1].lower()}{body['eventType'][1:]}"
    assert "TroubleTicketStatusChangeEvent" in {x["body"]["eventType"] for x in got}


def test_listener_refuses_strangers_and_unknown_tickets(pair: Pair) -> None:
    ex = pair.exchange
    event = {"eventId": "e1", "eventType": "TroubleTicketStatusChangeEvent",
             "event": {"troubleTicket": {"id": "nope", "status": "resolved"}}}
    assert ex.post(f"{TT}/listener/troubleTicketStatusChangeEvent", json=event).status_code == 401
    r = ex.post(f"{TT}/listener/troubleTicketStatusChangeEvent", json=event, headers=pair.auth("dso"))
    assert r.status_code == 403 and tmf(r, 403, "Error")
    r = ex.post(f"{TT}/listener/troubleTicketStatusChangeEvent", json=event, headers=pair.auth("mno_admin"))
    assert tmf(r, 404, "Error")
    r = ex.post(f"{TT}/listener/troubleTicketStatusChangeEvent", json={"event": {}}, headers=pair.auth("mno_admin"))
    assert "event/troubleTicket" in tmf(r, 400, "Error")["message"]
