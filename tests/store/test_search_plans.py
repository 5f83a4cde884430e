"""The plan each search shape gets, read from ``EXPLAIN`` of the statement the store really sends
(not timings), and its recall against exact numpy search.

One table of 10,000 items over 50 users (``("users", "u<j>", "memories")``), clustered 32-dim
vectors: big enough that the planner's row estimates decide the plan. The broad prefix
``("users",)`` used to get a join of every item to its vector and a sort (the planner estimated
0.5% of rows for the namespace range, which matched them all); it must read the HNSW index. A
selective filter (1% of rows) is exact, its items from the GIN index on the values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import psycopg
import pytest
from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp
from psycopg import sql

import langgraph_hybrid_memory.store as store_module
import langgraph_hybrid_memory.store._config as store_config
from langgraph_hybrid_memory.store import PgVectorStore

N_ITEMS = 10_000
N_USERS = 50
DIMS = 32
HNSW = "vectors_embedding_idx"


class Lookup(Embeddings):
    """Text ``d<i>`` is document vector i, ``q<i>`` query vector i (no shared words, so the
    keyword branch finds nothing and the ranking is the vector ranking)."""

    def __init__(self, docs: np.ndarray, queries: np.ndarray) -> None:
        self.docs, self.queries = docs, queries

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:  # type: ignore[override]
        return [(self.docs if t[0] == "d" else self.queries)[int(t[1:])].tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _unit(a: np.ndarray) -> np.ndarray:
    return np.asarray(a / np.linalg.norm(a, axis=1, keepdims=True), dtype=np.float32)


def _value(i: int) -> dict[str, Any]:
    # kind: 90% "note" (an unselective filter); tag: 1% "rare" (a selective one, every user).
    return {
        "text": f"d{i}",
        "kind": "note" if i % 10 else "task",
        "tag": "rare" if i % 97 == 0 else "common",
    }


class Seeded:
    def __init__(self, store: PgVectorStore, url: str, docs: np.ndarray, queries: np.ndarray):
        self.store, self.url, self.docs, self.queries = store, url, docs, queries


@pytest.fixture(scope="module")
def seeded(pg_server_url: str) -> Iterator[Seeded]:
    rng = np.random.default_rng(16)
    centres = rng.normal(size=(N_USERS, DIMS))
    docs = _unit(
        centres[rng.integers(0, N_USERS, N_ITEMS)] + rng.normal(scale=0.7, size=(N_ITEMS, DIMS))
    )
    queries = _unit(docs[rng.integers(0, N_ITEMS, 8)] + rng.normal(scale=0.3, size=(8, DIMS)))
    dbname = f"t_plans_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = psycopg.conninfo.make_conninfo(pg_server_url, dbname=dbname)
    try:
        with PgVectorStore.from_conn_string(
            url, index={"dims": DIMS, "embed": Lookup(docs, queries), "fields": ["text"]}
        ) as s:
            s.setup()
            s.bulk_put(
                PutOp(("users", f"u{i % N_USERS}", "memories"), f"k{i}", _value(i))
                for i in range(N_ITEMS)
            )
            yield Seeded(s, url, docs, queries)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


def _search_with_plan(
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    prefix: tuple[str, ...],
    filt: dict[str, Any] | None,
    q: int,
) -> tuple[list[str], str]:
    """The hits' keys and the EXPLAIN of the (last) vector statement the search sent."""
    sent: list[tuple[Any, Any]] = []
    real = store_module._execute

    def spy(conn: Any, step: Any) -> Any:
        query = getattr(step, "query", None)
        if isinstance(query, sql.Composable) and "embedding" in query.as_string(conn):
            sent.append((query, step.params))
        return real(conn, step)

    monkeypatch.setattr(store_module, "_execute", spy)
    hits = seeded.store.search(prefix, query=f"q{q}", filter=filt, limit=10)
    monkeypatch.setattr(store_module, "_execute", real)
    assert sent, "the search sent no vector statement"
    query, params = sent[-1]
    with psycopg.connect(seeded.url) as conn:
        if "lghm_filtered" in query.as_string(conn):
            # The store sends the filter-first statement in a transaction with this setting.
            conn.execute("SET LOCAL enable_seqscan = off")
        rows = conn.execute(sql.SQL("EXPLAIN (COSTS OFF) ") + query, params).fetchall()
    return [h.key for h in hits], "\n".join(r[0] for r in rows)


def _exact(
    seeded: Seeded, prefix: tuple[str, ...], filt: dict[str, Any] | None, q: int
) -> list[str]:
    keep = [
        i
        for i in range(N_ITEMS)
        if (len(prefix) < 2 or f"u{i % N_USERS}" == prefix[1])
        and all(_value(i)[k] == v for k, v in (filt or {}).items())
    ]
    d = seeded.docs[keep] @ seeded.queries[q]
    return [f"k{keep[j]}" for j in np.argsort(-d)[:10]]


