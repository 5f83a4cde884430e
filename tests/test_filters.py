"""The package's filter semantics (`_filters`), which every store shares (invariant 7)."""

from __future__ import annotations

from typing import Any

import pytest

from langgraph_hybrid_memory._filters import FilterError, json_equal, matches, validate_filter

VALUE: dict[str, Any] = {
    "n": 10,
    "f": 2.5,
    "s": "banana",
    "b": True,
    "z": None,
    "tags": ["a", "b"],
    "meta": {"lang": "en", "score": 7, "deep": {"x": 1}},
    "a.b": "dotted",
}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"n": 10}, True),
        ({"n": 10.0}, True),
        ({"n": "10"}, False),
        ({"b": True}, True),
        ({"b": 1}, False),  # JSON: true is not 1
        ({"n": {"$gt": 9}}, True),  # numbers compare as numbers: 10 > 9
        ({"n": {"$gt": 9.5, "$lt": 11}}, True),
        ({"n": {"$lte": 9}}, False),
        ({"s": {"$gt": "apple"}}, True),
        ({"s": {"$gt": 5}}, False),  # string vs number: never matches
        ({"n": {"$gt": "5"}}, False),
        ({"b": {"$gt": 0}}, False),  # bools are not numbers
        ({"missing": {"$lt": 100}}, False),
        ({"z": {"$gt": 0}}, False),
        ({"n": {"$ne": 11}}, True),
        ({"missing": {"$ne": 1}}, True),
        ({"n": {"$in": [1, 10]}}, True),
        ({"n": {"$in": []}}, False),
        ({"n": {"$nin": [1, 2]}}, True),
        ({"missing": {"$nin": [1]}}, True),
        ({"z": {"$exists": True}}, True),
        ({"missing": {"$exists": False}}, True),
        ({"n": {"$exists": False}}, False),
        ({"z": None}, True),
        ({"missing": None}, True),
        ({"tags": ["a", "b"]}, True),
        ({"tags": ["b", "a"]}, False),
        ({"meta": {"lang": "en"}}, True),  # nested partial match
        ({"meta": {"lang": "fr"}}, False),
        ({"meta": {"score": {"$gte": 7}, "deep": {"x": 1}}}, True),
        ({"meta": {"$eq": {"lang": "en"}}}, False),  # $eq on an object is exact
        ({"s": {"lang": "en"}}, False),  # nested match on a non-object
        ({"a.b": "dotted"}, True),  # dots are literal
        ({"meta.lang": "en"}, False),
        ({"n": 10, "s": "banana"}, True),
        ({"n": 10, "s": "cherry"}, False),
        ({}, True),
    ],
)
def test_matches(flt: dict[str, Any], expected: bool) -> None:
    validate_filter(flt)
    assert matches(VALUE, flt) is expected


@pytest.mark.parametrize(
    ("flt", "fragment"),
    [
        ({"n": {"$between": [1, 2]}}, "unknown operator '$between'"),
        ({"n": {"$gt": [1]}}, "$gt needs a number or a string"),
        ({"n": {"$gt": None}}, "$gt needs a number or a string"),
        ({"n": {"$in": 3}}, "$in needs a list"),
        ({"n": {"$exists": "yes"}}, "$exists needs true or false"),
        ({"n": {"$gt": 1, "x": 2}}, "mixes operators"),
        ({"$gt": 1}, "is an operator where a field name was expected"),
        ({"": 1}, "non-empty strings"),
        ({"n": object()}, "object is not a JSON value"),
        ({"n": float("inf")}, "not a JSON number"),
        # NaN has no JSON meaning either: refused, not "equals nothing" (issue #16).
        ({"n": float("nan")}, "nan is not a JSON number"),
        ({"n": {"$gt": float("nan")}}, "filter['n'][$gt]: nan is not a JSON number"),
        ({"n": {"$ne": float("nan")}}, "filter['n'][$ne]: nan"),
        ({"n": {"$in": [1, float("nan")]}}, "filter['n'][$in][1]: nan"),
        ({"n": {"$lte": float("-inf")}}, "-inf is not a JSON number"),
        ({"meta": {"score": float("nan")}}, "filter['meta']['score']: nan"),
        ({"meta": {"deep": {"$foo": 1}}}, "filter['meta']['deep']: unknown operator"),
    ],
)
def test_invalid_filters_are_named(flt: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FilterError) as err:
        validate_filter(flt)
    assert fragment in str(err.value)
    assert isinstance(err.value, ValueError)


def test_filter_must_be_a_dict() -> None:
    with pytest.raises(FilterError, match="must be a dict"):
        validate_filter([("n", 1)])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (None, None, True),
        ("1", 1, False),
        ([1, {"a": 2}], [1.0, {"a": 2}], True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal
    assert json_equal(b, a) is equal
