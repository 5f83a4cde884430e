"""Namespaces and filters translated to SQL (the semantics of `langgraph_hybrid_memory._filters`;
a hypothesis test checks the two agree)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import (
    MatchCondition,
)
from psycopg import sql

from langgraph_hybrid_memory._filters import validate_filter

# --------------------------------------------------------------------------------------------
# Namespaces


def scope_of(namespace: Sequence[str], depth: int) -> str:
    """The scope of a namespace: its first `depth` labels joined by ``.``.

    Labels never contain ``.`` (langgraph rejects them), so the join is unambiguous.

    Examples:
        >>> scope_of(("users", "u1", "memories"), 2)
        'users.u1'
        >>> scope_of(("docs",), 2)
        'docs'
    """
    return ".".join(namespace[:depth])


def prefix_upper_bound(prefix: Sequence[str]) -> list[str]:
    """The smallest array greater than every array that starts with `prefix` (C collation).

    Every namespace ``n`` with ``n[:k] == prefix`` satisfies ``prefix <= n < bound`` and no other
    does: the last label gets a ``\\x01`` appended, and labels cannot contain ``\\x00``.

    Examples:
        >>> prefix_upper_bound(["users", "john"])
        ['users', 'john\\x01']
    """
    return [*prefix[:-1], prefix[-1] + "\x01"]


def prefix_condition(
    alias: str, prefix: Sequence[str], depth: int
) -> tuple[sql.Composable, list[Any]]:
    """SQL condition "the namespace in `alias` starts with the labels of `prefix`".

    Whole labels only and every character literal: it compares arrays, never uses ``LIKE``.
    A prefix as long as the scope also pins ``scope``, which is the primary key's first column
    (and the distribution column under Citus).
    """
    a = sql.Identifier(alias)
    if not prefix:
        return sql.SQL("TRUE"), []
    parts: list[sql.Composable] = []
    params: list[Any] = []
    if len(prefix) >= depth:
        parts.append(sql.SQL("{}.scope = %s").format(a))
        params.append(scope_of(prefix, depth))
    if len(prefix) != depth:
        parts.append(
            sql.SQL(
                '{a}.namespace >= %s::text[] COLLATE "C" AND {a}.namespace < %s::text[] COLLATE "C"'
                " AND {a}.namespace[1:%s] = %s::text[]"
            ).format(a=a)
        )
        params += [list(prefix), prefix_upper_bound(prefix), len(prefix), list(prefix)]
    return sql.SQL(" AND ").join(parts), params


def match_condition(alias: str, cond: MatchCondition) -> tuple[sql.Composable, list[Any]]:
    a = sql.Identifier(alias)
    path = list(cond.path)
    if not path:
        return sql.SQL("TRUE"), []
    parts: list[sql.Composable] = [sql.SQL("cardinality({}.namespace) >= %s").format(a)]
    params: list[Any] = [len(path)]
    if cond.match_type == "prefix":
        lead = 0
        while lead < len(path) and path[lead] != "*":
            lead += 1
        if lead:
            lead_sql, lead_params = prefix_condition(alias, path[:lead], 10**6)
            parts.append(lead_sql)
            params += lead_params
        for i, label in enumerate(path[lead:], start=lead + 1):
            if label != "*":
                parts.append(sql.SQL("{}.namespace[%s] = %s").format(a))
                params += [i, label]
    elif cond.match_type == "suffix":
        n = len(path)
        for i, label in enumerate(path):
            if label != "*":
                parts.append(
                    sql.SQL("{a}.namespace[cardinality({a}.namespace) - %s] = %s").format(a=a)
                )
                params += [n - 1 - i, label]
    else:
        raise ValueError(f"unknown match type {cond.match_type!r}; use 'prefix' or 'suffix'")
    return sql.SQL(" AND ").join(parts), params


# --------------------------------------------------------------------------------------------
# Filters -> SQL


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_operator_dict(condition: Any) -> bool:
    return isinstance(condition, Mapping) and any(
        isinstance(k, str) and k.startswith("$") for k in condition
    )


def _jsonb(value: Any) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def filter_condition(
    expr: sql.Composable, filter: Mapping[str, Any] | None
) -> tuple[sql.Composable, list[Any]]:
    """Translate a `_filters` filter on the jsonb expression `expr` (an item's value) to SQL.

    The result is a boolean that is never NULL, with the semantics of `_filters.matches`
    (tested against it with random values and filters). A missing field is SQL NULL (``->``
    with a text key gives NULL for a missing key and for a non-object); JSON ``null`` is
    ``'null'::jsonb``.
    """
    validate_filter(filter)
    if not filter:
        return sql.SQL("TRUE"), []
    return _fields_condition(_Expr(expr, []), filter)


@dataclass(frozen=True)
class _Expr:
    """A SQL expression with its own parameters (repeated at every use)."""

    sql: sql.Composable
    params: list[Any]


def _fields_condition(parent: _Expr, fields: Mapping[str, Any]) -> tuple[sql.Composable, list[Any]]:
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for name, condition in fields.items():
        child = _Expr(sql.SQL("({} -> %s::text)").format(parent.sql), [*parent.params, name])
        c_sql, c_params = _condition(child, condition)
        parts.append(c_sql)
        params += c_params
    return sql.SQL("(") + sql.SQL(" AND ").join(parts) + sql.SQL(")"), params


def _use(template: str, e: _Expr, n: int, *extra: Any) -> tuple[sql.Composable, list[Any]]:
    """Fill `template`'s ``{0}`` (used `n` times, before any ``%s``) with `e`."""
    return sql.SQL(template).format(e.sql), [*(e.params * n), *extra]


def _condition(e: _Expr, condition: Any) -> tuple[sql.Composable, list[Any]]:
    if _is_operator_dict(condition):
        parts: list[sql.Composable] = []
        params: list[Any] = []
        for op, operand in condition.items():
            s, p = _operator(e, op, operand)
            parts.append(s)
            params += p
        return sql.SQL("(") + sql.SQL(" AND ").join(parts) + sql.SQL(")"), params
    if isinstance(condition, Mapping):
        # Partial match on a nested object: the stored value must be an object.
        head, head_params = _use("COALESCE(jsonb_typeof({0}) = 'object', FALSE)", e, 1)
        if not condition:
            return head, head_params
        inner, inner_params = _fields_condition(e, condition)
        return sql.SQL("({} AND {})").format(head, inner), [*head_params, *inner_params]
    return _equals(e, condition)


def _equals(e: _Expr, operand: Any) -> tuple[sql.Composable, list[Any]]:
    if operand is None:
        return _use("({0} IS NULL OR {0} = 'null'::jsonb)", e, 2)
    return _use("COALESCE({0} = %s::jsonb, FALSE)", e, 1, _jsonb(operand))


def _operator(e: _Expr, op: str, operand: Any) -> tuple[sql.Composable, list[Any]]:
    if op == "$eq":
        return _equals(e, operand)
    if op == "$ne":
        s, p = _equals(e, operand)
        return sql.SQL("NOT ") + s, p
    if op in ("$in", "$nin"):
        non_null = [_jsonb(x) for x in operand if x is not None]
        if any(x is None for x in operand):
            s, p = _in_with_null(e, non_null)
        else:
            s, p = _use("COALESCE({0} = ANY(%s::jsonb[]), FALSE)", e, 1, non_null)
        return (sql.SQL("NOT ") + s if op == "$nin" else s), p
    if op == "$exists":
        return _use("({0} IS NOT NULL)" if operand else "({0} IS NULL)", e, 1)
    cmp = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
    if is_number(operand):
        # jsonb compares numbers as numbers (9 < 10), unlike text.
        return _use(
            "COALESCE(jsonb_typeof({0}) = 'number' AND {0} " + cmp + " %s::jsonb, FALSE)",
            e,
            2,
            _jsonb(operand),
        )
    # Strings by code point, like Python: UTF-8 byte order under the C collation.
    return _use(
        "COALESCE(jsonb_typeof({0}) = 'string' AND ({0} #>> '{{}}') COLLATE \"C\" "
        + cmp
        + ' %s::text COLLATE "C", FALSE)',
        e,
        2,
        operand,
    )


def containment(filter: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A JSON object every value matching `filter` contains (jsonb ``@>``), or None if the
    filter has no such part: a necessary condition, which a GIN ``jsonb_path_ops`` index on
    the values answers (`items_value_idx`); the filter's own SQL still decides.

    Equality (a plain value or ``$eq``) implies containment, as does a partial match on a
    nested object; a ``None`` operand (it matches a missing field) and the other operators
    give nothing. Call `validate_filter` first.

    Examples:
        >>> containment({"tag": "rare", "n": {"$gt": 3}, "meta": {"lang": {"$eq": "en"}}})
        {'tag': 'rare', 'meta': {'lang': 'en'}}
        >>> containment({"n": {"$gt": 3}, "x": None}) is None
        True
    """
    out: dict[str, Any] = {}
    for name, condition in (filter or {}).items():
        if _is_operator_dict(condition):
            if "$eq" in condition:
                operand = condition["$eq"]
                if operand is not None:
                    out[name] = operand
        elif isinstance(condition, Mapping):
            inner = containment(condition)
            if inner:
                out[name] = inner
        elif condition is not None:
            out[name] = condition
    return out or None


def containment_condition(
    alias: str, filter: Mapping[str, Any] | None
) -> tuple[sql.Composable, list[Any]] | None:
    """``alias.value @> %s::jsonb`` for `containment` (None when the filter has none)."""
    doc = containment(filter)
    if doc is None:
        return None
    return sql.SQL("{}.value @> %s::jsonb").format(sql.Identifier(alias)), [_jsonb(doc)]


def _in_with_null(e: _Expr, non_null: list[str]) -> tuple[sql.Composable, list[Any]]:
    s = sql.SQL("(COALESCE({0} = ANY(%s::jsonb[]), FALSE) OR {0} IS NULL OR {0} = 'null'::jsonb)")
    return s.format(e.sql), [*e.params, non_null, *e.params, *e.params]
