"""Outage records from a DSO's systems: IEC 61968 CIM `Outage` as CIMXML, as an IEC 61968-100 XML payload and as
CIM JSON (JSON-LD and payload), and ODIN; the start, the ETR, the cause and the area are kept, or the record is
refused naming the missing field (the CLI exits 2), and nothing is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gridcell.core.errors import InvalidInput
from gridcell.outages import importers
from gridcell.outages import service as outages
from gridcell.outages.models import OutageInfo
from tests.conftest import PLMN_A, fresh_database
from tests.outages.conftest import FAULT_LINE, GRID, STATIONS, GridEnv, site_id
from tests.outages.schema3gpp import validate_moi

# CIMXML (IEC 61970-552 RDF/XML): the periods as nested and as parseType="Resource" compounds, associations as
# rdf:resource references, a usage point located through UsagePointLocation and PositionPoint.Location, and one
# whose mRID is a DSO site id.
CIMXML = """<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:cim="http://iec.ch/TC57/CIM100#">
  <cim:Outage rdf:ID="_OUT-77">
    <cim:IdentifiedObject.mRID>OUT-77</cim:IdentifiedObject.mRID>
    <cim:IdentifiedObject.name>Storm damage on feeder 62</cim:IdentifiedObject.name>
    <cim:Outage.isPlanned>false</cim:Outage.isPlanned>
    <cim:Outage.actualPeriod rdf:parseType="Resource">
      <cim:DateTimeInterval.start>2026-11-20T08:00:00Z</cim:DateTimeInterval.start>
    </cim:Outage.actualPeriod>
    <cim:Outage.estimatedPeriod>
      <cim:DateTimeInterval>
        <cim:DateTimeInterval.end>2026-11-20T12:00:00+01:00</cim:DateTimeInterval.end>
      </cim:DateTimeInterval>
    </cim:Outage.estimatedPeriod>
    <cim:Outage.cause>tree fell on the overhead line</cim:Outage.cause>
    <cim:Outage.Equipments rdf:resource="#_LINE"/>
    <cim:Outage.UsagePoints rdf:resource="#_UP-1"/>
    <cim:Outage.UsagePoints rdf:resource="#_UP-2"/>
  </cim:Outage>
  <cim:ACLineSegment rdf:ID="_LINE">
    <cim:IdentifiedObject.mRID>mv_oberrhein/line:LINE</cim:IdentifiedObject.mRID>
  </cim:ACLineSegment>
  <cim:UsagePoint rdf:ID="_UP-1">
    <cim:IdentifiedObject.mRID>UP-1</cim:IdentifiedObject.mRID>
    <cim:UsagePoint.UsagePointLocation rdf:resource="#_LOC-UP-1"/>
  </cim:UsagePoint>
  <cim:UsagePointLocation rdf:ID="_LOC-UP-1"/>
  <cim:PositionPoint>
    <cim:PositionPoint.Location rdf:resource="#_LOC-UP-1"/>
    <cim:PositionPoint.sequenceNumber>1</cim:PositionPoint.sequenceNumber>
    <cim:PositionPoint.xPosition>7.8012</cim:PositionPoint.xPosition>
    <cim:PositionPoint.yPosition>48.4203</cim:PositionPoint.yPosition>
  </cim:PositionPoint>
  <cim:UsagePoint rdf:ID="_UP-2">
    <cim:IdentifiedObject.mRID>SITE</cim:IdentifiedObject.mRID>
  </cim:UsagePoint>
</rdf:RDF>"""

# An IEC 61968-100 message with an XSD-style Outages payload: a planned outage, its area a Location polygon whose
# PositionPoints come out of order (sequenceNumber orders them).
PAYLOAD_XML = """<?xml version="1.0" encoding="UTF-8"?>
<msg:RequestMessage xmlns:msg="http://iec.ch/TC57/2011/schema/message" xmlns:m="http://iec.ch/TC57/CIM-outages#">
  <msg:Header><msg:Verb>create</msg:Verb><msg:Noun>Outages</msg:Noun></msg:Header>
  <msg:Payload>
    <m:Outages>
      <m:Outage>
        <m:mRID>PLAN-5</m:mRID>
        <m:isPlanned>true</m:isPlanned>
        <m:causeKind>maintenance</m:causeKind>
        <m:cause>transformer replacement</m:cause>
        <m:plannedPeriod><m:start>2026-12-10T07:00:00Z</m:start><m:end>2026-12-10T15:30:00Z</m:end></m:plannedPeriod>
        <m:Location>
          <m:PositionPoints><m:sequenceNumber>3</m:sequenceNumber><m:xPosition>7.80</m:xPosition>
            <m:yPosition>48.44</m:yPosition></m:PositionPoints>
          <m:PositionPoints><m:sequenceNumber>1</m:sequenceNumber><m:xPosition>7.75</m:xPosition>
            <m:yPosition>48.40</m:yPosition></m:PositionPoints>
          <m:PositionPoints><m:sequenceNumber>4</m:sequenceNumber><m:xPosition>7.75</m:xPosition>
            <m:yPosition>48.44</m:yPosition></m:PositionPoints>
          <m:PositionPoints><m:sequenceNumber>2</m:sequenceNumber><m:xPosition>7.80</m:xPosition>
            <m:yPosition>48.40</m:yPosition></m:PositionPoints>
        </m:Location>
      </m:Outage>
    </m:Outages>
  </msg:Payload>
