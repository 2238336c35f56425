"""ProvMnS as TS 28.532 specifies it, on the mv_oberrhein world of conftest: the SubNetwork, its collections and
MOIs read with `scope`, `filter`, `attributes` and `fields` (a name the producer does not know is a 400 naming the
parameter); NtfSubscriptionControl MOIs written like any other and applied when delivering, to real webhook
receivers; every answer and notification validated against the standards' schemas."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gridcell.app import create_app
from gridcell.exposure.models import OutboxRow, Subscription
from gridcell.outages import notify
from gridcell.tenancy.service import audit_entries
from tests.conftest import Receiver, build_world, fresh_database, make_settings
from tests.outages.conftest import GridEnv, iso
from tests.outages.schema3gpp import (
    header_validator,
    resource_validator,
    subscription_control_validator,
    validate_error,
    validate_moi,
    validator_for,
)

BASE = "/ProvMnS/v1900"
FLAT = "application/vnd.3gpp.object-tree-flat+json"
SINGLE = {"OutageAndRecoveryInfo": "OutageAndRecoveryInfo-Single", "DsoThresholdMonitor": "DsoThresholdMonitor-Single"}
MONITOR = {"attributes": {"administrativeState": "LOCKED", "thresholdInfoList": [
    {"performanceMetrics": ["SiteStatus.DownRatio"], "thresholdDirection": "UP", "thresholdValue": 0.5}]}}


def _sn(genv: GridEnv, suffix: str = "") -> str:
    return f"{BASE}/SubNetwork={genv.world.dso.id}{suffix}"


def _validate_tree(node: dict[str, Any]) -> None:
    """A hierarchical answer: the Resource form at every level, each MOI against its class, the SubNetwork's
    contained arrays against TS 28.318's SubNetwork-ncO-DsoNrm."""
    resource_validator().validate(node)
    if node.get("objectClass") == "SubNetwork":
        validator_for("TS28318_DsoNrm.yaml", "SubNetwork-ncO-DsoNrm").validate(node)
        validator_for("TS28623_GenericNrm.yaml", "SubNetwork-Attr").validate(node.get("attributes", {}))
    for items in node.values():
        if isinstance(items, list):
            for item in items:
                _validate_resource(item)


def _validate_resource(item: dict[str, Any]) -> None:
    if item["objectClass"] in SINGLE:
        validate_moi(item, SINGLE[item["objectClass"]])
    elif item["objectClass"] == "NtfSubscriptionControl":
        resource_validator().validate(item)
        if "attributes" in item and "notificationRecipientAddress" in item["attributes"]:
            subscription_control_validator().validate(item)
    else:
        _validate_tree(item)


