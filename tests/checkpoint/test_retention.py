"""Checkpoint retention (`ttl=`): delete and keep_latest on both tiers, sweep limit, tombstones
against a late flush, threads known only to PostgreSQL, and the background sweeper."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import psycopg
import pytest
from langgraph.channels import DeltaChannel
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.types import Command
from psycopg.rows import dict_row
from typing_extensions import TypedDict

from langgraph_hybrid_memory import HybridSaver
from langgraph_hybrid_memory._outbox import Replicator
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.checkpoint._retention import sweep_postgres_saver
from langgraph_hybrid_memory.errors import ConfigError
from tests.checkpoint.helpers import EXPECTED_DONE, assert_tiers_equal, build_graph


def _concat(state: list[str] | None, writes: Sequence[list[str]]) -> list[str]:
    return [*(state or []), *(x for w in writes for x in w)]


class DeltaState(TypedDict, total=False):
    log: Annotated[list[str], DeltaChannel(_concat, snapshot_frequency=4)]


OLD = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)


def _put_chain(
    saver: HybridSaver,
    thread_id: str,
    n: int,
    *,
    ts: dt.datetime | None = None,
    ns: str = "",
    ids_from: list[str] | None = None,
) -> list[str]:
    """`n` checkpoints with a blob channel and a pending write each, stamped `ts`."""
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
    version = None
    ids = []
    for i in range(n):
        cp = empty_checkpoint()
        if ids_from:
            cp["id"] = ids_from[i]
        if ts is not None:
            cp["ts"] = (ts + dt.timedelta(seconds=i)).isoformat()
        version = saver.get_next_version(version, None)
        cp["channel_values"] = {"items": [i] * 3, "n": i}
        cp["channel_versions"] = {"items": version, "n": version}
        config = saver.put(
            config, cp, {"source": "loop", "step": i}, {"items": version, "n": version}
        )
        saver.put_writes(config, [("items", [i])], task_id=f"task-{i}")
        ids.append(cp["id"])
    return ids


def _pg_count(pg_url: str, table: str, thread_id: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            f"SELECT count(*) FROM {table} WHERE thread_id = %s",  # table: a literal below
            (thread_id,),
        ).fetchone()
    return int(row[0]) if row else 0


def _local_ids(saver: HybridSaver, thread_id: str) -> list[str]:
    return [
        t.config["configurable"]["checkpoint_id"]
        for t in saver.list({"configurable": {"thread_id": thread_id}})
    ]


def test_delete_strategy_sweeps_expired_threads_on_both_tiers(tmp_path: Path, pg_url: str) -> None:
    ttl: Any = {"strategy": "delete", "default_ttl": 30}
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url, ttl=ttl) as saver:
        saver.setup()
        _put_chain(saver, "old", 3, ts=OLD)
        fresh = _put_chain(saver, "fresh", 2)
        saver.flush(timeout=30)
        assert _pg_count(pg_url, "checkpoints", "old") == 3
        report = saver.sweep_checkpoints()
        assert report["threads"] == 1 and report["local_threads"] == 1
        saver.flush(timeout=30)
        assert _local_ids(saver, "old") == []
        for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
            assert _pg_count(pg_url, table, "old") == 0
        assert sorted(_local_ids(saver, "fresh")) == sorted(fresh)
        assert _pg_count(pg_url, "checkpoints", "fresh") == 2
        # A second sweep finds nothing; judged an hour later, the fresh thread goes too.
        assert saver.sweep_checkpoints()["threads"] == 0
        assert saver.sweep_checkpoints(now=time.time() + 3600)["threads"] == 1
        saver.flush(timeout=30)
        assert _pg_count(pg_url, "checkpoints", "fresh") == 0


def test_keep_latest_keeps_latest_and_what_it_references(tmp_path: Path, pg_url: str) -> None:
    ttl: Any = {"strategy": "keep_latest", "default_ttl": 30}
    with HybridSaver.from_conn_string(
        tmp_path / "a.sqlite", pg_url, ttl=ttl, flush_namespaces=["*"]
    ) as saver:
        saver.setup()
        ids = _put_chain(saver, "k", 5, ts=OLD)
        saver.flush(timeout=30)
        before = saver.get_tuple({"configurable": {"thread_id": "k"}})
        report = saver.sweep_checkpoints()
        assert report["threads"] == 1
        saver.flush(timeout=30)
        assert _local_ids(saver, "k") == [ids[-1]]
        after = saver.get_tuple({"configurable": {"thread_id": "k"}})
        assert before is not None and after is not None
        assert after.checkpoint == before.checkpoint
        assert after.pending_writes == before.pending_writes == [("task-4", "items", [4])]
        assert _pg_count(pg_url, "checkpoints", "k") == 1
        assert _pg_count(pg_url, "checkpoint_writes", "k") == 1
        # Only the blobs the kept checkpoint references remain (one version per blob channel).
        assert _pg_count(pg_url, "checkpoint_blobs", "k") == 1
        assert_tiers_equal(saver, pg_url, "k")
        # Nothing left to delete: the thread is not picked again.
        assert saver.sweep_checkpoints()["threads"] == 0


def test_keep_latest_sweep_then_resume_interrupted_graph(tmp_path: Path, pg_url: str) -> None:
    ttl: Any = {"strategy": "keep_latest", "default_ttl": 30}
    config: Any = {"configurable": {"thread_id": "g"}}
    with HybridSaver.from_conn_string(
        tmp_path / "a.sqlite", pg_url, ttl=ttl, flush_namespaces=["*"]
    ) as saver:
        saver.setup()
        graph = build_graph(saver)
        assert "__interrupt__" in graph.invoke({"task": "t"}, config)
        state = graph.get_state(config)
        assert len(_local_ids(saver, "g")) > 3
        report = saver.sweep_checkpoints(now=time.time() + 3600)
        assert report["threads"] == 1
        saver.flush(timeout=30)
        after = graph.get_state(config)
        assert after.values == state.values
        assert after.next == state.next == ("review",)
        assert after.tasks[0].interrupts[0].value["done"] == EXPECTED_DONE
        assert_tiers_equal(saver, pg_url, "g")
        final = graph.invoke(Command(resume="ok"), config)
        assert final["approved"] == "ok" and final["done"] == EXPECTED_DONE
    # A fresh machine resumes the swept thread from PostgreSQL alone.
    with HybridSaver.from_conn_string(tmp_path / "b.sqlite", pg_url) as other:
        assert build_graph(other).get_state(config).values["approved"] == "ok"


def test_sweep_limit_takes_oldest_first(tmp_path: Path, pg_url: str) -> None:
    ttl: Any = {"default_ttl": 30, "sweep_limit": 2}
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url, ttl=ttl) as saver:
        saver.setup()
        for i in range(4):
            _put_chain(saver, f"t{i}", 1, ts=OLD + dt.timedelta(minutes=i))
        assert saver.sweep_checkpoints()["threads"] == 2
        assert [bool(_local_ids(saver, f"t{i}")) for i in range(4)] == [False, False, True, True]
        assert saver.sweep_checkpoints(limit=1)["threads"] == 1
        assert saver.sweep_checkpoints()["threads"] == 1
        assert all(not _local_ids(saver, f"t{i}") for i in range(4))


def test_late_flush_cannot_bring_swept_checkpoints_back(tmp_path: Path, pg_url: str) -> None:
    # "late" wrote the old checkpoints before the sweep, but its outbox entry is still queued
    # (its flusher held back, as on a machine that was offline); "a" sweeps meanwhile.
    late_db = LocalDB.open(tmp_path / "late.sqlite")
    held = Replicator.acquire(late_db, pg_url, start=False)
    late = HybridSaver(late_db, pg_url, lease=False)  # an unleased late writer
    try:
        late.setup()
        with HybridSaver.from_conn_string(
            tmp_path / "a.sqlite", pg_url, ttl={"strategy": "keep_latest", "default_ttl": 30}
        ) as a:
            ids = _put_chain(a, "x", 4, ts=OLD)
            _put_chain(late, "x", 3, ts=OLD, ids_from=ids)
            _put_chain(late, "gone", 2, ts=OLD)
            a.flush(timeout=30)
            assert a.sweep_checkpoints()["threads"] == 1
            a.flush(timeout=30)
            a.ttl = {"strategy": "delete", "default_ttl": 30, "sweep_limit": 10}
            _put_chain(a, "gone", 1, ts=OLD)
            a.flush(timeout=30)
            assert a.sweep_checkpoints()["threads"] == 2  # "x" (kept latest) and "gone"
            a.flush(timeout=30)
            assert _pg_count(pg_url, "checkpoints", "x") == 0
            assert _pg_count(pg_url, "checkpoints", "gone") == 0
        held.start()
        late.flush(timeout=30)
        assert _pg_count(pg_url, "checkpoints", "x") == 0
        assert _pg_count(pg_url, "checkpoints", "gone") == 0
    finally:
        late.close()
        held.release()
        late_db.close()


def test_keep_latest_tombstones_refuse_late_older_checkpoints(tmp_path: Path, pg_url: str) -> None:
    late_db = LocalDB.open(tmp_path / "late.sqlite")
    held = Replicator.acquire(late_db, pg_url, start=False)
    late = HybridSaver(late_db, pg_url, lease=False)  # an unleased late writer
    try:
        late.setup()
        ttl: Any = {"strategy": "keep_latest", "default_ttl": 30}
        with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url, ttl=ttl) as a:
            ids = _put_chain(a, "y", 4, ts=OLD)
            _put_chain(late, "y", 3, ts=OLD, ids_from=ids)  # queued, never flushed yet
            a.flush(timeout=30)
            assert a.sweep_checkpoints()["threads"] == 1
            a.flush(timeout=30)
        held.start()
        late.flush(timeout=30)
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'y'"
            ).fetchall()
        assert [r[0] for r in rows] == [ids[-1]]
    finally:
        late.close()
        held.release()
        late_db.close()


@pytest.mark.parametrize("strategy", ["delete", "keep_latest"])
def test_thread_only_in_postgres_is_swept(tmp_path: Path, pg_url: str, strategy: str) -> None:
    with HybridSaver.from_conn_string(tmp_path / "writer.sqlite", pg_url) as writer:
        writer.setup()
        ids = _put_chain(writer, "remote", 3, ts=OLD)
        writer.flush(timeout=30)
    ttl: Any = {"strategy": strategy, "default_ttl": 30}
    with HybridSaver.from_conn_string(tmp_path / "sweeper.sqlite", pg_url, ttl=ttl) as other:
        report = other.sweep_checkpoints()
        assert report["postgres_threads"] == 1 and report["local_threads"] == 0
        other.flush(timeout=30)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'remote'")
        assert [r[0] for r in rows] == ([] if strategy == "delete" else [ids[-1]])
    assert _pg_count(pg_url, "checkpoint_writes", "remote") == (0 if strategy == "delete" else 1)


@pytest.mark.parametrize(
    "ttl",
    [
        {"strategy": "forget", "default_ttl": 5},
        {"default_ttl": -1},
        {"default_ttl": 5, "sweep_limit": 0},
        {"default_ttl": 5, "sweep_interval": 1},
        "60",
    ],
)
def test_bad_ttl_is_refused_before_anything_is_written(
    tmp_path: Path, pg_url: str, ttl: Any
) -> None:
    with pytest.raises(ConfigError, match="ttl"):
        HybridSaver(tmp_path / "bad.sqlite", pg_url, ttl=ttl)
    assert not (tmp_path / "bad.sqlite").exists()


def test_background_sweeper_runs_and_stops_on_close(tmp_path: Path, pg_url: str) -> None:
    ttl: Any = {"default_ttl": 30, "sweep_interval_minutes": 0.002}  # every 0.12 s
    saver = HybridSaver(tmp_path / "a.sqlite", pg_url, ttl=ttl)
    try:
        saver.setup()
        assert saver.start_ttl_sweeper() is saver.start_ttl_sweeper()  # idempotent
        _put_chain(saver, "bg", 2, ts=OLD)
        deadline = time.monotonic() + 20
        while _local_ids(saver, "bg") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _local_ids(saver, "bg") == []
    finally:
        saver.close()
    assert not saver._ttl_sweeper.running


def test_start_ttl_sweeper_without_policy_says_what_to_pass(tmp_path: Path, pg_url: str) -> None:
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url) as saver:
        with pytest.raises(ConfigError, match="sweep_interval_minutes"):
            saver.start_ttl_sweeper()
        assert saver.sweep_checkpoints()["threads"] == 0


def test_env_config_reaches_the_factory_saver(tmp_path: Path, pg_url: str) -> None:
    from langgraph_hybrid_memory import MemoryConfig, open_memory

    env = {
        "MEMORY_TYPE": "hybrid",
        "DATABASE_URL": pg_url,
        "MEMORY_EMBEDDINGS": "none",
        "MEMORY_CHECKPOINT_TTL_MINUTES": "30",
        "MEMORY_CHECKPOINT_TTL_STRATEGY": "keep_latest",
        "MEMORY_CHECKPOINT_SWEEP_INTERVAL_MINUTES": "60",
        "MEMORY_CHECKPOINT_SWEEP_LIMIT": "7",
    }
    cfg = MemoryConfig.from_env(env, data_dir=tmp_path)
    assert cfg.checkpoint_ttl == {
        "strategy": "keep_latest",
        "default_ttl": 30.0,
        "sweep_interval_minutes": 60.0,
        "sweep_limit": 7,
    }
    with open_memory(cfg) as memory:
        saver = memory.checkpointer
        assert isinstance(saver, HybridSaver)
        assert saver.ttl == cfg.checkpoint_ttl
        assert saver._ttl_sweeper.running
        ids = _put_chain(saver, "env", 3, ts=OLD)
        assert saver.sweep_checkpoints()["threads"] == 1
        assert _local_ids(saver, "env") == [ids[-1]]
    assert not saver._ttl_sweeper.running


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MEMORY_CHECKPOINT_TTL_MINUTES": "soon"}, "MEMORY_CHECKPOINT_TTL_MINUTES"),
        ({"MEMORY_CHECKPOINT_TTL_MINUTES": "0"}, "MEMORY_CHECKPOINT_TTL_MINUTES"),
        (
            {"MEMORY_CHECKPOINT_TTL_MINUTES": "5", "MEMORY_CHECKPOINT_TTL_STRATEGY": "forget"},
            "keep_latest",
        ),
        (
            {"MEMORY_CHECKPOINT_TTL_MINUTES": "5", "MEMORY_CHECKPOINT_SWEEP_LIMIT": "1.5"},
            "MEMORY_CHECKPOINT_SWEEP_LIMIT",
        ),
        (
            {"MEMORY_CHECKPOINT_SWEEP_INTERVAL_MINUTES": "5"},
            "without MEMORY_CHECKPOINT_TTL_MINUTES",
        ),
    ],
)
def test_bad_env_config_names_the_variable(env: dict[str, str], named: str) -> None:
    from langgraph_hybrid_memory import MemoryConfig

    with pytest.raises(ConfigError, match=named):
        MemoryConfig.from_env(env)


def test_lghm_sweep_applies_the_policy_dry_run_first(tmp_path: Path, pg_url: str) -> None:
    import json

    from tests.cli.test_admin_cli import env_for, invoke

    env = {
        **env_for(pg_url, tmp_path),
        "MEMORY_CHECKPOINT_TTL_MINUTES": "30",
        "MEMORY_CHECKPOINT_TTL_STRATEGY": "keep_latest",
    }
    with HybridSaver.from_conn_string(tmp_path / "memory.sqlite", pg_url) as saver:
        saver.setup()
        ids = _put_chain(saver, "cli", 3, ts=OLD)
        _put_chain(saver, "fresh", 3)
    dry = invoke(["sweep", "--dry-run", "--json"], env)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["checkpoints"]["threads"] == 1
    assert _pg_count(pg_url, "checkpoints", "cli") == 3
    done = invoke(["sweep", "--json"], env)
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["checkpoints"] == {
        "threads": 1,
        "local_threads": 1,
        "postgres_threads": 0,
        "delta_threads": 0,
        "skipped_delta": 0,
    }
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'cli'")
        assert [r[0] for r in rows] == [ids[-1]]
    assert _pg_count(pg_url, "checkpoints", "fresh") == 3


@pytest.mark.parametrize("strategy", ["delete", "keep_latest"])
def test_postgres_memory_type_sweeps_postgres_saver_tables(
    tmp_path: Path, pg_url: str, strategy: str
) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    from langgraph_hybrid_memory import MemoryConfig
    from langgraph_hybrid_memory.admin import AdminContext
    from langgraph_hybrid_memory.admin._sweep import sweep_checkpoints

    with PostgresSaver.from_conn_string(pg_url) as pg:
        pg.setup()
        config: Any = {"configurable": {"thread_id": "pgs", "checkpoint_ns": ""}}
        for i in range(3):
            cp = empty_checkpoint()
            cp["ts"] = (OLD + dt.timedelta(seconds=i)).isoformat()
            version = str(i + 1)
            cp["channel_values"] = {"items": [i]}
            cp["channel_versions"] = {"items": version}
            config = pg.put(config, cp, {"step": i}, {"items": version})
    cfg = MemoryConfig(
        memory_type="postgres",
        database_url=pg_url,
        embeddings="none",
        data_dir=tmp_path,
        checkpoint_ttl={"strategy": strategy, "default_ttl": 30},
    )
    with AdminContext(cfg) as ctx:
        report = sweep_checkpoints(ctx)
    assert report is not None and report["threads"] == 1
    expected = 0 if strategy == "delete" else 1
    assert _pg_count(pg_url, "checkpoints", "pgs") == expected
    with PostgresSaver.from_conn_string(pg_url) as pg:
        tup = pg.get_tuple({"configurable": {"thread_id": "pgs"}})
        if strategy == "keep_latest":
            assert tup is not None and tup.checkpoint["channel_values"] == {"items": [2]}
        else:
            assert tup is None


def test_memory_sweep_uses_its_own_saver(tmp_path: Path, pg_url: str) -> None:
    from langgraph_hybrid_memory import MemoryConfig, open_memory

    cfg = MemoryConfig(
        memory_type="hybrid",
        database_url=pg_url,
        embeddings="none",
        data_dir=tmp_path,
        checkpoint_ttl={"default_ttl": 30},
    )
    with open_memory(cfg) as memory:
        saver = memory.checkpointer
        assert isinstance(saver, HybridSaver)
        _put_chain(saver, "m", 2, ts=OLD)
        assert memory.sweep(dry_run=True)["checkpoints"]["threads"] == 1
        assert _local_ids(saver, "m") != []
        assert memory.sweep()["checkpoints"]["local_threads"] == 1
        assert _local_ids(saver, "m") == []


def test_async_saver_sweeps_from_the_event_loop(tmp_path: Path, pg_url: str) -> None:
    import asyncio

    from langgraph_hybrid_memory import AsyncHybridSaver

    async def main() -> None:
        async with AsyncHybridSaver.from_conn_string(
            tmp_path / "a.sqlite", pg_url, ttl={"strategy": "keep_latest", "default_ttl": 30}
        ) as saver:
            await saver.setup()
            ids = await asyncio.to_thread(_put_chain, saver, "as", 3, ts=OLD)
            report = await saver.asweep_checkpoints()
            assert report["threads"] == 1
            assert await asyncio.to_thread(_local_ids, saver, "as") == [ids[-1]]

    asyncio.run(main())


def _delta_graph(saver: Any) -> Any:
    from langgraph.graph import END, START, StateGraph

    def step(state: DeltaState) -> dict[str, Any]:
        return {"log": [f"s{len(state.get('log') or [])}"]}

    g = StateGraph(DeltaState)
    g.add_node("step", step)
    g.add_edge(START, "step")
    g.add_edge("step", END)
    return g.compile(checkpointer=saver)


def _replay_chain(saver: Any, config: Any) -> list[str]:
    """The checkpoints `get_delta_channel_history` reads for the latest state of "log": the
    head, then parents until one that stores a value for it (the snapshot it is rebuilt from)."""
    tup = saver.get_tuple(config)
    chain = [tup.config["configurable"]["checkpoint_id"]]
    while "log" not in tup.checkpoint["channel_values"] and tup.parent_config:
        tup = saver.get_tuple(tup.parent_config)
        chain.append(tup.config["configurable"]["checkpoint_id"])
    return sorted(chain)


def test_keep_latest_keeps_delta_channel_chain_back_to_its_snapshot(
    tmp_path: Path, pg_url: str
) -> None:
    config: Any = {"configurable": {"thread_id": "delta"}}
    ttl: Any = {"strategy": "keep_latest", "default_ttl": 30}
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url, ttl=ttl) as saver:
        saver.setup()
        graph = _delta_graph(saver)
        for _ in range(5):  # 3 checkpoints each; a snapshot every 4 updates of "log"
            graph.invoke({"log": ["in"]}, config)
        state = graph.get_state(config)
        assert len(state.values["log"]) == 10
        before = len(_local_ids(saver, "delta"))
        chain = _replay_chain(saver, config)
        assert 1 < len(chain) < before  # rebuilt from a snapshot older than the head
        saver.flush(timeout=30)
        report = saver.sweep_checkpoints(now=time.time() + 3600)
        assert report["threads"] == 1 and report["delta_threads"] == 1
        assert report["skipped_delta"] == 0
        saver.flush(timeout=30)
        # What stays: the head and its ancestors back to the snapshot it is rebuilt from.
        assert sorted(_local_ids(saver, "delta")) == chain
        after = graph.get_state(config)
        assert after.values == state.values and after.next == state.next
        assert_tiers_equal(saver, pg_url, "delta")
        # Nothing more to delete until the thread moves on: not picked again.
        assert saver.sweep_checkpoints(now=time.time() + 3600)["threads"] == 0
        # Resumable: the next run appends to the same history.
        graph.invoke({"log": ["in"]}, config)
        log = graph.get_state(config).values["log"]
        assert log[:10] == state.values["log"] and log[10:] == ["in", "s11"]
    # A fresh machine rebuilds the same state from PostgreSQL alone.
    with HybridSaver.from_conn_string(tmp_path / "b.sqlite", pg_url) as other:
        assert _delta_graph(other).get_state(config).values["log"] == log


def test_postgres_memory_type_keeps_delta_channel_chain(tmp_path: Path, pg_url: str) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    config: Any = {"configurable": {"thread_id": "pgdelta"}}
    with PostgresSaver.from_conn_string(pg_url) as pg:
        pg.setup()
        graph = _delta_graph(pg)
        for _ in range(5):
            graph.invoke({"log": ["in"]}, config)
        values = graph.get_state(config).values
        chain = _replay_chain(pg, config)
        assert 1 < len(chain) < _pg_count(pg_url, "checkpoints", "pgdelta")
        with psycopg.connect(pg_url, autocommit=True, row_factory=dict_row) as conn:
            ttl: Any = {"strategy": "keep_latest", "default_ttl": 30}
            report = sweep_postgres_saver(conn, ttl, now=time.time() + 3600)
            assert report["threads"] == 1 and report["delta_threads"] == 1
            kept = [t.config["configurable"]["checkpoint_id"] for t in pg.list(config)]
            assert sorted(kept) == chain
            assert graph.get_state(config).values == values
            assert sweep_postgres_saver(conn, ttl, now=time.time() + 3600)["threads"] == 0
        graph.invoke({"log": ["in"]}, config)
        assert graph.get_state(config).values["log"] == [*values["log"], "in", "s11"]


def _old_postgres_checkpoints(saver: Any, thread_id: str, n: int) -> None:
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    for i in range(n):
        cp = empty_checkpoint()
        cp["ts"] = (OLD + dt.timedelta(seconds=i)).isoformat()
        cp["channel_values"] = {"items": [i]}
        cp["channel_versions"] = {"items": str(i + 1)}
        config = saver.put(config, cp, {"step": i}, {"items": str(i + 1)})


def test_postgres_memory_type_runs_a_background_sweeper(tmp_path: Path, pg_url: str) -> None:
    from langgraph_hybrid_memory import MemoryConfig, open_memory

    cfg = MemoryConfig(
        memory_type="postgres",
        database_url=pg_url,
        embeddings="none",
        data_dir=tmp_path,
        checkpoint_ttl={"default_ttl": 30, "sweep_interval_minutes": 0.002},  # every 0.12 s
    )
    with open_memory(cfg) as memory:
        retention = memory.retention
        assert retention is not None
        _old_postgres_checkpoints(memory.checkpointer, "bgpg", 2)
        deadline = time.monotonic() + 20
        while _pg_count(pg_url, "checkpoints", "bgpg") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _pg_count(pg_url, "checkpoints", "bgpg") == 0
        status = memory.status()["retention"]
        assert status["strategy"] == "delete" and status["sweeper_running"] is True
        assert status["threads_swept"] == 1 and status["sweeps"] >= 1
        assert status["last_sweep_at"] is not None and status["last_error"] is None
        # memory.sweep() goes through the same policy (and its counts).
        _old_postgres_checkpoints(memory.checkpointer, "again", 1)
        assert memory.sweep()["checkpoints"]["threads"] in (0, 1)  # the sweeper may be first
        assert _pg_count(pg_url, "checkpoints", "again") == 0
    assert memory.retention is not None and not memory.retention.status()["sweeper_running"]


def test_postgres_memory_type_without_ttl_has_no_sweeper(tmp_path: Path, pg_url: str) -> None:
    from langgraph_hybrid_memory import MemoryConfig, open_memory

    cfg = MemoryConfig(
        memory_type="postgres", database_url=pg_url, embeddings="none", data_dir=tmp_path
    )
    with open_memory(cfg) as memory:
        assert memory.retention is None and memory.status()["retention"] is None


def test_status_reports_the_policy_and_the_sweeps(tmp_path: Path, pg_url: str) -> None:
    import json

    from tests.cli.test_admin_cli import env_for, invoke

    ttl: Any = {"strategy": "keep_latest", "default_ttl": 30}
    with HybridSaver.from_conn_string(tmp_path / "memory.sqlite", pg_url, ttl=ttl) as saver:
        saver.setup()
        before = saver.status()["retention"]
        assert before["strategy"] == "keep_latest" and before["sweeps"] == 0
        assert before["last_sweep_at"] is None and before["sweeper_running"] is False
        _put_chain(saver, "st", 3, ts=OLD)
        saver.sweep_checkpoints(dry_run=True)  # dry runs are not counted
        saver.sweep_checkpoints()
        saver.sweep_checkpoints()
        after = saver.status()["retention"]
        assert after["sweeps"] == 2 and after["threads_swept"] == 1
        assert after["last_threads"] == 0 and after["last_sweep_at"] is not None
    env = {
        **env_for(pg_url, tmp_path),
        "MEMORY_CHECKPOINT_TTL_MINUTES": "30",
        "MEMORY_CHECKPOINT_TTL_STRATEGY": "keep_latest",
    }
    result = invoke(["status", "--json"], env)  # exit 1: the store is not set up here
    retention = json.loads(result.stdout)["retention"]
    assert retention["policy"]["strategy"] == "keep_latest"
    last = retention["last_sweep"]
    assert last["sweeps"] == 2 and last["threads_swept"] == 1 and last["last_threads"] == 0
    table = invoke(["status"], env)
    assert "checkpoint retention" in table.stdout and "last checkpoint sweep" in table.stdout
    assert "keep_latest after 30 min" in table.stdout


def test_forget_user_removes_the_retention_marks_of_their_threads(
    tmp_path: Path, pg_url: str
) -> None:
    from langgraph_hybrid_memory import MemoryConfig, open_memory

    cfg = MemoryConfig(
        memory_type="hybrid",
        database_url=pg_url,
        embeddings="none",
        data_dir=tmp_path,
        checkpoint_ttl={"strategy": "keep_latest", "default_ttl": 30},
    )
    with open_memory(cfg) as memory:
        saver = memory.checkpointer
        assert isinstance(saver, HybridSaver)
        config: Any = {"configurable": {"thread_id": "john-thread", "checkpoint_ns": ""}}
        for i in range(3):
            cp = empty_checkpoint()
            cp["ts"] = (OLD + dt.timedelta(seconds=i)).isoformat()
            config = saver.put(config, cp, cast(Any, {"step": i, "user_id": "john"}), {})
        assert saver.sweep_checkpoints()["threads"] == 1
        saver.flush(timeout=30)
        assert _pg_count(pg_url, "lghm_checkpoint_retention", "john-thread") == 1
        assert memory.forget_user("john")["threads"] == ["john-thread"]
        saver.flush(timeout=30)
        assert _pg_count(pg_url, "lghm_checkpoint_retention", "john-thread") == 0
        with saver.db.read() as conn:
            rows = conn.execute("SELECT thread_id FROM lghm_checkpoint_retention").fetchall()
        assert rows == []


def test_async_postgres_memory_type_sweeper_stops_with_the_memory(
    tmp_path: Path, pg_url: str
) -> None:
    import asyncio

    from langgraph_hybrid_memory import MemoryConfig, aopen_memory

    cfg = MemoryConfig(
        memory_type="postgres",
        database_url=pg_url,
        embeddings="none",
        data_dir=tmp_path,
        checkpoint_ttl={"default_ttl": 30, "sweep_interval_minutes": 0.002},
    )

    async def main() -> Any:
        async with aopen_memory(cfg) as memory:
            assert memory.retention is not None
            assert memory.status()["retention"]["sweeper_running"] is True
            report = await asyncio.to_thread(memory.retention.sweep_checkpoints)
            assert report["threads"] == 0 and report["cutoff"] is not None
            return memory.retention

    retention = asyncio.run(main())
    assert retention.status()["sweeper_running"] is False


def _sqlite_cfg(tmp_path: Path, ttl: Any) -> Any:
    from langgraph_hybrid_memory import MemoryConfig

    return MemoryConfig(
        memory_type="sqlite", embeddings="none", data_dir=tmp_path, checkpoint_ttl=ttl
    )


def _sqlite_ids(memory: Any, thread_id: str) -> list[str]:
    config: Any = {"configurable": {"thread_id": thread_id}}
    return sorted(
        t.config["configurable"]["checkpoint_id"] for t in memory.checkpointer.list(config)
    )


def test_sqlite_memory_type_keep_latest_keeps_delta_chain(tmp_path: Path) -> None:
    from langgraph_hybrid_memory import open_memory

    config: Any = {"configurable": {"thread_id": "sq"}}
    with open_memory(_sqlite_cfg(tmp_path, {"strategy": "keep_latest", "default_ttl": 30})) as m:
        assert m.retention is not None
        graph = _delta_graph(m.checkpointer)
        for _ in range(5):
            graph.invoke({"log": ["in"]}, config)
        state = graph.get_state(config)
        chain = _replay_chain(m.checkpointer, config)
        assert 1 < len(chain) < len(_sqlite_ids(m, "sq"))
        assert m.retention.sweep_checkpoints(now=time.time() - 60)["threads"] == 0  # not old
        report = m.retention.sweep_checkpoints(now=time.time() + 3600)
        assert report["threads"] == 1 and report["delta_threads"] == 1
        assert _sqlite_ids(m, "sq") == chain
        after = graph.get_state(config)
        assert after.values == state.values and after.next == state.next
        assert m.retention.sweep_checkpoints(now=time.time() + 3600)["threads"] == 0
        graph.invoke({"log": ["in"]}, config)
        assert graph.get_state(config).values["log"] == [*state.values["log"], "in", "s11"]
        assert m.status()["retention"]["threads_swept"] == 1


def test_sqlite_memory_type_background_sweeper_deletes(tmp_path: Path) -> None:
    from langgraph_hybrid_memory import open_memory

    ttl: Any = {"default_ttl": 0.001, "sweep_interval_minutes": 0.002}  # 60 ms, every 0.12 s
    with open_memory(_sqlite_cfg(tmp_path, ttl)) as m:
        assert m.retention is not None and m.status()["retention"]["sweeper_running"]
        _delta_graph(m.checkpointer).invoke({"log": ["in"]}, {"configurable": {"thread_id": "x"}})
        deadline = time.monotonic() + 20
        while _sqlite_ids(m, "x") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _sqlite_ids(m, "x") == []
        assert m.sweep(dry_run=True)["checkpoints"]["threads"] == 0
    assert not m.retention.status()["sweeper_running"]


def test_lghm_sweep_with_sqlite_memory_type(tmp_path: Path) -> None:
    from langgraph_hybrid_memory import open_memory
    from langgraph_hybrid_memory.admin import AdminContext
    from langgraph_hybrid_memory.admin._sweep import sweep_checkpoints

    cfg = _sqlite_cfg(tmp_path, {"strategy": "delete", "default_ttl": 0.001})
    with open_memory(cfg) as m:
        _delta_graph(m.checkpointer).invoke({"log": ["in"]}, {"configurable": {"thread_id": "c"}})
    time.sleep(0.1)  # older than the 60 ms TTL
    with AdminContext(cfg) as ctx:
        report = sweep_checkpoints(ctx)
    assert report is not None and report["threads"] == 1 and report["local_threads"] == 1
    with open_memory(cfg) as m:
        assert _sqlite_ids(m, "c") == []


def test_lghm_prune_keeps_delta_channel_chain_on_both_tiers(tmp_path: Path, pg_url: str) -> None:
    """`lghm prune --keep-last 1` follows the savers' rule: the newest checkpoint stays with the
    ancestors its DeltaChannel value is rebuilt from, on both tiers, and reads back the same."""
    import json

    from tests.cli.test_admin_cli import env_for, invoke

    env = env_for(pg_url, tmp_path)
    config: Any = {"configurable": {"thread_id": "pdelta"}}
    with HybridSaver.from_conn_string(tmp_path / "memory.sqlite", pg_url) as saver:
        saver.setup()
        graph = _delta_graph(saver)
        for _ in range(5):  # 3 checkpoints each; a snapshot every 4 updates of "log"
            graph.invoke({"log": ["in"]}, config)
        plain = _put_chain(saver, "plain", 3)  # no DeltaChannel: keeps its newest only
        state = graph.get_state(config)
        chain = _replay_chain(saver, config)
        before = len(_local_ids(saver, "pdelta"))
        assert 1 < len(chain) < before
        saver.flush(timeout=30)
    dry = invoke(["prune", "--keep-last", "1", "--json"], env)
    assert dry.exit_code == 0, dry.output
    doomed = before - len(chain) + 2
    assert json.loads(dry.stdout)["postgres"] == {"checkpoints": doomed, "threads": 2}
    done = invoke(["prune", "--keep-last", "1", "--yes", "--json"], env)
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["postgres"]["checkpoints"] == report["local"]["checkpoints"] == doomed
    with HybridSaver.from_conn_string(tmp_path / "memory.sqlite", pg_url) as saver:
        assert sorted(_local_ids(saver, "pdelta")) == chain
        assert _local_ids(saver, "plain") == [plain[-1]]
        graph = _delta_graph(saver)
        after = graph.get_state(config)
        assert after.values == state.values and after.next == state.next
        assert_tiers_equal(saver, pg_url, "pdelta")
        # Nothing more to delete: the chain is what the newest checkpoint needs.
        again = json.loads(invoke(["prune", "--keep-last", "1", "--yes", "--json"], env).stdout)
        assert again["postgres"]["checkpoints"] == again["local"]["checkpoints"] == 0
        graph.invoke({"log": ["in"]}, config)
        log = graph.get_state(config).values["log"]
        assert log == [*state.values["log"], "in", "s11"]
        saver.flush(timeout=30)
    # A fresh machine rebuilds the same state from PostgreSQL alone.
    with HybridSaver.from_conn_string(tmp_path / "b.sqlite", pg_url) as other:
        assert _delta_graph(other).get_state(config).values["log"] == log


def test_lghm_prune_plan_by_age_keeps_the_chain_of_a_newer_head() -> None:
    """`--older-than` alone: a head newer than the cutoff stays, and so do the older ancestors
    its DeltaChannel value is rebuilt from; a plain thread loses everything older."""
    from langgraph_hybrid_memory.admin._prune import plan_checkpoint_prune
    from langgraph_hybrid_memory.checkpoint.base import DeltaNode

    def node(parent: str | None, needs: Sequence[str] = (), stored: Sequence[str] = ()) -> Any:
        return DeltaNode(parent=parent, needs=frozenset(needs), stored=frozenset(stored))

    lineage = {
        ("", "1"): node(None, stored=["log"]),
        ("", "2"): node("1", stored=["log"]),  # the snapshot the head is rebuilt from
        ("", "3"): node("2", ["log"]),
        ("", "4"): node("3", ["log"]),
    }
    old, new = "2000-01-01T00:00:00+00:00", "2100-01-01T00:00:00+00:00"
    rows = [("d", "", c, old if c != "4" else new, True) for c in "1234"]
    rows += [("p", "", c, old if c != "4" else new, False) for c in "1234"]
    asked: list[str] = []

    def lineage_of(thread_id: str) -> Any:
        asked.append(thread_id)
        return lineage

    cutoff = dt.datetime(2050, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    doomed = plan_checkpoint_prune(
        rows, keep_last=None, cutoff=cutoff, threads=None, lineage_of=lineage_of
    )
    assert doomed == [("d", "", "1"), ("p", "", "1"), ("p", "", "2"), ("p", "", "3")]
    assert asked == ["d"]  # only DeltaChannel threads read their lineage
    with pytest.raises(NotImplementedError, match="DeltaChannel"):
        plan_checkpoint_prune(rows, keep_last=1, cutoff=None, threads={"d"})