</msg:RequestMessage>"""

# CIM JSON-LD: an outage already over (actualPeriod.end), so no ETR is needed; the cause an enumeration IRI.
JSON_LD = {"@context": {"cim": "http://iec.ch/TC57/CIM100#"}, "@graph": [
    {"@id": "_OUT-88", "@type": "cim:Outage", "cim:IdentifiedObject.mRID": "OUT-88",
     "cim:Outage.actualPeriod": {"cim:DateTimeInterval.start": "2026-11-21T06:00:00Z",
                                 "cim:DateTimeInterval.end": "2026-11-21T08:15:00Z"},
     "cim:Outage.causeKind": "http://iec.ch/TC57/CIM100#OutageCauseKind.lightningStrike",
     "cim:Outage.UsagePoints": [{"@id": "_UP-9"}]},
    {"@id": "_UP-9", "@type": "cim:UsagePoint", "cim:IdentifiedObject.mRID": "UP-9",
     "cim:UsagePoint.UsagePointLocation": {"@id": "_LOC-9"}},
    {"@id": "_LOC-9", "@type": "cim:UsagePointLocation"},
    {"@id": "_PP-9", "@type": "cim:PositionPoint", "cim:PositionPoint.Location": {"@id": "_LOC-9"},
     "cim:PositionPoint.xPosition": "7.81", "cim:PositionPoint.yPosition": "48.43"}]}

# CIM JSON as an IEC 61968-100 payload: the XSD's element names as keys.
JSON_PAYLOAD: dict[str, Any] = {"Header": {"Verb": "create", "Noun": "Outages"}, "Payload": {"Outages": {"Outage": [{
    "mRID": "OUT-99", "actualPeriod": {"start": "2026-11-22T10:00:00Z"},
    "estimatedPeriod": {"end": "2026-11-22T13:00:00Z"}, "cause": "cable fault",
    "Equipments": [{"mRID": "mv_oberrhein/line:LINE"}]}]}}}


def _cimxml() -> str:
    return CIMXML.replace("LINE", str(FAULT_LINE)).replace(">SITE<", f">{site_id('S-DOWN')}<")


def _circles(attrs: dict[str, Any]) -> list[tuple[float, float, int]]:
    return [(c["referenceLocation"]["longitude"], c["referenceLocation"]["latitude"], c["distanceRadius"])
            for a in attrs["affectedArea"]["outageArea"] if (c := a["geoArea"].get("geoCircle"))]


def _imported(genv: GridEnv, text: str) -> dict[str, int]:
    fmt, records = importers.parse(text)
    assert fmt == "cim"
    with genv.db.write() as s:
        return outages.import_records(s, genv.world.dso.id, records)


def test_cimxml_keeps_start_etr_cause_and_area(genv: GridEnv) -> None:
    try:
        assert _imported(genv, _cimxml()) == {"created": 1, "updated": 0}
        moi = genv.moi("OUT-77")
        validate_moi(moi, "OutageAndRecoveryInfo-Single")
        attrs = moi["attributes"]
        assert attrs["outageStartTime"] == "2026-11-20T08:00:00Z"
        assert attrs["expectedOutageEndTime"] == "2026-11-20T11:00:00Z"  # 12:00+01:00
        assert attrs["outageCause"] == "tree fell on the overhead line"
        assert attrs["affectedArea"]["energySupplyId"] == f"{GRID}/line:{FAULT_LINE}"
        lon, lat = genv.coords[STATIONS["S-DOWN"]]
        assert sorted(_circles(attrs)) == sorted([(7.8012, 48.4203, 100), (lon, lat, 100)])
        assert genv.attrs("OUT-77", "mno")["outageCause"] == attrs["outageCause"]  # the MNOs read it too
        phase = genv.plan("OUT-77")["phases"][0]
        assert len(phase["buses"]) == 44 and site_id("S-DOWN") in phase["stations"]  # line 0 trips its feeder
        # Imported again: the same MOI, updated, still the record's own times.
        assert _imported(genv, _cimxml()) == {"created": 0, "updated": 1}
        assert genv.attrs("OUT-77")["outageStartTime"] == "2026-11-20T08:00:00Z"
    finally:
        genv.delete("OUT-77")


def test_61968_100_xml_payload_of_a_planned_outage(genv: GridEnv) -> None:
    try:
        assert _imported(genv, PAYLOAD_XML) == {"created": 1, "updated": 0}
        attrs = genv.attrs("PLAN-5")
        assert (attrs["outageStartTime"], attrs["expectedOutageEndTime"]) == ("2026-12-10T07:00:00Z",
                                                                             "2026-12-10T15:30:00Z")
        assert attrs["outageCause"] == "maintenance: transformer replacement"
        ring = [(p["longitude"], p["latitude"])
                for p in attrs["affectedArea"]["outageArea"][0]["geoArea"]["geoPolygon"]]
        assert ring == [(7.75, 48.40), (7.80, 48.40), (7.80, 48.44), (7.75, 48.44)]  # in sequenceNumber order
        validate_moi(genv.moi("PLAN-5"), "OutageAndRecoveryInfo-Single")
    finally:
        genv.delete("PLAN-5")


def test_cim_json_ld_and_payload(genv: GridEnv) -> None:
    try:
        assert _imported(genv, json.dumps(JSON_LD)) == {"created": 1, "updated": 0}
        attrs = genv.attrs("OUT-88")
        assert (attrs["outageStartTime"], attrs["actualOutageEndTime"]) == ("2026-11-21T06:00:00Z",
                                                                           "2026-11-21T08:15:00Z")
        assert "expectedOutageEndTime" not in attrs and attrs["outageCause"] == "lightningStrike"
        assert _circles(attrs) == [(7.81, 48.43, 100)]
        assert genv.plan("OUT-88")["status"] == "closed"
        payload = json.dumps(JSON_PAYLOAD).replace("LINE", str(FAULT_LINE))
        assert _imported(genv, payload) == {"created": 1, "updated": 0}
        attrs = genv.attrs("OUT-99")
        assert (attrs["outageStartTime"], attrs["expectedOutageEndTime"], attrs["outageCause"]) == (
            "2026-11-22T10:00:00Z", "2026-11-22T13:00:00Z", "cable fault")
        assert attrs["affectedArea"] == {"energySupplyId": f"{GRID}/line:{FAULT_LINE}"}
    finally:
        genv.delete("OUT-88")
        genv.delete("OUT-99")


@pytest.mark.parametrize(("drop", "field"), [
    (("<cim:Outage.actualPeriod rdf:parseType=\"Resource\">", "</cim:Outage.actualPeriod>"),
     "Outage.actualPeriod.start"),
    (("<cim:Outage.estimatedPeriod>", "</cim:Outage.estimatedPeriod>"), "Outage.estimatedPeriod.end"),
    (("<cim:Outage.cause>", "</cim:Outage.cause>"), "Outage.cause"),
    (("<cim:Outage.Equipments", "rdf:resource=\"#_UP-2\"/>"), "Outage.UsagePoints"),
])
def test_a_record_missing_what_an_outage_needs_is_refused_naming_it(genv: GridEnv, drop: tuple[str, str],
                                                                    field: str) -> None:
    text = _cimxml()
    start, end = text.index(drop[0]), text.index(drop[1]) + len(drop[1])
    with pytest.raises(InvalidInput) as exc:
        importers.parse(text[:start] + text[end:])
    assert field in exc.value.detail and any(e["loc"] == f"OUT-77/{field}" for e in exc.value.errors)


def test_a_usage_point_neither_located_nor_a_site_is_refused_and_nothing_is_imported(genv: GridEnv) -> None:
    record = JSON_PAYLOAD["Payload"]["Outages"]["Outage"][0]
    both = json.dumps({"Outage": [{**record, "mRID": "OUT-A"},
                                  {**record, "mRID": "OUT-B", "UsagePoints": [{"mRID": "METER-404"}]}]})
    _, records = importers.parse(both.replace("LINE", str(FAULT_LINE)))
    with pytest.raises(InvalidInput) as exc, genv.db.write() as s:
        outages.import_records(s, genv.world.dso.id, records)
    assert "METER-404" in exc.value.detail and exc.value.errors[0]["loc"].startswith("OUT-B/Outage.UsagePoints")
    with genv.db.read() as s:  # the first record was rolled back with the second
        assert s.scalars(select(OutageInfo).where(OutageInfo.moi_id.in_(["OUT-A", "OUT-B"]))).all() == []


def test_odin(genv: GridEnv) -> None:
    odin = {"outages": [{"outageId": "ODIN 1", "startTime": "2026-11-21T06:00:00Z",
                         "estimatedRestorationTime": "2026-11-21T09:30:00Z", "cause": "storm",
                         "geometry": {"type": "Polygon", "coordinates": [[[7.75, 48.40], [7.80, 48.40], [7.80, 48.44],
                                                                          [7.75, 48.40]]]}}]}
    fmt, records = importers.parse(json.dumps(odin))
    assert fmt == "odin" and records[0].moi_id == "ODIN-1"
    try:
        with genv.db.write() as s:
            assert outages.import_records(s, genv.world.dso.id, records) == {"created": 1, "updated": 0}
        moi = genv.moi("ODIN-1")
        validate_moi(moi, "OutageAndRecoveryInfo-Single")
        assert (moi["attributes"]["expectedOutageEndTime"], moi["attributes"]["outageCause"]) == (
            "2026-11-21T09:30:00Z", "storm")
    finally:
        genv.delete("ODIN-1")
    del odin["outages"][0]["startTime"]
    with pytest.raises(InvalidInput, match="startTime"):
        importers.parse(json.dumps(odin))


def test_cli_imports(tmp_path: Path) -> None:
    """The commands against their own store: a grid with an MNO's placed RAN sites, then CIMXML records; a record
    without its ETR exits 2 naming the field and imports nothing."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = fresh_database(url)
    from gridcell.tenancy import service as tenancy

    with db.write() as s:
        dso = tenancy.create_org(s, "DSO", "dso")
        mno = tenancy.create_org(s, "MNO", "mno")
        s.flush()
        tenancy.create_agreement(s, dso, mno, [PLMN_A], "cell")
    envvars = {**os.environ, "GRIDCELL_DATABASE_URL": url, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-c", "from gridcell.cli import main; main()"]
    r = subprocess.run([*cmd, "import", "pandapower", GRID, "--org", dso, "--mno", mno, "--place-ran-sites", "1732",
                        "--plmn", PLMN_A], capture_output=True, text=True, env=envvars, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["buses"] == 179 and out["stations"] >= 141 and out["ranSitesPlaced"] > 0
    good = tmp_path / "cim.xml"
    good.write_text(CIMXML.replace("LINE", str(FAULT_LINE)).replace(">SITE<", f">{GRID}-bus111<"), encoding="utf-8")
    r = subprocess.run([*cmd, "import", "outages", str(good), "--org", dso], capture_output=True, text=True,
                       env=envvars, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"format": "cim", "created": 1, "updated": 0}
    with db.read() as s:
        row = s.scalars(select(OutageInfo).where(OutageInfo.moi_id == "OUT-77")).one()
        assert (row.attributes["outageStartTime"], row.attributes["expectedOutageEndTime"],
                row.attributes["outageCause"]) == ("2026-11-20T08:00:00Z", "2026-11-20T11:00:00Z",
                                                   "tree fell on the overhead line")
    text = good.read_text(encoding="utf-8").replace("OUT-77", "OUT-78")
    start, end = text.index("<cim:Outage.estimatedPeriod>"), text.index("</cim:Outage.estimatedPeriod>")
    bad = tmp_path / "no-etr.xml"
    bad.write_text(text[:start] + text[end + len("</cim:Outage.estimatedPeriod>"):], encoding="utf-8")
    r = subprocess.run([*cmd, "import", "outages", str(bad), "--org", dso], capture_output=True, text=True,
                       env=envvars, timeout=120)
    assert r.returncode == 2 and "Outage.estimatedPeriod.end" in r.stderr, (r.returncode, r.stderr)
    with db.read() as s:
        assert s.scalars(select(OutageInfo.moi_id)).all() == ["OUT-77"]
    db.dispose()
