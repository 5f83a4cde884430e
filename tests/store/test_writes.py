"""Writes: a batch's puts and deletes are one statement (one round trip per put), vector rows
are replaced field by field and carry ``text_hash``, pools ping only idle connections."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.store.base import PutOp

from langgraph_hybrid_memory import _pg
from langgraph_hybrid_memory._embeddings import text_hash
from langgraph_hybrid_memory._pg import get_connection, make_async_pool, make_pool
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore
from tests.store.conftest import MakeStore
from tests.support import FakeEmbeddings
from tests.support import ProtocolTrace as Trace


def _kill(pg_url: str, pid: int) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        # Wait until the backend is gone (its goodbye is then on the client's socket).
        while conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone() != (0,):
            time.sleep(0.01)


def _index() -> dict[str, Any]:
    return {"dims": 8, "embed": FakeEmbeddings(8), "fields": ["t", "tags[*]"]}


# -- round trips ---------------------------------------------------------------------------


def test_a_put_costs_one_round_trip_sync(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = Trace(tmp_path / "trace.txt")
    pool = make_pool(pg_url, min_size=1, max_size=1, configure=trace.configure)
    try:
        s = PgVectorStore(pool, index=_index())  # type: ignore[arg-type]
        s.setup()
        s.put(("users", "u1"), "k", {"t": "a", "tags": ["x", "y"]})
        trace.round_trips()
        s.put(("users", "u1"), "k", {"t": "b", "tags": ["z"]})
        assert trace.round_trips() == 1
        s.delete(("users", "u1"), "k")
        assert trace.round_trips() == 1
        ops = [PutOp(("users", f"u{i}"), "k", {"t": f"v{i}", "tags": ["a", "b"]}) for i in range(5)]
        s.batch([*ops, PutOp(("users", "u1"), "k", None), PutOp(("users", "u9"), "gone", None)])
        assert trace.round_trips() == 1
        assert s.get(("users", "u2"), "k") is not None
        assert trace.round_trips() == 1
        # A connection idle for longer than the threshold is pinged first.
        monkeypatch.setattr(_pg, "IDLE_CHECK_SECONDS", 0.0)
        s.put(("users", "u1"), "k", {"t": "c"})
        assert trace.round_trips() == 2
    finally:
        pool.close()
        trace.close()


async def test_a_put_costs_one_round_trip_async(pg_url: str, tmp_path: Path) -> None:
    trace = Trace(tmp_path / "trace.txt")

    async def configure(conn: Any) -> None:
        trace.configure(conn)

    pool = make_async_pool(pg_url, min_size=1, max_size=1, configure=configure)
    await pool.open(wait=True)
    try:
        s = AsyncPgVectorStore(pool, index=_index())  # type: ignore[arg-type]
        await s.setup()
        await s.aput(("users", "u1"), "k", {"t": "a", "tags": ["x", "y"]})
        trace.round_trips()
        await s.aput(("users", "u1"), "k", {"t": "b", "tags": ["z"]})
        assert trace.round_trips() == 1
        await s.adelete(("users", "u1"), "k")
        assert trace.round_trips() == 1
    finally:
        await pool.close()
        trace.close()


# -- what one statement writes -------------------------------------------------------------


async def test_vector_rows_follow_the_produced_fields(make_store: MakeStore) -> None:
    # Vector mode: the score is the cosine similarity, so it shows the embedding was replaced.
    s = await make_store(index={**_index(), "search_mode": "vector"})
    ns = ("users", "u1", "m")

    def rows(key: str) -> set[tuple[str, str]]:
        return {
            (f, h)
            for f, h in s.sql("SELECT field, text_hash FROM memory.vectors WHERE key = %s", (key,))
        }

    await s.put(ns, "k", {"t": "green tea", "tags": ["x", "y", "z"]})
    assert rows("k") == {
        ("t", text_hash("green tea")),
        ("tags[*].0", text_hash("x")),
        ("tags[*].1", text_hash("y")),
        ("tags[*].2", text_hash("z")),
    }
    # Fewer tags: the rows of texts no longer produced go, the others are replaced.
    await s.put(ns, "k", {"t": "black coffee", "tags": ["q"]})
    assert rows("k") == {("t", text_hash("black coffee")), ("tags[*]", text_hash("q"))}
    hits = await s.search(("users", "u1"), query="black coffee", limit=1)
    assert hits[0].key == "k" and hits[0].score is not None and hits[0].score > 0.99
    # index=False: no vectors and no keyword text.
    await s.put(ns, "k", {"t": "milk"}, index=False)
    assert rows("k") == set()
    assert s.sql("SELECT tsv IS NULL FROM memory.items WHERE key = 'k'") == [(True,)]
    # One batch: two puts of one key (the last wins), a put, a delete of an item with vectors.
    await s.put(ns, "old", {"t": "to delete", "tags": ["a"]})
    await s.batch(
        [
            PutOp(ns, "k", {"t": "first", "tags": ["a", "b"]}),
            PutOp(ns, "new", {"t": "new one"}, ttl=2.5),
            PutOp(ns, "old", None),
            PutOp(ns, "k", {"t": "second", "tags": ["c"]}),
        ]
    )
    assert rows("k") == {("t", text_hash("second")), ("tags[*]", text_hash("c"))}
    assert rows("old") == set() and await s.get(ns, "old") is None
    assert s.sql("SELECT ttl_minutes, expires_at > now() FROM memory.items WHERE key = 'new'") == [
        (2.5, True)
    ]
    assert [h.key for h in await s.search(("users", "u1"), query="second", limit=1)] == ["k"]


async def test_a_failing_write_changes_nothing(make_store: MakeStore) -> None:
    """The statement is atomic: a put that fails in the server (here an item whose vectors
    would not fit the column) leaves the batch's other writes undone."""
    s = await make_store(index=_index())
    ns = ("users", "u1")
    await s.put(ns, "a", {"t": "kept"})
    s.sql("ALTER TABLE memory.vectors ADD CONSTRAINT short_fields CHECK (length(field) < 5)")
    with pytest.raises(psycopg.errors.CheckViolation):
        await s.batch([PutOp(ns, "a", None), PutOp(ns, "b", {"t": "x", "tags": ["long"]})])
    assert (await s.get(ns, "a")).value == {"t": "kept"}  # type: ignore[union-attr]
    assert await s.get(ns, "b") is None


