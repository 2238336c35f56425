"""IEC CIM `Outage` records (IEC 61968-3 / 61968-11) as they are exchanged, read into `OutageRecord`s.

Three encodings carry the same model, and each is read the same way once its names are normalised (`cim:` prefixes
and `Class.` qualifiers dropped: `cim:Outage.actualPeriod` is `actualPeriod`, `cim:DateTimeInterval.start` is
`start`) and its references resolved:

- CIMXML (RDF/XML, IEC 61970-552): `rdf:ID`/`rdf:about` nodes under `rdf:RDF`, associations as `rdf:resource`
  references (`Outage.UsagePoints`, `Outage.Equipments`, `UsagePoint.UsagePointLocation`, `PositionPoint.Location`,
  which points from the point to its location), compounds (`DateTimeInterval`) nested in their property, given as
  `rdf:parseType="Resource"` or referenced;
- IEC 61968-100 XML payloads (XSD style): `<Outage><mRID/><actualPeriod><start/></actualPeriod>...`;
- CIM JSON: the same payload as JSON (`{"Outage": [...]}`) or JSON-LD (`@graph` of `@id`/`@type` nodes).

What an OutageAndRecoveryInfo needs is read or the record is refused naming the CIM field (never replaced by the
import time or dropped): the start (`actualPeriod.start`; a planned outage's `plannedPeriod.start` or
`estimatedPeriod.start`), the ETR (`estimatedPeriod.end`; a planned outage's `plannedPeriod.end`; not needed once
`actualPeriod.end` says it is over), the cause (`cause`, `causeKind`) and the area (the usage points, their
locations or, for those without one, the DSO's sites of that id; `Location` position points; `Equipments`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gridcell.core.errors import InvalidInput

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
Node = dict[str, Any]


@dataclass(frozen=True)
class UsagePoint:
    id: str
    point: tuple[float, float] | None  # (longitude, latitude) of its location, when the record gives one


@dataclass
class OutageRecord:
    """One outage as read, before it becomes OutageAndRecoveryInfo attributes; `fields` names where each value came
    from (for messages in the source's own terms)."""

    moi_id: str
    start: str | None = None
    etr: str | None = None
    end: str | None = None
    cause: str | None = None
    polygons: list[list[tuple[float, float]]] = field(default_factory=list)
    points: list[tuple[float, float]] = field(default_factory=list)  # each the centre of a circle of point_radius_m
    point_radius_m: float = 1000.0
    usage_points: list[UsagePoint] = field(default_factory=list)
    equipments: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def name(raw: str) -> str:
    """`{ns}Outage.actualPeriod`, `cim:Outage.actualPeriod`, `http://iec.ch/TC57/CIM100#Outage.actualPeriod` →
    `actualPeriod`."""
    local = raw.rsplit("}", 1)[-1].rsplit("#", 1)[-1].rsplit(":", 1)[-1]
    return local.rsplit(".", 1)[-1]


# ---- XML → nodes ------------------------------------------------------------------------------------------------


def _ref(value: str) -> str:
    return value.split("#", 1)[-1]


def _xml_value(el: ET.Element) -> Any:
    resource = el.attrib.get(f"{{{RDF}}}resource")
    if resource is not None:
        return {"@ref": _ref(resource)}
    children = list(el)
    if not children:
        return (el.text or "").strip()
    if "." in el.tag and len(children) == 1 and "." not in children[0].tag.rsplit("}", 1)[-1]:
        return _xml_node(children[0])  # CIMXML: a compound or an object written inside its property
    node: Node = {}
    for child in children:
        _add(node, name(child.tag), _xml_value(child))
    return node


def _xml_node(el: ET.Element) -> Node:
    node: Node = {"@type": name(el.tag)}
    ident = el.attrib.get(f"{{{RDF}}}ID") or el.attrib.get(f"{{{RDF}}}about")
    if ident:
        node["@id"] = _ref(ident)
    for child in el:
        _add(node, name(child.tag), _xml_value(child))
    return node


def _add(node: Node, key: str, value: Any) -> None:
    if key not in node:
        node[key] = value
    elif isinstance(node[key], list):
        node[key].append(value)
    else:
        node[key] = [node[key], value]


def from_xml(root: ET.Element) -> tuple[list[Node], dict[str, Node]]:
    """(the Outage nodes, every identified node by id) of a CIMXML document or an XSD-style payload."""
    if root.tag == f"{{{RDF}}}RDF":
        nodes = [_xml_node(el) for el in root]
    else:
        nodes = [_xml_node(el) for el in root.iter() if name(el.tag) == "Outage"]
    return [n for n in nodes if n["@type"] == "Outage"], _index(nodes)


def _index(nodes: list[Any]) -> dict[str, Node]:
    """Nodes by id; a node without one (a PositionPoint pointing at its Location) is kept under a key of its own."""
    return {n.get("@id") or f"\0{i}": n for i, n in enumerate(nodes) if isinstance(n, dict)}


# ---- JSON → nodes -----------------------------------------------------------------------------------------------


def _json_node(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_node(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"@id"}:
        return {"@ref": _ref(str(value["@id"]))}
    out: Node = {}
    for key, v in value.items():
        if key == "@id":
            out["@id"] = _ref(str(v))
        elif key == "@type":
            out["@type"] = name(str(v[0] if isinstance(v, list) and v else v))
        elif not key.startswith("@"):
            out[name(key)] = _json_node(v)
    return out


def _json_outages(doc: Any, depth: int = 0) -> Iterator[Node]:
    if depth > 6:
        return
    if isinstance(doc, list):
        for item in doc:
            yield from _json_outages(item, depth + 1)
    elif isinstance(doc, dict):
        if doc.get("@type") == "Outage":
            yield doc
            return
        for key, value in doc.items():
            if key == "Outage":
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict):
                        yield {"@type": "Outage", **item}
            elif isinstance(value, dict | list):
                yield from _json_outages(value, depth + 1)


def from_json(doc: Any) -> tuple[list[Node], dict[str, Node]]:
    """(the Outage nodes, every identified node by id) of CIM JSON: JSON-LD (`@graph`, or a list of `@type`d
    nodes) or a payload (`{"Outage": [...]}` anywhere in a message, a list of records)."""
    graph = _json_node(doc["@graph"] if isinstance(doc, dict) and "@graph" in doc else doc)
    if isinstance(graph, list) and any(isinstance(n, dict) and "@type" in n for n in graph):
        return [n for n in graph if isinstance(n, dict) and n.get("@type") == "Outage"], _index(graph)
    if isinstance(graph, list):
        return [{"@type": "Outage", **n} for n in graph if isinstance(n, dict)], {}
    return list(_json_outages(graph)), {}


def looks_like_cim_json(doc: Any) -> bool:
    if isinstance(doc, dict):
        return "@graph" in doc or any(name(k) in ("Outage", "mRID") for k in doc) or "Payload" in doc
    return isinstance(doc, list) and bool(doc) and isinstance(doc[0], dict) and any(name(k) == "mRID" for k in doc[0])


# ---- nodes → records ----------------------------------------------------------------------------------------------


class _Reader:
    """Reads Outage nodes, resolving references through the document's index."""

    def __init__(self, index: dict[str, Node]) -> None:
        self.index = index
        self.points_of: dict[str, list[Node]] = {}  # Location id → its PositionPoints (PositionPoint.Location)
        for n in index.values():
            loc = n.get("Location")
            if n.get("@type") == "PositionPoint" and isinstance(loc, dict) and "@ref" in loc:
                self.points_of.setdefault(loc["@ref"], []).append(n)

    def many(self, node: Node, key: str) -> list[Any]:
        value = node.get(key)
        items = value if isinstance(value, list) else [] if value is None else [value]
        return [self.index.get(v["@ref"], v) if isinstance(v, dict) and "@ref" in v else v for v in items]

    def one(self, node: Node, key: str) -> Any:
        found = self.many(node, key)
        return found[0] if found else None

    def text(self, node: Any, *path: str) -> str | None:
        for key in path:
            node = self.one(node, key) if isinstance(node, dict) else None
        if isinstance(node, str | int | float) and not isinstance(node, bool) and str(node).strip():
            return str(node).strip()
        return None

    def ident(self, node: Any) -> str | None:
        if isinstance(node, str):
            return node.strip() or None
        if not isinstance(node, dict):
            return None
        rdf_id = str(node.get("@id") or node.get("@ref") or "").lstrip("_")  # rdf:ID is often "_" + mRID
        return self.text(node, "mRID") or self.text(node, "name") or rdf_id or None

    def location_points(self, location: Any) -> list[tuple[float, float]]:
        if not isinstance(location, dict):
            return []
        points = self.many(location, "PositionPoints") + self.points_of.get(location.get("@id", ""), [])
        out: list[tuple[float, float]] = []
        for p in sorted((p for p in points if isinstance(p, dict)), key=_sequence):
            x, y = _number(p.get("xPosition")), _number(p.get("yPosition"))
            if x is None or y is None or not -180 <= x <= 180 or not -90 <= y <= 90:
                raise InvalidInput("a CIM PositionPoint needs xPosition (longitude) and yPosition (latitude)",
                                   errors=[{"loc": "PositionPoint", "msg": f"got {p.get('xPosition')!r}, "
                                                                          f"{p.get('yPosition')!r}"}])
            out.append((x, y))
        return out

    def record(self, node: Node) -> OutageRecord:
        moi_id = self.text(node, "mRID") or str(node.get("@id") or "").lstrip("_")
        if not moi_id:
            raise InvalidInput("a CIM Outage has no mRID", errors=[{"loc": "Outage.mRID", "msg": "is missing"}])
        rec = OutageRecord(str(moi_id))
        periods = {k: self.one(node, k) for k in ("actualPeriod", "plannedPeriod", "estimatedPeriod")}
        for attr, candidates in (("start", (("actualPeriod", "start"), ("plannedPeriod", "start"),
                                            ("estimatedPeriod", "start"))),
                                 ("etr", (("estimatedPeriod", "end"), ("plannedPeriod", "end"))),
                                 ("end", (("actualPeriod", "end"),))):
            for period, member in candidates:
                value = self.text(periods[period], member) if isinstance(periods[period], dict) else None
                if value is not None:
                    setattr(rec, attr, value)
                    rec.fields[attr] = f"Outage.{period}.{member}"
                    break
        kind = self.text(node, "causeKind")  # an enumeration value, maybe as its IRI (…#OutageCauseKind.treeContact)
        causes = [c for c in (name(kind) if kind else None, self.text(node, "cause")) if c]
        rec.cause = ": ".join(causes) if causes else None
        if causes:
            rec.fields["cause"] = "Outage.cause"
        for loc in self.many(node, "Location"):
            pts = self.location_points(loc)
            if len(pts) >= 3:
                rec.polygons.append(pts)
            else:
                rec.points += pts
        for up in self.many(node, "UsagePoints"):
            up_id = self.ident(up)
            if not up_id:
                continue
            where = (self.one(up, "UsagePointLocation") or self.one(up, "Location")) if isinstance(up, dict) else None
            pts = self.location_points(where)
            rec.usage_points.append(UsagePoint(up_id, pts[0] if pts else None))
        rec.equipments = [e for e in (self.ident(x) for x in self.many(node, "Equipments")) if e]
        return rec


def _sequence(point: Node) -> float:
    return _number(point.get("sequenceNumber")) or 0.0


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def records(outages: list[Node], index: dict[str, Node]) -> list[OutageRecord]:
    reader = _Reader(index)
    return [reader.record(n) for n in outages]


def missing(rec: OutageRecord) -> list[dict[str, str]]:
    """What an OutageAndRecoveryInfo needs and the record lacks, each named as a CIM field."""
    out = []
    if rec.start is None:
        out.append({"loc": "Outage.actualPeriod.start", "msg": "the outage start is missing (actualPeriod.start; "
                                                               "for a planned outage plannedPeriod.start)"})
    if rec.etr is None and rec.end is None:
        out.append({"loc": "Outage.estimatedPeriod.end", "msg": "the estimated restoration time (ETR) is missing"})
    if rec.cause is None:
        out.append({"loc": "Outage.cause", "msg": "the cause is missing (cause or causeKind)"})
    if not (rec.polygons or rec.points or rec.usage_points or rec.equipments):
        out.append({"loc": "Outage.UsagePoints", "msg": "the affected area is missing (UsagePoints, a Location with "
                                                        "PositionPoints, or Equipments)"})
    return out
