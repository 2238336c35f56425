"""plan.compute on its own, over random worlds: loss intervals, unknown autonomy, and non-interference between
MNOs (nothing in an MNO's view moves when only another MNO's sites change)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from gridcell.outages import plan, views
from gridcell.outages.plan import DsoSite, MemoryServing, OutageFacts, PowerEvidence, RanSite, SpatialIndex

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
START = NOW - timedelta(minutes=20)
MNOS = ("mA", "mB")
PLMN = {"mA": "26201", "mB": "26202"}


def _world(draw: Any) -> tuple[list[RanSite], list[DsoSite], dict[tuple[int, str], set[int]]]:
    n_ran = draw(st.integers(2, 8))
    autonomy = st.one_of(st.none(), st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]))
    ran = [RanSite(i + 1, MNOS[i % 2], f"R{i}", draw(st.floats(0, 1)), draw(st.floats(0, 1)), draw(autonomy), None)
           for i in range(n_ran)]
    sites = [DsoSite(100 + j, f"S{j}", f"S{j}", "secondary_substation", draw(st.floats(0, 1)), draw(st.floats(0, 1)),
                     draw(st.integers(0, 400)), "normal", None) for j in range(draw(st.integers(1, 6)))]
    serving: dict[tuple[int, str], set[int]] = {}
    for s in sites:
        for m in MNOS:
            if draw(st.booleans()):
                mine = [r.pk for r in ran if r.org_id == m]
                serving[(s.pk, PLMN[m])] = set(draw(st.lists(st.sampled_from(mine), min_size=1, max_size=2)))
    return ran, sites, serving


@st.composite
def worlds(draw: Any) -> dict[str, Any]:
    ran, sites, serving = _world(draw)
    area = box(draw(st.floats(0, 0.5)), draw(st.floats(0, 0.5)), draw(st.floats(0.5, 1)), draw(st.floats(0.5, 1)))
    end = draw(st.one_of(st.none(), st.integers(10, 600)))
    rapid = draw(st.one_of(st.none(), st.integers(0, 240)))
    facts = OutageFacts(moi_id="o", dso_id="d", start=START,
                        expected_end=None if end is None else START + timedelta(minutes=end), actual_end=None,
                        rapid_time=None if rapid is None else START + timedelta(minutes=rapid),
                        rapid_duration_min=draw(st.integers(0, 120)), area=area)
    other = [RanSite(r.pk, r.org_id, r.site_id, r.lon, r.lat, draw(st.sampled_from([None, 0.1, 3.0, 9.0])), r.bus)
             if r.org_id == "mB" else r for r in ran]
    return {"ran": ran, "other": other, "sites": sites, "serving": serving, "facts": facts}


def _compute(ran: list[RanSite], sites: list[DsoSite], serving: Any, facts: OutageFacts) -> dict[str, Any]:
    index = SpatialIndex(ran, [(s.pk, s.lon, s.lat, s.bus) for s in sites])

    def evidence(pks: list[int]) -> dict[int, PowerEvidence]:
        return {}

    return plan.compute(facts, index, MemoryServing(serving, {s.pk: s for s in sites}), evidence, NOW)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_an_mnos_view_does_not_move_with_another_mnos_batteries(w: dict[str, Any]) -> None:
    a = _compute(w["ran"], w["sites"], w["serving"], w["facts"])
    b = _compute(w["other"], w["sites"], w["serving"], w["facts"])
    assert views.mno_view(a, "mA", NOW) == views.mno_view(b, "mA", NOW)
    assert a["mnoAnswers"].get("mA") == b["mnoAnswers"].get("mA")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_losses_and_answers_follow_the_batteries(w: dict[str, Any]) -> None:
    p = _compute(w["ran"], w["sites"], w["serving"], w["facts"])
    ran = {r.pk: r for r in w["ran"]}
    rows = {r["ranSitePk"]: r for r in p["ranSites"]}
    for pk, r in rows.items():
        autonomy = ran[pk].autonomy_h
        # Unknown autonomy is unknown, never zero; known autonomy counts from the outage start.
        expected = None if autonomy is None else plan.iso(START + timedelta(hours=autonomy))
        assert r["darkAt"] == expected and r["autonomyKnown"] == (autonomy is not None)
    for site, plmns in zip(p["dsoSitePks"], p["dsoSites"], strict=True):
        for lost in plmns["plmnsLost"]:
            serving = w["serving"][(site, lost["plmn"])]
            assert all(pk in rows for pk in serving)  # lost only when every serving RAN site is affected
            darks = [rows[pk]["darkAt"] for pk in serving]
            assert lost["at"] == (None if None in darks else max(darks))
    for mno, answer in p["mnoAnswers"].items():
        known = [r["darkAt"] for r in p["ranSites"] if r["mnoId"] == mno and r["darkAt"] is not None]
        if known:
            first = datetime.fromisoformat(min(known).replace("Z", "+00:00"))
            assert answer["computed"]["mnoMaxServiceDuration"] == (first - START) // timedelta(minutes=1)
        else:
            assert "mnoMaxServiceDuration" not in answer["computed"]  # unknown, not 0
