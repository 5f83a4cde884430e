"""dedup(): duplicates in one user's scope merged (newest kept), recorded with method and
similarity, tombstoned in hybrid mode; dry run by default; bad input refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from langgraph_hybrid_memory import HybridStore, LocalStore, PgVectorStore
from langgraph_hybrid_memory._dedup import adedup, dedup
from langgraph_hybrid_memory._pg import get_connection, make_async_pool
from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore
from tests.support import FakeEmbeddings

NS = ("users", "u1", "memories")


def _index(emb: FakeEmbeddings) -> dict[str, Any]:
    return {"dims": emb.dims, "embed": emb, "fields": ["text"]}


def _fill(store: Any) -> None:
    store.put(NS, "a1", {"text": "likes green tea in the morning"})
    store.put(NS, "a2", {"text": "likes green tea in the morning"})  # same text
    store.put(NS, "a3", {"text": "likes green tea in the morning!"})  # near copy, newest
    store.put(NS, "b", {"text": "rides a bike to the office"})
    store.put(("users", "u1x", "memories"), "a1", {"text": "likes green tea in the morning"})


def _check_report(store: Any, *, deleted_by: Any = None) -> None:
    dry = dedup(store, "u1", threshold=0.9)
    assert (dry.dry_run, dry.scanned, dry.groups, dry.removed) == (True, 4, 2, 0)
    # Newest first: a3 is the original; a2 is near it, a1 has a2's text (compared with a3).
    assert {(d.key, d.original_key, d.method) for d in dry.duplicates} == {
        ("a1", "a3", "cosine"),
        ("a2", "a3", "cosine"),
    }
    assert store.get(NS, "a1") is not None  # a dry run changes nothing
    done = dedup(store, "u1", threshold=0.9, apply=True)
    assert (done.removed, done.recorded) == (2, 2)
    assert store.get(NS, "a1") is None and store.get(NS, "a2") is None
    assert store.get(NS, "a3").value == {"text": "likes green tea in the morning!"}
    assert store.get(("users", "u1x", "memories"), "a1") is not None  # another user
    assert dedup(store, "u1", threshold=0.9).duplicates == []


def test_pgvector_store(pg_url: str, fake_embeddings: FakeEmbeddings) -> None:
    conn = get_connection(pg_url)
    try:
        store = PgVectorStore(conn, index=_index(fake_embeddings))  # type: ignore[arg-type]
        store.setup()
        _fill(store)
        _check_report(store)
    finally:
        conn.close()
    with psycopg.connect(pg_url) as c:
        rows = c.execute(
            "SELECT key, original_key, method, similarity, content_hash, value->>'text' "
            "FROM memory.memory_duplicates ORDER BY key"
        ).fetchall()
    assert [r[:3] for r in rows] == [("a1", "a3", "cosine"), ("a2", "a3", "cosine")]
    assert all(0.9 <= r[3] < 1.0 and len(r[4]) == 64 for r in rows)


def test_hash_method_and_local_store(tmp_path: Path, fake_embeddings: FakeEmbeddings) -> None:
    with LocalStore(tmp_path / "l.sqlite", index=_index(fake_embeddings)) as store:  # type: ignore[arg-type]
        store.setup()
        _fill(store)
        exact = dedup(store, "u1", threshold=1.0)
        assert [(d.key, d.original_key, d.method, d.similarity) for d in exact.duplicates] == [
            ("a1", "a2", "hash", 1.0)
        ]
        _check_report(store)
        with store.db.read() as conn:
            n = conn.execute("SELECT count(*) FROM lghm_memory_duplicates").fetchone()[0]
        assert n == 2


def test_hybrid_store_tombstones(
    tmp_path: Path, pg_url: str, fake_embeddings: FakeEmbeddings
) -> None:
    with HybridStore(tmp_path / "h.sqlite", pg_url, index=_index(fake_embeddings)) as store:  # type: ignore[arg-type]
        store.setup()
        _fill(store)
        _check_report(store)
    with psycopg.connect(pg_url) as c:
        tomb = c.execute(
            "SELECT key FROM memory.store_tombstones WHERE key IN ('a1', 'a2') ORDER BY key"
        ).fetchall()
    assert tomb == [("a1",), ("a2",)]


async def test_async_pgvector_store(pg_url: str, fake_embeddings: FakeEmbeddings) -> None:
    pool = make_async_pool(pg_url, max_size=2)
    await pool.open()
    try:
        store = AsyncPgVectorStore(pool, index=_index(fake_embeddings))  # type: ignore[arg-type]
        await store.setup()
        await store.aput(NS, "a1", {"text": "likes tea"})
        await store.aput(NS, "a2", {"text": "likes tea"})
        assert len((await adedup(store, "u1")).duplicates) == 1
        assert (await adedup(store, "u1", apply=True)).removed == 1
        assert await store.aget(NS, "a1") is None and await store.aget(NS, "a2") is not None
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"user_id": 7}, "user_id"),
        ({"user_id": "a.b"}, "user_id"),
        ({"user_id": "u1", "threshold": 0}, "threshold"),
        ({"user_id": "u1", "threshold": 1.2}, "threshold"),
        ({"user_id": "u1", "threshold": "high"}, "threshold"),
    ],
)
def test_bad_input(tmp_path: Path, kw: dict[str, Any], match: str) -> None:
    with LocalStore(tmp_path / "b.sqlite") as store:
        store.setup()
        with pytest.raises(ConfigError, match=match):
            dedup(store, **kw)
