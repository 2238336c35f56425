"""The two patch formats (core.patches): RFC 7396 merge patch and RFC 6902 JSON patch, all or nothing, errors naming
the operation and its member."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcell.core.errors import InvalidInput
from gridcell.core.patches import json_patch, merge, merge_object

KEYS = st.sampled_from(["a", "b", "c", "d"])
LEAVES = st.one_of(st.integers(), st.text(max_size=3), st.booleans())
DOCS = st.recursive(LEAVES, lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=8)
OBJECTS = st.dictionaries(KEYS, DOCS, max_size=4)
PATCHES = st.recursive(st.one_of(LEAVES, st.none()), lambda inner: st.dictionaries(KEYS, inner, max_size=3),
                       max_leaves=8)


@given(OBJECTS, st.dictionaries(KEYS, PATCHES, max_size=4))
def test_a_merge_patch_sets_what_it_names_removes_its_nulls_and_keeps_the_rest(doc: dict[str, Any],
                                                                               patch: dict[str, Any]) -> None:
    before = copy.deepcopy(doc)
    out = merge_object(doc, patch)
    assert doc == before  # the input is not changed
    for key, value in patch.items():
        if value is None:
            assert key not in out
        elif not isinstance(value, dict):
            assert out[key] == value
        else:
            assert out[key] == merge(doc.get(key), value)
    assert all(out[k] == v for k, v in doc.items() if k not in patch)
    assert merge_object(out, patch) == out  # applying it again changes nothing (RFC 7396 is idempotent)


@given(OBJECTS)
def test_adding_a_member_and_removing_it_gives_the_document_back(doc: dict[str, Any]) -> None:
    ops = [{"op": "add", "path": "/new~1member", "value": {"x": 1}}, {"op": "remove", "path": "/new~1member"}]
    assert json_patch(doc, ops) == doc
    assert json_patch(doc, ops[:1])["new/member"] == {"x": 1}


def test_a_json_patch_is_all_or_nothing_and_names_the_failing_operation() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    before = copy.deepcopy(doc)
    with pytest.raises(InvalidInput) as e:
        json_patch(doc, [{"op": "replace", "path": "/c", "value": "y"}, {"op": "remove", "path": "/a/zz"}])
    assert e.value.errors == [{"loc": "1/path", "msg": "path /a/zz does not exist"}]
    assert doc == before
    with pytest.raises(InvalidInput) as e:
        json_patch(doc, [{"op": "move", "from": "/nope", "path": "/d"}])
    assert e.value.errors[0]["loc"] == "0/from"
    with pytest.raises(InvalidInput) as e:
        json_patch(doc, [{"op": "test", "path": "/c", "value": "y"}])
    assert e.value.errors[0]["loc"] == "0"
    with pytest.raises(InvalidInput) as e:
        json_patch(doc, [{"op": "add", "path": "/d"}])  # no value
    assert e.value.errors[0]["loc"] == "0/value"
    with pytest.raises(InvalidInput) as e:
        json_patch(doc, {"op": "add"})
    assert e.value.errors[0]["loc"] == ""
    # move and copy, which the standard has and a hand-written subset lacked
    assert json_patch(doc, [{"op": "copy", "from": "/a/b/0", "path": "/a/b/-"},
                            {"op": "move", "from": "/c", "path": "/e"}]) == {"a": {"b": [1, 2, 1]}, "e": "x"}


def test_a_patch_must_leave_an_object() -> None:
    with pytest.raises(InvalidInput):
        json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    with pytest.raises(InvalidInput):
        merge_object({"a": 1}, [1])
