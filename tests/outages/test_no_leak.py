"""No value derived from one MNO's sites reaches another MNO: every field of every view an MNO gets of an outage
(plan, MOI, listing, notifications) is enumerated, and must stay the same whatever the other MNO's data does."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gridcell.exposure.models import OutboxRow, Subscription
from tests.conftest import PLMN_A, PLMN_B, alarm
from tests.outages.conftest import RAN, GridEnv, cell_of, iso

UNSTABLE = {"version", "computedAt", "timeToDarkMin", "planVersion"}


def _stable(value: Any) -> Any:
    """Drop what moves by itself (versions, computation time, minutes left at the moment of reading)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in UNSTABLE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _outbox(genv: GridEnv, org_id: str) -> list[dict[str, Any]]:
    with genv.db.read() as s:
        rows = s.scalars(select(OutboxRow.payload).join(Subscription, Subscription.id == OutboxRow.subscription_id)
                         .where(Subscription.org_id == org_id, Subscription.channel == "provmns")
                         .order_by(OutboxRow.pk))
        return [json.loads(p) for p in rows]


def _seen_by(genv: GridEnv, who: str, outage: str) -> dict[str, Any]:
    """Everything this MNO can read about the outage."""
    org = genv.org(who)
    listed = [i for i in genv.client.get("/api/v1/outages", headers=org.auth("viewer")).json() if i["id"] == outage]
    return {"plan": genv.plan(outage, who), "moi": genv.moi(outage, who), "listed": listed,
            "power": genv.client.get("/api/v1/outages/ran-site-power", headers=org.auth("viewer")).json()}


def _fields(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in _fields(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _fields(v, f"{path}/{i}")]
    return [(path, value)]


def _perturb(genv: GridEnv, other: str, outage: str) -> list[str]:
    """Change the other MNO's data every way it can change: batteries, a new site in the area, a power alarm,
    an answer of its own. Returns what was done, for the messages."""
    org = genv.org(other)
    mine = sorted(r for r, (plmn, _, _) in RAN.items() if plmn == (PLMN_A if other == "mno" else PLMN_B))
    done = []
    for ran_id in mine:
        r = genv.client.post("/api/v1/topology/import", json=genv.ran_doc(ran_id, autonomyH=7.5), headers=org.auth())
        assert r.status_code == 200, r.text
        done.append(f"autonomy of {ran_id}")
    extra = genv.ran_doc(mine[0], id=f"{other}-NEW", autonomyH=0.25)
    extra["ranSites"][0]["cells"][0]["cellId"] = f"{other}-NEW-C"
    assert genv.client.post("/api/v1/topology/import", json=extra, headers=org.auth()).status_code == 200
    done.append("a new RAN site in the area")
    body = alarm("notifyNewAlarm", f"{other}-PWR", f"SubNetwork=1,ManagedElement=x,RanSite={mine[0]}",
                 severity="MAJOR", cause="LOW_BATTERY_THRESHOLD", objectInstance=mine[0])
    assert genv.client.post("/api/v1/ingest/notifications", json=body, headers=org.auth()).status_code == 200
    done.append("a low-battery alarm")
    r = genv.client.put(f"/api/v1/outages/{outage}/mno-answer", params={"dso": genv.world.dso.id},
                        json={"mnoMaxServiceDuration": 999, "reason": "fuel cell"}, headers=org.auth())
    assert r.status_code == 200, r.text
    done.append("a declared answer")
    return done


@pytest.mark.parametrize(("who", "other"), [("mno", "mno2"), ("mno2", "mno")])
def test_an_mno_sees_nothing_derived_from_another_mnos_sites(genv: GridEnv, outage: str, who: str,
                                                             other: str) -> None:
    t0 = genv.t0
    body = genv.fault_body(dsoRapidInterventionTime=iso(t0 + timedelta(minutes=30)), dsoRapidInterventionDuration=60)
    assert genv.put(outage, body).status_code == 201
    me, them = genv.org(who), genv.org(other)
    before = _seen_by(genv, who, outage)
    sent_before = _outbox(genv, me.id)
    dso_before = genv.plan(outage)
    # A view worth checking:
    assert before["plan"]["ranSites"] and before["moi"]["attributes"]["mnoMaxServiceDuration"] > 0

    done = _perturb(genv, other, outage)

    after = _seen_by(genv, who, outage)
    assert _stable(after) == _stable(before), f"{who}'s view changed after {other}'s {done}"
    new = _outbox(genv, me.id)[len(sent_before):]
    assert new == [], f"{who} was notified of {other}'s change: {[n['notificationType'] for n in new]}"
    assert _stable(genv.plan(outage)) != _stable(dso_before)  # the control: the DSO's plan did change

    # Field by field: nothing in what this MNO got names the other MNO, its sites, cells or PLMN.
    their_plmn = PLMN_B if other == "mno2" else PLMN_A
    markers = {them.id, their_plmn, f"{other}-NEW"} | {r for r, (p, _, _) in RAN.items() if p == their_plmn} \
        | {cell_of(r) for r, (p, _, _) in RAN.items() if p == their_plmn}
    everything = [after, *_outbox(genv, me.id)]
    leaks = [(path, v) for doc in everything for path, v in _fields(doc)
             if isinstance(v, str) and any(m in v for m in markers)]
    assert leaks == []
    # And the MNO's own answer is its own: it does not move with the other's declared 999.
    assert after["moi"]["attributes"]["mnoMaxServiceDuration"] != 999