def _get(genv: GridEnv, url: str, who: str = "dso", accept: str | None = None, **params: Any) -> Any:
    headers = {**genv.org(who).auth("viewer"), **({"Accept": accept} if accept else {})}
    r = genv.client.get(url, params=params, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    if accept == FLAT:
        assert r.headers["content-type"].startswith(FLAT)
        for item in body:
            _validate_resource(item)
    else:
        _validate_tree(body)
    return body


def _bad(genv: GridEnv, url: str, param: str, **params: Any) -> dict[str, Any]:
    """A GET refused naming the query parameter (ErrorResponseGet: badQueryParams)."""
    r = genv.client.get(url, params=params, headers=genv.world.dso.auth("viewer"))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    validate_error(body, "GET")
    assert body["status"] == "400" and body["badQueryParams"] == [param], body
    return dict(body)


def _ids(node: dict[str, Any], cls: str) -> list[str]:
    return [m["id"] for m in node.get(cls, [])]


@pytest.fixture
def two_outages(genv: GridEnv, outage: str) -> Iterator[tuple[str, str]]:
    """The fixture's outage (a priority area) and a second one that is not, plus a threshold monitor."""
    other = f"{outage}-low"
    assert genv.put(outage, genv.fault_body()).status_code == 201
    assert genv.put(other, {"outageStartTime": iso(genv.t0), "isAffectedAreaPriority": False,
                            "affectedArea": {"energySupplyId": "feeder-north"}}).status_code == 201
    tm = _sn(genv, f"/DsoThresholdMonitor={outage}-tm")
    assert genv.client.put(tm, json=MONITOR, headers=genv.world.dso.auth()).status_code == 201
    yield outage, other
    genv.delete(other)
    genv.client.delete(tm, headers=genv.world.dso.auth())


def test_subnetwork_containment_by_scope(genv: GridEnv, two_outages: tuple[str, str]) -> None:
    first, second = two_outages
    only = _get(genv, _sn(genv))  # no scope: BASE_ONLY, the SubNetwork itself
    assert set(only) == {"id", "objectClass", "objectInstance", "attributes"}
    assert only["attributes"]["userLabel"] and only["objectInstance"] == f"SubNetwork={genv.world.dso.id}"
    children = _get(genv, _sn(genv), scopeType="BASE_NTH_LEVEL", scopeLevel=1)
    assert "attributes" not in children  # the base is on the way to what was selected, not selected itself
    assert {first, second} <= set(_ids(children, "OutageAndRecoveryInfo"))
    assert f"{first}-tm" in _ids(children, "DsoThresholdMonitor")
    everything = _get(genv, _sn(genv), scopeType="BASE_ALL")
    assert everything["attributes"] == only["attributes"]
    assert _ids(everything, "OutageAndRecoveryInfo") == _ids(children, "OutageAndRecoveryInfo")
    assert _get(genv, _sn(genv), scope=json.dumps({"scopeType": "BASE_ALL"})) == everything  # one JSON object
    assert _get(genv, _sn(genv), scopeType="BASE_SUBTREE", scopeLevel=0) == only
    # An MOI as base: nothing below it; one level down selects nothing, so only its name comes back.
    ori = _sn(genv, f"/OutageAndRecoveryInfo={first}")
    assert _get(genv, ori, scopeType="BASE_ALL") == genv.moi(first)
    assert _get(genv, ori, scopeType="BASE_NTH_LEVEL", scopeLevel=1) == {
        k: genv.moi(first)[k] for k in ("id", "objectClass", "objectInstance")}
    # Each caller sees its own NtfSubscriptionControl MOIs only: they hold its webhook.
    for who in ("dso", "mno", "mno2"):
        mine = _get(genv, _sn(genv), who, scopeType="BASE_ALL")["NtfSubscriptionControl"]
        assert [(m["id"], m["attributes"]["notificationRecipientAddress"]) for m in mine] == [
            ("all", genv.receivers[who].url)]
    # An MNO reads its own answer in the tree as in the MOI, and the DSO sees that it read them (a DSO's own reads
    # are not audited); another DSO sees no SubNetwork.
    with genv.db.read() as s:
        before = len(audit_entries(s, genv.world.dso.id, 1000))
    mno_tree = _get(genv, _sn(genv), "mno", scopeType="BASE_ALL")
    assert next(m for m in mno_tree["OutageAndRecoveryInfo"] if m["id"] == first) == genv.moi(first, "mno")
    with genv.db.read() as s:
        new = audit_entries(s, genv.world.dso.id, 1000)[:-before or None]  # newest first
    assert [(e.org_id, e.action) for e in new] == [(genv.world.mno.id, "read OutageAndRecoveryInfo")] * 2
    assert new[0].detail == {"id": first} and first in new[1].detail["ids"]  # the MOI, before it the tree
    r = genv.client.get(_sn(genv), params={"scopeType": "BASE_ALL"}, headers=genv.world.dso2.auth("viewer"))
    assert r.status_code == 404 and r.json()["status"] == "404"
    validate_error(r.json(), "GET")


def test_collections_and_the_flat_form(genv: GridEnv, two_outages: tuple[str, str]) -> None:
    first, second = two_outages
    coll = _get(genv, _sn(genv, "/OutageAndRecoveryInfo"))
    assert set(coll) == {"id", "objectClass", "objectInstance", "OutageAndRecoveryInfo"}
    assert {first, second} <= set(_ids(coll, "OutageAndRecoveryInfo"))
    assert _ids(_get(genv, _sn(genv, "/DsoThresholdMonitor")), "DsoThresholdMonitor") == [f"{first}-tm"]
    assert _ids(_get(genv, _sn(genv, "/NtfSubscriptionControl"), "mno2"), "NtfSubscriptionControl") == ["all"]
    flat = _get(genv, _sn(genv), accept=FLAT, scopeType="BASE_ALL")
    assert flat[0]["objectClass"] == "SubNetwork"
    assert {(m["objectClass"], m["id"]) for m in flat} >= {("OutageAndRecoveryInfo", first),
                                                          ("DsoThresholdMonitor", f"{first}-tm")}
    assert [m["id"] for m in _get(genv, _sn(genv, "/OutageAndRecoveryInfo"), accept=FLAT)] == \
        _ids(coll, "OutageAndRecoveryInfo")
    _bad(genv, _sn(genv, "/OutageAndRecoveryInfo"), "scope", scopeType="BASE_ALL")  # a collection has no scope


def test_filter(genv: GridEnv, two_outages: tuple[str, str]) -> None:
    first, second = two_outages
    for condition in ("attributes/isAffectedAreaPriority=true", "isAffectedAreaPriority=true"):
        found = _get(genv, _sn(genv), scopeType="BASE_ALL", filter=condition)
        assert first in _ids(found, "OutageAndRecoveryInfo") and second not in _ids(found, "OutageAndRecoveryInfo")
        assert "DsoThresholdMonitor" not in found and "attributes" not in found  # filtered out: base a name only
    monitors = _get(genv, _sn(genv), scopeType="BASE_ALL", filter='objectClass="DsoThresholdMonitor"')
    assert set(monitors) - {"id", "objectClass", "objectInstance"} == {"DsoThresholdMonitor"}
    late = _get(genv, _sn(genv, "/OutageAndRecoveryInfo"),
                filter=f'attributes/expectedOutageEndTime>"{iso(genv.t0 + timedelta(hours=1))}"')
    assert first in _ids(late, "OutageAndRecoveryInfo") and second not in _ids(late, "OutageAndRecoveryInfo")
    bad = _bad(genv, _sn(genv), "filter", scopeType="BASE_ALL", filter='attributes/colour="red"')
    assert "colour" in bad["otherProblems"][0]["reason"]
    _bad(genv, _sn(genv), "filter", filter="attributes/isAffectedAreaPriority=")  # not Jex
    _bad(genv, _sn(genv), "filter", filter="affectedArea/outageRegion=1")  # no such field


def test_attributes_and_fields(genv: GridEnv, two_outages: tuple[str, str]) -> None:
    first, _ = two_outages
    ori = _sn(genv, f"/OutageAndRecoveryInfo={first}")
    full = genv.moi(first)["attributes"]
    picked = _get(genv, ori, attributes="outageStartTime,isAffectedAreaPriority")
    assert picked["attributes"] == {"outageStartTime": full["outageStartTime"], "isAffectedAreaPriority": True}
    assert _get(genv, ori, fields="attributes/affectedArea/energySupplyId")["attributes"] == {
        "affectedArea": {"energySupplyId": full["affectedArea"]["energySupplyId"]}}
    both = _get(genv, ori, attributes="outageStartTime", fields="/attributes/expectedOutageEndTime")
    assert both["attributes"] == {k: full[k] for k in ("outageStartTime", "expectedOutageEndTime")}
    # Over the tree: the attribute is an OutageAndRecoveryInfo one, so monitors come back as names.
    tree = _get(genv, _sn(genv), scopeType="BASE_NTH_LEVEL", scopeLevel=1, attributes="mnoMaxServiceDuration")
    assert all(set(m["attributes"]) == {"mnoMaxServiceDuration"} for m in tree["OutageAndRecoveryInfo"]
               if m["id"] == first)
    assert all("attributes" not in m for m in tree["DsoThresholdMonitor"])
    _bad(genv, ori, "attributes", attributes="outageStartTime,colour")
    _bad(genv, ori, "fields", fields="attributes/affectedArea/region")
    _bad(genv, ori, "fields", fields="objectClass")
    _bad(genv, ori, "colour", colour="red")  # not a ProvMnS parameter: refused, never ignored
    _bad(genv, ori, "scope", scopeType="BASE_EVERYTHING")
    _bad(genv, ori, "scope", scopeType="BASE_NTH_LEVEL")  # needs its level
    _bad(genv, ori, "scope", scopeType="BASE_SUBTREE", scopeLevel="-1")


def _nsc(genv: GridEnv, moi_id: str) -> str:
    return _sn(genv, f"/NtfSubscriptionControl={moi_id}")


def _subscribe(genv: GridEnv, who: str, moi_id: str, rec: Receiver, **attrs: Any) -> dict[str, Any]:
    r = genv.client.put(_nsc(genv, moi_id), json={"attributes": {"notificationRecipientAddress": rec.url, **attrs}},
                        headers=genv.org(who).auth())
    assert r.status_code == 201, r.text
    body = dict(r.json())
    validate_moi_nsc(body)
    return body


def validate_moi_nsc(body: dict[str, Any]) -> None:
    resource_validator().validate(body)
    subscription_control_validator().validate(body)


def _queued(genv: GridEnv, org_id: str, moi_id: str) -> int:
    """Notifications queued for one NtfSubscriptionControl (in the writer's transaction: final once it answered)."""
    with genv.db.read() as s:
        sub = next(x for x in s.scalars(select(Subscription).where(Subscription.org_id == org_id,
                                                                   Subscription.channel == "provmns"))
                   if (x.query or {}).get("moiId") == moi_id)
        return int(s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.subscription_id == sub.id))
                   or 0)


