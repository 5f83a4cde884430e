"""`dedup`: merge duplicate memories within one user's scope, as a library call.

Agents that write a fact again under a new key (langmem-style tools) leave near-copies behind;
read-time collapsing (`_quality`, ``index["collapse"]``) hides them from searches, `dedup`
removes them for good. Within ``("users", user_id)`` the items are clustered, newest first, by
the same rule as collapsing: the same hash of the indexed text, or a cosine similarity of at
least `threshold` between the stored vectors. Each cluster keeps its newest item; the others are
recorded in the ``memory_duplicates`` table (the duplicate's namespace, key and value, the kept
original's namespace and key, the content hash, the similarity, the method ``"hash"`` or
``"cosine"``, the time) and deleted through the store's own ``batch``: in hybrid mode that writes
the tombstones, so a late flush cannot bring a duplicate back. A dry run (the default) only
reports.

Stores: `PgVectorStore`, `AsyncPgVectorStore` (`adedup`), `LocalStore` and `HybridStore` (read
and recorded on PostgreSQL, deleted through the hybrid store). Tables: ``memory_duplicates`` in
the store's schema (numbered migrations in ``memory_quality_migrations``), or
``lghm_memory_duplicates`` in the local file.

Examples:
    >>> import tempfile, os
    >>> from langgraph_hybrid_memory import LocalStore
    >>> path = os.path.join(tempfile.mkdtemp(), "m.sqlite")
    >>> index = {"fields": ["text"], "search_mode": "keyword"}
    >>> with LocalStore.from_conn_string(path, index=index) as s:
    ...     for k in ("a", "b"):
    ...         s.put(("users", "u1", "memories"), k, {"text": "likes tea"})
    ...     report = dedup(s, "u1")
    ...     (report.scanned, len(report.duplicates), report.removed)
    ...     dedup(s, "u1", apply=True).removed
    (2, 1, 0)
    1
"""

from __future__ import annotations

import json
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from langgraph.store.base import BaseStore, PutOp, SearchItem
from psycopg import sql

from langgraph_hybrid_memory._embeddings import text_hash
from langgraph_hybrid_memory._quality import DEFAULT_THRESHOLD, Candidate, cluster, content_hash
from langgraph_hybrid_memory._quality_schema import (
    QUALITY_MIGRATIONS_TABLE,
    QUALITY_PG_MIGRATIONS,
    SQLITE_QUALITY_TABLES,
)
from langgraph_hybrid_memory.errors import ConfigError

__all__ = [
    "DedupReport",
    "Duplicate",
    "adedup",
    "dedup",
]


@dataclass(frozen=True)
class Duplicate:
    """One item that duplicates a newer one (the original, which is kept)."""

    namespace: tuple[str, ...]
    key: str
    original_namespace: tuple[str, ...]
    original_key: str
    content_hash: str
    similarity: float
    method: Literal["hash", "cosine"]
    value: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class DedupReport:
    """What `dedup` found and (with ``apply=True``) did."""

    user_id: str
    threshold: float
    dry_run: bool
    scanned: int
    """Items in the user's scope."""
    groups: int
    """Distinct memories (clusters) among them."""
    duplicates: list[Duplicate]
    removed: int
    """Items deleted (0 in a dry run)."""
    recorded: int
    """Rows written to the duplicates table (0 in a dry run)."""


def _check(user_id: Any, threshold: Any) -> tuple[str, float]:
    if not isinstance(user_id, str) or not user_id or "." in user_id or "\x00" in user_id:
        raise ConfigError(
            f"user_id must be a non-empty string without '.' or NUL (a namespace label), "
            f"got {user_id!r}"
        )
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
        or not 0 < threshold <= 1
    ):
        raise ConfigError(f"threshold must be a number above 0 up to 1, got {threshold!r}")
    return user_id, float(threshold)


Row = tuple[tuple[str, ...], str, dict[str, Any], datetime, list[str], Any]


def _plan_report(
    user_id: str, threshold: float, rows: Sequence[Row], *, dry_run: bool
) -> tuple[DedupReport, list[Duplicate]]:
    """Cluster `rows` (namespace, key, value, updated_at, texts, vector) newest first."""
    ordered = sorted(rows, key=lambda r: (r[3], r[0], r[1]), reverse=True)
    cands = [
        Candidate(
            item=SearchItem(ns, key, value, ts, ts),
            hash=content_hash(texts) if texts else text_hash(json.dumps(value, sort_keys=True)),
            vector=vec,
        )
        for ns, key, value, ts, texts, vec in ordered
    ]
    dups: list[Duplicate] = []
    groups = cluster(cands, threshold)
    for group in groups:
        head = group[0]
        for c in group[1:]:
            same = c.hash == head.hash
            sim = 1.0
            if not same and c.vector is not None and head.vector is not None:
                a, b = c.vector, head.vector
                sim = float(a @ b / ((np.linalg.norm(a) * np.linalg.norm(b)) or 1.0))
            dups.append(
                Duplicate(
                    namespace=tuple(c.item.namespace),
                    key=c.item.key,
                    original_namespace=tuple(head.item.namespace),
                    original_key=head.item.key,
                    content_hash=c.hash,
                    similarity=round(sim, 6),
                    method="hash" if same else "cosine",
                    value=c.item.value,
                )
            )
    report = DedupReport(user_id, threshold, dry_run, len(rows), len(groups), dups, 0, 0)
    return report, dups


