"""Query analytics and access counts read back: the library calls behind ``lghm stats
--queries``. They read the tables `_usage` writes (``query_log``/``item_access`` in PostgreSQL,
``lghm_query_log``/``lghm_item_access`` in the local file)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from psycopg import Connection, sql

from langgraph_hybrid_memory._usage import percentile

__all__ = ["AccessStats", "QueryStats", "UserQueryStats", "local_usage_stats", "pg_usage_stats"]


@dataclass(frozen=True)
class LoggedQuery:
    query: str | None
    """None unless the log keeps texts (``store_text``)."""
    latency_ms: float
    result_count: int
    mode: str
    at: float
    """Seconds since the epoch."""


@dataclass(frozen=True)
class UserQueryStats:
    user: str
    queries: int
    p50_ms: float | None
    p95_ms: float | None
    zero_results: int
    slowest: list[LoggedQuery]
    zero_result_queries: list[LoggedQuery]


@dataclass(frozen=True)
class AccessStats:
    user: str
    accessed_items: int
    accesses: int
    top: list[tuple[str, str, int]] = field(default_factory=list)
    """(namespace, key, access count), most accessed first."""


@dataclass(frozen=True)
class QueryStats:
    """Per user (the second label of ``("users", ID, ...)``; other prefixes by their scope)."""

    users: list[UserQueryStats]
    access: list[AccessStats]


def _user_of(prefix: list[str] | tuple[str, ...], scope: str) -> str:
    if len(prefix) >= 2 and prefix[0] == "users":
        return prefix[1]
    return scope or "(all)"


def _summarise(rows: list[tuple[str, LoggedQuery]], top: int) -> list[UserQueryStats]:
    by_user: dict[str, list[LoggedQuery]] = {}
    for user, q in rows:
        by_user.setdefault(user, []).append(q)
    out = []
    for user, qs in sorted(by_user.items()):
        lat = [q.latency_ms for q in qs]
        zero = [q for q in qs if q.result_count == 0]
        out.append(
            UserQueryStats(
                user=user,
                queries=len(qs),
                p50_ms=percentile(lat, 50),
                p95_ms=percentile(lat, 95),
                zero_results=len(zero),
                slowest=sorted(qs, key=lambda q: -q.latency_ms)[:top],
                zero_result_queries=sorted(zero, key=lambda q: -q.at)[:top],
            )
        )
    return out


def pg_usage_stats(
    conn: Connection[Any], schema: str = "memory", *, user: str | None = None, top: int = 5
) -> QueryStats:
    """Query and access statistics from PostgreSQL (`user`: one user only)."""
    cond = sql.SQL("TRUE") if user is None else sql.SQL("namespace_prefix[2] = %s")
    params: list[Any] = [] if user is None else [user]
    rows = conn.execute(
        sql.SQL(
            "SELECT scope, namespace_prefix, query, latency_ms, result_count, mode, "
            "extract(epoch FROM created_at)::float8 AS at FROM {t} WHERE {c}"
        ).format(t=sql.Identifier(schema, "query_log"), c=cond),
        params,
    ).fetchall()
    logged = [
        (
            _user_of(r["namespace_prefix"], r["scope"]),
            LoggedQuery(r["query"], r["latency_ms"], r["result_count"], r["mode"], r["at"]),
        )
        for r in rows
    ]
    acond = sql.SQL("TRUE") if user is None else sql.SQL("namespace[2] = %s")
    arows = conn.execute(
        sql.SQL(
            "SELECT namespace, key, access_count FROM {t} WHERE namespace[1] = 'users' AND {c} "
            "ORDER BY access_count DESC, namespace, key"
        ).format(t=sql.Identifier(schema, "item_access"), c=acond),
        params,
    ).fetchall()
    return QueryStats(
        _summarise(logged, top),
        _access([(list(r["namespace"]), r["key"], r["access_count"]) for r in arows], top),
    )


def _access(rows: list[tuple[list[str], str, int]], top: int) -> list[AccessStats]:
    by_user: dict[str, list[tuple[str, str, int]]] = {}
    for ns, key, n in rows:
        if len(ns) >= 2:
            by_user.setdefault(ns[1], []).append((".".join(ns), key, n))
    return [
        AccessStats(u, len(items), sum(n for *_, n in items), items[:top])
        for u, items in sorted(by_user.items())
    ]


def local_usage_stats(
    conn: sqlite3.Connection, *, user: str | None = None, top: int = 5
) -> QueryStats:
    """The same from the local file (no tables yet: empty statistics)."""
    have = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE name IN ('lghm_query_log', 'lghm_item_access')"
        )
    }
    logged: list[tuple[str, LoggedQuery]] = []
    if "lghm_query_log" in have:
        for scope, prefix, query, ms, n, mode, at in conn.execute(
            "SELECT scope, namespace_prefix, query, latency_ms, result_count, mode, created_at "
            "FROM lghm_query_log"
        ):
            u = _user_of(prefix.split(".") if prefix else [], scope)
            if user is None or u == user:
                logged.append((u, LoggedQuery(query, ms, n, mode, at)))
    arows: list[tuple[list[str], str, int]] = []
    if "lghm_item_access" in have:
        for ns, key, n in conn.execute(
            "SELECT namespace, key, access_count FROM lghm_item_access "
            "ORDER BY access_count DESC, namespace, key"
        ):
            labels = ns.split(".")
            if labels[:1] == ["users"] and (user is None or labels[1:2] == [user]):
                arows.append((labels, key, n))
    return QueryStats(_summarise(logged, top), _access(arows, top))
