"""Failover on real processes: ``kill -9`` the primary, promote the standby; with
``DATABASE_URL`` naming both hosts (``target_session_attrs=read-write``) every tier carries on
to the new primary and nothing acknowledged is lost.

The cluster replicates synchronously (a commit returns once the standby flushed it): that is
what makes "nothing acknowledged is lost" hold across a failover; asynchronous streaming may
lose the last commits, which PostgreSQL documents.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.base import empty_checkpoint

from langgraph_hybrid_memory import MemoryConfig, PgVectorStore, open_memory
from tests.replication._cluster import ReplicaCluster

NS = ("users", "ada", "memories")


@pytest.fixture(scope="module")
def cluster() -> Iterator[ReplicaCluster]:
    """This module's own synchronous cluster (the test destroys its primary)."""
    c = ReplicaCluster(synchronous=True)
    try:
        yield c
    finally:
        c.close()


def _put_checkpoint(saver: Any, thread: str, step: int) -> None:
    cp = empty_checkpoint()
    cp["channel_values"] = {"messages": f"step {step}"}
    cp["channel_versions"] = {"messages": saver.get_next_version(None, None)}
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    saver.put(config, cp, {"step": step}, cp["channel_versions"])


def _eventually(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (psycopg.OperationalError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_kill_and_promote_every_tier_carries_on(cluster: ReplicaCluster, tmp_path: Path) -> None:
    url = cluster.both_url
    cfg = MemoryConfig(memory_type="hybrid", database_url=url, data_dir=tmp_path, embeddings="none")
    with (
        open_memory(cfg) as memory,
        PgVectorStore.from_conn_string(url, index=None) as direct,
    ):
        store: Any = memory.store
        saver: Any = memory.checkpointer
        for i in range(10):
            store.put(NS, f"before{i}", {"text": f"before {i}"})
            _put_checkpoint(saver, "t-before", i)
        store.flush(timeout=30)
        saver.flush(timeout=30)
        direct.put(NS, "direct-before", {"text": "acknowledged by PgVectorStore"})

        cluster.kill_primary()
        # The outage: the hybrid tiers queue locally (the calls still return).
        for i in range(10):
            store.put(NS, f"during{i}", {"text": f"during {i}"})
            _put_checkpoint(saver, "t-during", i)
        assert store.get(NS, "during9") is not None  # the local tier answers
        with sqlite3.connect(cfg.sqlite_path) as lconn:  # really queued, not sent elsewhere
            (queued,) = lconn.execute("SELECT count(*) FROM lghm_outbox").fetchone()
        assert queued >= 20, queued
        cluster.promote_standby()

        # PgVectorStore reconnects on its own: the pool drops dead connections, libpq picks
        # the host that accepts writes.
        _eventually(lambda: direct.put(NS, "direct-after", {"text": "after"}))
        store.flush(timeout=60)
        saver.flush(timeout=60)
        # The local tier still has everything, written during the outage too.
        assert all(store.get(NS, k) is not None for k in expected_keys())

    # Compare every tier on the new primary (the old one is dead).
    with psycopg.connect(cluster.standby_url, autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
        keys = {r[0] for r in conn.execute("SELECT key FROM memory.items")}
        threads = dict(
            conn.execute("SELECT thread_id, count(*) FROM checkpoints GROUP BY thread_id")
        )
    assert expected_keys() | {"direct-before", "direct-after"} == keys
    assert threads == {"t-before": 10, "t-during": 10}
    # The local file's outbox is empty: everything queued during the outage was sent.
    with sqlite3.connect(cfg.sqlite_path) as lconn:
        assert lconn.execute("SELECT count(*) FROM lghm_outbox").fetchone() == (0,)
        local_cps = lconn.execute("SELECT count(*) FROM lghm_checkpoints").fetchone()
    assert local_cps == (20,)


def expected_keys() -> set[str]:
    return {f"before{i}" for i in range(10)} | {f"during{i}" for i in range(10)}
