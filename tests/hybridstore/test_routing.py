"""HybridStore routing: transient namespaces never reach PostgreSQL, rules match whole labels,
and reads spanning both tiers merge them into one consistent order (invariant 4)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from langgraph.store.base import PutOp

from langgraph_hybrid_memory import HybridStore
from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.hybridstore.base import NamespaceRouter
from tests.support import FakeEmbeddings


def _remote_namespaces(url: str) -> set[tuple[str, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {tuple(r[0]) for r in conn.execute("SELECT namespace FROM memory.items")}


def _outbox_streams(store: HybridStore) -> list[str]:
    with store.db.read() as conn:
        return [r[0] for r in conn.execute("SELECT stream FROM lghm_outbox")]


def test_transient_never_reaches_postgres_and_lookalikes_route_by_whole_labels(
    pg_url: str, sqlite_path: Path, fake_embeddings: FakeEmbeddings
) -> None:
    routes = {("scratch",): "transient", ("users", "john_doe"): "transient"}
    index = {"dims": fake_embeddings.dims, "embed": fake_embeddings, "fields": ["text"]}
    with HybridStore(sqlite_path, pg_url, index=index, routes=routes) as store:  # type: ignore[arg-type]
        store.setup()
        writes = {
            ("scratch",): "transient",
            ("scratch", "run1"): "transient",
            ("scratchpad",): "persistent",
            ("users", "john_doe"): "transient",
            ("users", "john_doe", "notes"): "transient",
            ("users", "john-doe"): "persistent",
            ("users", "john_doex"): "persistent",
            ("users", "john%doe"): "persistent",
        }
        store.batch([PutOp(ns, "k", {"text": f"note in {'/'.join(ns)}"}) for ns in writes])
        store.flush(timeout=30)
        assert _remote_namespaces(pg_url) == {ns for ns, t in writes.items() if t == "persistent"}
        assert _outbox_streams(store) == []
        for ns in writes:
            assert store.get(ns, "k") is not None, ns
        # A search or listing across both tiers sees both.
        assert {i.namespace for i in store.search((), limit=50)} == set(writes)
        assert set(store.list_namespaces(limit=50)) == set(writes)
        assert store.list_namespaces(prefix=("users",), max_depth=2) == [
            ("users", "john%doe"),
            ("users", "john-doe"),
            ("users", "john_doe"),
            ("users", "john_doex"),
        ]
        # Deleting a transient item leaves no trace in the outbox either.
        store.delete(("scratch", "run1"), "k")
        assert _outbox_streams(store) == [] and store.get(("scratch", "run1"), "k") is None


def test_mixed_prefix_pages_never_skip_or_repeat(pg_url: str, sqlite_path: Path) -> None:
    routes = {("users", "u1", "scratch"): "transient"}
    with HybridStore(sqlite_path, pg_url, routes=routes) as store:  # type: ignore[arg-type]
        store.setup()
        ops = [
            PutOp(("users", "u1", "scratch" if i % 3 == 0 else "memories"), f"k{i:03d}", {"i": i})
            for i in range(60)
        ]
        store.batch(ops)
        store.put(("users", "u1", "memories"), "k999", {"i": 999})
        store.put(("users", "u1", "scratch"), "k998", {"i": 998})
        seen: list[tuple[tuple[str, ...], str]] = []
        offset = 0
        while page := store.search(("users", "u1"), limit=7, offset=offset):
            seen.extend((i.namespace, i.key) for i in page)
            offset += 7
        assert len(seen) == 62 and len(set(seen)) == 62
        # Newest first across both tiers.
        assert [i.key for i in store.search(("users", "u1"), limit=2)] == ["k998", "k999"]
        evens = store.search(("users", "u1"), filter={"i": {"$lt": 6}}, limit=10)
        assert sorted(i.value["i"] for i in evens) == [0, 1, 2, 3, 4, 5]


def test_router_rules_and_bad_config() -> None:
    router = NamespaceRouter({("a",): "transient", ("a", "b"): "persistent"}, default="persistent")
    assert router.tier(("a",)) == "transient"
    assert router.tier(("a", "c", "d")) == "transient"
    assert router.tier(("a", "b", "c")) == "persistent"
    assert router.tier(("ab",)) == "persistent"
    assert router.is_mixed(("a",)) and router.is_mixed(()) and not router.is_mixed(("a", "b"))
    assert NamespaceRouter(default="transient").tier(("x",)) == "transient"
    with pytest.raises(ConfigError, match="tuple"):
        NamespaceRouter({"users": "transient"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="tier"):
        NamespaceRouter({("users",): "local"})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="default"):
        NamespaceRouter(default="remote")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="labels"):
        NamespaceRouter({("users.u1",): "transient"})


def test_batch_semantics_hold_across_both_tiers(pg_url: str, sqlite_path: Path) -> None:
    from langgraph.store.base import GetOp, SearchOp

    routes = {("scratch",): "transient"}
    with HybridStore(sqlite_path, pg_url, routes=routes) as store:  # type: ignore[arg-type]
        store.setup()
        t_ns, p_ns = ("scratch", "s"), ("users", "u1")
        # A bad op anywhere: nothing is written to either tier, nothing queued.
        with pytest.raises(ValueError):
            store.batch([PutOp(t_ns, "k", {"v": 1}), PutOp(p_ns, "k", {"v": float("nan")})])
        assert store.get(t_ns, "k") is None and store.get(p_ns, "k") is None
        assert _outbox_streams(store) == [] and _remote_namespaces(pg_url) == set()
        # Reads see the state before the batch's writes; the last write per key wins.
        results = store.batch(
            [
                GetOp(t_ns, "k"),
                GetOp(p_ns, "k"),
                PutOp(t_ns, "k", {"v": 1}),
                PutOp(p_ns, "k", {"v": 1}),
                PutOp(p_ns, "k", {"v": 2}),
                SearchOp((), limit=10),
            ]
        )
        assert results == [None, None, None, None, None, []]
        after = store.batch([GetOp(t_ns, "k"), GetOp(p_ns, "k"), SearchOp((), limit=10)])
        assert after[0].value == {"v": 1} and after[1].value == {"v": 2}  # type: ignore[union-attr]
        assert {(i.namespace, i.value["v"]) for i in after[2]} == {(t_ns, 1), (p_ns, 2)}  # type: ignore[union-attr]
        assert _remote_namespaces(pg_url) == {p_ns}


def test_sweep_drops_tombstones_older_than_retention(pg_url: str, sqlite_path: Path) -> None:
    with HybridStore(sqlite_path, pg_url, tombstone_retention=3600) as store:
        store.setup()
        store.put(("users", "u1"), "k", {"v": 1})
        store.delete(("users", "u1"), "k")
        store.sweep_ttl()
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT count(*) FROM memory.store_tombstones").fetchone()[0] == 1
        store.tombstone_retention = 0
        store.sweep_ttl()
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT count(*) FROM memory.store_tombstones").fetchone()[0] == 0


def test_bad_configuration_is_refused_clearly(pg_url: str, sqlite_path: Path) -> None:
    from langgraph_hybrid_memory._pg import get_connection

    with get_connection(pg_url) as conn, pytest.raises(ConfigError, match="ConnectionPool"):
        HybridStore(sqlite_path, conn)
    with pytest.raises(ConfigError, match="cache_max_age"):
        HybridStore(sqlite_path, pg_url, cache_max_age=-1)
    with pytest.raises(ConfigError, match="unknown HybridStore option"):
        HybridStore(sqlite_path, pg_url, flush_every=3)
    with pytest.raises(ConfigError, match="tier"):
        HybridStore(sqlite_path, pg_url, routes={("a",): "cold"})  # type: ignore[dict-item]
