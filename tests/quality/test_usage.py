"""Access tracking and the query log: batched writes (no extra round trip per call), counts
right, no lock errors under concurrent readers and writers, `lghm stats --queries`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from langgraph_hybrid_memory import LocalStore, PgVectorStore
from langgraph_hybrid_memory._pg import make_pool
from langgraph_hybrid_memory._querystats import local_usage_stats, pg_usage_stats
from langgraph_hybrid_memory._usage import resolve_usage
from langgraph_hybrid_memory.errors import ConfigError
from tests.cli.test_admin_cli import env_for, invoke
from tests.support import FakeEmbeddings

NS = ("users", "u1", "memories")


def _index(emb: FakeEmbeddings, **extra: Any) -> dict[str, Any]:
    return {"dims": emb.dims, "embed": emb, "fields": ["text"], **extra}


def test_pg_counts_hits_in_batches_and_logs_queries(
    pg_url: str, fake_embeddings: FakeEmbeddings
) -> None:
    pool = make_pool(pg_url, max_size=2)
    try:
        index = _index(
            fake_embeddings,
            track_access={"flush_every": 1000, "flush_seconds": 3600},
            query_log={"enabled": True, "store_text": True},
        )
        store = PgVectorStore(pool, index=index)  # type: ignore[arg-type]
        store.setup()
        store.put(NS, "tea", {"text": "likes green tea"})
        store.put(NS, "bike", {"text": "rides a bike"})
        for _ in range(3):
            assert store.get(NS, "tea") is not None
        store.search(("users", "u1"), query="green tea", limit=1)
        store.search(("users", "u1"), query="zebra", filter={"text": "none"}, limit=5)
        with psycopg.connect(pg_url) as c:  # nothing written yet: batched, no round trip
            assert c.execute("SELECT count(*) FROM memory.item_access").fetchone() == (0,)
        store.flush_usage()
        with psycopg.connect(pg_url) as c:
            rows = c.execute(
                "SELECT key, access_count FROM memory.item_access ORDER BY key"
            ).fetchall()
            assert rows == [("tea", 4)]
        with pool.connection() as conn:
            stats = pg_usage_stats(conn)
        (u,) = stats.users
        assert (u.user, u.queries, u.zero_results) == ("u1", 2, 1)
        assert u.p50_ms is not None and u.p95_ms is not None and u.p95_ms >= u.p50_ms
        assert u.zero_result_queries[0].query == "zebra"
        assert stats.access[0].top == [("users.u1.memories", "tea", 4)]
    finally:
        pool.close()


def test_concurrent_readers_and_writers_raise_no_lock_errors(
    pg_url: str, fake_embeddings: FakeEmbeddings
) -> None:
    pool = make_pool(pg_url, max_size=8)
    errors: list[BaseException] = []
    reads = [0]
    lock = threading.Lock()
    try:
        index = _index(fake_embeddings, track_access={"flush_every": 3, "flush_seconds": 0.01})
        store = PgVectorStore(pool, index=index)  # type: ignore[arg-type]
        store.setup()
        keys = [f"k{i}" for i in range(5)]
        for k in keys:
            store.put(NS, k, {"text": f"memory {k}"})
        stop = time.monotonic() + 3.0

        def reader() -> None:
            try:
                while time.monotonic() < stop:
                    for k in keys:
                        assert store.get(NS, k) is not None
                    hits = store.search(("users", "u1"), query="memory", limit=5)
                    with lock:
                        reads[0] += len(keys) + len(hits)
            except BaseException as exc:
                errors.append(exc)

        def writer(n: int) -> None:
            try:
                i = 0
                while time.monotonic() < stop:
                    store.put(NS, keys[i % len(keys)], {"text": f"memory {n} {i}"})
                    i += 1
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(3)]
        threads += [threading.Thread(target=writer, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        store.flush_usage()
        assert errors == []
        with psycopg.connect(pg_url) as c:
            total = c.execute("SELECT sum(access_count) FROM memory.item_access").fetchone()[0]
        assert total == reads[0]  # every hit counted exactly once
    finally:
        pool.close()


def test_local_store_and_stats_cli(tmp_path: Path, fake_embeddings: FakeEmbeddings) -> None:
    index = _index(
        fake_embeddings, track_access=True, query_log={"enabled": True, "retention_days": 1}
    )
    path = tmp_path / "memory.sqlite"
    with LocalStore(path, index=index) as store:  # type: ignore[arg-type]
        store.put(NS, "tea", {"text": "likes green tea"})
        store.get(NS, "tea")
        store.search(("users", "u1"), query="green tea")
        store.flush_usage()
        with store.db.read() as conn:
            stats = local_usage_stats(conn)
            assert conn.execute("SELECT query FROM lghm_query_log").fetchall() == [(None,)]
    assert [(u.user, u.queries) for u in stats.users] == [("u1", 1)]
    assert stats.access[0].accesses == 2
    env = env_for("postgresql://unused", tmp_path, "sqlite")
    out = invoke(["stats", "--queries", "--json"], env, fake_embeddings)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["local"]["users"][0]["user"] == "u1"
    text = invoke(["stats", "--queries"], env, fake_embeddings)
    assert "queries per user" in text.output and "(text not kept)" in text.output


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"track_access": "yes"}, "track_access"),
        ({"track_access": {"flush_every": 0}}, "flush_every"),
        ({"query_log": {"retention_days": -1}}, "retention_days"),
        ({"query_log": {"store_text": "no"}}, "store_text"),
        ({"query_log": {"keep": 1}}, "unknown index\\['query_log'\\]"),
    ],
)
def test_bad_settings(extra: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve_usage(extra)


async def test_async_pgvector_store_and_hybrid_close_flush(
    pg_url: str, fake_embeddings: FakeEmbeddings, tmp_path: Path
) -> None:
    from langgraph_hybrid_memory import HybridStore
    from langgraph_hybrid_memory._pg import make_async_pool
    from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

    pool = make_async_pool(pg_url, max_size=2)
    await pool.open()
    try:
        index = _index(fake_embeddings, track_access=True, query_log=True)
        store = AsyncPgVectorStore(pool, index=index)  # type: ignore[arg-type]
        await store.setup()
        await store.aput(NS, "tea", {"text": "likes green tea"})
        for _ in range(2):
            await store.aget(NS, "tea")
        await store.asearch(("users", "u1"), query="tea")
        await store.flush_usage()
    finally:
        await pool.close()
    with HybridStore(tmp_path / "h.sqlite", pg_url, index=index) as hy:  # type: ignore[arg-type]
        hy.setup()
        hy.get(NS, "tea")  # counted on PostgreSQL, written by close()
    with psycopg.connect(pg_url) as c:
        assert c.execute("SELECT access_count FROM memory.item_access").fetchall() == [(4,)]
        assert c.execute("SELECT count(*), min(query) FROM memory.query_log").fetchone() == (
            1,
            None,
        )