# -- PostgreSQL (PgVectorStore, AsyncPgVectorStore, HybridStore's remote) ---------------------


def _pg_plan(
    store: Any, user_id: str, threshold: float, apply: bool
) -> Generator[Any, Any, tuple[DedupReport, list[Duplicate]]]:
    from langgraph_hybrid_memory.store._values import indexed_texts
    from langgraph_hybrid_memory.store.base import Sql

    items = sql.Identifier(store.schema, "items")
    vectors = sql.Identifier(store.schema, "vectors")
    rows = yield Sql(
        sql.SQL(
            "SELECT i.namespace, i.key, i.value, i.updated_at, "
            "(SELECT avg(v.embedding)::float4[] FROM {vectors} v WHERE v.scope = i.scope "
            "AND v.namespace = i.namespace AND v.key = i.key) AS emb "
            "FROM {items} i WHERE i.namespace[1] = 'users' AND i.namespace[2] = %s"
        ).format(items=items, vectors=vectors),
        (user_id,),
    )
    idx = store.index
    parsed: list[Row] = []
    for r in rows:
        texts = [t for _, t in indexed_texts(idx, r["value"], None)[0]] if idx is not None else []
        vec = np.asarray(r["emb"], dtype=np.float32) if r["emb"] is not None else None
        parsed.append((tuple(r["namespace"]), r["key"], r["value"], r["updated_at"], texts, vec))
    report, dups = _plan_report(user_id, threshold, parsed, dry_run=not apply)
    if apply and dups:
        scope = ".".join(["users", user_id][: store.scope_depth])
        yield Sql(
            sql.SQL(
                "INSERT INTO {t} (scope, namespace, key, value, original_namespace, original_key, "
                "content_hash, similarity, method) SELECT %s, string_to_array(q.ns, '.'), q.key, "
                "q.value::jsonb, string_to_array(q.ons, '.'), q.okey, q.h, q.sim, q.m FROM "
                "unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
                "%s::float8[], %s::text[]) AS q(ns, key, value, ons, okey, h, sim, m)"
            ).format(t=sql.Identifier(store.schema, "memory_duplicates")),
            (
                scope,
                [".".join(d.namespace) for d in dups],
                [d.key for d in dups],
                [json.dumps(d.value) for d in dups],
                [".".join(d.original_namespace) for d in dups],
                [d.original_key for d in dups],
                [d.content_hash for d in dups],
                [d.similarity for d in dups],
                [d.method for d in dups],
            ),
        )
    return report, dups


# -- LocalStore --------------------------------------------------------------------------------


def _local_rows(store: Any, user_id: str) -> list[Row]:
    from langgraph_hybrid_memory.localstore import base as lb

    lo_eq, lo, hi = lb.namespace_range(("users", user_id))
    out: list[Row] = []
    with store.db.read() as conn:
        found = conn.execute(
            "SELECT id, namespace, key, value, updated_at FROM lghm_store "
            "WHERE namespace = ? OR (namespace >= ? AND namespace < ?)",
            (lo_eq, lo, hi),
        ).fetchall()
        vecs: dict[int, list[npt.NDArray[np.float32]]] = {}
        ids = [r[0] for r in found]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            q = lb.VECTORS_OF_ITEMS + "(" + ",".join("?" * len(chunk)) + ")"
            for item_id, blob in conn.execute(q, chunk):
                vecs.setdefault(item_id, []).append(np.frombuffer(blob, dtype="<f4"))
    for item_id, ns, key, value, updated in found:
        parsed = json.loads(value)
        texts = (
            [t for _, t in lb.texts_for(parsed, store._fields)] if store._fields is not None else []
        )
        v = vecs.get(item_id)
        out.append(
            (
                lb.decode_namespace(ns),
                key,
                parsed,
                datetime.fromtimestamp(updated, timezone.utc),
                texts,
                np.mean(v, axis=0).astype(np.float32) if v else None,
            )
        )
    return out


