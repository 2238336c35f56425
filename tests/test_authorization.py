"""Authorization across every route: who may call what, and that nothing crosses organisations.

The route table below must list every route of the app; a route added without a row fails
`test_route_table_covers_every_route`, so it cannot ship without an authorization decision.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import PLMN_A, PLMN_B, Org, Receiver, World, alarm, cell_dn, dso_topology, mno_topology

SKIPPED_PATHS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz", "/readyz", "/metrics"}
# Capability URLs: the secret in the path is the credential (a feed's consumerReference); tested in tests/feeds.
CAPABILITY_URL_PATHS = {"/api/v1/ingest/feeds/{feed_id}/{key}"}
# The dashboard authenticates with a session cookie, not a bearer token: tests/web and tests/e2e/test_dashboard.py.
DASHBOARD_PATHS = {
    "/", "/web", "/web/", "/web/login", "/web/logout", "/web/dso", "/web/mno", "/web/data", "/web/events",
    "/web/static/{path:path}", "/favicon.ico",
    "/web/admin", "/web/admin/users", "/web/admin/users/{user_id}/role", "/web/admin/users/{user_id}/revoke",
    "/web/admin/users/{user_id}/restore", "/web/admin/clients", "/web/admin/clients/{client_id}/revoke",
    "/web/admin/sessions/{key}/end",
    "/web/tickets", "/web/tickets/{ticket_id}", "/web/tickets/{ticket_id}/accept", "/web/tickets/{ticket_id}/answer",
    "/web/tickets/{ticket_id}/resolve", "/web/tickets/{ticket_id}/close", "/web/tickets/{ticket_id}/reopen",
    "/web/outages", "/web/outages/new", "/web/outages/{dso_id}/{moi_id}", "/web/outages/{dso_id}/{moi_id}/times",
    "/web/outages/{dso_id}/{moi_id}/switching", "/web/outages/{dso_id}/{moi_id}/close",
    "/web/outages/{dso_id}/{moi_id}/answer", "/web/outages/{dso_id}/{moi_id}/answer/withdraw",
    "/web/outages/{dso_id}/{moi_id}/generators",
    "/web/alerts", "/web/alerts/ack", "/web/commands", "/web/commands/{command_id}/ack",
    "/web/subscriptions", "/web/subscriptions/{sub_id}/delete",
    "/web/sites", "/web/sites/{site_id}", "/web/ran-sites", "/web/ran-sites/{ran_site_id}", "/web/map",
}
THREEGPP_PREFIXES = ("/api/v1/ingest", "/FaultSupervisionMnS")
ROLES = ("viewer", "operator", "admin")
SITE, RAN_SITE = "D1-S0", f"RAN-{PLMN_A}"
# Around the DSO sites (lon 7.81..7.822, lat 48.0).
AREA = {"type": "Polygon", "coordinates": [[[7.79, 47.99], [7.84, 47.99], [7.84, 48.01], [7.79, 48.01],
                                            [7.79, 47.99]]]}
LEAK_MARKERS = (f"{PLMN_A}-C", f"{PLMN_B}-C", "RAN-", "SECRET-TEXT", "NRCellDU")


def app_route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route, flattening included routers (lazy in recent FastAPI)."""
    try:
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: app.routes is already flat
        routes = list(app.routes)
    keys = set()
    for route in routes:
        path = getattr(route, "path", None)
        assert path is not None, f"route without a path: {route!r}"
        if path in SKIPPED_PATHS or path in DASHBOARD_PATHS or path in CAPABILITY_URL_PATHS:
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                keys.add((method, path))
    return keys


@dataclass
class Ctx:
    client: TestClient
    world: World
    sub_id: str

    def fresh_sub(self) -> str:
        r = self.client.post("/api/v1/subscriptions", json={"siteIds": [SITE]}, headers=self.world.dso.auth())
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


Request = tuple[str, Any]  # (url, JSON body or None)
Builder = Callable[[Ctx, str], Request]  # (context, caller name) -> request


def fixed(url: str, body: Any = None) -> Builder:
    return lambda ctx, who: (url, body)


def with_sub(suffix: str = "") -> Builder:
    return lambda ctx, who: (f"/api/v1/subscriptions/{ctx.sub_id}{suffix}", None)


def delete_sub(ctx: Ctx, who: str) -> Request:
    # The owner deletes a subscription of its own; everyone else tries the shared one (which must survive).
    sub = ctx.fresh_sub() if who == "own" else ctx.sub_id
    return f"/api/v1/subscriptions/{sub}", None


def fresh_client(ctx: Ctx, who: str) -> Request:
    # A new viewer client of the owner each time: the owner revokes it, nobody else can.
    r = ctx.client.post("/api/v1/clients", json={"role": "viewer"}, headers=ctx.world.dso.auth("admin"))
    assert r.status_code == 201, r.text
    return f"/api/v1/clients/{r.json()['id']}", None


def import_doc(ctx: Ctx, who: str) -> Request:
    # Another DSO re-imports its own sites (allowed, scoped to it); an MNO sending DSO sites is refused.
    if who == "other_dso":
        return "/api/v1/topology/import", dso_topology("D2", 7.82)
    return "/api/v1/topology/import", dso_topology("D1", 7.81)


def ingest(ctx: Ctx, who: str) -> Request:
    # Names the MNO's cell; from another MNO it must not touch that cell (it is unmapped there).
    return "/api/v1/ingest/notifications", alarm("notifyNewAlarm", f"AUTHZ-{who}", cell_dn(PLMN_A, 2),
                                                 severity="MINOR")


def shared_feed(suffix: str = "") -> Builder:
    """The MNO's producer feed (made once), as every caller asks for it."""
    def build(ctx: Ctx, who: str) -> Request:
        r = ctx.client.get("/api/v1/feeds", headers=ctx.world.mno.auth("viewer"))
        feeds = [f for f in r.json() if f["kind"] == "faultMns"]
        if not feeds:
            r = ctx.client.post("/api/v1/feeds", headers=ctx.world.mno.auth("admin"), json={
                "kind": "faultMns", "baseUrl": "http://127.0.0.1:9/FaultSupervisionMnS/v1"})
            assert r.status_code == 201, r.text
            feeds = [r.json()]
        return f"/api/v1/feeds/{feeds[0]['id']}{suffix}", None
    return build


def ves(batch: bool) -> Builder:
    def build(ctx: Ctx, who: str) -> Request:
        event = {"commonEventHeader": {"domain": "fault", "eventId": f"authz-{who}-{next(_fresh)}",
                                       "sourceName": RAN_SITE, "lastEpochMicrosec": 1_764_000_000_000_000},
                 "faultFields": {"alarmCondition": f"authz-{who}", "eventSeverity": "MINOR"}}
        if batch:
            return "/eventListener/v7/eventBatch", {"eventList": [event]}
        return "/eventListener/v7", {"event": event}
    return build


