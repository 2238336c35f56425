"""Turning the dashboard's data into HTML: the Jinja2 environment (autoescaped), the filters that make values read
as an operator expects (times in UTC without microseconds, advice as sentences, evidence as facts), and the
responses with the pages' security headers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gridcell.web import views

HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?")
ACTION_LABEL = {"prepare": "Prepare failover", "switch": "Switch", "switch_back": "Switch back",
                "stay": "Stand down"}
WHY_LABEL = {"status_down": "down", "status_maintenance": "maintenance", "status_degraded": "degraded",
             "status_at_risk": "at risk", "planned_maintenance_imminent": "planned work imminent",
             "planned_maintenance_ahead": "planned work ahead", "power_time_to_dark": "battery running out",
             "failure_predicted": "failure predicted", "probes_failing": "own probes failing",
             "probe_latency_change": "latency up", "probe_loss_change": "loss up"}


def dt(value: Any) -> str:
    t = views.ts(value)
    return "—" if t is None else t.strftime("%d %b %H:%M UTC")


def hm(value: Any) -> str:
    t = views.ts(value)
    return "—" if t is None else t.strftime("%H:%M")


def times_in(text: Any) -> str:
    """ISO instants inside free text (summaries, reasons) as `dd Mon HH:MM UTC`."""
    return _ISO.sub(lambda m: dt(m.group(0)), str(text or ""))


def advice(reason: Any) -> str:
    """A failover command's reason as a sentence: the health of each PLMN and why."""
    if not isinstance(reason, dict):
        return str(reason or "")
    parts = []
    for plmn, v in sorted((reason.get("plmns") or {}).items()):
        why = ", ".join(WHY_LABEL.get(str(w), str(w).replace("_", " ")) for w in (v or {}).get("why") or [])
        parts.append(f"{plmn} {(v or {}).get('health', '?')}" + (f" ({why})" if why else ""))
    if reason.get("maintenanceStart"):
        parts.append(f"maintenance from {hm(reason['maintenanceStart'])}")
    if reason.get("back"):
        parts.append(f"back: {reason['back']}")
    return " · ".join(parts) or str(reason.get("primaryHealth") or "")


def command_text(c: dict[str, Any]) -> str:
    """What a failover command asks of the CPE, in words (a `stay` ends a preparation: nothing switches)."""
    action, src, dst = c.get("action"), c.get("fromPlmn"), c.get("toPlmn")
    if action == "stay":
        return f"stay on {dst}" if src == dst else f"stay on {dst} (was preparing {src})"
    if action == "prepare":
        return f"on {src}, ready to move to {dst}"
    return f"{src} → {dst}"


def cell_evidence(ev: Any) -> str:
    """Outside-in cell-health evidence as an engineer reads it (no raw keys, no None)."""
    if not isinstance(ev, dict):
        return ""
    parts = []
    if ev.get("cpeCount") is not None:
        parts.append(f"{ev.get('affectedCpes', 0)} of {ev['cpeCount']} CPEs affected"
                     + (f" ({ev.get('droppingCpes', 0)} dropping, {ev.get('degradedCpes', 0)} slow)"
                        if ev.get("affectedCpes") else ""))
    if ev.get("probes"):
        ratio = ev.get("failureRatio")
        parts.append(f"{ev.get('failures', 0)} of {ev['probes']} probes failed"
                     + (f" ({ratio * 100:.0f} %)" if isinstance(ratio, int | float) else ""))
    if isinstance(ev.get("p50RttMs"), int | float):
        parts.append(f"median RTT {ev['p50RttMs']:.0f} ms")
    if ev.get("dsoCount"):
        parts.append(f"seen by {ev['dsoCount']} DSO{'s' if ev['dsoCount'] != 1 else ''}")
    window = re.fullmatch(r"PT(\d+)M", str(ev.get("window") or ""))
    if window:
        parts.append(f"over {window.group(1)} min")
    if ev.get("clearedBecause"):
        parts.append("cleared: " + ("an MNO alarm explains it" if ev["clearedBecause"] == "mno_condition"
                                    else "the probes recovered"))
    return "; ".join(parts)


def minutes(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    m = int(value)
    return f"{m} min" if m < 120 else f"{m // 60} h {m % 60:02d} min"


def pct(value: Any, digits: int = 2) -> str:
    return "—" if not isinstance(value, int | float) else f"{value * 100:.{digits}f} %"


env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
env.filters.update(dt=dt, hm=hm, advice=advice, times_in=times_in, command_text=command_text,
                   cell_evidence=cell_evidence, minutes=minutes, pct=pct)
env.globals.update(statuses=views.STATUSES, status_label=views.STATUS_LABEL, category_label=views.CATEGORY_LABEL,
                   cause_label=views.CAUSE_LABEL, action_label=ACTION_LABEL)


NAV = {
    "dso": [("/web/dso", "Overview"), ("/web/sites", "Sites"), ("/web/alerts", "Alerts"), ("/web/commands", "Failover"),
            ("/web/tickets", "Incidents"), ("/web/outages", "Outages"), ("/web/subscriptions", "Subscriptions")],
    "mno": [("/web/mno", "Overview"), ("/web/map", "Map"), ("/web/ran-sites", "RAN sites"), ("/web/tickets", "Tickets"),
            ("/web/outages", "Outages"),
            ("/web/subscriptions", "Subscriptions")],
}


def nav_links(web: Any) -> list[tuple[str, str]]:
    """The console's sections for this organisation kind (administration for admins only)."""
    links = list(NAV.get(web.caller.org_kind, []))
    if web.caller.role == "admin":
        links.append(("/web/admin", "Administration"))
    return links


env.globals["nav_links"] = nav_links


def fragment(template: str, **ctx: Any) -> str:
    return env.get_template(template).render(**ctx)


def page(template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(fragment(template, **ctx), status_code=status_code, headers=SECURITY_HEADERS)
