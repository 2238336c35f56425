"""The vectorised parser (Arrow, read straight from its buffers) and the per-line parser agree on any valid
upload, NDJSON or CSV, with or without the optional fields."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcell.telemetry import parse

T0 = datetime(2026, 11, 26, tzinfo=UTC)

rows = st.lists(st.fixed_dictionaries({
    "cpe": st.sampled_from(["CPE-1", "CPE-2", "cpe 3"]),
    "plmn": st.sampled_from(["26201", "26202", "310410"]),
    "ts": st.integers(0, 10**6).map(lambda s: (T0 + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")),
    "ok": st.booleans(),
    "rtt_ms": st.none() | st.floats(0, 5000, allow_nan=False).map(lambda v: round(v, 2)),
    "cell": st.none() | st.sampled_from(["C1", "C2"]),
    "rsrp": st.none() | st.floats(-140, -40, allow_nan=False).map(lambda v: round(v, 1)),
    "sinr": st.none() | st.floats(-20, 40, allow_nan=False).map(lambda v: round(v, 1)),
}), min_size=1, max_size=40)


@contextmanager
def _fast_only() -> Iterator[None]:
    """The vectorised path must take these uploads itself, not fall back to the per-line parser."""
    saved = parse._ndjson_slow, parse._csv_slow

    def refuse(*_a: Any) -> parse.Columns:
        raise AssertionError("the vectorised parser fell back to the per-line parser")

    parse._ndjson_slow, parse._csv_slow = refuse, refuse  # type: ignore[assignment]
    try:
        yield
    finally:
        parse._ndjson_slow, parse._csv_slow = saved


def _same(a: parse.Columns, b: parse.Columns) -> None:
    def decoded(c: parse.Columns) -> list[tuple[Any, ...]]:
        return [(c.cpe_values[c.cpe_codes[i]], c.plmn_values[c.plmn_codes[i]],
                 None if c.cell_codes[i] < 0 else c.cell_values[c.cell_codes[i]], int(c.ts_ms[i]), bool(c.ok[i]),
                 *(None if np.isnan(x[i]) else float(x[i]) for x in (c.rtt_ms, c.rsrp, c.sinr)), int(c.line[i]))
                for i in range(len(c))]
    assert decoded(a) == decoded(b)


@settings(max_examples=60, deadline=None)
@given(rows)
def test_fast_and_per_line_ndjson_agree(items: list[dict[str, Any]]) -> None:
    body = b"\n".join(orjson.dumps({k: v for k, v in r.items() if v is not None or k == "rtt_ms"}) for r in items)
    with _fast_only():
        fast = parse.parse_ndjson(body)
    lines = body.split(b"\n")
    _same(fast, parse._ndjson_slow(lines, np.arange(1, len(lines) + 1, dtype=np.int64)))


@settings(max_examples=60, deadline=None)
@given(rows)
def test_fast_and_per_line_csv_agree(items: list[dict[str, Any]]) -> None:
    header = list(items[0])
    text = ",".join(header) + "\n" + "\n".join(
        ",".join("" if r[h] is None else ("1" if r[h] is True else "0" if r[h] is False else str(r[h]))
                 for h in header) for r in items)
    with _fast_only():
        fast = parse.parse_csv(text.encode())
    raw = text.encode().split(b"\n")
    _same(fast, parse._csv_slow(header, raw[1:], np.arange(2, len(raw) + 1, dtype=np.int64)))


def test_an_upload_spanning_several_parse_blocks_keeps_its_rows_in_order() -> None:
    """NDJSON is parsed in 2 MB blocks on several threads: rows, blank lines and line numbers must come out
    exactly as one pass over the lines gives them."""
    import random

    rnd = random.Random(5)
    lines: list[bytes] = []
    for i in range(80_000):  # ~7 MB: three blocks and more
        if i % 997 == 0:
            lines.append(b"")
            continue
        row: dict[str, Any] = {"cpe": f"CPE-{rnd.randrange(3000)}", "plmn": rnd.choice(["26201", "26202"]),
                               "ts": (T0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "ok": rnd.random() > 0.1, "rtt_ms": round(rnd.uniform(5, 90), 1)}
        if rnd.random() > 0.5:
            row["cell"] = f"C{rnd.randrange(40)}"
        lines.append(orjson.dumps(row))
    body = b"\n".join(lines)
    assert len(body) > 3 * parse.NDJSON_BLOCK
    with _fast_only():
        fast = parse.parse_ndjson(body)
    keep = [i for i, ln in enumerate(lines) if ln]
    _same(fast, parse._ndjson_slow([lines[i] for i in keep], np.array(keep, dtype=np.int64) + 1))


def _lines(cpe: str, n: int) -> bytes:
    return b"".join(b'{"cpe": "%s", "plmn": "26201", "ts": "2026-12-01T10:%02d:00Z", "ok": true, "rtt_ms": 21}\n'
                    % (cpe.encode(), i) for i in range(n))


def test_every_gzip_member_is_read() -> None:
    import gzip

    from gridcell.telemetry import parse as p

    body = gzip.compress(_lines("A", 10)) + gzip.compress(_lines("B", 10))  # cat a.gz b.gz
    assert p.decompress(body) == _lines("A", 10) + _lines("B", 10)
    cols = p.parse(body, "application/x-ndjson", "gzip")
    assert len(cols) == 20


def test_a_truncated_or_corrupt_gzip_body_is_refused() -> None:
    import gzip

    import pytest

    from gridcell.core.errors import InvalidInput
    from gridcell.telemetry import parse as p

    whole = gzip.compress(_lines("A", 10))
    for bad in (whole[:-4], whole[:-8], whole[: len(whole) // 2], whole + gzip.compress(b"x")[:-3],
                whole[:10] + b"\xff" * 20 + whole[30:]):
        with pytest.raises(InvalidInput):
            p.decompress(bad)


def test_nan_and_infinite_measurements_are_refused_naming_the_line() -> None:
    """An RTT of NaN is a broken probe, not a missing one: refused on every path, where absence stays absence."""
    import pytest

    from gridcell.core.errors import InvalidInput

    ok = b'{"cpe": "A", "plmn": "26201", "ts": "2026-12-01T10:00:00Z", "ok": true}\n'
    assert np.isnan(parse.parse(ok, "application/x-ndjson").rtt_ms[0])
    bad_csv = [b"cpe,plmn,ts,ok,rtt_ms\nA,26201,2026-12-01T10:00:00Z,1,21\nA,26201,2026-12-01T10:01:00Z,1,%s\n" % v
               for v in (b"nan", b"NaN", b"inf", b"-inf")]
    bad_ndjson = [ok + b'{"cpe": "A", "plmn": "26201", "ts": "2026-12-01T10:01:00Z", "ok": true, "%s": %s}\n'
                  % (k, v) for k in (b"rtt_ms", b"rsrp") for v in (b"NaN", b"Infinity", b"1e999")]
    for body, kind in [(b, "text/csv") for b in bad_csv] + [(b, "application/x-ndjson") for b in bad_ndjson]:
        with pytest.raises(InvalidInput) as caught:
            parse.parse(body, kind)
        assert caught.value.errors and caught.value.errors[0]["line"] in (2, 3), (body, caught.value.errors)