async def test_bulk_put_fills_text_hash(make_store: MakeStore) -> None:
    s = await make_store(index=_index())
    ops = [
        PutOp(("users", f"u{i % 3}"), f"k{i}", {"t": f"text {i}", "tags": ["a", "b"]})
        for i in range(40)
    ]
    assert await s.bulk_put(ops) == 40
    rows = s.sql(
        "SELECT v.field, v.text_hash, i.value FROM memory.vectors v "
        "JOIN memory.items i USING (scope, namespace, key)"
    )
    assert len(rows) == 120
    for field, h, value in rows:
        text = value["t"] if field == "t" else value["tags"][int(field[-1])]
        assert h == text_hash(text)


# -- the pool's check ----------------------------------------------------------------------


def test_needs_ping_only_when_idle_or_told_goodbye(pg_url: str) -> None:
    conn = get_connection(pg_url)
    try:
        assert _pg._needs_ping(conn)  # never lent
        assert not _pg._needs_ping(conn)  # just lent, nothing on the socket
        pid = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]  # type: ignore[index]
        assert not _pg._needs_ping(conn)
        _kill(pg_url, pid)
        assert _pg._needs_ping(conn)  # the server's goodbye is readable
        with pytest.raises(psycopg.OperationalError):
            _pg.check_if_idle(conn)
    finally:
        conn.close()


@pytest.mark.parametrize("check", ["on", "skipped"])
def test_connection_killed_while_idle_in_the_pool_is_no_error(
    pg_url: str, check: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the check the pool replaces the connection before lending it; with the check
    skipped (a silent drop within the threshold) the store retries on a fresh one."""
    if check == "skipped":
        monkeypatch.setattr(_pg, "_needs_ping", lambda conn: False)
    pool = make_pool(pg_url, min_size=1, max_size=1)
    try:
        s = PgVectorStore(pool, index=_index())  # type: ignore[arg-type]
        s.setup()
        s.put(("users", "u1"), "k", {"t": "tea"})
        with pool.connection() as c:
            pid = c.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]  # type: ignore[index]
        _kill(pg_url, pid)
        s.put(("users", "u1"), "k2", {"t": "coffee"})
        assert (s.get(("users", "u1"), "k")).value == {"t": "tea"}  # type: ignore[union-attr]
        with pool.connection() as c:
            assert c.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"] != pid  # type: ignore[index]
    finally:
        pool.close()


@pytest.mark.parametrize("check", ["on", "skipped"])
async def test_async_connection_killed_while_idle_in_the_pool_is_no_error(
    pg_url: str, check: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if check == "skipped":
        monkeypatch.setattr(_pg, "_needs_ping", lambda conn: False)
    pool = make_async_pool(pg_url, min_size=1, max_size=1)
    await pool.open(wait=True)
    try:
        s = AsyncPgVectorStore(pool, index=_index())  # type: ignore[arg-type]
        await s.setup()
        await s.aput(("users", "u1"), "k", {"t": "tea"})
        async with pool.connection() as c:
            pid = (await (await c.execute("SELECT pg_backend_pid() AS pid")).fetchone())["pid"]  # type: ignore[index]
        await asyncio.to_thread(_kill, pg_url, pid)
        await s.aput(("users", "u1"), "k2", {"t": "coffee"})
        assert (await s.aget(("users", "u1"), "k")).value == {"t": "tea"}  # type: ignore[union-attr]
    finally:
        await pool.close()
