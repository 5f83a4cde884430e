"""HybridStore without PostgreSQL: writes wait in the outbox, reads come from the local cache,
and everything lands exactly once when the server is back (invariants 1, 2 and 3)."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest

from langgraph_hybrid_memory import HybridStore
from tests.support import FakeEmbeddings, PrivatePostgres

NS = ("users", "u1", "memories")
FAST = {
    "retry_interval": 0.2,
    "backoff_initial": 0.05,
    "backoff_max": 0.5,
    "connect_timeout": 2,
    "close_timeout": 5,
}


def _index(emb: FakeEmbeddings) -> dict[str, object]:
    return {"dims": emb.dims, "embed": emb, "fields": ["text"]}


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def test_outage_writes_wait_reads_from_cache_and_land_once(
    private_pg: PrivatePostgres,
    tmp_path: Path,
    fake_embeddings: FakeEmbeddings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # DEBUG: per-write events are DEBUG lines; the outage itself is one warning (see _outage).
    caplog.set_level(logging.DEBUG, logger="langgraph_hybrid_memory")
    url = private_pg.url
    with (
        HybridStore(tmp_path / "a.sqlite", url, index=_index(fake_embeddings), **FAST) as store,
        HybridStore(tmp_path / "b.sqlite", url, index=_index(fake_embeddings), **FAST) as other,
    ):
        store.setup()
        other.setup()
        store.put(NS, "tea", {"text": "likes green tea"})
        store.put(NS, "car", {"text": "drives an old red car"})
        # Another machine writes too; warming at session start brings its memory into the cache.
        other.put(NS, "dog", {"text": "has a dog named Rex"})
        assert store.warm(("users", "u1")) == 3
        assert not store.status()["degraded"]
        assert "node_persisted_to_postgres" in _events(caplog)
        assert "loading_user_memories_from_postgres" in caplog.messages

        private_pg.stop()
        store.put(NS, "bike", {"text": "rides a bike to work"})
        store.put(NS, "car", {"text": "sold the red car, drives electric now"})
        store.delete(NS, "tea")
        store.put(NS, "gone", {"text": "temporary"})
        store.delete(NS, "gone")
        status = store.status()
        assert status["degraded"] and status["pending_writes"] == 5
        assert "failed_to_persist_to_postgres" in _events(caplog)
        assert "store_degraded" in _events(caplog) or "store_flush_failed" in _events(caplog)

        # Reads and searches answer from the cache, with the outage's writes in them.
        assert store.get(NS, "bike").value == {"text": "rides a bike to work"}  # type: ignore[union-attr]
        assert store.get(NS, "tea") is None
        assert store.get(NS, "dog").value == {"text": "has a dog named Rex"}  # type: ignore[union-attr]
        hits = store.search(("users", "u1"), query="electric car", limit=10)
        assert {h.key for h in hits} >= {"car", "bike", "dog"} and "tea" not in {
            h.key for h in hits
        }
        assert hits[0].key == "car"
        assert store.status()["last_read_tier"] == "cache"

        private_pg.start()
        store.flush(timeout=60)
        assert store.status()["pending_writes"] == 0

    # Exactly once: one row per item, the latest value, deletes kept, one vector per item.
    items = dict(_rows(url, "SELECT key, value->>'text' FROM memory.items ORDER BY key"))
    assert items == {
        "bike": "rides a bike to work",
        "car": "sold the red car, drives electric now",
        "dog": "has a dog named Rex",
    }
    vectors = _rows(url, "SELECT key, count(*) FROM memory.vectors GROUP BY key ORDER BY key")
    assert vectors == [("bike", 1), ("car", 1), ("dog", 1)]
    tombs = {r[0] for r in _rows(url, "SELECT key FROM memory.store_tombstones")}
    assert tombs == {"tea", "gone"}

    # A fresh machine (new local file) reads it all from PostgreSQL.
    with HybridStore(tmp_path / "c.sqlite", url, index=_index(fake_embeddings), **FAST) as fresh:
        fresh.setup()
        assert fresh.get(NS, "tea") is None
        assert fresh.get(NS, "car").value["text"].startswith("sold")  # type: ignore[union-attr]
        assert fresh.status()["last_read_tier"] == "postgres"
        found = fresh.search(("users", "u1"), query="bike", limit=3)
        assert found[0].key == "bike"
        assert not fresh.status()["degraded"]


def test_late_replay_never_resurrects_a_deleted_item(
    pg_url: str, tmp_path: Path, fake_embeddings: FakeEmbeddings
) -> None:
    offline = tmp_path / "offline.sqlite"
    # A machine that cannot reach PostgreSQL writes an item; its put waits in its outbox.
    with HybridStore(
        offline,
        "postgresql://lghm@127.0.0.1:1/nowhere",
        index=_index(fake_embeddings),
        **{**FAST, "close_timeout": 0.2},
    ) as store:
        store.setup()
        store.put(NS, "x", {"text": "written offline"})
        assert store.status()["pending_writes"] == 1 and store.status()["degraded"]
    # Meanwhile another machine deletes the item (and writes an unrelated one).
    with HybridStore(tmp_path / "b.sqlite", pg_url, index=_index(fake_embeddings), **FAST) as b:
        b.setup()
        b.put(NS, "x", {"text": "online copy"})
        b.delete(NS, "x")
        b.put(NS, "y", {"text": "kept"})
    # The offline machine comes back: its older put replays, and is refused by the tombstone.
    with HybridStore(offline, pg_url, index=_index(fake_embeddings), **FAST) as back:
        back.setup()
        back.flush(timeout=30)
        assert back.status()["pending_writes"] == 0
        assert back.get(NS, "x") is None
        assert back.get(NS, "y") is not None
        # A write made after the delete is a new write and goes through.
        back.put(NS, "x", {"text": "new after delete"})
        assert back.get(NS, "x").value == {"text": "new after delete"}  # type: ignore[union-attr]
    keys = {r[0] for r in _rows(pg_url, "SELECT key FROM memory.items")}
    assert keys == {"x", "y"}


def test_cache_refreshes_a_namespace_after_its_max_age(
    private_pg: PrivatePostgres, tmp_path: Path, fake_embeddings: FakeEmbeddings
) -> None:
    url, index = private_pg.url, _index(fake_embeddings)
    with (
        HybridStore(tmp_path / "a.sqlite", url, index=index, cache_max_age=0, **FAST) as eager,
        # Without LISTEN/NOTIFY (which would refresh it at once, tests/concurrency), a cache
        # is reloaded by age only.
        HybridStore(
            tmp_path / "c.sqlite",
            url,
            index=index,
            cache_max_age=3600,
            invalidation="cache_age",
            **FAST,
        ) as lazy,
        HybridStore(tmp_path / "b.sqlite", url, index=index, **FAST) as writer,
    ):
        for s in (eager, lazy, writer):
            s.setup()
        writer.put(NS, "first", {"text": "first memory", "n": 1})
        writer.put(NS, "ttl", {"text": "short lived"}, ttl=120)
        # Both read the namespace once: that loads it into their caches.
        assert eager.get(NS, "first") is not None and lazy.get(NS, "first") is not None
        writer.put(NS, "second", {"text": "second memory"})
        writer.put(NS, "first", {"text": "first memory, edited", "n": 2})
        writer.delete(NS, "ttl")
        # Reads come from PostgreSQL while it is up, whatever the cache holds.
        assert lazy.get(NS, "second") is not None and eager.get(NS, "second") is not None
        private_pg.stop()
        # The eager cache was reloaded on that read (older than 0 s); the lazy one was not.
        assert {i.key for i in eager.search(NS, limit=10)} == {"first", "second"}
        assert eager.get(NS, "first").value["n"] == 2  # type: ignore[union-attr]
        assert {i.key for i in lazy.search(NS, limit=10)} == {"first", "ttl"}
        assert lazy.get(NS, "first").value["n"] == 1  # type: ignore[union-attr]
        assert eager.status()["degraded"] and lazy.status()["last_read_tier"] == "cache"
        private_pg.start()


def _events(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The structured ``event`` of each captured record (the message may be a sentence)."""
    return [str(getattr(r, "event", r.getMessage())) for r in caplog.records]
