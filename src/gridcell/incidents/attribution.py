"""Automatic attribution of an incident (seed 6.2.2, steps 4–6, branches 5a/5b): MNO network, energy outage,
DSO equipment, or unknown — with a confidence, the evidence (event ids and times) and the MNO's ETR.

What is correlated, for the ticket's DSO sites and the window [incident start − 30 min, now]:
- the addressee MNO's conditions on the cells serving those sites (alarms, configuration, maintenance windows,
  threshold crossings; cleared ones included) — gridcell.faults;
- the power state of the RAN sites behind those cells and the DSO's own energy outages covering the sites —
  gridcell.outages;
- the DSO's probes from the sites' CPEs and from the other CPEs on the same cells — gridcell.telemetry.

Rules (the highest score wins; ties: energy outage, then MNO network, then DSO equipment):
- energy outage covering a site: energy_outage 0.9; a serving RAN site dark from a DSO outage: 0.85;
  a serving RAN site dark (mains lost, no DSO outage known): energy_outage 0.75;
- an outage alarm or a locked cell on a serving cell in the window: mno_network 0.9 (ETR: the alarm's);
  planned maintenance: 0.85; a degradation (alarm, threshold): 0.6;
- other CPEs on the serving cell fail too, no alarm: mno_network 0.65 (a silent cell);
- the site's own USIMs fail while the serving cells carry no condition and the other CPEs on them are fine:
  dso_equipment 0.8 (0.9 when the site fails on every PLMN it has, i.e. the CPE rather than one radio path);
- nothing of the above: unknown 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from gridcell.core.clock import isoformat
from gridcell.faults import service as faults
from gridcell.outages import service as outages
from gridcell.telemetry import service as telemetry
from gridcell.tenancy import service as tenancy
from gridcell.topology import service as topology

CAUSES = ("mno_network", "energy_outage", "dso_equipment", "unknown")
_TIE_ORDER = {"energy_outage": 0, "mno_network": 1, "dso_equipment": 2, "unknown": 3}
PRE_WINDOW = timedelta(minutes=30)
MIN_FAILURES = 3  # a USIM "fails" in the window: at least this many failed probes and half its probes failed
# Evidence members an area-level agreement shows the DSO (no cell, RAN site, alarm id or text).
AREA_KEYS = frozenset({"kind", "source", "start", "end", "etr", "siteId", "plmn", "category", "cpesProbing",
                       "cpesFailing", "state"})


@dataclass
class _Scores:
    best: dict[str, float] = field(default_factory=dict)
    etr: list[datetime] = field(default_factory=list)

    def add(self, cause: str, score: float) -> None:
        self.best[cause] = max(self.best.get(cause, 0.0), score)

    def winner(self) -> tuple[str, float]:
        if not self.best:
            return "unknown", 0.0
        cause = sorted(self.best.items(), key=lambda kv: (-kv[1], _TIE_ORDER[kv[0]]))[0][0]
        return cause, self.best[cause]


def window(incident_start: datetime, now: datetime) -> tuple[datetime, datetime]:
    return incident_start - PRE_WINDOW, max(now, incident_start)


def _failing(p: telemetry.ProbeEvidence) -> bool:
    return p.failures >= MIN_FAILURES and p.failures * 2 >= p.probes


def _condition_item(cond: faults.ActiveCondition, cleared: datetime | None, cell: topology.CellRef) -> dict[str, Any]:
    d = cond.details or {}
    category = {"maintenance": "planned_maintenance", "threshold": "degradation"}.get(cond.kind)
    if category is None:
        category = {"outage": "network_outage", "degradation": "degradation", "power": "power_supply"}.get(
            cond.impact, cond.impact)
    return {"kind": cond.kind, "source": "mno", "mnoId": cond.org_id, "id": cond.key,
            "start": isoformat(cond.starts_at),
            "end": isoformat(cleared if cleared is not None else (cond.ends_at if cond.kind == "maintenance"
                                                                  else None)),
            "etr": isoformat(cond.ends_at), "category": category, "cellId": cell.cell_id,
            "ranSiteId": cell.ran_site_id, "plmn": cell.plmn,
            "probableCause": d.get("probableCause"), "perceivedSeverity": d.get("perceivedSeverity")}


def attribute(session: Session, dso_id: str, mno_id: str, site_pks: Iterable[int], incident_start: datetime,
              now: datetime) -> dict[str, Any]:
    """The attribution of an incident at these DSO sites, as the MNO sees it (see `redact` for the DSO)."""
    t0, t1 = window(incident_start, now)
    sites = sorted(set(site_pks))
    scores = _Scores()
    evidence: list[dict[str, Any]] = []
    refs = topology.site_refs(session, sites)
    plmns = sorted({p for a in tenancy.agreements_for(session, dso_id) if a.dso_id == dso_id and a.mno_id == mno_id
                    for p in a.plmns})
    serving = topology.serving_cells_for_pairs(session, {(s, p) for s in sites for p in plmns})
    cells = {c.pk: c for cs in serving.values() for c in cs if c.org_id == mno_id}
    cell_sites: dict[int, set[int]] = {}
    for (site_pk, _plmn), cs in serving.items():
        for c in cs:
            cell_sites.setdefault(c.pk, set()).add(site_pk)

    # 1. The DSO's own energy outages covering the sites.
    for o in outages.energy_outages_for_sites(session, dso_id, sites, t0, t1):
        scores.add("energy_outage", 0.9)
        evidence.append({"kind": "energyOutage", "source": "dso", "id": o.id, "start": isoformat(o.start),
                         "end": isoformat(o.actual_end), "etr": isoformat(o.expected_end),
                         "siteId": sorted(refs[s].site_id for s in o.site_pks if s in refs)[0]
                         if o.site_pks else None})

    # 2. The MNO's conditions on the serving cells.
    conditioned: set[int] = set()
    for cell_pk, items in faults.conditions_in_window(session, cells, t0, t1).items():
        cell = cells[cell_pk]
        for cond, cleared in items:
            item = _condition_item(cond, cleared, cell)
            cause = str((cond.details or {}).get("probableCause", "")).upper()
            if cond.impact == "power" or cause in faults.DARK_CAUSES:
                evidence.append({**item, "kind": "powerAlarm"})
                continue  # the RAN site's power is judged below, from its power state
            conditioned.add(cell_pk)
            evidence.append(item)
            if cond.impact == "outage" and cond.kind == "maintenance":
                scores.add("mno_network", 0.85)
            elif cond.impact == "outage":
                scores.add("mno_network", 0.9)
            else:
                scores.add("mno_network", 0.6)
            if cond.ends_at is not None and cond.impact == "outage" and cleared is None:
                scores.etr.append(cond.ends_at)

    # 3. Power of the RAN sites behind the serving cells (now).
    ran_pks = sorted({c.ran_site_pk for c in cells.values()})
    ran_ids = {c.ran_site_pk: c.ran_site_id for c in cells.values()}
    for pk, power in outages.ran_site_power(session, ran_pks, now).items():
        if power.state == "mains":
            continue
        from_dso = any(s.startswith("outage:") for s in power.sources)
        if power.state == "dark":
            scores.add("energy_outage", 0.85 if from_dso else 0.75)
        evidence.append({"kind": "ranSitePower", "source": "mno", "id": f"power:{ran_ids[pk]}",
                         "start": isoformat(power.since), "end": None, "etr": None, "state": power.state,
                         "ranSiteId": ran_ids[pk], "darkAt": isoformat(power.dark_at),
                         "category": "power_supply", "sources": list(power.sources)})

    # 4. The DSO's probes: the sites' own CPEs, and the other CPEs on the same cells.
    own = telemetry.probe_evidence(session, dso_id, sites, t0, t1)
    own_mno = [p for p in own if p.plmn in plmns]
    failing = [p for p in own_mno if _failing(p)]
    for p in failing:
        evidence.append({"kind": "dsoProbes", "source": "dso", "id": f"probes:{p.cpe_pk}:{p.plmn}",
                         "start": isoformat(p.first_failure), "end": None,
                         "siteId": refs[p.site_pk].site_id if p.site_pk in refs else None, "plmn": p.plmn,
                         "probes": p.probes, "failures": p.failures, "lastSuccess": isoformat(p.last_success),
                         "p50RttMs": p.p50_rtt_ms})
    own_cells = {p.serving_cell_pk for p in own_mno if p.serving_cell_pk is not None} | set(cells)
    peers = telemetry.cell_peer_evidence(session, sorted(own_cells), t0, t1) if own_cells else {}
    own_cpes_on = {c: {p.cpe_pk for p in own_mno if p.serving_cell_pk == c} for c in own_cells}
    own_failing_on = {c: {p.cpe_pk for p in failing if p.serving_cell_pk == c} for c in own_cells}
    healthy_cells: set[int] = set()
    for cell_pk, (probing, failing_n) in sorted(peers.items()):
        others = probing - len(own_cpes_on.get(cell_pk, set()))
        others_failing = failing_n - len(own_failing_on.get(cell_pk, set()))
        if others <= 0:
            continue
        peer_cell = cells.get(cell_pk)
        cell_id = peer_cell.cell_id if peer_cell else None
        evidence.append({"kind": "cellPeers", "source": "dso", "id": f"peers:{cell_id or cell_pk}",
                         "start": isoformat(t0), "end": isoformat(t1), "cellId": cell_id,
                         "cpesProbing": others, "cpesFailing": max(others_failing, 0)})
        if others_failing >= 2 or (others_failing >= 1 and others_failing * 2 >= others):
            scores.add("mno_network", 0.65)
        elif others_failing <= 0 and cell_pk not in conditioned:
            healthy_cells.add(cell_pk)
    if failing and all(p.serving_cell_pk in healthy_cells for p in failing):
        all_plmns = {p.plmn for p in own if p.site_pk in {f.site_pk for f in failing}}
        failing_plmns = {p.plmn for p in own if _failing(p)}
        scores.add("dso_equipment", 0.9 if len(all_plmns) > 1 and all_plmns <= failing_plmns else 0.8)

    cause, confidence = scores.winner()
    etr = max(scores.etr) if cause == "mno_network" and scores.etr else None
    if cause == "energy_outage":
        ends = [e["etr"] for e in evidence if e["kind"] == "energyOutage" and e.get("etr")]
        etr_s = max(ends) if ends else None
    else:
        etr_s = isoformat(etr)
    evidence.sort(key=lambda e: (e.get("start") or "", e["kind"], e["id"]))
    return {"cause": cause, "confidence": round(confidence, 2), "etr": etr_s, "evaluatedAt": isoformat(now),
            "window": {"start": isoformat(t0), "end": isoformat(t1)}, "summary": _summary(cause, evidence, etr_s),
            "evidence": evidence}


def _summary(cause: str, evidence: list[dict[str, Any]], etr: str | None) -> str:
    if cause == "mno_network":
        n = sum(1 for e in evidence if e["source"] == "mno" and e["kind"] in ("alarm", "config", "maintenance",
                                                                                "threshold"))
        what = f"{n} MNO condition(s) on the serving cells" if n else "other CPEs on the serving cell fail too"
        return f"mobile network: {what}" + (f"; ETR {etr}" if etr else "")
    if cause == "energy_outage":
        return "energy outage: the site or the RAN site serving it is without mains" + (f"; ETR {etr}" if etr else "")
    if cause == "dso_equipment":
        return "DSO equipment: the serving cells carry no condition and other CPEs on them are fine"
    return "no correlated event found"


def key_of(result: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a re-evaluation news (times of evaluation aside)."""
    return (result.get("cause"), result.get("confidence"), result.get("etr"),
            tuple(sorted((e["kind"], e["id"], e.get("end") or "", e.get("state") or "")
                         for e in result.get("evidence", []))))


def redact(attribution: dict[str, Any], level: str) -> dict[str, Any]:
    """The DSO's view under an area-level agreement: MNO evidence without cells, RAN sites, alarm ids or text."""
    if level != "area":
        return attribution
    out = dict(attribution)
    out["evidence"] = [e if e.get("source") == "dso" and e["kind"] != "cellPeers"
                       else {k: v for k, v in e.items() if k in AREA_KEYS} for e in attribution.get("evidence", [])]
    if "automatic" in out and isinstance(out["automatic"], dict):
        out["automatic"] = redact(out["automatic"], level)
    return out