# ---- outages: TS 28.318 MOIs via ProvMnS, ProvMnS subscriptions, the native plan API ----------------------
ORI, TMON = "OutageAndRecoveryInfo", "DsoThresholdMonitor"
_MOI_BODY = {ORI: {"outageStartTime": "2026-11-26T10:00:00Z"},
             TMON: {"attributes": {"administrativeState": "LOCKED", "thresholdInfoList": [
                 {"performanceMetrics": ["SiteStatus.DownRatio"], "thresholdDirection": "UP", "thresholdValue": 0.5}]}}}
_MOI_PATCH = {ORI: {"expectedOutageEndTime": "2026-11-26T12:00:00Z"},
              TMON: {"attributes": {"monitorGranularityPeriod": 60}}}
_fresh = iter(range(10**6))


def _moi_url(ctx: Ctx, cls: str, moi_id: str) -> str:
    return f"/ProvMnS/v1900/SubNetwork={ctx.world.dso.id}/{cls}={moi_id}"


def _ensure_moi(ctx: Ctx, cls: str, moi_id: str = "AUTHZ") -> str:
    r = ctx.client.put(_moi_url(ctx, cls, moi_id), json=_MOI_BODY[cls], headers=ctx.world.dso.auth())
    assert r.status_code in (200, 201), r.text
    return _moi_url(ctx, cls, moi_id)


def moi_put(cls: str) -> Builder:
    return lambda ctx, who: (_moi_url(ctx, cls, f"AUTHZ-PUT-{next(_fresh)}"), _MOI_BODY[cls])


def moi_get(cls: str) -> Builder:
    return lambda ctx, who: (_ensure_moi(ctx, cls), None)


def moi_patch(cls: str) -> Builder:
    return lambda ctx, who: (_ensure_moi(ctx, cls), _MOI_PATCH[cls])


def moi_delete(cls: str) -> Builder:
    # The owner deletes one of its own; everyone else tries the shared one (which must survive).
    return lambda ctx, who: (_ensure_moi(ctx, cls, f"AUTHZ-DEL-{next(_fresh)}") if who == "own"
                             else _ensure_moi(ctx, cls), None)


NSC = "NtfSubscriptionControl"
_NSC_BODY = {"attributes": {"notificationRecipientAddress": "http://127.0.0.1:9/hook"}}


def subnetwork(suffix: str = "") -> Builder:
    return lambda ctx, who: (f"/ProvMnS/v1900/SubNetwork={ctx.world.dso.id}{suffix}", None)


def nsc_put(ctx: Ctx, who: str) -> Request:
    return _moi_url(ctx, NSC, f"AUTHZ-PUT-{next(_fresh)}"), _NSC_BODY


def nsc_own(body: Any = None, fresh: bool = False) -> Builder:
    """The DSO's own NtfSubscriptionControl (made by the DSO); another organisation asking for it finds none of its
    own under that id."""
    def build(ctx: Ctx, who: str) -> Request:
        moi_id = f"AUTHZ-DEL-{next(_fresh)}" if fresh and who == "own" else "AUTHZ"
        r = ctx.client.put(_moi_url(ctx, NSC, moi_id), json=_NSC_BODY, headers=ctx.world.dso.auth())
        assert r.status_code in (200, 201), r.text
        return _moi_url(ctx, NSC, moi_id), body
    return build


def _provmns_sub(ctx: Ctx) -> str:
    r = ctx.client.post("/ProvMnS/v1900/subscriptions", json={"consumerReference": "http://127.0.0.1:9/hook"},
                        headers=ctx.world.dso.auth())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def provmns_sub(ctx: Ctx, who: str) -> Request:
    return f"/ProvMnS/v1900/subscriptions/{_provmns_sub(ctx)}", None


_ANSWER = {"mnoMaxServiceDuration": 240, "reason": "generator on site"}


def mno_answer_delete(ctx: Ctx, who: str) -> Request:
    """Each MNO withdraws the answer it stated first (its own, never the other's)."""
    _ensure_moi(ctx, ORI)
    for mno in (ctx.world.mno, ctx.world.mno2):
        r = ctx.client.put("/api/v1/outages/AUTHZ/mno-answer", json=_ANSWER, headers=mno.auth())
        assert r.status_code == 200, r.text
    return "/api/v1/outages/AUTHZ/mno-answer", None


def outage_plan(suffix: str, body: Any = None) -> Builder:
    def build(ctx: Ctx, who: str) -> Request:
        _ensure_moi(ctx, ORI)
        return f"/api/v1/outages/AUTHZ/{suffix}", body
    return build



# ---- Fault Supervision MnS: the DSO's alarm list, its own acknowledgements and comments, subscriptions ---------
FM = "/FaultSupervisionMnS/v1"
_ACK = {"ackState": "ACKNOWLEDGED", "ackUserId": "authz"}


def _fm_alarm(ctx: Ctx) -> str:
    """An alarm in the owner's list, keyed <mnoId>:<alarmId> (cell level); the other DSO lists it under its own
    opaque key, so this one is unknown to it."""
    r = ctx.client.post("/api/v1/ingest/notifications", json=alarm("notifyNewAlarm", "AUTHZ-FM", cell_dn(PLMN_A, 0)),
                        headers=ctx.world.mno.auth())
    assert r.status_code == 200, r.text
    return f"{ctx.world.mno.id}:AUTHZ-FM"


def fm_ack(ctx: Ctx, who: str) -> Request:
    return f"{FM}/alarms/{_fm_alarm(ctx)}", _ACK


def fm_acks(ctx: Ctx, who: str) -> Request:
    return f"{FM}/alarms", {_fm_alarm(ctx): _ACK}


def fm_comment(ctx: Ctx, who: str) -> Request:
    return f"{FM}/alarms/{_fm_alarm(ctx)}/comments", {"commentText": "authz"}


def fm_sub(ctx: Ctx, who: str) -> Request:
    r = ctx.client.post(f"{FM}/subscriptions", json={"consumerReference": "http://127.0.0.1:9/hook"},
                        headers=ctx.world.dso.auth())
    assert r.status_code == 201, r.text
    return f"{FM}/subscriptions/{r.json()['id']}", None


# ---- incidents (TMF621) and problems (TMF656) -------------------------------------------------------------------
TT, SP = "/tmf-api/troubleTicket/v4", "/tmf-api/serviceProblemManagement/v4"


def _ticket_body(ctx: Ctx) -> dict[str, Any]:
    return {"description": "CPE unreachable", "severity": "Major", "ticketType": "incident",
            "relatedParty": [{"id": ctx.world.mno.id, "role": "addressee", "@referredType": "Organization"}]}