def _recall(
    seeded: Seeded, mp: pytest.MonkeyPatch, prefix: tuple[str, ...], filt: dict[str, Any] | None
) -> tuple[float, list[str]]:
    found = wanted = 0
    plans = []
    for q in range(len(seeded.queries)):
        keys, plan = _search_with_plan(seeded, mp, prefix, filt, q)
        exact = _exact(seeded, prefix, filt, q)
        assert len(keys) == len(exact), (keys, exact)  # never short while that many match
        found += len(set(keys) & set(exact))
        wanted += len(exact)
        plans.append(plan)
    return found / wanted, plans


# Shapes the store answers from the HNSW index (a prefix shorter than the scope, or none).
INDEXED = {
    "no prefix": ((), None),
    "broad prefix": (("users",), None),
    "no prefix, unselective filter": ((), {"kind": "note"}),
    "broad prefix, unselective filter": (("users",), {"kind": "note"}),
}
# Selective filters (at most EXACT_FILTER_ROWS items contain them): exact, filter first.
FILTERED = {
    "no prefix, selective filter": ((), {"tag": "rare"}),
    "broad prefix, selective filter": (("users",), {"tag": "rare"}),
}
# Shapes inside one scope: exact, the scope's rows from the primary keys.
SCOPED = {
    "narrow prefix": (("users", "u3"), None),
    "narrow prefix, unselective filter": (("users", "u3"), {"kind": "note"}),
    "narrow prefix, selective filter": (("users", "u3"), {"tag": "rare"}),
}


