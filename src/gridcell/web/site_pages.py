"""Sites in the console: the DSO's site list and one site's page (status timeline, reasons, availability and latency
charts, commands, incidents, outages); the MNO's RAN site list, one RAN site's page and its map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gridcell.core.clock import utcnow
from gridcell.core.errors import DomainError
from gridcell.web import drilldown, guard
from gridcell.web.auth import WebCaller
from gridcell.web.guard import show
from gridcell.web.listing import listing

router = APIRouter(tags=["dashboard"], include_in_schema=False)
RANK = {"unknown": -1, "ok": 0, "degraded": 1, "at_risk": 2, "maintenance": 3, "down": 4}


@router.get("/web/sites")
def site_list(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    try:
        with guard.db(request).write() as session:  # the status read is audited
            rows = drilldown.dso_sites(session, web.caller)
    except DomainError as exc:
        return guard.refused(request, web, exc)
    plmns = sorted({p for r in rows for p in r["status"]})
    filters: dict[str, Callable[[dict[str, Any]], str]] = {
        "worst": lambda r: r["worst"], "reachable": lambda r: r["reachable"], "kind": lambda r: r["kind"],
        "criticality": lambda r: r["criticality"]}
    for plmn in plmns:
        filters[f"plmn{plmn}"] = _status_on(plmn)
    page = listing(rows, request.query_params, "/web/sites",
                   text=lambda r: f"{r['id']} {r['name']} {r['kind']}", filters=filters,
                   sorts={"id": lambda r: r["id"], "customers": lambda r: r["customers"],
                          "worst": lambda r: RANK.get(r["worst"], -1), "name": lambda r: r["name"]},
                   default_sort="worst", default_desc=True)
    return show(request, "sites.html", web, p=page, plmns=plmns)


def _status_on(plmn: str) -> Callable[[dict[str, Any]], str]:
    return lambda r: str(r["status"].get(plmn, ""))


@router.get("/web/sites/{site_id}")
def site_page(request: Request, site_id: str) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    try:
        with guard.db(request).write() as session:
            v = drilldown.dso_site(session, web.caller, site_id, utcnow())
    except DomainError as exc:
        return guard.refused(request, web, exc)
    return show(request, "site.html", web, v=v)


@router.get("/web/ran-sites")
def ran_site_list(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    try:
        with guard.db(request).read() as session:
            rows = drilldown.mno_ran_sites(session, web.caller, utcnow())
    except DomainError as exc:
        return guard.refused(request, web, exc)
    page = listing(rows, request.query_params, "/web/ran-sites", text=lambda r: f"{r['id']} {r['name']}",
                   filters={"power": lambda r: r["power"]},
                   sorts={"id": lambda r: r["id"], "autonomy": lambda r: r["autonomyH"],
                          "dark": lambda r: r["darkAt"], "cells": lambda r: r["cells"]},
                   default_sort="id")
    return show(request, "ran_sites.html", web, p=page)


@router.get("/web/ran-sites/{ran_site_id}")
def ran_site_page(request: Request, ran_site_id: str) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    try:
        with guard.db(request).write() as session:  # plan reads are audited
            v = drilldown.mno_ran_site(session, web.caller, ran_site_id, utcnow())
    except DomainError as exc:
        return guard.refused(request, web, exc)
    return show(request, "ran_site.html", web, v=v)


@router.get("/web/map")
def mno_map(request: Request) -> Response:
    web = guard.login_or_redirect(request)
    if isinstance(web, Response):
        return web
    if web.caller.org_kind != "mno":
        return redirect_home(web)
    with guard.db(request).write() as session:
        layers = drilldown.mno_map(session, web.caller, utcnow())
    return show(request, "mno_map.html", web, layers=layers)


def redirect_home(web: WebCaller) -> Response:
    return guard.redirect(guard.home(web))