def _local_record(store: Any, dups: Sequence[Duplicate]) -> None:
    import time

    with store.db.transaction() as conn:
        for stmt in SQLITE_QUALITY_TABLES:
            conn.execute(stmt)
        conn.executemany(
            "INSERT INTO lghm_memory_duplicates (namespace, key, value, original_namespace, "
            "original_key, content_hash, similarity, method, detected_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    ".".join(d.namespace),
                    d.key,
                    json.dumps(d.value),
                    ".".join(d.original_namespace),
                    d.original_key,
                    d.content_hash,
                    d.similarity,
                    d.method,
                    time.time(),
                )
                for d in dups
            ],
        )


# -- the calls ---------------------------------------------------------------------------------


def _deletes(dups: Sequence[Duplicate]) -> list[PutOp]:
    return [PutOp(d.namespace, d.key, None) for d in dups]


def _done(report: DedupReport, dups: Sequence[Duplicate]) -> DedupReport:
    return DedupReport(
        report.user_id,
        report.threshold,
        False,
        report.scanned,
        report.groups,
        list(dups),
        len(dups),
        len(dups),
    )


def setup_quality_tables(conn: Any, schema: str) -> None:
    """Run the ``memory_duplicates`` migrations on a sync autocommit connection."""
    from langgraph_hybrid_memory._migrations import run_migrations

    run_migrations(conn, QUALITY_PG_MIGRATIONS, schema=schema, table=QUALITY_MIGRATIONS_TABLE)


def dedup(
    store: BaseStore,
    user_id: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    apply: bool = False,
) -> DedupReport:
    """Find (and with ``apply=True`` merge) duplicate memories in ``("users", user_id)``.

    Args:
        store: a `PgVectorStore`, `LocalStore` or `HybridStore` (`adedup` for
            `AsyncPgVectorStore`).
        user_id: the user's label (exact: ``john`` and ``john_doe`` are two users).
        threshold: cosine similarity (0 < t <= 1) from which two memories are one; ``1.0``
            merges identical texts only.
        apply: delete the duplicates (keeping each cluster's newest) and record them; the
            default is a dry run that changes nothing.

    Raises:
        ConfigError: a bad `user_id` or `threshold` (named), or a store this cannot read.
    """
    from langgraph_hybrid_memory.hybridstore import HybridStore
    from langgraph_hybrid_memory.localstore import LocalStore
    from langgraph_hybrid_memory.store import PgVectorStore

    uid, t = _check(user_id, threshold)
    pg: PgVectorStore | None = None
    if isinstance(store, HybridStore):
        pg = store.remote
    elif isinstance(store, PgVectorStore):
        pg = store
    if pg is not None:
        if apply:
            with pg._borrow(pg._conn) as conn:
                setup_quality_tables(conn, pg.schema)
        report, dups = pg._run(lambda: _pg_plan(pg, uid, t, apply))
        if not apply or not dups:
            return report
        store.batch(_deletes(dups))
        return _done(report, dups)
    if isinstance(store, LocalStore):
        if not store._is_setup:
            store.setup()
        report, dups = _plan_report(uid, t, _local_rows(store, uid), dry_run=not apply)
        if not apply or not dups:
            return report
        _local_record(store, dups)
        store.batch(_deletes(dups))
        return _done(report, dups)
    raise ConfigError(
        f"dedup works on PgVectorStore, LocalStore and HybridStore, not {type(store).__name__}"
        " (use adedup for AsyncPgVectorStore)"
    )


async def adedup(
    store: BaseStore,
    user_id: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    apply: bool = False,
) -> DedupReport:
    """Async `dedup` for `AsyncPgVectorStore` (other stores run `dedup` in a worker thread)."""
    import asyncio

    from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

    uid, t = _check(user_id, threshold)
    if not isinstance(store, AsyncPgVectorStore):
        return await asyncio.to_thread(dedup, store, uid, threshold=t, apply=apply)
    if apply:
        from langgraph_hybrid_memory._migrations import arun_migrations

        async with store._borrow(store._conn) as conn:
            await arun_migrations(
                conn, QUALITY_PG_MIGRATIONS, schema=store.schema, table=QUALITY_MIGRATIONS_TABLE
            )
    report, dups = await store._run(lambda: _pg_plan(store, uid, t, apply))
    if not apply or not dups:
        return report
    await store.abatch(_deletes(dups))
    return _done(report, dups)


def report_rows(report: DedupReport) -> list[Mapping[str, Any]]:
    """The report's duplicates as plain rows (for the CLI and JSON)."""
    return [
        {
            "namespace": list(d.namespace),
            "key": d.key,
            "original_key": d.original_key,
            "method": d.method,
            "similarity": d.similarity,
            "content_hash": d.content_hash,
        }
        for d in report.duplicates
    ]