@pytest.mark.parametrize("shape", list(INDEXED))
def test_index_shapes_read_the_hnsw_index_not_every_item(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    prefix, filt = INDEXED[shape]
    recall, plans = _recall(seeded, monkeypatch, prefix, filt)
    for plan in plans:
        vector_branch = plan.split("ts_rank_cd")[0]
        assert f"Index Scan using {HNSW}" in plan, plan
        # No row-by-row join over the table: items are looked up per vector the index
        # returns, never scanned whole, and no vector is fetched by primary key.
        assert "Seq Scan on items" not in vector_branch, plan
        assert "vectors_pkey" not in plan, plan
    assert recall >= 0.9, (shape, recall)


@pytest.mark.parametrize("shape", list(SCOPED))
def test_scope_shapes_are_exact_from_the_primary_keys(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    prefix, filt = SCOPED[shape]
    recall, plans = _recall(seeded, monkeypatch, prefix, filt)
    for plan in plans:
        assert HNSW not in plan, plan
        assert "Seq Scan" not in plan, plan
        vector_branch = plan.split("ts_rank_cd")[0]
        if filt is None:
            # Scored first: the scope's vectors alone (primary key), sorted and cut to the
            # top, then only those items looked up (by an index, one probe per vector).
            assert "Index Scan using vectors_pkey" in vector_branch, plan
            loop, _, lookup = vector_branch.partition("Nested Loop Left Join")
            assert lookup, plan
            top, _, inner = lookup.partition("->  Index Scan using items_")
            assert "Limit" in top and "vectors_pkey" in top and inner, plan
            assert "Sort" not in loop, plan
        else:
            assert "vectors_pkey" in plan and "items_pkey" in plan, plan
    assert recall == 1.0, (shape, recall)


@pytest.mark.parametrize("shape", list(FILTERED))
def test_selective_filters_are_exact_from_the_value_index(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:
    prefix, filt = FILTERED[shape]
    recall, plans = _recall(seeded, monkeypatch, prefix, filt)
    for plan in plans:
        vector_branch = plan.split("ts_rank_cd")[0]
        assert HNSW not in plan, plan
        # The few matching items from the GIN index, their vectors by primary key: no scan of
        # either table, whatever the planner estimates for the namespace range.
        assert "Bitmap Index Scan on items_value_idx" in vector_branch, plan
        assert "vectors_pkey" in vector_branch, plan
        assert "Seq Scan" not in vector_branch, plan
        assert "items_namespace_idx" not in vector_branch, plan
    assert recall == 1.0, (shape, recall)


def _statement_text(conn: Any, step: Any) -> str:
    """The SQL text of a step the store hands its driver's `_execute`."""
    query = getattr(step, "query", None)
    return query.as_string(conn) if isinstance(query, sql.Composable) else str(query)


def _statements(
    store: PgVectorStore, monkeypatch: pytest.MonkeyPatch, filt: dict[str, Any], q: int
) -> tuple[list[str], list[str]]:
    """The hits' keys and the text of every statement one search sent."""
    sent: list[str] = []
    real = store_module._execute

    def spy(conn: Any, step: Any) -> Any:
        sent.append(_statement_text(conn, step))
        return real(conn, step)

    monkeypatch.setattr(store_module, "_execute", spy)
    try:
        hits = store.search((), query=f"q{q}", filter=filt, limit=10)
    finally:
        monkeypatch.setattr(store_module, "_execute", real)
    return [h.key for h in hits], sent


def _fresh_store(seeded: Seeded) -> AbstractContextManager[PgVectorStore]:
    # A second store object on the same tables: nothing remembered, nothing cached.
    return PgVectorStore.from_conn_string(
        seeded.url,
        index={"dims": DIMS, "embed": Lookup(seeded.docs, seeded.queries), "fields": ["text"]},
    )


def test_a_filter_counted_unselective_is_not_counted_again(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _fresh_store(seeded) as store:
        filt = {"kind": "note"}  # 9,000 of 10,000 items
        _, first = _statements(store, monkeypatch, filt, 0)
        assert any("lghm_filtered" in s for s in first), first
        assert any("hnsw_knobs" in s for s in first), first  # then the index
        for q in (1, 2):
            keys, later = _statements(store, monkeypatch, filt, q)
            assert not any("lghm_filtered" in s for s in later), later
            assert [s for s in later if "hnsw_knobs" in s], later
            assert len(keys) == 10
            assert len(set(keys) & set(_exact(seeded, (), filt, q))) >= 8
        # Another filter is still counted (and, selective, answered exactly).
        rare = {"tag": "rare"}
        keys, other = _statements(store, monkeypatch, rare, 3)
        assert any("lghm_filtered" in s for s in other), other
        assert not any("hnsw_knobs" in s for s in other), other
        assert keys == _exact(seeded, (), rare, 3)


def test_a_stale_unselective_verdict_still_answers_in_full(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if "tag: rare" had matched most rows a minute ago and most of them were deleted since:
    # the index answers (its iterative scan, the exact fallback when short), never short.
    with _fresh_store(seeded) as store:
        rare = {"tag": "rare"}
        store._unselective.remember(json.dumps(rare))
        found = 0
        for q in range(len(seeded.queries)):
            keys, sent = _statements(store, monkeypatch, rare, q)
            assert not any("lghm_filtered" in s for s in sent), sent
            exact = _exact(seeded, (), rare, q)
            assert len(keys) == len(exact) == 10
            found += len(set(keys) & set(exact))
        assert found / (10 * len(seeded.queries)) >= 0.9


def test_the_exact_cutoff_follows_the_table_size(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # At 10,000 vectors the cutoff is EXACT_FILTER_ROWS (2,500): "kind: note" (9,000 items)
    # reads the index. A fraction of 95% of the table puts the cutoff at 9,500, so the same
    # filter is scored exactly, filter first: the cutoff comes from the table's size.
    assert store_config.exact_filter_rows(N_ITEMS) == store_config.EXACT_FILTER_ROWS
    monkeypatch.setattr(store_config, "EXACT_FILTER_FRACTION", 0.95)
    monkeypatch.setattr(store_config, "EXACT_FILTER_MAX_ROWS", 1_000_000)
    with _fresh_store(seeded) as store:
        note = {"kind": "note"}
        for q in range(3):
            keys, sent = _statements(store, monkeypatch, note, q)
            assert any("lghm_filtered" in s for s in sent), sent
            assert not any("hnsw_knobs" in s for s in sent), sent
            assert keys == _exact(seeded, (), note, q)
        assert len(store._unselective) == 0


async def test_the_async_store_skips_the_count_of_a_filter_found_unselective(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The async store runs the same search plan through its own driver (one event loop).
    import langgraph_hybrid_memory.store.aio as aio_module

    sent: list[str] = []
    real = aio_module._execute

    async def spy(conn: Any, step: Any) -> Any:
        sent.append(_statement_text(conn, step))
        return await real(conn, step)

    monkeypatch.setattr(aio_module, "_execute", spy)
    filt = {"kind": "note"}
    async with aio_module.AsyncPgVectorStore.from_conn_string(
        seeded.url,
        index={"dims": DIMS, "embed": Lookup(seeded.docs, seeded.queries), "fields": ["text"]},
    ) as store:
        counted = []
        for q in range(3):
            sent.clear()
            hits = await store.asearch((), query=f"q{q}", filter=filt, limit=10)
            assert len(hits) == 10
            assert any("hnsw_knobs" in s for s in sent), sent
            counted.append(any("lghm_filtered" in s for s in sent))
    assert counted == [True, False, False]