def _ticket(ctx: Ctx) -> str:
    body = {**_ticket_body(ctx), "relatedEntity": [{"id": SITE, "role": "affectedSite", "@referredType": "DsoSite"}]}
    r = ctx.client.post(f"{TT}/troubleTicket", json=body, headers=ctx.world.dso.auth())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _problem_body(ctx: Ctx, who: str) -> dict[str, Any]:
    origin = ctx.world.dso2 if who == "other_dso" else ctx.world.dso
    return {"category": "availability", "priority": 5, "description": "declining", "reason": "trend",
            "originatorParty": {"id": origin.id, "@referredType": "Organization"},
            "responsibleParty": {"id": ctx.world.mno.id, "@referredType": "Organization"}}


def _problem(ctx: Ctx) -> str:
    r = ctx.client.post(f"{SP}/serviceProblem", json=_problem_body(ctx, "own"), headers=ctx.world.dso.auth())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _event_record(ctx: Ctx, who: str) -> Request:
    _problem(ctx)
    records = ctx.client.get(f"{SP}/serviceProblemEventRecord", headers=ctx.world.dso.auth("viewer")).json()
    return f"{SP}/serviceProblemEventRecord/{records[-1]['id']}", None


def _problem_task(task: str) -> Builder:
    """A TMF656 task on fresh problems of the DSO toward world.mno (acknowledged or grouped first when the task
    takes that back)."""
    def build(ctx: Ctx, who: str) -> Request:
        mno = ctx.world.mno.auth()
        if task in ("problemAcknowledgement", "problemUnacknowledgement"):
            body: dict[str, Any] = {"problem": [{"id": _problem(ctx)}]}
            if task == "problemUnacknowledgement":
                r = ctx.client.post(f"{SP}/problemAcknowledgement", json=body, headers=mno)
                assert r.status_code == 201, r.text
            return f"{SP}/{task}", body
        body = {"parentProblem": {"id": _problem(ctx)}, "childProblem": [{"id": _problem(ctx)}]}
        if task == "problemUngroup":
            r = ctx.client.post(f"{SP}/problemGroup", json=body, headers=mno)
            assert r.status_code == 201, r.text
        return f"{SP}/{task}", body
    return build


_FEDERATION = "/api/v1/incidents/federation"


def _federation(present: bool) -> Builder:
    """The MNO's own federation exists (own caller) and the other MNO has none, whatever earlier rows did."""
    def build(ctx: Ctx, who: str) -> Request:
        if present:
            r = ctx.client.put(_FEDERATION, json={"baseUrl": "http://127.0.0.1:9/tmf-api/troubleTicket/v4"},
                               headers=ctx.world.mno.auth("admin"))
            assert r.status_code == 200, r.text
        r = ctx.client.delete(_FEDERATION, headers=ctx.world.mno2.auth("admin"))
        assert r.status_code in (204, 404), r.text
        return _FEDERATION, None
    return build


def _listener(event_type: str) -> Builder:
    name = event_type[:1].lower() + event_type[1:]
    event = {"eventId": "authz", "eventType": event_type, "event": {"troubleTicket": {"id": "not-federated"}}}
    return fixed(f"{TT}/listener/{name}", event)


def _hub(base: str) -> Builder:
    def build(ctx: Ctx, who: str) -> Request:
        if who != "own":
            return f"{base}/hub/sub_unknown", None
        r = ctx.client.post(f"{base}/hub", json={"callback": "http://127.0.0.1:9/hook"}, headers=ctx.world.dso.auth())
        assert r.status_code == 201, r.text
        return f"{base}/hub/{r.json()['id']}", None
    return build


@dataclass
class Row:
    method: str
    path: str
    owner: str  # World attribute of the organisation that owns the data
    role: str  # minimal role
    ok: int  # status for the owner at the minimal role
    other_dso: int  # the other DSO at the same role
    other_mno: int  # the other MNO at the same role
    build: Builder
    stream: bool = False


def R(method: str, path: str, owner: str, role: str, ok: int, other_dso: int, other_mno: int,
      build: Builder | None = None, *, stream: bool = False) -> Row:
    return Row(method, path, owner, role, ok, other_dso, other_mno, build or fixed(path), stream)


