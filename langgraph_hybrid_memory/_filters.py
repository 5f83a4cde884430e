"""Filter semantics shared by every store of the package.

One definition, so a filter means the same thing in `PgVectorStore` (translated to SQL), in
`LocalStore` and in the `HybridStore` cache (evaluated here in Python). Tests check the SQL
translations against `matches`.

A filter is a dict ``{field: condition}``; all fields must match (AND).

* ``field`` is a top-level key of the stored value, taken literally (a dot is part of the name, as
  in langgraph's stores). Reach nested fields with a nested dict: ``{"meta": {"lang": "en"}}``.
* A condition that is not a dict means equality: ``{"kind": "fact"}``.
* A dict whose keys all start with ``$`` is a set of operators (AND):
  ``{"n": {"$gte": 3, "$lt": 9}}``.
* A dict with no ``$`` keys is a partial match on a nested object: every listed key must match,
  recursively; other keys of the stored object are ignored. Mixing ``$`` and plain keys is an error.

Operators (the stored value ...):

* ``$eq``: equals the operand. JSON equality: ``1 == 1.0``, ``true != 1``, lists element-wise,
  objects exactly.
* ``$ne``: does not equal it; a missing field matches.
* ``$gt $gte $lt $lte``: compares with the operand: numbers as numbers (9 < 10), strings as
  strings by code point; a value of the other type, a bool, null or a missing field never matches.
* ``$in``: equals one of the operand's items (operand: a list).
* ``$nin``: equals none of them; a missing field matches.
* ``$exists``: is present (``true``, even if null) or absent (``false``).

Equality with ``None`` (``{"k": None}``) matches a null or a missing field.

Operands are JSON, as stored values are. A NaN or an infinity anywhere in a filter (a plain
value, an operator's operand, an ``$in`` item) has no JSON meaning, and no stored value can be
one (values refuse them), so it is refused with `FilterError` (``argument="filter"``), the same
in every store, rather than given a made-up meaning (langgraph's `InMemoryStore` raises a bare
``TypeError`` for some, and ``{"$ne": nan}`` would silently match every item). NUL characters
and lone surrogates cannot be stored either and are refused the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from langgraph_hybrid_memory.errors import InvalidInputError

__all__ = [
    "COMPARISON_OPERATORS",
    "OPERATORS",
    "FilterError",
    "json_equal",
    "matches",
    "validate_filter",
]

_MAX_FILTER_DEPTH = 100

COMPARISON_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})
OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists"}) | COMPARISON_OPERATORS

_MISSING: Any = object()


class FilterError(InvalidInputError):
    """A search filter is malformed; the message says where and what is accepted."""

    def __init__(self, message: str, *, argument: str = "filter") -> None:
        super().__init__(message, argument=argument)


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\x00), which no stored value can hold"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate and is not valid Unicode"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_operator_dict(condition: Any) -> bool:
    return isinstance(condition, Mapping) and any(
        isinstance(k, str) and k.startswith("$") for k in condition
    )


def validate_filter(filter: Mapping[str, Any] | None) -> None:
    """Raise `FilterError` if `filter` is not a valid filter; return None if it is.

    Examples:
        >>> validate_filter({"score": {"$gt": 5}, "tags": {"$in": ["a", "b"]}})
        >>> validate_filter({"score": {"$between": [1, 2]}})
        Traceback (most recent call last):
        ...
        langgraph_hybrid_memory._filters.FilterError: filter['score']: unknown operator ...
    """
    if filter is None:
        return
    if not isinstance(filter, Mapping):
        raise FilterError(
            f"filter must be a dict of field -> condition, got {type(filter).__name__}"
        )
    _validate_fields(filter, "filter", 1)


def _validate_fields(fields: Mapping[Any, Any], where: str, depth: int) -> None:
    if depth > _MAX_FILTER_DEPTH:
        raise FilterError(f"{where}: nested more than {_MAX_FILTER_DEPTH} levels deep")
    for field, condition in fields.items():
        if not isinstance(field, str) or not field:
            raise FilterError(f"{where}: field names must be non-empty strings, got {field!r}")
        why = _bad_text(field)
        if why:
            raise FilterError(f"{where}: field name {field[:40]!r} {why}")
        if field.startswith("$"):
            raise FilterError(
                f"{where}: {field!r} is an operator where a field name was expected; write "
                f"{{'field': {{{field!r}: value}}}}"
            )
        _validate_condition(condition, f"{where}[{field!r}]", depth + 1)


def _validate_condition(condition: Any, where: str, depth: int) -> None:
    if not isinstance(condition, Mapping):
        _validate_json(condition, where)
        return
    keys = list(condition)
    dollar = [k for k in keys if isinstance(k, str) and k.startswith("$")]
    if not dollar:
        _validate_fields(condition, where, depth)
        return
    if len(dollar) != len(keys):
        raise FilterError(
            f"{where}: mixes operators ({', '.join(dollar)}) with field names; "
            "use either operators or a nested object"
        )
    for op, operand in condition.items():
        if op not in OPERATORS:
            raise FilterError(
                f"{where}: unknown operator {op!r}; supported: {', '.join(sorted(OPERATORS))}"
            )
        if op in COMPARISON_OPERATORS:
            if not (_is_number(operand) or isinstance(operand, str)):
                raise FilterError(
                    f"{where}: {op} needs a number or a string, got {type(operand).__name__}"
                )
            _validate_json(operand, f"{where}[{op}]")
        elif op in ("$in", "$nin"):
            if not isinstance(operand, (list, tuple)):
                raise FilterError(f"{where}: {op} needs a list, got {type(operand).__name__}")
            for i, item in enumerate(operand):
                _validate_json(item, f"{where}[{op}][{i}]")
        elif op == "$exists":
            if not isinstance(operand, bool):
                raise FilterError(f"{where}: $exists needs true or false, got {operand!r}")
        else:
            _validate_json(operand, f"{where}[{op}]")


def _validate_json(value: Any, where: str, depth: int = 1) -> None:
    if depth > _MAX_FILTER_DEPTH:
        raise FilterError(f"{where}: nested more than {_MAX_FILTER_DEPTH} levels deep")
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, str):
        why = _bad_text(value)
        if why:
            raise FilterError(f"{where}: the string {value[:40]!r} {why}")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(
                f"{where}: {value!r} is not a JSON number, and no stored value can be one (values "
                "refuse NaN and infinities), so it could match or bound nothing; filter on a "
                "finite number, or on None / {'$exists': False} for a null or missing field"
            )
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _validate_json(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, Mapping):
        for k, item in value.items():
            if not isinstance(k, str):
                raise FilterError(f"{where}: object keys must be strings, got {k!r}")
            why = _bad_text(k)
            if why:
                raise FilterError(f"{where}: the object key {k[:40]!r} {why}")
            _validate_json(item, f"{where}[{k!r}]", depth + 1)
        return
    raise FilterError(f"{where}: {type(value).__name__} is not a JSON value")


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (1 == 1.0), bools distinct from numbers, lists in order,
    objects with the same keys and equal values (as PostgreSQL's ``jsonb =``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if type(a) is not type(b) and not (a is None or b is None):
        return False
    return bool(a == b)


def matches(value: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Whether a stored item value satisfies `filter` (call `validate_filter` first).

    Examples:
        >>> matches({"n": 10, "meta": {"lang": "en"}}, {"n": {"$gt": 9}, "meta": {"lang": "en"}})
        True
        >>> matches({"n": "10"}, {"n": {"$gt": 9}})
        False
    """
    if not filter:
        return True
    return all(_matches_condition(value.get(f, _MISSING), c) for f, c in filter.items())


def _matches_condition(stored: Any, condition: Any) -> bool:
    if _is_operator_dict(condition):
        return all(_apply(stored, op, operand) for op, operand in condition.items())
    if isinstance(condition, Mapping):
        if not isinstance(stored, Mapping):
            return False
        return all(_matches_condition(stored.get(k, _MISSING), c) for k, c in condition.items())
    return _equals(stored, condition)


def _equals(stored: Any, operand: Any) -> bool:
    if stored is _MISSING:
        return operand is None
    return json_equal(stored, operand)


def _apply(stored: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return _equals(stored, operand)
    if op == "$ne":
        return not _equals(stored, operand)
    if op == "$in":
        return any(_equals(stored, item) for item in operand)
    if op == "$nin":
        return not any(_equals(stored, item) for item in operand)
    if op == "$exists":
        return bool((stored is not _MISSING) == operand)
    # Range operators: only like with like; anything else never matches.
    if _is_number(operand):
        if not _is_number(stored):
            return False
    elif not (isinstance(stored, str) and isinstance(operand, str)):
        return False
    if op == "$gt":
        return bool(stored > operand)
    if op == "$gte":
        return bool(stored >= operand)
    if op == "$lt":
        return bool(stored < operand)
    return bool(stored <= operand)
