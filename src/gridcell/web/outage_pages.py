"""Energy outages in the console. The DSO declares one (feeder or line from its grid model, or an area drawn on
the map), moves its expected end and rapid-intervention window, records switching and closes it; the MNO states
its own answer and confirms generator dispatch. Both see the plan (timeline, generators, restoration order)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from gridcell.core.clock import utcnow
from gridcell.core.errors import DomainError, InvalidInput
from gridcell.outages import service as outages
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology
from gridcell.web import actions, grid_choices, guard, views
from gridcell.web.auth import WebCaller
from gridcell.web.forms import Form
from gridcell.web.guard import show
from gridcell.web.listing import listing

router = APIRouter(tags=["dashboard"], include_in_schema=False)
MAX_CORNERS = 200


@router.get("/web/outages")
def outage_list(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    with guard.db(request).read() as session:
        rows = outages.list_outages(session, web.caller)
        names = {d: tenancy.get_org(session, d).name for d in {r["dsoId"] for r in rows}}
    for r in rows:
        r["dsoName"] = names.get(r["dsoId"], r["dsoId"])
    page = listing(rows, request.query_params, "/web/outages",
                   text=lambda r: f"{r['id']} {r['dsoName']} {r['status']}",
                   filters={"status": lambda r: r["status"]},
                   sorts={"start": lambda r: r["outageStartTime"] or "", "etr": lambda r: r["expectedOutageEndTime"],
                          "id": lambda r: r["id"]},
                   default_sort="start", default_desc=True)
    return show(request, "outages.html", web, p=page)


def _map_data(session: Session, web: WebCaller, plan: dict[str, Any] | None) -> dict[str, Any]:
    """Layers for the outage map: the DSO's grid (de-energized lines marked) and its sites by power state, and the
    RAN sites of the plan the caller may see (an MNO its own; a DSO those of cell-level agreements)."""
    out: dict[str, Any] = {"lines": [], "sites": [], "ranSites": []}
    dead = set((plan or {}).get("deEnergizedBuses") or []) - set((plan or {}).get("restoredBuses") or [])
    if web.caller.org_kind == "dso":
        out["lines"] = [{"c": ln["coordinates"], "on": ln["inService"], "dead": all(b in dead for b in ln["buses"])}
                        for ln in outages.grid_map(session, web.caller)]
        lost = {s["siteId"]: s for s in (plan or {}).get("dsoSites") or []}
        out["sites"] = [{"id": s.site_id, "name": s.name, "lat": s.lat, "lon": s.lon,
                         "state": "dark" if (lost.get(s.site_id) or {}).get("allPlmnsLostAt")
                         else ("battery" if s.site_id in lost else "mains")}
                        for s in topology.sites_of_org(session, web.caller.org_id)]
    rows = (plan or {}).get("ranSites") or []
    where = {(r.org_id, r.site_id): r for r in topology.ran_sites_of_orgs(session, {r["mnoId"] for r in rows})}
    for r in rows:
        ref = where.get((r["mnoId"], r["ranSiteId"]))
        if ref is not None:
            out["ranSites"].append({"id": r["ranSiteId"], "lat": ref.lat, "lon": ref.lon, "state": r.get("state"),
                                    "darkAt": r.get("darkAt")})
    return out


@router.get("/web/outages/new")
def new_outage(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    if web.caller.org_kind != "dso":
        return show(request, "forbidden.html", web, 403, message="Energy outages are declared by the DSO.")
    now = utcnow()
    with guard.db(request).read() as session:
        choices = grid_choices.lines(session, web.caller.org_id)
        suggested = actions.new_outage_id(session, web.caller, now)
        layers = _map_data(session, web, None)
    return show(request, "outage_new.html", web, lines=choices, suggested=suggested, now=now,
                layers=layers, defaults={"start": now, "end": now + timedelta(hours=2),
                                                     "rapid": now + timedelta(minutes=30)})


def _corners(form: Form, name: str) -> list[tuple[float, float]] | None:
    raw = (form.data.get(name) or "").strip()
    if not raw:
        return None
    try:
        points = json.loads(raw)
        corners = [(float(p[0]), float(p[1])) for p in points]
    except (ValueError, TypeError, IndexError, KeyError):
        form.errors.append({"loc": name, "msg": "the drawn area could not be read; draw it again"})
        return None
    if not 3 <= len(corners) <= MAX_CORNERS or not all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in corners):
        form.errors.append({"loc": name, "msg": f"an area needs 3 to {MAX_CORNERS} corners on the map"})
        return None
    return corners


@router.post("/web/outages")
async def declare(request: Request) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> tuple[str, str]:
        moi_id = form.text("moi_id", max_len=100)
        start = form.instant("start")
        end = form.instant("end", required=False)
        rapid = form.instant("rapid_time", required=False)
        rapid_min = form.integer("rapid_minutes", lo=0, hi=10_080, required=False)
        offered = [c.value for c in grid_choices.lines(session, web.caller.org_id)]
        elements = form.choices("elements", offered)
        area = _corners(form, "area")
        form.check("outage")
        assert moi_id is not None and start is not None
        if end is not None and end <= start:
            raise InvalidInput("the expected end must be after the start", errors=[{"loc": "end", "msg": "too early"}])
        actions.declare_outage(session, web.caller, moi_id, start=start, expected_end=end, rapid_time=rapid,
                               rapid_minutes=rapid_min, elements=elements, area=area, priority=form.flag("priority"))
        return f"Outage {moi_id} declared: the plan went to the MNOs.", f"/web/outages/{web.caller.org_id}/{moi_id}"

    return await guard.post(request, run, default_back="/web/outages/new")


def _recorded_switching(session: Session, web: WebCaller, moi_id: str) -> list[dict[str, Any]]:
    if web.caller.org_kind != "dso":
        return []
    return [e.detail or {} for e in tenancy.audit_entries(session, web.caller.org_id, 200)
            if e.action == "record switching" and (e.detail or {}).get("outage") == moi_id]


@router.get("/web/outages/{dso_id}/{moi_id}")
def outage_page(request: Request, dso_id: str, moi_id: str) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    now = utcnow()
    try:
        with guard.db(request).write() as session:  # an MNO's read is audited
            plan = outages.plan_for(session, web.caller, dso_id, moi_id)
            listed = next((o for o in outages.list_outages(session, web.caller)
                           if o["id"] == moi_id and o["dsoId"] == dso_id), {})
            moi = _attributes(listed.get("moi") or {})
            dso_name = tenancy.get_org(session, dso_id).name
            mno_names = {m: tenancy.get_org(session, m).name for m in outages.agreement_mnos(session, dso_id)} \
                if web.caller.org_kind == "dso" else {}
            switches = grid_choices.switches(session, dso_id) if web.caller.org_kind == "dso" else []
            layers = _map_data(session, web, plan)
            recorded = _recorded_switching(session, web, moi_id)
    except DomainError as exc:
        return guard.refused(request, web, exc)
    timeline = (views.dso_timeline(plan, now) if web.caller.org_kind == "dso" and plan.get("dsoSites") is not None
                else views.mno_timeline(plan, now) if plan.get("ranSites") is not None else None)
    declared = ((plan.get("answer") or {}).get("declared") or {}) if web.caller.org_kind == "mno" else {}
    return show(request, "outage.html", web, p=plan, moi=moi, dso_id=dso_id, moi_id=moi_id, dso_name=dso_name,
                mno_names=mno_names, timeline=timeline, switches=switches, declared=declared, now=now,
                layers=layers, recorded=recorded,
                closed=plan.get("status") == "closed" or bool(moi.get("actualOutageEndTime")))


def _attributes(moi: dict[str, Any]) -> dict[str, Any]:
    """The MOI's attributes whether the resource carries them flat or under `attributes`."""
    nested = moi.get("attributes")
    return {**moi, **nested} if isinstance(nested, dict) else dict(moi)