def _validate_notification(body: dict[str, Any]) -> None:
    kind = body["notificationType"]
    schema = {"notifyMOICreation": ("TS28532_ProvMnS.yaml", "NotifyMoiCreation"),
              "notifyMOIDeletion": ("TS28532_ProvMnS.yaml", "NotifyMoiDeletion"),
              "notifyMOIAttributeValueChanges": ("TS28532_ProvMnS.yaml", "NotifyMoiAttributeValueChanges"),
              "notifyThresholdCrossing": ("TS28532_PerfMnS.yaml", "NotifyThresholdCrossing")}.get(kind)
    if schema is None:
        header_validator().validate(body)
    else:
        validator_for(*schema).validate(body)
    assert body["systemDN"] == notify.system_dn()


def test_ntf_subscription_control_decides_what_is_delivered(genv: GridEnv, outage: str, receiver: Receiver) -> None:
    """Types, filter and scope of each NtfSubscriptionControl, against real webhook receivers; the plan-change
    extension only where asked for."""
    world = genv.world
    standard, plan_only, base_only = Receiver(), Receiver(), Receiver()
    made = [("mno", "prio"), ("dso", "standard"), ("mno2", "plan"), ("dso", "base")]
    try:
        created = _subscribe(genv, "mno", "prio", receiver, notificationTypes=["notifyMOICreation"],
                             notificationFilter="attributeList/isAffectedAreaPriority=true")
        secret = created["attributes"]["secret"]  # once, at creation
        _subscribe(genv, "dso", "standard", standard)
        _subscribe(genv, "mno2", "plan", plan_only, notificationTypes=["notifyOutagePlanChanged"])
        _subscribe(genv, "dso", "base", base_only, scope={"scopeType": "BASE_ONLY"})
        low = f"{outage}-low"
        assert genv.put(low, {"outageStartTime": iso(genv.t0), "isAffectedAreaPriority": False,
                              "affectedArea": {"energySupplyId": "feeder-north"}}).status_code == 201
        assert genv.put(outage, genv.fault_body()).status_code == 201
        genv.delete(low)

        got = receiver.wait_for(lambda rs: len(rs) >= 1)
        assert [(x["body"]["notificationType"], x["body"]["href"].rsplit("=", 1)[1]) for x in got] == [
            ("notifyMOICreation", outage)]  # the low-priority outage's creation was filtered out
        sig = hmac.new(secret.encode(), got[0]["raw"], hashlib.sha256).hexdigest()
        assert got[0]["headers"]["X-Gridcell-Signature"] == f"sha256={sig}"
        kinds = {x["body"]["notificationType"] for x in standard.wait_for(lambda rs: any(
            x["body"]["notificationType"] == "notifyMOIDeletion" for x in rs))}
        assert kinds <= {"notifyMOICreation", "notifyMOIAttributeValueChanges", "notifyMOIDeletion"}
        assert "notifyOutagePlanChanged" not in kinds  # not asked for
        plans = plan_only.wait_for(lambda rs: any(x["body"]["href"].endswith(f"={outage}") for x in rs))
        assert {x["body"]["notificationType"] for x in plans} == {"notifyOutagePlanChanged"}
        assert all(x["body"]["plan"]["side"] == "mno" for x in plans)  # MNO B's own part
        assert _queued(genv, world.dso.id, "base") == 0  # BASE_ONLY: the SubNetwork, no MOI below it
        for rec in (receiver, standard, plan_only):
            for x in rec.received:
                _validate_notification(x["body"])
                assert x["body"]["subscriptionId"]
    finally:
        for who, moi_id in made:
            genv.client.delete(_nsc(genv, moi_id), headers=genv.org(who).auth())
        for rec in (standard, plan_only, base_only):
            rec.close()