ROUTES: list[Row] = [
    # Any organisation, scoped to its own data.
    R("GET", "/api/v1/me", "dso", "viewer", 200, 200, 200),
    R("GET", "/api/v1/agreements", "dso", "viewer", 200, 200, 200),
    R("POST", "/api/v1/clients", "dso", "admin", 201, 201, 201, fixed("/api/v1/clients", {"role": "viewer"})),
    R("GET", "/api/v1/clients", "dso", "admin", 200, 200, 200),
    R("DELETE", "/api/v1/clients/{client_id}", "dso", "admin", 204, 404, 404, fresh_client),
    R("GET", "/api/v1/audit", "dso", "admin", 200, 200, 200),
    R("POST", "/api/v1/topology/import", "dso", "operator", 200, 200, 403, import_doc),
    R("GET", "/api/v1/sites", "dso", "viewer", 200, 200, 200),
    R("GET", "/api/v1/sites/{site_id}", "dso", "viewer", 200, 404, 404, fixed(f"/api/v1/sites/{SITE}")),
    R("GET", "/api/v1/ran-sites", "mno", "viewer", 200, 200, 200),
    R("GET", "/api/v1/ran-sites/{site_id}", "mno", "viewer", 200, 404, 404, fixed(f"/api/v1/ran-sites/{RAN_SITE}")),
    R("GET", "/api/v1/cells", "mno", "viewer", 200, 200, 200),
    # MNO only.
    R("POST", "/api/v1/ingest/notifications", "mno", "operator", 200, 403, 200, ingest),
    R("GET", "/api/v1/alarms", "mno", "viewer", 200, 403, 200),
    R("POST", "/eventListener/v7", "mno", "operator", 202, 403, 202, ves(batch=False)),
    R("POST", "/eventListener/v7/eventBatch", "mno", "operator", 202, 403, 202, ves(batch=True)),
    R("POST", "/api/v1/ingest/mdaReports", "mno", "operator", 200, 403, 200, fixed("/api/v1/ingest/mdaReports", {
        "id": "AUTHZ", "attributes": {"mDAReportID": "AUTHZ", "mDAOutputs": [{"mDAOutputList": {
            "failurePredictionObject": [cell_dn(PLMN_A, 2)], "eventTime": "2026-12-04T12:00:00Z"}}]}})),
    R("POST", "/api/v1/feeds", "mno", "admin", 201, 403, 201, fixed("/api/v1/feeds", {"kind": "push"})),
    R("GET", "/api/v1/feeds", "mno", "viewer", 200, 403, 200),
    R("GET", "/api/v1/feeds/{feed_id}", "mno", "viewer", 200, 403, 404, shared_feed()),
    R("POST", "/api/v1/feeds/{feed_id}/reconcile", "mno", "operator", 202, 403, 404, shared_feed("/reconcile")),
    R("DELETE", "/api/v1/feeds/{feed_id}", "mno", "admin", 204, 403, 404, shared_feed()),
    # DSO only.
    R("GET", "/api/v1/status", "dso", "viewer", 200, 200, 403),
    R("POST", "/api/v1/status/area", "dso", "viewer", 200, 200, 403, fixed("/api/v1/status/area", {"area": AREA})),
    R("GET", "/api/v1/status/sites/{site_id}", "dso", "viewer", 200, 404, 403,
      fixed(f"/api/v1/status/sites/{SITE}")),
    R("POST", "/api/v1/subscriptions", "dso", "operator", 201, 201, 403,
      fixed("/api/v1/subscriptions", {"siteIds": [SITE]})),
    R("GET", "/api/v1/subscriptions", "dso", "viewer", 200, 200, 403),
    R("GET", "/api/v1/subscriptions/{sub_id}", "dso", "viewer", 200, 404, 403, with_sub()),
    R("DELETE", "/api/v1/subscriptions/{sub_id}", "dso", "operator", 204, 404, 403, delete_sub),
    R("GET", "/api/v1/subscriptions/{sub_id}/deliveries", "dso", "viewer", 200, 404, 403, with_sub("/deliveries")),
    R("GET", "/api/v1/subscriptions/{sub_id}/events", "dso", "viewer", 200, 404, 403, with_sub("/events"),
      stream=True),
    R("GET", f"{FM}/alarms", "dso", "viewer", 200, 200, 403),
    R("GET", f"{FM}/alarms/alarmCount", "dso", "viewer", 200, 200, 403),
    R("PATCH", f"{FM}/alarms", "dso", "operator", 204, 404, 403, fm_acks),
    R("PATCH", f"{FM}/alarms/{{alarmId:alarm_id}}", "dso", "operator", 204, 404, 403, fm_ack),
    R("POST", f"{FM}/alarms/{{alarmId:alarm_id}}/comments", "dso", "operator", 201, 404, 403, fm_comment),
    R("POST", f"{FM}/subscriptions", "dso", "operator", 201, 201, 403,
      fixed(f"{FM}/subscriptions", {"consumerReference": "http://127.0.0.1:9/hook"})),
    R("GET", f"{FM}/subscriptions", "dso", "viewer", 200, 200, 403),
    R("GET", f"{FM}/subscriptions/{{subscriptionId}}", "dso", "viewer", 200, 404, 403, fm_sub),
    R("DELETE", f"{FM}/subscriptions/{{subscriptionId}}", "dso", "operator", 204, 404, 403, fm_sub),
    # Outages (TS 28.318): the DSO writes its SubNetwork; MNOs with an agreement read it (and write nothing).
    R("PUT", "/ProvMnS/v1900/SubNetwork={dso_id}/OutageAndRecoveryInfo={moi_id}", "dso", "operator", 201, 404, 403,
      moi_put(ORI)),
    R("GET", "/ProvMnS/v1900/SubNetwork={dso_id}/OutageAndRecoveryInfo={moi_id}", "dso", "viewer", 200, 404, 200,
      moi_get(ORI)),
    R("PATCH", "/ProvMnS/v1900/SubNetwork={dso_id}/OutageAndRecoveryInfo={moi_id}", "dso", "operator", 200, 404, 403,
      moi_patch(ORI)),
    R("DELETE", "/ProvMnS/v1900/SubNetwork={dso_id}/OutageAndRecoveryInfo={moi_id}", "dso", "operator", 200, 404, 403,
      moi_delete(ORI)),
    R("PUT", "/ProvMnS/v1900/SubNetwork={dso_id}/DsoThresholdMonitor={moi_id}", "dso", "operator", 201, 404, 403,
      moi_put(TMON)),
    R("GET", "/ProvMnS/v1900/SubNetwork={dso_id}/DsoThresholdMonitor={moi_id}", "dso", "viewer", 200, 404, 200,
      moi_get(TMON)),
    R("PATCH", "/ProvMnS/v1900/SubNetwork={dso_id}/DsoThresholdMonitor={moi_id}", "dso", "operator", 200, 404, 403,
      moi_patch(TMON)),
    R("DELETE", "/ProvMnS/v1900/SubNetwork={dso_id}/DsoThresholdMonitor={moi_id}", "dso", "operator", 200, 404, 403,
      moi_delete(TMON)),
    # The SubNetwork and its collections: read by the DSO and its agreement MNOs (each sees its own
    # NtfSubscriptionControl MOIs only).
    R("GET", "/ProvMnS/v1900/SubNetwork={dso_id}", "dso", "viewer", 200, 404, 200, subnetwork()),
    *(R("GET", f"/ProvMnS/v1900/SubNetwork={{dso_id}}/{cls}", "dso", "viewer", 200, 404, 200, subnetwork(f"/{cls}"))
      for cls in (ORI, TMON, NSC)),
    # NtfSubscriptionControl: each organisation subscribes under a SubNetwork it takes part in, and its ids are its
    # own (the agreement MNO asking for the DSO's "AUTHZ" finds none of its own).
    R("PUT", "/ProvMnS/v1900/SubNetwork={dso_id}/NtfSubscriptionControl={moi_id}", "dso", "operator", 201, 404, 201,
      nsc_put),
    R("GET", "/ProvMnS/v1900/SubNetwork={dso_id}/NtfSubscriptionControl={moi_id}", "dso", "viewer", 200, 404, 404,
      nsc_own()),
    R("PATCH", "/ProvMnS/v1900/SubNetwork={dso_id}/NtfSubscriptionControl={moi_id}", "dso", "operator", 200, 404,
      404, nsc_own({"attributes": {"notificationTypes": ["notifyMOIDeletion"]}})),
    R("DELETE", "/ProvMnS/v1900/SubNetwork={dso_id}/NtfSubscriptionControl={moi_id}", "dso", "operator", 200, 404,
      404, nsc_own(fresh=True)),
    # Deprecated: /subscriptions (every SubNetwork the caller takes part in).
    R("POST", "/ProvMnS/v1900/subscriptions", "dso", "operator", 201, 201, 201,
      fixed("/ProvMnS/v1900/subscriptions", {"consumerReference": "http://127.0.0.1:9/hook"})),
    R("GET", "/ProvMnS/v1900/subscriptions", "dso", "viewer", 200, 200, 200),
    R("GET", "/ProvMnS/v1900/subscriptions/{sub_id}", "dso", "viewer", 200, 404, 404, provmns_sub),
    R("DELETE", "/ProvMnS/v1900/subscriptions/{sub_id}", "dso", "operator", 204, 404, 404, provmns_sub),
    R("GET", "/api/v1/outages", "dso", "viewer", 200, 200, 200),
    R("GET", "/api/v1/outages/{moi_id}/plan", "dso", "viewer", 200, 404, 200, outage_plan("plan")),
    # The authorization world has no grid model: an authorised DSO is refused for naming no grid (400).
    R("POST", "/api/v1/outages/{moi_id}/switching", "dso", "operator", 400, 404, 403,
      outage_plan("switching", {"actions": [{"switch": 1, "closed": True}]})),
    R("GET", "/api/v1/outages/ran-site-power", "mno", "viewer", 200, 403, 200),
    # Each MNO states its own answer (the other MNO has an agreement with the DSO too: it answers for itself).
    R("PUT", "/api/v1/outages/{moi_id}/mno-answer", "mno", "operator", 200, 403, 200,
      outage_plan("mno-answer", _ANSWER)),
    R("DELETE", "/api/v1/outages/{moi_id}/mno-answer", "mno", "operator", 200, 403, 200, mno_answer_delete),
    # Telemetry: DSOs upload probes (another DSO's upload names CPEs unknown to it: reported, 200).
    R("POST", "/api/v1/telemetry/probes", "dso", "operator", 200, 200, 403,
      lambda ctx, who: ("/api/v1/telemetry/probes", {"cpe": "D1-CPE0", "plmn": PLMN_A, "ok": True, "rtt_ms": 20.0,
                                                     "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})),
    R("GET", "/api/v1/telemetry/availability", "dso", "viewer", 200, 200, 403),
    R("GET", "/api/v1/telemetry/recommendations", "dso", "viewer", 200, 200, 403),
    R("GET", "/api/v1/cell-health", "mno", "viewer", 200, 403, 200),
    R("POST", "/api/v1/cell-health/subscriptions", "mno", "operator", 201, 403, 201,
      fixed("/api/v1/cell-health/subscriptions", {"callbackUri": "http://127.0.0.1:9/hook"})),
    # Failover: a DSO's commands and state; acking an unknown command is 404 for everyone allowed to ack.
    R("GET", "/api/v1/failover/commands", "dso", "viewer", 200, 200, 403),
    R("GET", "/api/v1/failover/state", "dso", "viewer", 200, 200, 403),
    R("POST", "/api/v1/failover/commands/{command_id}/ack", "dso", "operator", 404, 404, 403,
      fixed("/api/v1/failover/commands/fcmd_unknown/ack", {"status": "done"})),
    R("POST", "/api/v1/failover/subscriptions", "dso", "operator", 201, 201, 403,
      fixed("/api/v1/failover/subscriptions", {"callbackUri": "http://127.0.0.1:9/hook"})),
    # Incidents (TMF621): a DSO reports to an MNO; each side sees its own tickets; MNOs create none. Here the
    # "other MNO" (world.mno) is the addressee: it reads the ticket, but the description and deletion are the DSO's.
    R("GET", f"{TT}/troubleTicket", "dso", "viewer", 200, 200, 200),
    R("POST", f"{TT}/troubleTicket", "dso", "operator", 201, 201, 403,
      lambda ctx, who: (f"{TT}/troubleTicket", _ticket_body(ctx))),
    R("GET", f"{TT}/troubleTicket/{{ticket_id}}", "dso", "viewer", 200, 404, 200,
      lambda ctx, who: (f"{TT}/troubleTicket/{_ticket(ctx)}", None)),
    R("PATCH", f"{TT}/troubleTicket/{{ticket_id}}", "dso", "operator", 200, 404, 403,
      lambda ctx, who: (f"{TT}/troubleTicket/{_ticket(ctx)}", {"description": "still down"})),
    R("DELETE", f"{TT}/troubleTicket/{{ticket_id}}", "dso", "operator", 204, 404, 403,
      lambda ctx, who: (f"{TT}/troubleTicket/{_ticket(ctx)}", None)),
    R("POST", f"{TT}/hub", "dso", "operator", 201, 201, 201, fixed(f"{TT}/hub", {"callback": "http://127.0.0.1:9/h"})),
    R("DELETE", f"{TT}/hub/{{hub_id}}", "dso", "operator", 204, 404, 404, _hub(TT)),
    R("GET", "/api/v1/incidents", "dso", "viewer", 200, 200, 200),
    # Federation with an MNO's own TMF621 system: the MNO's to configure; events from its system come to the
    # listener as its listener client (an MNO operator): an event naming no federated ticket is a 404.
    R("PUT", _FEDERATION, "mno", "admin", 200, 403, 200,
      fixed(_FEDERATION, {"baseUrl": "http://127.0.0.1:9/tmf-api/troubleTicket/v4"})),
    R("GET", _FEDERATION, "mno", "viewer", 200, 403, 404, _federation(present=True)),
    R("DELETE", _FEDERATION, "mno", "admin", 204, 403, 404, _federation(present=True)),
    *[R("POST", f"{TT}/listener/{t[:1].lower()}{t[1:]}", "mno", "operator", 404, 403, 404, _listener(t))
      for t in ("TroubleTicketCreateEvent", "TroubleTicketAttributeValueChangeEvent", "TroubleTicketStatusChangeEvent",
                "TroubleTicketDeleteEvent", "TroubleTicketResolvedEvent", "TroubleTicketInformationRequiredEvent")],
    # Problems (TMF656): the same sides; proposals are the DSO's until it sends them.
    R("GET", f"{SP}/serviceProblem", "dso", "viewer", 200, 200, 200),
    R("POST", f"{SP}/serviceProblem", "dso", "operator", 201, 201, 403,
      lambda ctx, who: (f"{SP}/serviceProblem", _problem_body(ctx, who))),
    R("GET", f"{SP}/serviceProblem/{{problem_id}}", "dso", "viewer", 200, 404, 200,
      lambda ctx, who: (f"{SP}/serviceProblem/{_problem(ctx)}", None)),
    R("PATCH", f"{SP}/serviceProblem/{{problem_id}}", "dso", "operator", 200, 404, 200,
      lambda ctx, who: (f"{SP}/serviceProblem/{_problem(ctx)}", {"note": [{"text": "worse"}]})),
    R("DELETE", f"{SP}/serviceProblem/{{problem_id}}", "dso", "operator", 204, 404, 403,
      lambda ctx, who: (f"{SP}/serviceProblem/{_problem(ctx)}", None)),
    # The task resources are the problem handler's (the responsible MNO); the other MNO does not see the problems.
    *[R("POST", f"{SP}/{task}", "mno", "operator", 201, 403, 404, _problem_task(task))
      for task in ("problemAcknowledgement", "problemUnacknowledgement", "problemGroup", "problemUngroup")],
    R("GET", f"{SP}/serviceProblemEventRecord", "dso", "viewer", 200, 200, 200),
    R("GET", f"{SP}/serviceProblemEventRecord/{{record_id}}", "dso", "viewer", 200, 404, 200, _event_record),
    R("POST", f"{SP}/hub", "dso", "operator", 201, 201, 201, fixed(f"{SP}/hub", {"callback": "http://127.0.0.1:9/h"})),
    R("DELETE", f"{SP}/hub/{{hub_id}}", "dso", "operator", 204, 404, 404, _hub(SP)),
    R("GET", "/api/v1/problems", "dso", "viewer", 200, 200, 200),
    R("POST", "/api/v1/problems/proposals/{proposal_id}/send", "dso", "operator", 404, 404, 403,
      fixed("/api/v1/problems/proposals/unknown/send")),
]


def _stream_status(client: TestClient, url: str, headers: dict[str, str]) -> tuple[int, str]:
    """Status and first line of an SSE response, without waiting for a stream that never ends."""
    out: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            with client.stream("GET", url, headers=headers) as resp:
                out["status"] = resp.status_code
                out["ctype"] = resp.headers.get("content-type", "")
                out["first"] = next(iter(resp.iter_lines()), "") if resp.status_code == 200 else resp.read().decode()
        finally:
            done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(10), f"no answer from {url}"
    return out["status"], out.get("first", "")


def _call(client: TestClient, row: Row, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    if row.stream:
        status, first = _stream_status(client, url, headers)
        return status, first
    r = client.request(row.method, url, json=body, headers=headers)
    return r.status_code, r


def _problem_errors(row: Row, r: Any, status: int) -> list[str]:
    """Problems with the error format of response r (empty when it is right)."""
    errs: list[str] = []
    ctype = r.headers.get("content-type", "")
    if row.path.startswith("/eventListener"):  # VES 7.2 `requestError`
        exceptions = r.json().get("requestError", {})
        kind = "policyException" if status in (401, 403) else "serviceException"
        if not ctype.startswith("application/json") or not exceptions.get(kind, {}).get("messageId"):
            errs.append(f"VES requestError/{kind} expected, got {ctype!r} {r.text[:200]}")
        return errs
    if row.path.startswith("/ProvMnS"):  # TS 28.623 ErrorResponseGet / -Patch / -Default: status a string
        body = r.json()
        bad = {"GET": "badQueryParams", "PATCH": "badOp"}.get(row.method)
        if not ctype.startswith("application/json") or body.get("status") != str(status) or not body.get("type") \
                or not body.get("error", {}).get("errorInfo") or (row.method == "PATCH" and bad not in body):
            errs.append(f"TS 28.532 ProvMnS error expected, got {ctype!r} {body}")
        if status == 401 and "bearer" not in r.headers.get("www-authenticate", "").lower():
            errs.append("401 without WWW-Authenticate: Bearer")
        return errs
    if row.path.startswith("/tmf-api"):  # TM Forum `Error`: {code, reason, message, status}
        body = r.json()
        if not ctype.startswith("application/json") or body.get("code") != str(status) or not body.get("reason"):
            errs.append(f"TMF Error expected, got {ctype!r} {body}")
        if status == 401 and "bearer" not in r.headers.get("www-authenticate", "").lower():
            errs.append("401 without WWW-Authenticate: Bearer")
        return errs
    if (row.method, row.path) == ("PATCH", "/FaultSupervisionMnS/v1/alarms") and r.text.startswith("["):
        failed = r.json()  # TS 28.532: a FailedAlarm per alarm of the patch that failed
        if not ctype.startswith("application/json") or not failed \
                or not all(f.get("alarmId") and f.get("failureReason") for f in failed):
            errs.append(f"TS 28.532 FailedAlarm list expected, got {ctype!r} {failed}")
        return errs
    if not ctype.startswith("application/problem+json"):
        errs.append(f"content-type {ctype!r}")
    try:
        body = r.json()
    except ValueError:
        return [*errs, f"body is not JSON: {r.text[:100]!r}"]
    if body.get("status") != status or not body.get("title"):
        errs.append(f"problem body {body}")
    if row.path.startswith(THREEGPP_PREFIXES) and not body.get("cause"):
        errs.append(f"3GPP ProblemDetails without cause: {body}")
    if status == 401 and "bearer" not in r.headers.get("www-authenticate", "").lower():
        errs.append("401 without WWW-Authenticate: Bearer")
    return errs


def test_route_table_covers_every_route(app_client: TestClient) -> None:
    app: FastAPI = app_client.app  # type: ignore[assignment]
    enumerated = app_route_keys(app)
    covered = {(r.method, r.path) for r in ROUTES}
    assert len(covered) == len(ROUTES), "duplicate rows in the route table"
    assert enumerated - covered == set(), "routes without an authorization row (add them to ROUTES)"
    assert covered - enumerated == set(), "rows for routes that no longer exist"


def test_every_route_for_every_caller(app_client: TestClient, world: World) -> None:
    client = app_client
    ctx = Ctx(client, world, "")
    ctx.sub_id = ctx.fresh_sub()
    failures: list[str] = []

    def check(row: Row, who: str, headers: dict[str, str], expected: int) -> None:
        url, body = row.build(ctx, who)
        status, r = _call(client, row, url, body, headers)
        label = f"{row.method} {row.path} as {who}"
        if status != expected:
            detail = r if row.stream else r.text[:200]
            failures.append(f"{label}: expected {expected}, got {status} {detail}")
            return
        if status >= 400 and not row.stream:
            failures.extend(f"{label}: {e}" for e in _problem_errors(row, r, status))

    for row in ROUTES:
        owner: Org = getattr(world, row.owner)
        other_dso = world.dso2 if row.owner == "dso" else world.dso
        other_mno = world.mno2 if row.owner == "mno" else world.mno
        check(row, "own", owner.auth(row.role), row.ok)
        check(row, "other_dso", other_dso.auth(row.role), row.other_dso)
        check(row, "other_mno", other_mno.auth(row.role), row.other_mno)
        check(row, "anon", {}, 401)
        check(row, "bad", {"Authorization": "Bearer not-a-real-token"}, 401)
        check(row, "basic", {"Authorization": "Basic dXNlcjpwYXNz"}, 401)
        for low in ROLES[:ROLES.index(row.role)]:
            check(row, f"{low} (needs {row.role})", owner.auth(low), 403)

    assert not failures, "\n".join(failures)
    # The cross-tenant DELETE attempts left the shared subscription in place.
    r = client.get(f"/api/v1/subscriptions/{ctx.sub_id}", headers=world.dso.auth("viewer"))
    assert r.status_code == 200, r.text


def test_no_cross_tenant_reads(app_client: TestClient, world: World) -> None:
    c = app_client
    sub = c.post("/api/v1/subscriptions", json={"siteIds": [SITE]}, headers=world.dso.auth()).json()["id"]
    for url in (f"/api/v1/subscriptions/{sub}", f"/api/v1/subscriptions/{sub}/deliveries",
                f"/api/v1/subscriptions/{sub}/events", f"/api/v1/sites/{SITE}", f"/api/v1/status/sites/{SITE}"):
        r = c.get(url, headers=world.dso2.auth("admin"))
        assert r.status_code == 404, (url, r.text)
    assert sub not in c.get("/api/v1/subscriptions", headers=world.dso2.auth("admin")).text

    sites = c.get("/api/v1/sites", headers=world.dso2.auth()).json()
    assert sites and all(s["id"].startswith("D2-") for s in sites)
    status = c.get("/api/v1/status", headers=world.dso2.auth()).json()["items"]
    assert status and all(i["siteId"].startswith("D2-") for i in status)
    area = c.post("/api/v1/status/area", json={"area": AREA}, headers=world.dso2.auth()).json()["items"]
    assert area and all(i["siteId"].startswith("D2-") for i in area)
    # Asking for the other DSO's site by id filters to nothing rather than leaking it.
    assert c.get("/api/v1/status", params={"site": SITE}, headers=world.dso2.auth()).json()["items"] == []

    ran = c.get("/api/v1/ran-sites", headers=world.mno2.auth()).json()
    assert [s["id"] for s in ran] == [f"RAN-{PLMN_B}"]
    cells = c.get("/api/v1/cells", headers=world.mno2.auth()).json()
    assert cells and all(cell["cellId"].startswith(f"{PLMN_B}-") for cell in cells)
    assert c.get(f"/api/v1/ran-sites/{RAN_SITE}", headers=world.mno2.auth()).status_code == 404

    r = c.post("/api/v1/ingest/notifications", headers=world.mno.auth(),
               json=alarm("notifyNewAlarm", "MNO1-ONLY", cell_dn(PLMN_A, 1), additionalText="mno1 private"))
    assert r.status_code == 200 and r.json()["accepted"] == 1
    own = c.get("/api/v1/alarms", headers=world.mno.auth("viewer")).json()
    assert "MNO1-ONLY" in [a["id"] for a in own]
    for unmapped in ("false", "true"):
        other = c.get("/api/v1/alarms", params={"active": "false", "unmapped": unmapped},
                      headers=world.mno2.auth("admin"))
        assert other.status_code == 200
        assert "MNO1-ONLY" not in other.text and "mno1 private" not in other.text


def test_no_cross_tenant_writes(app_client: TestClient, world: World) -> None:
    c = app_client
    sub = c.post("/api/v1/subscriptions", json={"siteIds": [SITE]}, headers=world.dso.auth()).json()["id"]
    r = c.delete(f"/api/v1/subscriptions/{sub}", headers=world.dso2.auth("admin"))
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert c.get(f"/api/v1/subscriptions/{sub}", headers=world.dso.auth("viewer")).status_code == 200
    assert sub in [s["id"] for s in c.get("/api/v1/subscriptions", headers=world.dso.auth("viewer")).json()]

    # Another MNO naming this MNO's cell does not move this MNO's status: the cell is not its own.
    r = c.post("/api/v1/ingest/notifications", headers=world.mno2.auth(),
               json=alarm("notifyNewAlarm", "FOREIGN-1", cell_dn(PLMN_A, 0)))
    assert r.status_code == 200 and r.json()["unmapped"] == 1
    status = c.get(f"/api/v1/status/sites/{SITE}", headers=world.dso.auth("viewer")).json()
    assert {s["plmn"]: s["status"] for s in status} == {PLMN_A: "ok", PLMN_B: "ok"}
    assert "FOREIGN-1" not in c.get("/api/v1/alarms", params={"active": "false"},
                                    headers=world.mno.auth("viewer")).text

    # Another DSO importing a site with the same natural id gets its own site, not ours.
    doc = dso_topology("D1", 7.9)
    doc["sites"] = doc["sites"][:1]
    doc["sites"][0]["name"] = "hijack"
    assert c.post("/api/v1/topology/import", json=doc, headers=world.dso2.auth()).status_code == 200
    mine = c.get(f"/api/v1/sites/{SITE}", headers=world.dso.auth("viewer")).json()
    assert mine["name"] != "hijack"
    # An MNO importing the other MNO's RAN site with its PLMN is refused (403, naming the field) ...
    doc_m = mno_topology(PLMN_B, 1)
    doc_m["ranSites"][0]["name"] = "hijack"
    r = c.post("/api/v1/topology/import", json=doc_m, headers=world.mno.auth())
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["loc"] for e in r.json()["errors"]] == ["ranSites/0/cells/0/plmn"]
    # ... and with a RAN site id the other MNO uses, but its own PLMN, it gets its own RAN site.
    for cell in doc_m["ranSites"][0]["cells"]:
        cell.update(plmn=PLMN_A, cellId=f"{PLMN_A}-X")
    assert c.post("/api/v1/topology/import", json=doc_m, headers=world.mno.auth()).status_code == 200
    theirs = c.get(f"/api/v1/ran-sites/RAN-{PLMN_B}", headers=world.mno2.auth("viewer")).json()
    assert theirs["name"] != "hijack"


# --- area-level exposure ---------------------------------------------------------------------------------


def _wait_delivered(client: TestClient, org: Org, sub_id: str, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        rows = client.get(f"/api/v1/subscriptions/{sub_id}/deliveries", headers=org.auth("viewer")).json()
        if rows and all(r["deliveredAt"] for r in rows):
            return len(rows)
        assert time.monotonic() < deadline, f"deliveries of {sub_id} not done: {rows}"
        time.sleep(0.05)


def _leaks(text: str) -> list[str]:
    return [m for m in LEAK_MARKERS if m in text]


def test_area_level_agreements_never_expose_cells_ran_sites_or_alarm_text(
        app_client: TestClient, world: World, receiver: Receiver) -> None:
    c = app_client
    subs = {}
    for name, org, body in (("dso2", world.dso2, {}), ("dso_b", world.dso, {"plmns": [PLMN_B]}),
                            ("dso_a", world.dso, {"plmns": [PLMN_A]})):
        r = c.post("/api/v1/subscriptions", json={"callbackUri": receiver.url, **body}, headers=org.auth())
        assert r.status_code == 201, r.text
        subs[name] = r.json()["id"]

    for mno, plmn in ((world.mno, PLMN_A), (world.mno2, PLMN_B)):
        batch = [alarm("notifyNewAlarm", f"CELL-{plmn}", cell_dn(plmn, 0), additionalText="SECRET-TEXT"),
                 alarm("notifyNewAlarm", f"PWR-{plmn}", f"SubNetwork=1,ManagedElement=gNB-{plmn}",
                       cause="COMMERCIAL_POWER_FAILURE", severity="MAJOR", additionalText="SECRET-TEXT on mains")]
        r = c.post("/api/v1/ingest/notifications", json=batch, headers=mno.auth())
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == 2

    dso2, dso = world.dso2.auth("viewer"), world.dso.auth("viewer")
    site2 = "D2-S0"
    # dso2 ↔ mno is area-level and dso2 has nothing else: every raw response must be clean.
    raw_dso2 = {
        "status": c.get("/api/v1/status", headers=dso2),
        "status/area": c.post("/api/v1/status/area", json={"area": AREA}, headers=dso2),
        "status/sites": c.get(f"/api/v1/status/sites/{site2}", headers=dso2),
        "alarms": c.get("/FaultSupervisionMnS/v1/alarms", headers=dso2),
        "alarmCount": c.get("/FaultSupervisionMnS/v1/alarms/alarmCount", headers=dso2),
    }
    for name, r in raw_dso2.items():
        assert r.status_code == 200, (name, r.text)
        assert _leaks(r.text) == [], (name, r.text)
    # ...and it does see that something is wrong (the view is redacted, not empty).
    assert {i["status"] for i in raw_dso2["status"].json()["items"]} - {"ok"}
    assert raw_dso2["alarms"].json(), "dso2 should see its (redacted) alarms"
    assert sum(raw_dso2["alarmCount"].json().values()) > 0
    assert {i["exposureLevel"] for i in raw_dso2["status"].json()["items"]} == {"area"}

    # dso ↔ mno2 (PLMN B) is area-level, dso ↔ mno (PLMN A) cell-level.
    b_only = {
        "status": c.get("/api/v1/status", params={"plmn": PLMN_B}, headers=dso),
        "status/area": c.post("/api/v1/status/area", json={"area": AREA, "plmn": [PLMN_B]}, headers=dso),
    }
    for name, r in b_only.items():
        assert r.status_code == 200, (name, r.text)
        assert r.json()["items"], name
        assert _leaks(r.text) == [], (name, r.text)
    site_items = c.get(f"/api/v1/status/sites/{SITE}", headers=dso).json()
    b_items = [i for i in site_items if i["plmn"] == PLMN_B]
    assert b_items and _leaks(json.dumps(b_items)) == []
    fm = c.get("/FaultSupervisionMnS/v1/alarms", headers=dso).json()
    b_alarms = {k: v for k, v in fm.items() if v["mnoId"] == world.mno2.id}
    assert b_alarms and _leaks(json.dumps(b_alarms)) == [], b_alarms
    # TS 28.532's mandatory attributes, derived from the category and the DSO's own sites (no alarm text, cells).
    assert all(set(v) <= {"objectInstance", "notificationId", "alarmType", "probableCause", "perceivedSeverity",
                          "category", "alarmRaisedTime", "alarmClearedTime", "ackState", "affectedSites", "mnoId"}
               and v["objectInstance"].startswith(f"SubNetwork={world.dso.id},DsoSite=") for v in b_alarms.values())

    # The control: the cell-level view of PLMN A does show what the area view hides.
    cell_view = [c.get("/api/v1/status", params={"plmn": PLMN_A}, headers=dso).text,
                 json.dumps({k: v for k, v in fm.items() if v["mnoId"] == world.mno.id})]
    for marker in LEAK_MARKERS:
        if marker == f"{PLMN_B}-C":
            continue
        assert any(marker in t for t in cell_view), f"cell-level view lacks {marker}: the check would prove nothing"

    # Webhook payloads follow the same rule.
    counts = {name: _wait_delivered(c, world.dso2 if name == "dso2" else world.dso, sid)
              for name, sid in subs.items()}
    assert all(counts.values()), counts
    by_sub: dict[str, list[bytes]] = {}
    for r in receiver.received:
        by_sub.setdefault(r["body"]["subscriptionId"], []).append(r["raw"])
    for name in ("dso2", "dso_b"):
        raws = by_sub.get(subs[name], [])
        assert len(raws) == counts[name], name
        for raw in raws:
            assert _leaks(raw.decode()) == [], (name, raw)
    assert any(_leaks(raw.decode()) for raw in by_sub[subs["dso_a"]]), "cell-level webhook shows no detail"

    # The SSE stream replays the same payloads.
    events = _sse_events(c, subs["dso2"], world.dso2, counts["dso2"])
    assert len(events) == counts["dso2"]
    for e in events:
        assert _leaks(e) == [], e


def _sse_events(client: TestClient, sub_id: str, org: Org, n: int) -> list[str]:
    data: list[str] = []
    done = threading.Event()

    def run() -> None:
        with client.stream("GET", f"/api/v1/subscriptions/{sub_id}/events",
                           headers={**org.auth("viewer"), "Last-Event-ID": "0"}) as resp:
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    data.append(line)
                    if len(data) >= n:
                        done.set()
                        return

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(10), f"SSE gave {len(data)} of {n} events"
    return data


def test_cross_organisation_reads_are_audited(app_client: TestClient, world: World) -> None:
    c = app_client
    assert c.get("/api/v1/status", headers=world.dso.auth("viewer")).status_code == 200
    assert c.get("/api/v1/status", headers=world.dso2.auth("viewer")).status_code == 200
    assert c.get("/FaultSupervisionMnS/v1/alarms", headers=world.dso.auth("viewer")).status_code == 200

    dso_view = c.get("/api/v1/audit", headers=world.dso.auth("admin"))
    assert dso_view.status_code == 200, dso_view.text
    reads = [e for e in dso_view.json() if e["action"] == "read site status" and e["orgId"] == world.dso.id]
    assert reads and world.mno.id in reads[0]["counterparts"]
    assert any(e["action"] == "read alarm list" for e in dso_view.json())
    # A DSO sees only entries of its own clients or about its own data.
    assert all(e["orgId"] == world.dso.id or world.dso.id in e["counterparts"] for e in dso_view.json())

    mno_view = c.get("/api/v1/audit", headers=world.mno.auth("admin")).json()
    seen_by_mno = {(e["orgId"], e["action"]) for e in mno_view}
    assert (world.dso.id, "read site status") in seen_by_mno
    assert (world.dso2.id, "read site status") in seen_by_mno

    # mno2 has no agreement with dso2: dso2's reads are none of its business.
    mno2_view = c.get("/api/v1/audit", headers=world.mno2.auth("admin")).json()
    assert all(world.mno2.id in e["counterparts"] or e["orgId"] == world.mno2.id for e in mno2_view)
    assert world.dso2.id not in {e["orgId"] for e in mno2_view}
    # dso2 cannot read dso's audit trail.
    dso2_view = c.get("/api/v1/audit", headers=world.dso2.auth("admin")).json()
    assert world.dso.id not in {e["orgId"] for e in dso2_view}
    # Below admin, the audit log is closed.
    assert c.get("/api/v1/audit", headers=world.dso.auth("operator")).status_code == 403
