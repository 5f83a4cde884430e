"""Reads through a real streaming standby: a store always reads its own writes back, even while
the standby's replay is paused; a store that did not write reads the (stale) replica; the lag
is reported."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from langgraph_hybrid_memory import AsyncPgVectorStore, MemoryConfig, PgVectorStore, open_memory
from tests.replication._cluster import ReplicaCluster
from tests.support import FakeEmbeddings

ROUNDS = 25
NS = ("users", "ada", "memories")


def _with_db(url: str, dbname: str) -> str:
    return f"{url} dbname={dbname}"


@pytest.fixture
def dbs(cluster: ReplicaCluster) -> Iterator[tuple[str, str]]:
    """(primary URL, standby URL) of a fresh database, replicated and set up."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster.primary_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    primary, standby = _with_db(cluster.primary_url, name), _with_db(cluster.standby_url, name)
    with PgVectorStore.from_conn_string(primary, index=_index()) as store:
        store.setup()
    cluster.wait_caught_up()
    try:
        yield primary, standby
    finally:
        cluster.resume_replay()
        with psycopg.connect(cluster.primary_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _index() -> dict[str, object]:
    return {"dims": 16, "embed": FakeEmbeddings(dims=16), "fields": ["text"]}


def test_writer_reads_its_own_writes_while_replay_is_paused(
    cluster: ReplicaCluster, dbs: tuple[str, str]
) -> None:
    primary, standby = dbs
    with (
        PgVectorStore.from_conn_string(
            primary,
            index=_index(),
            read_conn_string=standby,  # type: ignore[arg-type]
        ) as writer,
        PgVectorStore.from_conn_string(
            primary,
            index=_index(),
            read_conn_string=standby,  # type: ignore[arg-type]
        ) as other,
    ):
        cluster.pause_replay()
        for i in range(ROUNDS):
            writer.put(NS, f"k{i}", {"text": f"ada likes topic {i}"})
            item = writer.get(NS, f"k{i}")
            assert item is not None and item.value["text"] == f"ada likes topic {i}", i
            hits = writer.search(("users", "ada"), query=f"ada likes topic {i}", limit=ROUNDS)
            assert f"k{i}" in {h.key for h in hits}, i
            # Another store (another process's view) did not write: it reads the paused
            # replica, which has none of these rows. This proves reads really go there.
            assert other.get(NS, f"k{i}") is None, i
        lag = writer.replica_status()
        assert lag is not None
        assert lag["in_recovery"] and lag["replay_paused"]
        assert lag["lag_bytes"] is not None and lag["lag_bytes"] > 0
        assert lag["lag_seconds"] is not None and lag["lag_seconds"] >= 0

        cluster.resume_replay()
        cluster.wait_caught_up()
        assert other.get(NS, f"k{ROUNDS - 1}") is not None  # replayed: the replica has it now
        assert writer.get(NS, "k0") is not None
        assert writer._ryw.fence is None  # the replica passed the fence: reads go there again
        lag = writer.replica_status()
        assert lag is not None and not lag["replay_paused"] and lag["lag_seconds"] == 0.0


def test_a_delete_is_read_back_too(cluster: ReplicaCluster, dbs: tuple[str, str]) -> None:
    primary, standby = dbs
    with PgVectorStore.from_conn_string(
        primary,
        index=_index(),
        read_conn_string=standby,  # type: ignore[arg-type]
    ) as store:
        store.put(NS, "gone", {"text": "to forget"})
        cluster.wait_caught_up()
        cluster.pause_replay()
        store.delete(NS, "gone")
        assert store.get(NS, "gone") is None
        # The replica still has it (replay paused): only routing hides it from the writer.
        assert cluster.standby_count(standby, "gone") == 1


async def test_async_store_reads_its_own_writes(
    cluster: ReplicaCluster, dbs: tuple[str, str]
) -> None:
    primary, standby = dbs
    async with AsyncPgVectorStore.from_conn_string(
        primary,
        index=_index(),
        read_conn_string=standby,  # type: ignore[arg-type]
    ) as store:
        cluster.pause_replay()
        for i in range(ROUNDS):
            await store.aput(NS, f"a{i}", {"text": f"async topic {i}"})
            item = await store.aget(NS, f"a{i}")
            assert item is not None, i
        lag = await store.areplica_status()
        assert lag is not None and lag["replay_paused"] and (lag["lag_bytes"] or 0) > 0


def test_factory_with_database_read_url(
    cluster: ReplicaCluster, dbs: tuple[str, str], tmp_path: Path
) -> None:
    """`MEMORY_TYPE=postgres` with ``DATABASE_READ_URL``: the store the factory builds reads
    from the standby and still reads its own writes."""
    primary, standby = dbs
    env = {
        "MEMORY_TYPE": "postgres",
        "DATABASE_URL": primary,
        "DATABASE_READ_URL": standby,
        "MEMORY_EMBEDDINGS": "none",
    }
    with open_memory(MemoryConfig.from_env(env, data_dir=tmp_path)) as memory:
        cluster.pause_replay()
        for i in range(5):
            memory.store.put(NS, f"f{i}", {"text": f"factory {i}"})
            assert memory.store.get(NS, f"f{i}") is not None, i
        assert cluster.standby_count(standby, "f4") == 0  # the standby really lags