def test_ntf_subscription_control_is_an_moi_of_its_owner(genv: GridEnv, receiver: Receiver) -> None:
    url = _nsc(genv, "crud")
    try:
        created = _subscribe(genv, "mno", "crud", receiver, scope={"scopeType": "BASE_NTH_LEVEL", "scopeLevel": 1})
        assert created["objectInstance"] == f"SubNetwork={genv.world.dso.id},NtfSubscriptionControl=crud"
        read = genv.client.get(url, headers=genv.world.mno.auth("viewer"))
        assert read.status_code == 200 and "secret" not in read.json()["attributes"]
        validate_moi_nsc(read.json())
        # Another organisation's id space is its own: the DSO has no "crud" and cannot delete MNO A's.
        assert genv.client.get(url, headers=genv.world.dso.auth("viewer")).status_code == 404
        assert genv.client.delete(url, headers=genv.world.mno2.auth()).status_code == 404
        r = genv.client.patch(url, json={"attributes": {"notificationTypes": ["notifyMOIDeletion"]}},
                              headers={**genv.world.mno.auth(), "Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200 and r.json()["attributes"]["notificationTypes"] == ["notifyMOIDeletion"]
        replaced = genv.client.put(url, json=read.json(), headers=genv.world.mno.auth())
        assert replaced.status_code == 200 and "notificationTypes" not in replaced.json()["attributes"]
        for body, attr in (({"attributes": {"notificationRecipientAddress": receiver.url, "colour": 1}}, "colour"),
                           ({"attributes": {"notificationRecipientAddress": receiver.url,
                                            "notificationTypes": ["notifyEverything"]}}, "notificationTypes"),
                           ({"attributes": {"notificationRecipientAddress": receiver.url,
                                            "notificationFilter": "colour=1"}}, "notificationFilter"),
                           ({"attributes": {"notificationRecipientAddress": "ftp://x.example/"}},
                            "notificationRecipientAddress")):
            r = genv.client.put(url, json=body, headers=genv.world.mno.auth())
            assert r.status_code == 400 and r.json()["badAttributes"] == [attr], r.text
            validate_error(r.json(), "PUT")
        r = genv.client.put(url, json={"attributes": {"notificationRecipientAddress": receiver.url}},
                            headers=genv.world.mno.auth("viewer"))
        assert r.status_code == 403
        assert genv.client.delete(url, headers=genv.world.mno.auth()).status_code == 200
        assert genv.client.get(url, headers=genv.world.mno.auth("viewer")).status_code == 404
    finally:
        genv.client.delete(url, headers=genv.world.mno.auth())


def test_patch_errors_name_the_operation(genv: GridEnv, outage: str) -> None:
    assert genv.put(outage, genv.fault_body()).status_code == 201
    r = genv.client.patch(genv.ori(outage), json=[{"op": "move", "from": "/a", "path": "/b"}],
                          headers={**genv.world.dso.auth(), "Content-Type": "application/json-patch+json"})
    assert r.status_code == 400, r.text
    validate_error(r.json(), "PATCH")
    assert r.json()["badOp"] == "0" and r.json()["status"] == "400"
    assert r.json()["otherProblems"][0]["reason"] == "from /a does not exist"  # the member that is wrong
    r = genv.client.patch(genv.ori(outage), json=[{"op": "test", "path": "/attributes/isAffectedAreaPriority",
                                                   "value": "no"}, {"op": "frobnicate", "path": "/id"}],
                          headers={**genv.world.dso.auth(), "Content-Type": "application/json-patch+json"})
    assert r.status_code == 400 and r.json()["badOp"] == "0", r.text  # the test failed first: nothing applied
    r = genv.client.patch(genv.ori(outage), json=[{"op": "copy", "from": "/attributes", "path": "/x"},
                                                  {"op": "frobnicate", "path": "/id"}],
                          headers={**genv.world.dso.auth(), "Content-Type": "application/json-patch+json"})
    assert r.status_code == 400 and r.json()["badOp"] == "1", r.text
    assert r.json()["otherProblems"][0]["reason"].startswith("op: ")
    # And the successes are the standard's: PATCH 200 with the MOI, DELETE 200 with no body.
    r = genv.client.patch(genv.ori(outage), json={"attributes": {"isAffectedAreaPriority": False}},
                          headers={**genv.world.dso.auth(), "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["attributes"]["isAffectedAreaPriority"] is False
    r = genv.client.delete(genv.ori(outage), headers=genv.world.dso.auth())
    assert r.status_code == 200 and r.content == b""


def test_deprecated_subscriptions_apply_their_filter(genv: GridEnv, outage: str, receiver: Receiver) -> None:
    r = genv.client.post(f"{BASE}/subscriptions", headers=genv.world.dso.auth(), json={
        "consumerReference": receiver.url, "filter": 'notificationType="notifyMOIDeletion"'})
    assert r.status_code == 201 and r.headers["Deprecation"].startswith("@"), r.text
    sub = r.json()["id"]
    try:
        assert sub not in json.dumps(_get(genv, _sn(genv), scopeType="BASE_ALL"))  # not an MOI
        assert genv.put(outage, genv.fault_body()).status_code == 201
        genv.delete(outage)
        got = receiver.wait_for(lambda rs: len(rs) >= 1)
        assert [x["body"]["notificationType"] for x in got] == ["notifyMOIDeletion"]
        r = genv.client.post(f"{BASE}/subscriptions", headers=genv.world.dso.auth(),
                             json={"consumerReference": receiver.url, "timeTick": 60})
        assert r.status_code == 400 and r.json()["badAttributes"] == ["timeTick"]
    finally:
        genv.client.delete(f"{BASE}/subscriptions/{sub}", headers=genv.world.dso.auth())


def test_system_dn_is_a_setting(receiver: Receiver) -> None:
    tmp = tempfile.mkdtemp(prefix="gridcell-systemdn-")
    db = fresh_database(f"sqlite:///{tmp}/gridcell.db")
    app = create_app(make_settings(db.url, system_dn="DC=exchange.dso.example"), db=db, migrate=False)
    try:
        with TestClient(app) as client:
            world = build_world(client, db)
            sn = f"{BASE}/SubNetwork={world.dso.id}"
            r = client.put(f"{sn}/NtfSubscriptionControl=1", headers=world.dso.auth(),
                           json={"attributes": {"notificationRecipientAddress": receiver.url}})
            assert r.status_code == 201, r.text
            r = client.put(f"{sn}/OutageAndRecoveryInfo=O-1", headers=world.dso.auth(),
                           json={"attributes": {"outageStartTime": "2026-12-04T08:00:00Z"}})
            assert r.status_code == 201, r.text
            got = receiver.wait_for(lambda rs: len(rs) >= 1)
            assert got[0]["body"]["systemDN"] == "DC=exchange.dso.example"
            validator_for("TS28532_ProvMnS.yaml", "NotifyMoiCreation").validate(got[0]["body"])
    finally:
        notify.configure(None)  # back to the environment's (the other apps' in this process)
        db.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
