"""Topology: import DSO sites/CPEs/USIMs and MNO RAN sites/cells, link USIMs to the cells serving them,
and answer the set-based questions other capabilities ask (they call only the functions here).

Import is all-or-nothing: every item is validated first and every error reported with its path;
only a clean document is written. Items are upserted by natural id; nothing is deleted by an import.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
import shapely
from pydantic import BaseModel, ValidationError
from shapely import STRtree
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from sqlalchemy import ColumnElement, Table, and_, bindparam, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from gridcell.core import events, prepared
from gridcell.core.clock import utcnow
from gridcell.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from gridcell.core.geo import sector_polygon
from gridcell.tenancy import service as tenancy
from gridcell.tenancy.service import get_org
from gridcell.topology.models import Cell, Cpe, DsoSite, RanSite, ServingLink, TopologyVersion, Usim
from gridcell.topology.schemas import (
    DEFAULT_DEPTH_OF_DISCHARGE,
    DEFAULT_RANGE_M,
    CellIn,
    CellOut,
    CpeIn,
    CpeOut,
    ImportResult,
    RanSiteIn,
    RanSiteOut,
    SiteIn,
    SiteOut,
    UsimOut,
)

CHUNK = 500
M_PER_DEG_LAT = 111_320.0
_T = TypeVar("_T")


def _chunks(items: Iterable[_T], size: int = CHUNK) -> Iterator[list[_T]]:
    seq = list(items)
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


# ---- references handed to other capabilities ----------------------------------------------------


@dataclass(frozen=True)
class CellRef:
    pk: int
    org_id: str
    cell_id: str
    plmn: str
    ran_site_pk: int
    ran_site_id: str
    autonomy_h: float | None  # given autonomyH, else capacity * DoD / load


@dataclass(frozen=True)
class SiteRef:
    pk: int
    org_id: str
    site_id: str
    name: str
    kind: str
    lat: float
    lon: float
    customers: int
    criticality: str


def effective_autonomy_h(autonomy_h: float | None, capacity_wh: float | None, load_w: float | None,
                         depth_of_discharge: float | None) -> float | None:
    if autonomy_h is not None:
        return autonomy_h
    if capacity_wh is not None and load_w:
        dod = DEFAULT_DEPTH_OF_DISCHARGE if depth_of_discharge is None else depth_of_discharge
        return capacity_wh * dod / load_w
    return None


def _fetch_cells(session: Session, *criteria: ColumnElement[bool]) -> list[CellRef]:
    stmt = (
        select(Cell.pk, Cell.org_id, Cell.cell_id, Cell.plmn, Cell.ran_site_pk, RanSite.site_id,
               RanSite.autonomy_h, RanSite.battery_capacity_wh, RanSite.load_w, RanSite.depth_of_discharge)
        .join(RanSite, RanSite.pk == Cell.ran_site_pk)
        .where(*criteria)
        .order_by(Cell.pk)
    )
    return [
        CellRef(pk=r[0], org_id=r[1], cell_id=r[2], plmn=r[3], ran_site_pk=r[4], ran_site_id=r[5],
                autonomy_h=effective_autonomy_h(r[6], r[7], r[8], r[9]))
        for r in session.execute(stmt)
    ]


def _fetch_sites(session: Session, *criteria: ColumnElement[bool]) -> list[SiteRef]:
    stmt = (
        select(DsoSite.pk, DsoSite.org_id, DsoSite.site_id, DsoSite.name, DsoSite.kind, DsoSite.lat,
               DsoSite.lon, DsoSite.customers, DsoSite.criticality)
        .where(*criteria)
        .order_by(DsoSite.pk)
    )
    return [SiteRef(pk=r[0], org_id=r[1], site_id=r[2], name=r[3], kind=r[4], lat=r[5], lon=r[6],
                    customers=r[7] or 0, criticality=r[8]) for r in session.execute(stmt)]


def _dn_prefixes(dn: str) -> list[str]:
    """The DN itself and every prefix ending just before a ',' (the DNs it lies below)."""
    out = [dn[:i] for i, ch in enumerate(dn) if ch == "," and i > 0]
    out.append(dn)
    return out


def cells_for_dn(session: Session, mno_org_id: str, dn: str) -> list[CellRef]:
    """The cells an alarm's objectInstance designates, in order of precedence:
    cells whose DN equals it or lies above it; else RAN sites whose DN equals it or lies above it
    (all their cells); else the last RDN value names a cell id, else a RAN site id; else none."""
    dn = dn.strip()
    if not dn:
        return []
    prefixes = _dn_prefixes(dn)
    cells = _fetch_cells(session, Cell.org_id == mno_org_id, Cell.dn.in_(prefixes))
    if cells:
        return cells
    site_pks = list(session.scalars(
        select(RanSite.pk).where(RanSite.org_id == mno_org_id, RanSite.dn.in_(prefixes))))
    if site_pks:
        return ran_site_cells(session, site_pks)
    value = dn.rsplit("=", 1)[-1].strip()
    if not value:
        return []
    cells = _fetch_cells(session, Cell.org_id == mno_org_id, Cell.cell_id == value)
    if cells:
        return cells
    site_pks = list(session.scalars(
        select(RanSite.pk).where(RanSite.org_id == mno_org_id, RanSite.site_id == value)))
    return ran_site_cells(session, site_pks) if site_pks else []


_CELLS_BY_DN = select(Cell.dn, Cell.pk).where(Cell.org_id == bindparam("org"),
                                              Cell.dn.in_(bindparam("keys", expanding=True)))
_SITES_BY_DN = select(RanSite.dn, RanSite.pk).where(RanSite.org_id == bindparam("org"),
                                                    RanSite.dn.in_(bindparam("keys", expanding=True)))


def cells_for_dns(session: Session, mno_org_id: str, dns: Iterable[str]) -> dict[str, list[int]]:
    """`cells_for_dn` for a whole batch in a handful of set-based queries (ingest's hot path)."""
    wanted = {dn: dn.strip() for dn in dict.fromkeys(dns)}
    out: dict[str, list[int]] = {dn: [] for dn in wanted}
    prefixes = {dn: _dn_prefixes(d) for dn, d in wanted.items() if d}
    all_prefixes = sorted({p for ps in prefixes.values() for p in ps})
    cell_by_dn: dict[str, list[int]] = defaultdict(list)
    site_by_dn: dict[str, list[int]] = defaultdict(list)
    for chunk in _chunks(all_prefixes):
        for cell_dn, pk in prepared.rows(session, _CELLS_BY_DN, {"org": mno_org_id, "keys": chunk}):
            cell_by_dn[cell_dn or ""].append(pk)
        for site_dn, pk in prepared.rows(session, _SITES_BY_DN, {"org": mno_org_id, "keys": chunk}):
            site_by_dn[site_dn or ""].append(pk)
    pending_sites: dict[str, list[int]] = {}
    pending_values: dict[str, str] = {}
    for dn, ps in prefixes.items():
        cells = sorted({pk for p in ps for pk in cell_by_dn.get(p, ())})
        if cells:
            out[dn] = cells
            continue
        sites = sorted({pk for p in ps for pk in site_by_dn.get(p, ())})
        if sites:
            pending_sites[dn] = sites
            continue
        value = wanted[dn].rsplit("=", 1)[-1].strip()
        if value:
            pending_values[dn] = value
    if pending_values:
        values = sorted(set(pending_values.values()))
        cell_by_id: dict[str, list[int]] = defaultdict(list)
        site_by_id: dict[str, list[int]] = defaultdict(list)
        for chunk in _chunks(values):
            for cid, pk in session.execute(select(Cell.cell_id, Cell.pk).where(Cell.org_id == mno_org_id,
                                                                              Cell.cell_id.in_(chunk))):
                cell_by_id[cid].append(pk)
            for sid, pk in session.execute(select(RanSite.site_id, RanSite.pk).where(RanSite.org_id == mno_org_id,
                                                                                    RanSite.site_id.in_(chunk))):
                site_by_id[sid].append(pk)
        for dn, value in pending_values.items():
            if cell_by_id.get(value):
                out[dn] = sorted(cell_by_id[value])
            elif site_by_id.get(value):
                pending_sites[dn] = sorted(site_by_id[value])
    if pending_sites:
        site_cells: dict[int, list[int]] = defaultdict(list)
        for site_chunk in _chunks(sorted({pk for v in pending_sites.values() for pk in v})):
            for site_pk, pk in session.execute(select(Cell.ran_site_pk, Cell.pk)
                                               .where(Cell.ran_site_pk.in_(site_chunk))):
                site_cells[site_pk].append(pk)
        for dn, site_list in pending_sites.items():
            out[dn] = sorted(pk for site in site_list for pk in site_cells.get(site, ()))
    return out


def cells_by_ids(session: Session, mno_org_id: str, cell_ids: list[str]) -> list[CellRef]:
    out: list[CellRef] = []
    for chunk in _chunks(dict.fromkeys(cell_ids)):
        out += _fetch_cells(session, Cell.org_id == mno_org_id, Cell.cell_id.in_(chunk))
    return out


def ran_site_cells(session: Session, ran_site_pks: list[int]) -> list[CellRef]:
    out: list[CellRef] = []
    for chunk in _chunks(set(ran_site_pks)):
        out += _fetch_cells(session, Cell.ran_site_pk.in_(chunk))
    return sorted(out, key=lambda c: c.pk)


def serving_cells_for_pairs(session: Session,
                            pairs: set[tuple[int, str]]) -> dict[tuple[int, str], list[CellRef]]:
    """For each pair, the cells linked to the site's USIMs of that PLMN (over all the site's CPEs).
    Every requested pair is a key; a pair with no linked cell maps to []."""
    linked: dict[tuple[int, str], set[int]] = {p: set() for p in pairs}
    for chunk in _chunks({p[0] for p in pairs}):
        stmt = (
            select(Cpe.site_pk, Usim.plmn, ServingLink.cell_pk)
            .select_from(ServingLink)
            .join(Usim, Usim.pk == ServingLink.usim_pk)
            .join(Cpe, Cpe.pk == Usim.cpe_pk)
            .where(Cpe.site_pk.in_(chunk))
        )
        for site_pk, plmn, cell_pk in session.execute(stmt):
            key = (site_pk, plmn)
            if key in linked:
                linked[key].add(cell_pk)
    refs = cell_refs(session, [pk for pks in linked.values() for pk in pks])
    return {key: sorted((refs[pk] for pk in pks if pk in refs), key=lambda c: c.pk)
            for key, pks in linked.items()}


def sites_of_org(session: Session, org_id: str) -> list[SiteRef]:
    return _fetch_sites(session, DsoSite.org_id == org_id)


def site_by_id(session: Session, org_id: str, site_id: str) -> SiteRef:
    found = _fetch_sites(session, DsoSite.org_id == org_id, DsoSite.site_id == site_id)
    if not found:
        raise NotFound(f"site {site_id} not found")
    return found[0]


def site_plmns(session: Session, site_pks: list[int]) -> dict[int, set[str]]:
    """PLMNs of each site's USIMs; every requested pk is a key."""
    out: dict[int, set[str]] = {pk: set() for pk in site_pks}
    for chunk in _chunks(set(site_pks)):
        stmt = (select(Cpe.site_pk, Usim.plmn).distinct().join(Cpe, Cpe.pk == Usim.cpe_pk)
                .where(Cpe.site_pk.in_(chunk)))
        for site_pk, plmn in session.execute(stmt):
            out[site_pk].add(plmn)
    return out


def all_pairs_of_sites(session: Session, site_pks: Iterable[int]) -> set[tuple[int, str]]:
    return {(pk, p) for pk, plmns in site_plmns(session, list(set(site_pks))).items() for p in plmns}


def all_site_pairs(session: Session, org_id: str) -> set[tuple[int, str]]:
    stmt = (select(Cpe.site_pk, Usim.plmn).distinct().join(Cpe, Cpe.pk == Usim.cpe_pk)
            .join(DsoSite, DsoSite.pk == Cpe.site_pk).where(DsoSite.org_id == org_id))
    return {(r[0], r[1]) for r in session.execute(stmt)}


# ---- import: parse and validate -----------------------------------------------------------------


@dataclass
class _Raw:
    loc: str  # path of the item in the document, e.g. "sites/3" or "features/7/properties"
    data: Any
    remap: dict[str, str]  # field name -> path replacing "<loc>/<field>" (GeoJSON coordinates)


@dataclass
class _Parsed:
    sites: list[tuple[str, SiteIn]]
    ran_sites: list[tuple[str, RanSiteIn]]


def _err(loc: str, msg: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg}


def _split_document(doc: Any, errors: list[dict[str, Any]]) -> tuple[list[_Raw], list[_Raw]]:
    """The raw site and RAN site items of either accepted form, with their paths."""
    sites: list[_Raw] = []
    ran_sites: list[_Raw] = []
    if not isinstance(doc, dict):
        errors.append(_err("", "the document must be a JSON object"))
        return sites, ran_sites
    if "type" in doc:
        if doc["type"] != "FeatureCollection":
            errors.append(_err("type", "a GeoJSON document must be a FeatureCollection"))
            return sites, ran_sites
        features = doc.get("features")
        if not isinstance(features, list):
            errors.append(_err("features", "a FeatureCollection needs a 'features' array"))
            return sites, ran_sites
        for i, feature in enumerate(features):
            raw = _feature_item(f"features/{i}", feature, errors)
            if raw is not None:
                (sites if raw[0] == "site" else ran_sites).append(raw[1])
        return sites, ran_sites
    unknown = sorted(set(doc) - {"sites", "ranSites"})
    for key in unknown:
        errors.append(_err(str(key), "unknown member; expected 'sites' and/or 'ranSites'"))
    if "sites" not in doc and "ranSites" not in doc and not unknown:
        errors.append(_err("", "the document needs 'sites' or 'ranSites', or must be a GeoJSON "
                               "FeatureCollection"))
    for key, target in (("sites", sites), ("ranSites", ran_sites)):
        if key not in doc:
            continue
        items = doc[key]
        if not isinstance(items, list):
            errors.append(_err(key, "must be an array"))
            continue
        target.extend(_Raw(f"{key}/{i}", item, {}) for i, item in enumerate(items))
    return sites, ran_sites


def _feature_item(loc: str, feature: Any, errors: list[dict[str, Any]]) -> tuple[str, _Raw] | None:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        errors.append(_err(loc, "must be a GeoJSON Feature"))
        return None
    props = feature.get("properties")
    if not isinstance(props, dict):
        errors.append(_err(f"{loc}/properties", "must be an object"))
        return None
    kind = props.get("featureType")
    if kind not in ("site", "ranSite"):
        errors.append(_err(f"{loc}/properties/featureType", "must be 'site' or 'ranSite'"))
        return None
    data = {k: v for k, v in props.items() if k not in ("featureType", "lat", "lon")}
    geometry = feature.get("geometry")
    coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if (not isinstance(geometry, dict) or geometry.get("type") != "Point" or not isinstance(coords, list)
            or len(coords) < 2 or not all(isinstance(c, int | float) and not isinstance(c, bool)
                                          for c in coords[:2])):
        errors.append(_err(f"{loc}/geometry", "must be a GeoJSON Point [lon, lat]"))
        data["lon"], data["lat"] = 0.0, 0.0  # placeholders: the properties are still checked
    else:
        data["lon"], data["lat"] = coords[0], coords[1]
    remap = {"lon": f"{loc}/geometry/coordinates/0", "lat": f"{loc}/geometry/coordinates/1"}
    return kind, _Raw(f"{loc}/properties", data, remap)


_M = TypeVar("_M", bound=BaseModel)


def _validate(raw: _Raw, model: type[_M], errors: list[dict[str, Any]]) -> _M | None:
    if not isinstance(raw.data, dict):
        errors.append(_err(raw.loc, "must be an object"))
        return None
    try:
        return model.model_validate(raw.data)
    except ValidationError as exc:
        for e in exc.errors():
            parts = [str(p) for p in e["loc"]]
            if parts and parts[0] in raw.remap:
                loc = "/".join([raw.remap[parts[0]], *parts[1:]])
            else:
                loc = "/".join([raw.loc, *parts])
            errors.append(_err(loc, str(e["msg"])))
        return None


def _str(data: Any, key: str) -> str | None:
    value = data.get(key) if isinstance(data, dict) else None
    return value.strip() if isinstance(value, str) else None


def _children(parent_loc: str, data: Any, list_key: str, key: str) -> list[tuple[str, str | None, Any]]:
    """(path, key value, raw child) for each child in data[list_key]."""
    items = data.get(list_key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(f"{parent_loc}/{list_key}/{i}", _str(child, key), child) for i, child in enumerate(items)]


def _check_unique(items: Iterable[tuple[str, str | None]], what: str, errors: list[dict[str, Any]]) -> None:
    seen: dict[str, str] = {}
    for loc, key in items:
        if key is None:
            continue
        if key in seen:
            errors.append(_err(loc, f"duplicate {what} '{key}' (first at {seen[key]})"))
        else:
            seen[key] = loc


def parse_document(doc: Any, org_kind: str) -> _Parsed:
    """Validate a whole document; raise Forbidden for the wrong side's items, InvalidInput listing
    every error otherwise."""
    errors: list[dict[str, Any]] = []
    raw_sites, raw_ran_sites = _split_document(doc, errors)
    if org_kind == "dso" and raw_ran_sites:
        raise Forbidden("a DSO organisation may not import RAN sites or cells")
    if org_kind == "mno" and raw_sites:
        raise Forbidden("an MNO organisation may not import DSO sites, CPEs or USIMs")
    if org_kind not in ("dso", "mno"):
        raise Forbidden(f"organisations of kind '{org_kind}' cannot import topology")
    parsed = _Parsed([], [])
    for raw in raw_sites:
        site = _validate(raw, SiteIn, errors)
        if site is not None:
            parsed.sites.append((raw.loc, site))
    for raw in raw_ran_sites:
        ran_site = _validate(raw, RanSiteIn, errors)
        if ran_site is not None:
            parsed.ran_sites.append((raw.loc, ran_site))
    # Uniqueness is checked on the raw items too, so an invalid item's duplicate id is still reported.
    site_keys = [(raw.loc, _str(raw.data, "id"), raw.data) for raw in raw_sites]
    _check_unique(((f"{loc}/id", key) for loc, key, _ in site_keys), "site id", errors)
    cpe_keys = [c for loc, _, data in site_keys for c in _children(loc, data, "cpes", "id")]
    _check_unique(((f"{loc}/id", key) for loc, key, _ in cpe_keys), "CPE id", errors)
    for cpe_loc, _, cpe in cpe_keys:
        _check_unique(((f"{loc}/plmn", key) for loc, key, _ in _children(cpe_loc, cpe, "usims", "plmn")),
                      "USIM PLMN on one CPE", errors)
    ran_keys = [(raw.loc, _str(raw.data, "id"), raw.data) for raw in raw_ran_sites]
    _check_unique(((f"{loc}/id", key) for loc, key, _ in ran_keys), "RAN site id", errors)
    _check_unique(((f"{loc}/cellId", key) for site_loc, _, data in ran_keys
                   for loc, key, _ in _children(site_loc, data, "cells", "cellId")), "cell id", errors)
    if errors:
        raise InvalidInput(f"the topology document has {len(errors)} error(s); nothing was imported",
                           errors=errors)
    return parsed


# ---- import: write --------------------------------------------------------------------------------


TOPOLOGY_IMPORTED = "topology.imported"


@dataclass(frozen=True)
class TopologyImported:
    """Emitted inside the import transaction: status and fault mapping depend on topology. `pairs`: the DSO
    site × PLMN pairs whose serving cells (or those cells' RAN sites) the import may have changed."""

    org_id: str
    kind: str
    pairs: frozenset[tuple[int, str]] = frozenset()


def import_topology(session: Session, org_id: str, doc: Any) -> ImportResult:
    """Validate then upsert a topology document for one organisation; recompute the serving links."""
    kind = get_org(session, org_id).kind
    parsed = parse_document(doc, kind)
    if parsed.ran_sites:
        _check_ownership(session, org_id, parsed.ran_sites)
    result = ImportResult()
    touched: set[tuple[int, str]] = set()
    if parsed.sites:
        _write_sites(session, org_id, [s for _, s in parsed.sites], result, touched)
    if parsed.ran_sites:
        _write_ran_sites(session, org_id, [s for _, s in parsed.ran_sites], result, touched)
    bump_version(session, org_id)
    session.flush()
    events.emit(session, TOPOLOGY_IMPORTED, TopologyImported(org_id, kind, frozenset(touched)))
    return result


def agreement_plmns(session: Session, mno_id: str) -> set[str]:
    """The PLMNs an MNO's agreements name: the only PLMNs its cells may carry."""
    return {p for a in tenancy.agreements_for(session, mno_id) if a.mno_id == mno_id for p in a.plmns}


def _check_ownership(session: Session, org_id: str, ran_sites: list[tuple[str, RanSiteIn]]) -> None:
    """An MNO imports cells of its own PLMNs only (403), and never a cell that another MNO holds under the
    same PLMN and cell id (409): a cell global identity names one cell of one network."""
    own = agreement_plmns(session, org_id)
    foreign = [_err(f"{loc}/cells/{i}/plmn", f"PLMN {c.plmn} is not named by any agreement of this MNO "
                                             f"(its PLMNs: {', '.join(sorted(own)) or 'none'})")
               for loc, site in ran_sites for i, c in enumerate(site.cells) if c.plmn not in own]
    if foreign:
        raise Forbidden(f"{len(foreign)} cell(s) carry a PLMN this MNO has no agreement for; nothing was imported",
                        errors=foreign)
    where = {(c.plmn, c.cell_id): f"{loc}/cells/{i}/cellId"
             for loc, site in ran_sites for i, c in enumerate(site.cells)}
    clashes: list[dict[str, Any]] = []
    for chunk in _chunks(sorted({k[1] for k in where})):
        for plmn, cell_id in session.execute(
                select(Cell.plmn, Cell.cell_id).where(Cell.cell_id.in_(chunk), Cell.org_id != org_id)):
            if (plmn, cell_id) in where:
                clashes.append(_err(where[(plmn, cell_id)],
                                    f"cell {cell_id} of PLMN {plmn} belongs to another organisation"))
    if clashes:
        raise Conflict(f"{len(clashes)} cell id(s) belong to another organisation: "
                       + ", ".join(sorted(e["loc"] for e in clashes)) + "; nothing was imported",
                       errors=sorted(clashes, key=lambda e: e["loc"]))


def bump_version(session: Session, org_id: str) -> None:
    """One more topology write of this organisation (in the writer's transaction)."""
    table = cast(Table, TopologyVersion.__table__)
    dialect = session.get_bind().dialect.name
    upsert: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        upsert = pg_insert(table).values(org_id=org_id, version=1)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        upsert = sqlite_insert(table).values(org_id=org_id, version=1)
    session.execute(upsert.on_conflict_do_update(index_elements=[table.c.org_id],
                                                 set_={"version": table.c.version + 1}))


def topology_versions(session: Session, org_ids: Iterable[str]) -> dict[str, int]:
    """The current topology version of each organisation (0: never imported)."""
    ids = sorted(set(org_ids))
    out = dict.fromkeys(ids, 0)
    for chunk in _chunks(ids):
        for org_id, version in session.execute(select(TopologyVersion.org_id, TopologyVersion.version)
                                               .where(TopologyVersion.org_id.in_(chunk))):
            out[org_id] = version
    return out


def _write_sites(session: Session, org_id: str, items: list[SiteIn], result: ImportResult,
                 touched: set[tuple[int, str]]) -> None:
    now = utcnow()
    existing: dict[str, DsoSite] = {}
    for chunk in _chunks([s.id for s in items]):
        existing.update((s.site_id, s) for s in session.scalars(
            select(DsoSite).where(DsoSite.org_id == org_id, DsoSite.site_id.in_(chunk))))
    sites: dict[str, DsoSite] = {}
    for item in items:
        site = existing.get(item.id)
        if site is None:
            site = DsoSite(org_id=org_id, site_id=item.id)
            session.add(site)
        site.name, site.kind, site.lat, site.lon = item.name, item.kind, item.lat, item.lon
        site.customers, site.criticality, site.grid_bus = item.customers, item.criticality, item.grid_bus
        site.updated_at = now
        sites[item.id] = site
    session.flush()

    cpe_items = [(sites[s.id], c) for s in items for c in s.cpes]
    cpes_existing: dict[str, Cpe] = {}
    for chunk in _chunks([c.id for _, c in cpe_items]):
        cpes_existing.update((c.cpe_id, c) for c in session.scalars(
            select(Cpe).where(Cpe.org_id == org_id, Cpe.cpe_id.in_(chunk))))
    cpes: list[tuple[Cpe, CpeIn]] = []
    moved_from: list[int] = []
    for owner, cpe_item in cpe_items:
        cpe = cpes_existing.get(cpe_item.id)
        if cpe is None:
            cpe = Cpe(org_id=org_id, cpe_id=cpe_item.id)
            session.add(cpe)
        elif cpe.site_pk != owner.pk:  # the CPE moves: its old site's pairs change too
            moved_from.append(cpe.site_pk)
        cpe.site_pk, cpe.model = owner.pk, cpe_item.model
        cpes.append((cpe, cpe_item))
    session.flush()

    usims_existing: dict[tuple[int, str], Usim] = {}
    for pks in _chunks([c.pk for c, _ in cpes]):
        usims_existing.update(((u.cpe_pk, u.plmn), u) for u in session.scalars(
            select(Usim).where(Usim.cpe_pk.in_(pks))))
    n_usims = 0
    for cpe, cpe_item in cpes:
        for u in cpe_item.usims:
            usim = usims_existing.get((cpe.pk, u.plmn))
            if usim is None:
                usim = Usim(cpe_pk=cpe.pk, plmn=u.plmn)
                session.add(usim)
            usim.role, usim.iccid, usim.reported_cell_id = u.role, u.iccid, u.serving_cell_id
            n_usims += 1
    session.flush()

    rows: list[_UsimRow] = []
    for pks in _chunks([s.pk for s in sites.values()]):
        rows += _usim_rows(session, Cpe.site_pk.in_(pks))
    result.sites, result.cpes, result.usims = len(items), len(cpes), n_usims
    result.links += _recompute_links(session, rows)
    site_of_cpe = {cpe.pk: cpe.site_pk for cpe, _ in cpes}
    touched.update((site_of_cpe[c], u.plmn) for (c, _), u in usims_existing.items() if c in site_of_cpe)
    touched.update((cpe.site_pk, u.plmn) for cpe, cpe_item in cpes for u in cpe_item.usims)
    touched.update(p for p in all_pairs_of_sites(session, moved_from))


def _write_ran_sites(session: Session, org_id: str, items: list[RanSiteIn], result: ImportResult,
                     touched: set[tuple[int, str]]) -> None:
    existing: dict[str, RanSite] = {}
    for chunk in _chunks([s.id for s in items]):
        existing.update((s.site_id, s) for s in session.scalars(
            select(RanSite).where(RanSite.org_id == org_id, RanSite.site_id.in_(chunk))))
    sites: dict[str, RanSite] = {}
    for item in items:
        site = existing.get(item.id)
        if site is None:
            site = RanSite(org_id=org_id, site_id=item.id)
            session.add(site)
        site.name, site.lat, site.lon, site.dn = item.name, item.lat, item.lon, item.dn
        site.battery_capacity_wh, site.load_w = item.battery_capacity_wh, item.load_w
        site.depth_of_discharge, site.autonomy_h = item.depth_of_discharge, item.autonomy_h
        site.grid_supply_point = item.grid_supply_point
        sites[item.id] = site
    session.flush()

    cell_items: list[tuple[RanSite, CellIn]] = [(sites[s.id], c) for s in items for c in s.cells]
    cells_existing: dict[str, Cell] = {}
    for chunk in _chunks([c.cell_id for _, c in cell_items]):
        cells_existing.update((c.cell_id, c) for c in session.scalars(
            select(Cell).where(Cell.org_id == org_id, Cell.cell_id.in_(chunk))))
    for owner, c_in in cell_items:
        cell = cells_existing.get(c_in.cell_id)
        if cell is None:
            cell = Cell(org_id=org_id, cell_id=c_in.cell_id)
            session.add(cell)
        cell.ran_site_pk, cell.plmn, cell.rat, cell.tac = owner.pk, c_in.plmn, c_in.rat, c_in.tac
        cell.azimuth, cell.range_m, cell.dn = c_in.azimuth, c_in.range_m, c_in.dn
        cell.coverage = c_in.coverage
    session.flush()
    result.ran_sites, result.cells = len(items), len(cell_items)

    # The cells whose coverage may have changed: every cell of the imported RAN sites.
    changed: list[_CellGeom] = []
    for pks in _chunks([s.pk for s in sites.values()]):
        changed += _cell_geoms(session, Cell.ran_site_pk.in_(pks))
    if not changed:
        return
    changed_pks = [c.pk for c in changed]
    affected: set[int] = set()
    for pks in _chunks(changed_pks):  # USIMs linked to them now (the link may go)
        affected.update(session.scalars(select(ServingLink.usim_pk).where(ServingLink.cell_pk.in_(pks))))
    by_plmn: dict[str, list[_CellGeom]] = defaultdict(list)
    for c in changed:
        by_plmn[c.plmn].append(c)
    for plmn, geoms in by_plmn.items():
        for ids in _chunks(sorted({g.cell_id for g in geoms})):  # USIMs reporting one of these cells as serving
            affected.update(r.pk for r in _usim_rows(session, Usim.plmn == plmn, Usim.reported_cell_id.in_(ids)))
        # USIMs whose site lies in the new coverage: only those inside its bounding box are read.
        minx, miny, maxx, maxy = unary_union([g.polygon for g in geoms]).bounds
        rows = _usim_rows(session, Usim.plmn == plmn, DsoSite.lon.between(minx, maxx),
                          DsoSite.lat.between(miny, maxy))
        if rows:
            tree = STRtree([g.polygon for g in geoms])
            hits = tree.query(_points([(r.lon, r.lat) for r in rows]), predicate="within")
            affected.update(rows[i].pk for i in set(hits[0].tolist()))
    rows = []
    for pks in _chunks(affected):
        rows += _usim_rows(session, Usim.pk.in_(pks))
    result.links += _recompute_links(session, rows)
    touched.update((u.site_pk, u.plmn) for u in usim_refs_by_pk(session, affected).values())
    touched.update(pairs_for_cells(session, changed_pks))


def _points(xy: list[tuple[float, float]]) -> Any:
    return shapely.points(np.asarray(xy, dtype=float).reshape(-1, 2))


# ---- serving links ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _UsimRow:
    pk: int
    org_id: str  # the DSO owning the CPE
    plmn: str
    reported: str | None
    lon: float
    lat: float


@dataclass(frozen=True)
class _CellGeom:
    pk: int
    plmn: str
    cell_id: str
    polygon: BaseGeometry


def _usim_rows(session: Session, *criteria: ColumnElement[bool]) -> list[_UsimRow]:
    stmt = (
        select(Usim.pk, DsoSite.org_id, Usim.plmn, Usim.reported_cell_id, DsoSite.lon, DsoSite.lat)
        .join(Cpe, Cpe.pk == Usim.cpe_pk)
        .join(DsoSite, DsoSite.pk == Cpe.site_pk)
        .where(*criteria)
    )
    return [_UsimRow(*r) for r in session.execute(stmt)]


def cell_polygon(coverage: dict[str, Any] | None, azimuth: float | None, range_m: float | None,
                 site_lon: float, site_lat: float) -> BaseGeometry:
    """A cell's coverage: the polygon given at import, else a sector (or disc) around its site."""
    if coverage:
        return shape(coverage)
    return sector_polygon(site_lon, site_lat, azimuth, range_m or DEFAULT_RANGE_M)


def _cell_geoms(session: Session, *criteria: ColumnElement[bool]) -> list[_CellGeom]:
    stmt = (
        select(Cell.pk, Cell.plmn, Cell.cell_id, Cell.coverage, Cell.azimuth, Cell.range_m,
               RanSite.lon, RanSite.lat)
        .join(RanSite, RanSite.pk == Cell.ran_site_pk)
        .where(*criteria)
    )
    return [_CellGeom(r[0], r[1], r[2], cell_polygon(r[3], r[4], r[5], r[6], r[7]))
            for r in session.execute(stmt)]


def _network_of(session: Session, dso_ids: Iterable[str]) -> dict[tuple[str, str], frozenset[str]]:
    """(DSO, PLMN) → the MNOs whose cells a USIM of that PLMN may link to: those the DSO's agreements name
    for it. Another MNO's cell never serves a DSO's USIM, whatever PLMN or id it carries."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for dso, agreements in tenancy.agreements_of_dsos(session, dso_ids).items():
        for a in agreements:
            for plmn in a.plmns:
                out[(dso, plmn)].add(a.mno_id)
    return {k: frozenset(v) for k, v in out.items()}


def _recompute_links(session: Session, rows: Sequence[_UsimRow]) -> int:
    """Replace the serving links of these USIMs: the reported cell when it is known (same PLMN, of an MNO the
    DSO's agreements name for it), else every such cell whose coverage contains the site (STRtree per network)."""
    if not rows:
        return 0
    for chunk in _chunks([r.pk for r in rows]):
        session.execute(delete(ServingLink).where(ServingLink.usim_pk.in_(chunk)))
    network = _network_of(session, {r.org_id for r in rows})

    reported_ids = {r.reported for r in rows if r.reported}
    reported: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
    for ids in _chunks(reported_ids):
        for pk, plmn, cell_id, owner in session.execute(
                select(Cell.pk, Cell.plmn, Cell.cell_id, Cell.org_id).where(Cell.cell_id.in_(ids))):
            reported[(plmn, cell_id)].append((pk, owner))

    links: list[dict[str, Any]] = []
    need_coverage: dict[tuple[str, frozenset[str]], list[_UsimRow]] = defaultdict(list)
    for r in rows:
        mnos = network.get((r.org_id, r.plmn), frozenset())
        if not mnos:
            continue
        hits = [pk for pk, owner in reported.get((r.plmn, r.reported), ()) if owner in mnos] if r.reported else []
        if hits:
            links.extend({"usim_pk": r.pk, "cell_pk": pk, "source": "reported"} for pk in hits)
        else:
            need_coverage[(r.plmn, mnos)].append(r)

    for (plmn, mnos), usims in need_coverage.items():
        geoms = _cells_near(session, plmn, mnos, usims)
        if not geoms:
            continue
        tree = STRtree([g.polygon for g in geoms])
        hits2 = tree.query(_points([(u.lon, u.lat) for u in usims]), predicate="within")
        pairs = {(usims[i].pk, geoms[j].pk)
                 for i, j in zip(hits2[0].tolist(), hits2[1].tolist(), strict=True)}
        links.extend({"usim_pk": u, "cell_pk": c, "source": "coverage"} for u, c in sorted(pairs))

    for batch in _chunks(links):
        session.execute(insert(ServingLink), batch)
    return len(links)


def on_agreement_created(session: Session, event: tenancy.AgreementCreated) -> None:
    relink_dso(session, event.dso_id)


def _cells_near(session: Session, plmn: str, mnos: frozenset[str], usims: Sequence[_UsimRow]) -> list[_CellGeom]:
    """The cells of these networks that can cover these sites: RAN sites within the longest cell range of the
    bounding box, and every cell with a coverage polygon of its own (which may reach further)."""
    base = [Cell.plmn == plmn, Cell.org_id.in_(sorted(mnos))]
    reach = session.scalar(select(func.max(func.coalesce(Cell.range_m, DEFAULT_RANGE_M))).where(*base))
    if reach is None:
        return []
    lons, lats = [u.lon for u in usims], [u.lat for u in usims]
    dlat = float(reach) / M_PER_DEG_LAT
    dlon = float(reach) / (M_PER_DEG_LAT * max(math.cos(math.radians(max(abs(min(lats)), abs(max(lats))))), 1e-6))
    near = and_(RanSite.lon.between(min(lons) - dlon, max(lons) + dlon),
                RanSite.lat.between(min(lats) - dlat, max(lats) + dlat))
    return _cell_geoms(session, *base, or_(near, Cell.coverage.is_not(None)))


def relink_dso(session: Session, dso_id: str) -> int:
    """Recompute every serving link of a DSO's USIMs (its agreements changed, so the networks allowed did)."""
    rows = _usim_rows(session, DsoSite.org_id == dso_id)
    links = _recompute_links(session, rows)
    bump_version(session, dso_id)
    return links


# ---- listing for the API ----------------------------------------------------------------------------


def list_sites(session: Session, org_id: str, *, limit: int = 1000, offset: int = 0,
               site_id: str | None = None) -> list[SiteOut]:
    stmt = select(DsoSite).where(DsoSite.org_id == org_id)
    if site_id is not None:
        stmt = stmt.where(DsoSite.site_id == site_id)
    sites = list(session.scalars(stmt.order_by(DsoSite.site_id).limit(limit).offset(offset)))
    cpes_by_site: dict[int, list[Cpe]] = defaultdict(list)
    for chunk in _chunks([s.pk for s in sites]):
        for cpe in session.scalars(select(Cpe).where(Cpe.site_pk.in_(chunk)).order_by(Cpe.cpe_id)):
            cpes_by_site[cpe.site_pk].append(cpe)
    all_cpes = [c for cs in cpes_by_site.values() for c in cs]
    usims_by_cpe: dict[int, list[Usim]] = defaultdict(list)
    for chunk in _chunks([c.pk for c in all_cpes]):
        for usim in session.scalars(select(Usim).where(Usim.cpe_pk.in_(chunk)).order_by(Usim.plmn)):
            usims_by_cpe[usim.cpe_pk].append(usim)
    link_info: dict[int, tuple[str, int]] = {}
    usim_pks = [u.pk for us in usims_by_cpe.values() for u in us]
    for chunk in _chunks(usim_pks):
        stmt2 = (select(ServingLink.usim_pk, func.min(ServingLink.source), func.count())
                 .where(ServingLink.usim_pk.in_(chunk)).group_by(ServingLink.usim_pk))
        for usim_pk, source, count in session.execute(stmt2):
            link_info[usim_pk] = (source, count)

    def usim_out(u: Usim) -> UsimOut:
        source, count = link_info.get(u.pk, (None, 0))
        return UsimOut(plmn=u.plmn, role=u.role, iccid=u.iccid, serving_cell_id=u.reported_cell_id,
                       link_source=source, linked_cells=count)

    return [
        SiteOut(id=s.site_id, name=s.name, kind=s.kind, lat=s.lat, lon=s.lon, customers=s.customers or 0,
                criticality=s.criticality, grid_bus=s.grid_bus, updated_at=s.updated_at,
                cpes=[CpeOut(id=c.cpe_id, model=c.model, usims=[usim_out(u) for u in usims_by_cpe[c.pk]])
                      for c in cpes_by_site[s.pk]])
        for s in sites
    ]


def get_site(session: Session, org_id: str, site_id: str) -> SiteOut:
    found = list_sites(session, org_id, site_id=site_id, limit=1)
    if not found:
        raise NotFound(f"site {site_id} not found")
    return found[0]


def _cell_out(c: Cell, ran_site_id: str) -> CellOut:
    return CellOut(cell_id=c.cell_id, ran_site_id=ran_site_id, plmn=c.plmn, rat=c.rat, tac=c.tac,
                   azimuth=c.azimuth, range_m=c.range_m, coverage=c.coverage, dn=c.dn)


def list_ran_sites(session: Session, org_id: str, *, limit: int = 1000, offset: int = 0,
                   site_id: str | None = None) -> list[RanSiteOut]:
    stmt = select(RanSite).where(RanSite.org_id == org_id)
    if site_id is not None:
        stmt = stmt.where(RanSite.site_id == site_id)
    sites = list(session.scalars(stmt.order_by(RanSite.site_id).limit(limit).offset(offset)))
    cells_by_site: dict[int, list[Cell]] = defaultdict(list)
    for chunk in _chunks([s.pk for s in sites]):
        for cell in session.scalars(select(Cell).where(Cell.ran_site_pk.in_(chunk)).order_by(Cell.cell_id)):
            cells_by_site[cell.ran_site_pk].append(cell)
    return [
        RanSiteOut(id=s.site_id, name=s.name, lat=s.lat, lon=s.lon, dn=s.dn,
                   battery_capacity_wh=s.battery_capacity_wh, load_w=s.load_w,
                   depth_of_discharge=s.depth_of_discharge,
                   autonomy_h=effective_autonomy_h(s.autonomy_h, s.battery_capacity_wh, s.load_w,
                                                   s.depth_of_discharge),
                   grid_supply_point=s.grid_supply_point,
                   cells=[_cell_out(c, s.site_id) for c in cells_by_site[s.pk]])
        for s in sites
    ]


def get_ran_site(session: Session, org_id: str, site_id: str) -> RanSiteOut:
    found = list_ran_sites(session, org_id, site_id=site_id, limit=1)
    if not found:
        raise NotFound(f"RAN site {site_id} not found")
    return found[0]


def list_cells(session: Session, org_id: str, *, plmn: str | None = None, limit: int = 1000,
               offset: int = 0) -> list[CellOut]:
    stmt = (select(Cell, RanSite.site_id).join(RanSite, RanSite.pk == Cell.ran_site_pk)
            .where(Cell.org_id == org_id))
    if plmn is not None:
        stmt = stmt.where(Cell.plmn == plmn)
    rows = session.execute(stmt.order_by(Cell.cell_id).limit(limit).offset(offset))
    return [_cell_out(cell, ran_site_id) for cell, ran_site_id in rows]


# ---- USIMs and reported serving cells (used by telemetry and failover) -----------------------------


class UsimRef(NamedTuple):
    """A USIM as the hot paths need it; a named tuple because ingest builds thousands per upload."""

    pk: int
    cpe_pk: int
    cpe_id: str
    site_pk: int
    plmn: str
    role: str
    reported_cell_id: str | None


def usim_refs(session: Session, org_id: str, cpe_pks: Iterable[int] | None = None,
              site_pks: Iterable[int] | None = None) -> list[UsimRef]:
    """Every USIM of the organisation's CPEs (or of these CPEs, or of the CPEs at these sites), ordered by CPE
    and PLMN."""
    if cpe_pks is not None:
        return _sorted_usims(_core_rows(session, _USIMS_OF_CPES, set(cpe_pks), org=org_id))
    if site_pks is not None:
        return usims_at_sites(session, site_pks, org_id)
    return usims_of_org(session, org_id)


def cell_pks_by_id(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """(PLMN, cell id) → cell pk, any MNO (the lowest pk when two MNOs name a cell alike)."""
    out: dict[tuple[str, str], int] = {}
    for chunk in _chunks({k[1] for k in keys}):
        for pk, plmn, cell_id in session.execute(
                select(Cell.pk, Cell.plmn, Cell.cell_id).where(Cell.cell_id.in_(chunk)).order_by(Cell.pk.desc())):
            if (plmn, cell_id) in keys:
                out[(plmn, cell_id)] = pk
    return out


def set_reported_cells(session: Session, reported: dict[int, str]) -> set[tuple[int, str]]:
    """A CPE reported the cell serving a USIM: store it and relink the USIMs whose cell changed.
    Returns the (site pk, PLMN) pairs whose serving links changed."""
    changed: list[int] = []
    for chunk in _chunks(sorted(reported)):
        for usim in session.scalars(select(Usim).where(Usim.pk.in_(chunk))):
            cell_id = reported[usim.pk]
            if usim.reported_cell_id != cell_id:
                usim.reported_cell_id = cell_id
                changed.append(usim.pk)
    if not changed:
        return set()
    session.flush()
    rows: list[_UsimRow] = []
    for chunk in _chunks(changed):
        rows += _usim_rows(session, Usim.pk.in_(chunk))
    _recompute_links(session, rows)
    refs = usim_refs_by_pk(session, changed)
    return {(u.site_pk, u.plmn) for u in refs.values()}


def usims_on_cells(session: Session, cell_pks: list[int]) -> dict[int, list[tuple[int, str]]]:
    """Cell → [(USIM pk, link source)]; every requested cell is a key."""
    out: dict[int, list[tuple[int, str]]] = {pk: [] for pk in cell_pks}
    for chunk in _chunks(set(cell_pks)):
        for usim_pk, cell_pk, source in session.execute(
                select(ServingLink.usim_pk, ServingLink.cell_pk, ServingLink.source)
                .where(ServingLink.cell_pk.in_(chunk)).order_by(ServingLink.usim_pk)):
            out[cell_pk].append((usim_pk, source))
    return out


# ---- RAN sites and grid buses for energy outage coordination (gridcell.outages) ---------------------


@dataclass(frozen=True)
class RanSiteRef:
    pk: int
    org_id: str
    site_id: str
    name: str | None
    lat: float
    lon: float
    autonomy_h: float | None  # given autonomyH, else capacity * DoD / load
    grid_supply_point: str | None


def _fetch_ran_sites(session: Session, *criteria: ColumnElement[bool]) -> list[RanSiteRef]:
    stmt = (select(RanSite.pk, RanSite.org_id, RanSite.site_id, RanSite.name, RanSite.lat, RanSite.lon,
                   RanSite.autonomy_h, RanSite.battery_capacity_wh, RanSite.load_w, RanSite.depth_of_discharge,
                   RanSite.grid_supply_point).where(*criteria).order_by(RanSite.pk))
    return [RanSiteRef(pk=r[0], org_id=r[1], site_id=r[2], name=r[3], lat=r[4], lon=r[5],
                       autonomy_h=effective_autonomy_h(r[6], r[7], r[8], r[9]), grid_supply_point=r[10])
            for r in session.execute(stmt)]


def ran_sites_of_orgs(session: Session, org_ids: Iterable[str]) -> list[RanSiteRef]:
    return _fetch_ran_sites(session, RanSite.org_id.in_(sorted(set(org_ids))))


def ran_site_refs(session: Session, ran_site_pks: Iterable[int]) -> dict[int, RanSiteRef]:
    out: dict[int, RanSiteRef] = {}
    for chunk in _chunks(set(ran_site_pks)):
        out.update((r.pk, r) for r in _fetch_ran_sites(session, RanSite.pk.in_(chunk)))
    return out


def _serving_ran_rows(session: Session, sites: Any, out: dict[tuple[int, str], set[int]]) -> None:
    """(site, PLMN) → RAN sites of the cells linked to its USIMs, for the sites `sites` (an IN-able: a list or a
    subquery) selects; a USIM no cell serves gives an empty set."""
    cells, links = cast(Table, Cell.__table__).c, cast(Table, ServingLink.__table__).c
    usims, cpes = cast(Table, Usim.__table__).c, cast(Table, Cpe.__table__).c
    stmt = (select(cpes.site_pk, usims.plmn, cells.ran_site_pk).select_from(
        cast(Table, Usim.__table__).join(cast(Table, Cpe.__table__), cpes.pk == usims.cpe_pk)
        .outerjoin(cast(Table, ServingLink.__table__), links.usim_pk == usims.pk)
        .outerjoin(cast(Table, Cell.__table__), cells.pk == links.cell_pk))
        .where(cpes.site_pk.in_(sites)))
    for site_pk, plmn, ran_pk in session.connection().execute(stmt).all():
        rans = out.setdefault((site_pk, plmn), set())
        if ran_pk is not None:
            rans.add(ran_pk)


def serving_ran_sites(session: Session, site_pks: Iterable[int]) -> dict[tuple[int, str], set[int]]:
    """Every (site, PLMN) of these sites' USIMs → the RAN sites of the cells linked to them (an empty set for a
    USIM no cell serves), in one query per 500 sites: what an outage plan asks of the sites it touches."""
    out: dict[tuple[int, str], set[int]] = {}
    for chunk in _chunks(sorted(set(site_pks))):
        _serving_ran_rows(session, chunk, out)
    return out


def serving_ran_sites_near(session: Session, ran_site_pks: Iterable[int]) -> dict[tuple[int, str], set[int]]:
    """`serving_ran_sites` of every DSO site that has a USIM linked to a cell of these RAN sites, in one query
    per 500 RAN sites (the sites are found inside the statement, not fetched first)."""
    c2, l2 = cast(Table, Cell.__table__).alias("c2"), cast(Table, ServingLink.__table__).alias("l2")
    u2, p2 = cast(Table, Usim.__table__).alias("u2"), cast(Table, Cpe.__table__).alias("p2")
    out: dict[tuple[int, str], set[int]] = {}
    for chunk in _chunks(sorted(set(ran_site_pks))):
        served = (select(p2.c.site_pk).select_from(c2.join(l2, l2.c.cell_pk == c2.c.pk)
                                                   .join(u2, u2.c.pk == l2.c.usim_pk).join(p2, p2.c.pk == u2.c.cpe_pk))
                  .where(c2.c.ran_site_pk.in_(chunk)))
        _serving_ran_rows(session, served, out)
    return out


def site_points_of_org(session: Session, org_id: str) -> list[tuple[int, float, float, str | None]]:
    """Every site of the organisation as (pk, lon, lat, grid bus), by pk: what a spatial index of a whole DSO
    needs, in one Core query (100,000 sites in ~0.1 s; SiteRef objects through the ORM take ~1 s)."""
    t = cast(Table, DsoSite.__table__).c
    stmt = select(t.pk, t.lon, t.lat, t.grid_bus).where(t.org_id == org_id).order_by(t.pk)
    return [tuple(r) for r in session.connection().execute(stmt).all()]


def site_grid_buses(session: Session, org_id: str) -> dict[int, str]:
    """DSO site pk → the grid bus that supplies it, for the organisation's sites that name one."""
    stmt = select(DsoSite.pk, DsoSite.grid_bus).where(DsoSite.org_id == org_id, DsoSite.grid_bus.is_not(None))
    return {r[0]: r[1] for r in session.execute(stmt) if r[1] is not None}


# ---- prebuilt Core reads for the in-transaction hot paths ----------------------------------------------
# The status engine, the failover advisor and cell health ask these questions several times per unit of
# work. Built once as Core statements with an expanding IN parameter, they skip per-call statement
# construction, cache-key generation and the ORM result layer (~35 µs instead of ~150 µs per query on
# SQLite); the answers are those of the functions above.

_SITES = DsoSite.__table__
_CPES = Cpe.__table__
_USIMS = Usim.__table__
_CELLS = Cell.__table__
_RAN = RanSite.__table__
_LINKS = ServingLink.__table__
_PKS: Any = bindparam("pks", expanding=True)

_SITE_COLS = (_SITES.c.pk, _SITES.c.org_id, _SITES.c.site_id, _SITES.c.name, _SITES.c.kind, _SITES.c.lat,
              _SITES.c.lon, _SITES.c.customers, _SITES.c.criticality)
_SITES_BY_PK = select(*_SITE_COLS).where(_SITES.c.pk.in_(_PKS)).order_by(_SITES.c.pk)
_USIM_COLS = (_USIMS.c.pk, _USIMS.c.cpe_pk, _CPES.c.cpe_id, _CPES.c.site_pk, _USIMS.c.plmn, _USIMS.c.role,
              _USIMS.c.reported_cell_id)
_USIMS_JOIN = _USIMS.join(_CPES, _CPES.c.pk == _USIMS.c.cpe_pk)
_USIMS_OF_CPES = (select(*_USIM_COLS).select_from(_USIMS_JOIN)
                  .where(_CPES.c.org_id == bindparam("org"), _USIMS.c.cpe_pk.in_(_PKS)))
_USIMS_OF_SITES = select(*_USIM_COLS).select_from(_USIMS_JOIN).where(_CPES.c.site_pk.in_(_PKS))
_USIMS_OF_ORG_SITES = (select(*_USIM_COLS).select_from(_USIMS_JOIN)
                       .where(_CPES.c.org_id == bindparam("org"), _CPES.c.site_pk.in_(_PKS)))
_USIMS_BY_PK = select(*_USIM_COLS).select_from(_USIMS_JOIN).where(_USIMS.c.pk.in_(_PKS))
_LINKS_OF_USIMS = (select(_LINKS.c.usim_pk, _LINKS.c.cell_pk, _LINKS.c.source)
                   .where(_LINKS.c.usim_pk.in_(_PKS)).order_by(_LINKS.c.cell_pk))
_CELL_COLS = (_CELLS.c.pk, _CELLS.c.org_id, _CELLS.c.cell_id, _CELLS.c.plmn, _CELLS.c.ran_site_pk, _RAN.c.site_id,
              _RAN.c.autonomy_h, _RAN.c.battery_capacity_wh, _RAN.c.load_w, _RAN.c.depth_of_discharge)
_CELLS_JOIN = _CELLS.join(_RAN, _RAN.c.pk == _CELLS.c.ran_site_pk)
_CELLS_BY_PK = select(*_CELL_COLS).select_from(_CELLS_JOIN).where(_CELLS.c.pk.in_(_PKS)).order_by(_CELLS.c.pk)
# Site × PLMN → serving cell, with what a CellRef needs: one query instead of links, then cells.
_SERVING_OF_SITES = (
    select(_CPES.c.site_pk, _USIMS.c.plmn, *_CELL_COLS)
    .select_from(_LINKS.join(_USIMS, _USIMS.c.pk == _LINKS.c.usim_pk).join(_CPES, _CPES.c.pk == _USIMS.c.cpe_pk)
                 .join(_CELLS, _CELLS.c.pk == _LINKS.c.cell_pk).join(_RAN, _RAN.c.pk == _CELLS.c.ran_site_pk))
    .where(_CPES.c.site_pk.in_(_PKS))
)
_PAIRS_OF_CELLS = (select(_CPES.c.site_pk, _USIMS.c.plmn).distinct()
                   .select_from(_LINKS.join(_USIMS, _USIMS.c.pk == _LINKS.c.usim_pk)
                                .join(_CPES, _CPES.c.pk == _USIMS.c.cpe_pk))
                   .where(_LINKS.c.cell_pk.in_(_PKS)))


def _core_rows(session: Session, stmt: Any, keys: Iterable[Any], **params: Any) -> list[Any]:
    """Rows of a prebuilt statement over `keys` in chunks (flushed first when the ORM would have, so a
    caller's pending topology changes stay visible)."""
    rows: list[Any] = []
    for chunk in _chunks(keys):
        rows += prepared.rows(session, stmt, {"pks": chunk, **params})
    return rows


def _sorted_usims(rows: Iterable[Any]) -> list[UsimRef]:
    return sorted((UsimRef._make(r) for r in rows), key=lambda u: (u.cpe_pk, u.plmn))


def _cell_ref(r: Any, at: int = 0) -> CellRef:
    return CellRef(pk=r[at], org_id=r[at + 1], cell_id=r[at + 2], plmn=r[at + 3], ran_site_pk=r[at + 4],
                   ran_site_id=r[at + 5],
                   autonomy_h=effective_autonomy_h(r[at + 6], r[at + 7], r[at + 8], r[at + 9]))


def site_refs(session: Session, site_pks: Iterable[int]) -> dict[int, SiteRef]:
    return {r[0]: SiteRef(pk=r[0], org_id=r[1], site_id=r[2], name=r[3], kind=r[4], lat=r[5], lon=r[6],
                          customers=r[7] or 0, criticality=r[8])
            for r in _core_rows(session, _SITES_BY_PK, set(site_pks))}


def cell_refs(session: Session, cell_pks: Iterable[int]) -> dict[int, CellRef]:
    return {r[0]: _cell_ref(r) for r in _core_rows(session, _CELLS_BY_PK, set(cell_pks))}


def sites_with_serving_cells(session: Session, pairs: set[tuple[int, str]]
                             ) -> tuple[dict[int, SiteRef], dict[tuple[int, str], list[CellRef]]]:
    """`site_refs` of the pairs' sites and `serving_cells_for_pairs`, in two queries."""
    site_pks = {p[0] for p in pairs}
    sites = site_refs(session, site_pks)
    linked: dict[tuple[int, str], dict[int, CellRef]] = {p: {} for p in pairs}
    for r in _core_rows(session, _SERVING_OF_SITES, site_pks):
        cells = linked.get((r[0], r[1]))
        if cells is not None:
            cells[r[2]] = _cell_ref(r, 2)
    return sites, {key: [cells[pk] for pk in sorted(cells)] for key, cells in linked.items()}


def pairs_for_cells(session: Session, cell_pks: Iterable[int]) -> set[tuple[int, str]]:
    """(DSO site pk, PLMN) pairs whose USIMs are linked to any of the cells."""
    return {(r[0], r[1]) for r in _core_rows(session, _PAIRS_OF_CELLS, set(cell_pks))}


_USIMS_OF_ORG = (select(*_USIM_COLS).select_from(_USIMS_JOIN).where(_CPES.c.org_id == bindparam("org"))
                 .order_by(_USIMS.c.cpe_pk, _USIMS.c.plmn))
_USIMS_OF_CPE_IDS = (select(*_USIM_COLS).select_from(_USIMS_JOIN)
                     .where(_CPES.c.org_id == bindparam("org"), _CPES.c.cpe_id.in_(_PKS)))


def usims_of_org(session: Session, org_id: str) -> list[UsimRef]:
    """Every USIM of the organisation's CPEs, ordered by CPE and PLMN, as driver rows (a fleet-wide probe
    upload asks for thousands)."""
    return [UsimRef._make(r) for r in prepared.rows(session, _USIMS_OF_ORG, {"org": org_id})]


def usims_of_cpe_ids(session: Session, org_id: str, cpe_ids: Iterable[str]) -> list[UsimRef]:
    """USIMs of the organisation's CPEs named by their ids (probe uploads name CPEs), by CPE and PLMN."""
    rows = _core_rows(session, _USIMS_OF_CPE_IDS, set(cpe_ids), org=org_id)
    return _sorted_usims(rows)


def usims_at_sites(session: Session, site_pks: Iterable[int], org_id: str | None = None) -> list[UsimRef]:
    """USIMs of the CPEs at these sites (of one organisation's CPEs when given), ordered by CPE and PLMN."""
    if org_id is None:
        rows = _core_rows(session, _USIMS_OF_SITES, set(site_pks))
    else:
        rows = _core_rows(session, _USIMS_OF_ORG_SITES, set(site_pks), org=org_id)
    return _sorted_usims(rows)


def usim_refs_by_pk(session: Session, usim_pks: Iterable[int]) -> dict[int, UsimRef]:
    return {r[0]: UsimRef(*r) for r in _core_rows(session, _USIMS_BY_PK, set(usim_pks))}


def links_for_usims(session: Session, usim_pks: list[int]) -> dict[int, list[tuple[int, str]]]:
    """USIM → [(cell pk, link source)]; every requested USIM is a key."""
    out: dict[int, list[tuple[int, str]]] = {pk: [] for pk in usim_pks}
    for usim_pk, cell_pk, source in _core_rows(session, _LINKS_OF_USIMS, set(usim_pks)):
        out[usim_pk].append((cell_pk, source))
    return out