def _back(dso_id: str, moi_id: str) -> str:
    return f"/web/outages/{dso_id}/{moi_id}"


def _own(web: WebCaller, dso_id: str) -> None:
    if web.caller.org_kind == "dso" and web.caller.org_id != dso_id:
        raise InvalidInput("this outage is another DSO's")


@router.post("/web/outages/{dso_id}/{moi_id}/times")
async def set_times(request: Request, dso_id: str, moi_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        _own(web, dso_id)
        end = form.instant("end", required=False)
        rapid = form.instant("rapid_time", required=False)
        rapid_min = form.integer("rapid_minutes", lo=0, hi=10_080, required=False)
        if (rapid is None) != (rapid_min is None):
            form.errors.append({"loc": "rapid_minutes", "msg": "give both the window's start and its length"})
        form.check("times")
        actions.set_outage_times(session, web.caller, moi_id, expected_end=end, rapid_time=rapid,
                                 rapid_minutes=rapid_min)
        return "Expected end and rapid-intervention window updated; the MNOs have the new plan."

    return await guard.post(request, run, default_back=_back(dso_id, moi_id))


@router.post("/web/outages/{dso_id}/{moi_id}/switching")
async def switching(request: Request, dso_id: str, moi_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        _own(web, dso_id)
        offered = {f"{s.grid}:{s.switch}": s for s in grid_choices.switches(session, web.caller.org_id)}
        key = form.choice("switch", offered)
        position = form.choice("position", ("open", "closed"))
        at = form.instant("at", required=False)
        form.check("switching")
        assert key is not None
        actions.record_switching(session, web.caller, moi_id, offered[key].switch, position == "closed", at)
        return f"Switching recorded: {offered[key].label} {position}."

    return await guard.post(request, run, default_back=_back(dso_id, moi_id))


@router.post("/web/outages/{dso_id}/{moi_id}/close")
async def close(request: Request, dso_id: str, moi_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        _own(web, dso_id)
        ended = form.instant("ended", required=False) or utcnow()
        form.check("closing")
        actions.close_outage(session, web.caller, moi_id, ended)
        return f"Outage {moi_id} closed: power restored."

    return await guard.post(request, run, default_back=_back(dso_id, moi_id))


@router.post("/web/outages/{dso_id}/{moi_id}/answer")
async def answer(request: Request, dso_id: str, moi_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        max_service = form.integer("max_service", lo=0, hi=10_000_000, required=False)
        intervention = form.instant("intervention_time", required=False)
        duration = form.integer("intervention_minutes", lo=0, hi=10_000_000, required=False)
        reason = form.text("reason", max_len=500)
        form.check("answer")
        assert reason is not None
        actions.answer_outage(session, web.caller, dso_id, moi_id, max_service_min=max_service,
                              intervention_time=intervention, intervention_min=duration, reason=reason)
        return "Your answer is with the DSO."

    return await guard.post(request, run, default_back=_back(dso_id, moi_id))


@router.post("/web/outages/{dso_id}/{moi_id}/answer/withdraw")
async def withdraw(request: Request, dso_id: str, moi_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        actions.withdraw_outage_answer(session, web.caller, dso_id, moi_id)
        return "Answer withdrawn: the DSO sees what gridcell computes from your battery data."

    return await guard.post(request, run, default_back=_back(dso_id, moi_id))


@router.post("/web/outages/{dso_id}/{moi_id}/generators")
async def generator(request: Request, dso_id: str, moi_id: str) -> Response:
    def run(session: Session, web: WebCaller, form: Form) -> str:
        ran_site = form.text("ran_site", max_len=100)
        eta = form.instant("eta")
        form.check("generator dispatch")
        assert ran_site is not None and eta is not None
        actions.confirm_generator(session, web.caller, dso_id, moi_id, ran_site, eta)
        return f"Generator dispatch to {ran_site} confirmed to the DSO."

    return await guard.post(request, run, default_back=_back(dso_id, moi_id))
