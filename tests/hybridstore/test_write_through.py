"""HybridStore's write-through costs one round trip to PostgreSQL per put or delete: the
replay is one statement (tombstone check, item, vectors, tombstone record) with no
BEGIN/COMMIT around it, and a put older than a tombstone is still refused."""

from __future__ import annotations

from pathlib import Path

import psycopg
from langgraph.store.base import PutOp

from langgraph_hybrid_memory import HybridStore
from langgraph_hybrid_memory._outbox import OutboxEntry
from langgraph_hybrid_memory._pg import make_pool
from langgraph_hybrid_memory.hybridstore import base as hb
from tests.support import FakeEmbeddings, ProtocolTrace


def test_a_write_through_put_is_one_round_trip(
    pg_url: str, sqlite_path: Path, tmp_path: Path
) -> None:
    trace = ProtocolTrace(tmp_path / "trace.txt")
    pool = make_pool(pg_url, min_size=1, max_size=1, configure=trace.configure)
    index = {"dims": 8, "embed": FakeEmbeddings(8), "fields": ["text"]}
    try:
        with HybridStore(sqlite_path, pool, index=index) as store:  # type: ignore[arg-type]
            store.setup()
            ns = ("users", "u1", "memories")
            store.put(ns, "warm", {"text": "warm up"})
            trace.round_trips()
            store.put(ns, "k", {"text": "likes tea"})
            assert trace.round_trips() == 1
            store.delete(ns, "k")
            assert trace.round_trips() == 1
            store.batch([PutOp(ns, f"b{i}", {"text": f"note {i}"}) for i in range(5)])
            assert trace.round_trips() == 1
            assert not store.status()["degraded"]
        with psycopg.connect(pg_url) as conn:
            keys = conn.execute("SELECT key FROM memory.items ORDER BY key").fetchall()
            tomb = conn.execute("SELECT key FROM memory.store_tombstones").fetchall()
            hashed = conn.execute("SELECT count(*) FROM memory.vectors WHERE text_hash IS NULL")
            assert hashed.fetchone() == (0,)
        assert [k for (k,) in keys] == ["b0", "b1", "b2", "b3", "b4", "warm"]
        assert tomb == [("k",)]
    finally:
        pool.close()
        trace.close()


def test_replay_refuses_puts_older_than_a_tombstone_in_one_statement(
    pg_url: str, sqlite_path: Path
) -> None:
    """Entries as another machine's outbox would hold them: a delete at t=100 beats a put
    made at t=50 and replayed later, but not a put made at t=150; a repeated key in one batch
    keeps the entries' order."""
    ns = ["users", "u1", "m"]

    def entry(
        seq: int, at: float, kind: str, key: str, value: dict[str, str] | None
    ) -> OutboxEntry:
        op = PutOp(tuple(ns), key, value)
        _, payload = hb.encode_payload(op)
        return OutboxEntry(seq, hb.stream_of(ns), kind, payload, at, 0)

    with HybridStore(sqlite_path, pg_url) as store:
        store.setup()
        with (
            psycopg.connect(pg_url, autocommit=True) as conn,
            conn.cursor(row_factory=psycopg.rows.dict_row) as cur,
        ):
            counts = store._replay(
                cur,
                [
                    entry(1, 90.0, hb.KIND_PUT, "a", {"v": "first"}),
                    entry(2, 100.0, hb.KIND_DELETE, "a", None),
                    entry(3, 50.0, hb.KIND_PUT, "a", {"v": "stale"}),
                    entry(4, 150.0, hb.KIND_PUT, "b", {"v": "fresh"}),
                ],
            )
            assert counts == {"puts": 2, "deletes": 1, "refused": 1}
            counts = store._replay(cur, [entry(5, 120.0, hb.KIND_PUT, "a", {"v": "newer"})])
            assert counts == {"puts": 1, "deletes": 0, "refused": 0}
            rows = conn.execute("SELECT key, value ->> 'v' FROM memory.items ORDER BY key")
            assert rows.fetchall() == [("a", "newer"), ("b", "fresh")]
            tomb = conn.execute("SELECT key, deleted_at FROM memory.store_tombstones")
            assert tomb.fetchall() == [("a", 100.0)]
