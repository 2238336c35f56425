"""UtcDateTime's own SQLite bind processor writes exactly what SQLAlchemy's would, so stored values and the
string comparisons SQLite makes on them do not change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from gridcell.core.db import UtcDateTime

_DIALECT = sqlite.dialect()
_OURS = UtcDateTime().bind_processor(_DIALECT)
_SQLALCHEMY = DateTime().dialect_impl(_DIALECT).bind_processor(_DIALECT)

offsets = st.one_of(st.none(), st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))))


@given(value=st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30)), tz=offsets)
def test_same_text_as_sqlalchemy_for_any_datetime(value: datetime, tz: timezone | None) -> None:
    assert _OURS is not None and _SQLALCHEMY is not None
    aware = value if tz is None else value.replace(tzinfo=tz)
    as_utc_naive = aware if tz is None else aware.astimezone(UTC).replace(tzinfo=None)
    assert _OURS(aware) == _SQLALCHEMY(as_utc_naive)


def test_order_of_stored_text_is_order_of_instants() -> None:
    assert _OURS is not None
    t = datetime(2026, 11, 26, 9, 0, 0, tzinfo=UTC)
    texts = [_OURS(t + timedelta(microseconds=d)) for d in (0, 1, 999_999, 1_000_000)]
    assert texts == sorted(texts) and texts[0] == "2026-11-26 09:00:00.000000"


def test_none_and_non_datetimes() -> None:
    assert _OURS is not None
    assert _OURS(None) is None
    with pytest.raises(TypeError):
        _OURS("2026-11-26")
