"""core.prepared answers exactly what Session.execute answers, on SQLite and PostgreSQL: expanding lists of
any length (padded to their bucket), literal IN lists, LIMIT, datetime parameters and JSON / datetime
results through the column types."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import JSON, Column, Float, Integer, MetaData, String, Table, bindparam, select
from sqlalchemy.orm import registry

from gridcell.core import prepared
from gridcell.core.db import Database, UtcDateTime

_meta = MetaData()
_T = Table(f"prepared_probe_{os.getpid()}", _meta,
           Column("pk", Integer, primary_key=True), Column("name", String(20), nullable=False),
           Column("at", UtcDateTime, nullable=False), Column("data", JSON, nullable=True),
           Column("x", Float, nullable=False))
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
ROWS = [{"pk": i, "name": "abcde"[i % 5], "at": T0 + timedelta(minutes=i),
         "data": None if i % 7 == 0 else {"i": i, "tags": ["x"] * (i % 3)}, "x": i / 4} for i in range(1, 61)]

BY_PKS = select(_T.c.pk, _T.c.name, _T.c.at, _T.c.data).where(
    _T.c.pk.in_(bindparam("pks", expanding=True)), _T.c.name != "e").order_by(_T.c.pk)
LITERAL_IN_LIMIT = select(_T.c.pk, _T.c.at, _T.c.x).where(
    _T.c.name.in_(["a", "c"]), _T.c.at <= bindparam("until")).order_by(_T.c.pk.desc()).limit(5)
TWO_LISTS = select(_T.c.pk).where(_T.c.pk.in_(bindparam("pks", expanding=True)),
                                  _T.c.name.in_(bindparam("names", expanding=True))).order_by(_T.c.pk)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "postgresql":
        from tests.conftest import PG_URL, postgres_available

        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        url = PG_URL
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('prepared') / 'p.db'}"
    db = Database(url, sqlite_synchronous="NORMAL")
    _meta.create_all(db.engine)
    with db.write() as s:
        s.execute(_T.insert(), ROWS)
    yield db
    _meta.drop_all(db.engine)
    db.dispose()


def _same(db: Database, stmt: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with db.read() as s:
        expected = [tuple(r) for r in s.execute(stmt, params).all()]
        got = prepared.rows(s, stmt, params)
    assert got == expected
    return got


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pks=st.lists(st.integers(min_value=-5, max_value=70), max_size=40))
def test_expanding_lists_of_any_length(store: Database, pks: list[int]) -> None:
    got = _same(store, BY_PKS, {"pks": pks})
    assert [r[0] for r in got] == sorted({p for p in pks if 1 <= p <= 60 and "abcde"[p % 5] != "e"})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pks=st.lists(st.integers(min_value=1, max_value=60), max_size=20),
       names=st.lists(st.sampled_from("abcdez"), max_size=6))
def test_two_lists_in_one_statement(store: Database, pks: list[int], names: list[str]) -> None:
    _same(store, TWO_LISTS, {"pks": pks, "names": names})


@pytest.mark.parametrize("minutes", [0, 10, 59, 600])
def test_literal_in_list_limit_and_datetime_parameter(store: Database, minutes: int) -> None:
    got = _same(store, LITERAL_IN_LIMIT, {"until": T0 + timedelta(minutes=minutes)})
    expected = sorted((i for i in range(1, 61) if "abcde"[i % 5] in "ac" and i <= minutes), reverse=True)[:5]
    assert [r[0] for r in got] == expected
    assert all(r[1].tzinfo is not None and r[1] == T0 + timedelta(minutes=r[0]) for r in got)
    assert all(isinstance(r[2], float) and r[2] == r[0] / 4 for r in got)


def test_json_and_datetime_columns_decode(store: Database) -> None:
    got = _same(store, BY_PKS, {"pks": [7, 8, 9]})
    assert got == [(7, "c", T0 + timedelta(minutes=7), None),
                   (8, "d", T0 + timedelta(minutes=8), {"i": 8, "tags": ["x", "x"]})]  # 9 is "e"


class _Probe:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


registry().map_imperatively(_Probe, _T)


def test_pending_orm_changes_are_flushed_first(store: Database) -> None:
    """As Session.execute would autoflush: an object added in this unit of work is seen (then rolled back)."""
    with store.read() as s:
        s.add(_Probe(pk=99, name="a", at=T0, data=None, x=0.5))
        assert prepared.rows(s, BY_PKS, {"pks": [99]}) == [(99, "a", T0, None)]
        s.rollback()
    with store.read() as s:
        assert prepared.rows(s, BY_PKS, {"pks": [99]}) == []


_INSERT = _T.insert()
_UPDATE = _T.update().where(_T.c.pk == bindparam("k")).values(name=bindparam("v"), at=bindparam("t"))


def test_execute_many_writes_typed_values_and_refuses_rows_missing_a_value(store: Database) -> None:
    rows = [{"pk": 100 + i, "name": "w", "at": T0 + timedelta(hours=i), "data": {"w": [i]}, "x": i * 1.5}
            for i in range(5)]
    with store.write() as s:
        prepared.execute_many(s, _INSERT, rows)
        prepared.execute_many(s, _UPDATE, [{"k": 101, "v": "u", "t": T0}, {"k": 103, "v": "u", "t": T0}])
        with pytest.raises(ValueError, match="lack"):
            prepared.execute_many(s, _UPDATE, [{"k": 102, "v": "u"}])
    with store.read() as s:
        got = s.execute(select(_T.c.pk, _T.c.name, _T.c.at, _T.c.data, _T.c.x).where(_T.c.pk >= 100)
                        .order_by(_T.c.pk)).all()
    assert [tuple(r) for r in got] == [
        (100 + i, "u" if i in (1, 3) else "w", T0 if i in (1, 3) else T0 + timedelta(hours=i), {"w": [i]}, i * 1.5)
        for i in range(5)]
    with store.write() as s:
        s.execute(_T.delete().where(_T.c.pk >= 100))


def test_insert_returning_many_rows_over_several_statements(store: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared, "INSERT_PARAMS_MAX", 12)  # 5 columns: two rows per statement
    rows = [{"pk": 200 + i, "name": "r", "at": T0 + timedelta(seconds=i), "data": {"r": i}, "x": i + 0.25}
            for i in range(5)]
    with store.write() as s:
        back = prepared.insert_returning(s, _T, rows, ("pk", "at", "x"))
    assert sorted(back) == [(200 + i, T0 + timedelta(seconds=i), i + 0.25) for i in range(5)]
    with store.read() as s:
        got = s.execute(select(_T.c.data).where(_T.c.pk >= 200).order_by(_T.c.pk)).scalars().all()
    assert got == [{"r": i} for i in range(5)]
    with store.write() as s:
        s.execute(_T.delete().where(_T.c.pk >= 200))
