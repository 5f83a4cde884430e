"""Hydration (a thread written by one instance resumes in another) and invariant 3: deletes win,
on both tiers, and a late flush never brings deleted checkpoints back (tombstones)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.types import Command

from langgraph_hybrid_memory import HybridSaver
from langgraph_hybrid_memory._outbox import Replicator
from langgraph_hybrid_memory._sqlite import LocalDB
from tests.checkpoint.helpers import EXPECTED_DONE, assert_tiers_equal, build_graph, snapshot


def _put_chain(
    saver: HybridSaver, thread_id: str, n: int, ns: str = "", ids_from: list[str] | None = None
) -> list[str]:
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}
    version = None
    ids = []
    for i in range(n):
        cp = empty_checkpoint()
        if ids_from:
            cp["id"] = ids_from[i]
        version = saver.get_next_version(version, None)
        cp["channel_values"] = {"items": [i] * 3, "n": i}
        cp["channel_versions"] = {"items": version, "n": version}
        config = saver.put(
            config,
            cp,
            {"source": "loop", "step": i, "run_id": f"run-{i}"},
            {"items": version, "n": version},
        )
        saver.put_writes(config, [("items", [i])], task_id=f"task-{i}")
        ids.append(cp["id"])
    return ids


def _pg_ids(pg_url: str, thread_id: str) -> list[str]:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT checkpoint_id FROM checkpoints WHERE thread_id = %s ORDER BY checkpoint_id",
            (thread_id,),
        ).fetchall()
    return [r[0] for r in rows]


def test_thread_resumes_on_another_instance(tmp_path: Path, pg_url: str) -> None:
    config = {"configurable": {"thread_id": "roaming"}}
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url) as a:
        a.setup()
        assert "__interrupt__" in build_graph(a).invoke({"task": "t"}, config)
        a.flush(timeout=30)
        written = snapshot(a, "roaming")
    with HybridSaver.from_conn_string(tmp_path / "b.sqlite", pg_url) as b:
        graph = build_graph(b)
        state = graph.get_state(config)
        assert b.status()["last_read_tier"] == "postgres"
        assert state.next == ("review",)
        assert state.tasks[0].interrupts[0].value["done"] == EXPECTED_DONE
        assert {k: v for k, v in snapshot(b, "roaming").items() if k[0] == ""} == {
            k: v for k, v in written.items() if k[0] == ""
        }
        final = graph.invoke(Command(resume="ok"), config)
        assert final["approved"] == "ok"
        b.flush(timeout=30)
        assert_tiers_equal(b, pg_url, "roaming")
    # The hydrated copy is kept locally: instance b's file answers with PostgreSQL out of reach.
    unreachable = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    with HybridSaver.from_conn_string(tmp_path / "b.sqlite", unreachable, connect_timeout=1) as b2:
        state = build_graph(b2).get_state(config)
        assert state.values["approved"] == "ok"
        assert b2.status()["last_read_tier"] == "local"


def test_delete_thread_both_tiers_and_no_resurrection(tmp_path: Path, pg_url: str) -> None:
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url) as a:
        a.setup()
        _put_chain(a, "doomed", 3)
        a.flush(timeout=30)
        assert len(_pg_ids(pg_url, "doomed")) == 3
        a.delete_thread("doomed")
        # Before the delete reaches PostgreSQL, a read must not hydrate the thread back.
        assert a.get_tuple({"configurable": {"thread_id": "doomed"}}) is None
        a.flush(timeout=30)
        assert _pg_ids(pg_url, "doomed") == []
        assert a.get_tuple({"configurable": {"thread_id": "doomed"}}) is None
        # Later work on the same thread id is new data and flows normally.
        new_ids = _put_chain(a, "doomed", 1)
        a.flush(timeout=30)
        assert _pg_ids(pg_url, "doomed") == new_ids


def test_late_flush_from_another_instance_is_refused(tmp_path: Path, pg_url: str) -> None:
    # Instance "late" writes while its flusher is held back (as if PostgreSQL were unreachable
    # from it); meanwhile instance "fast" deletes the thread. The late flush must not resurrect.
    # "late" runs without a lease (lease=False: its entries are not fenced), so only the
    # tombstones stand between its late flush and the deleted thread.
    late_db = LocalDB.open(tmp_path / "late.sqlite")
    held = Replicator.acquire(late_db, pg_url, start=False)
    late = HybridSaver(late_db, pg_url, lease=False)
    try:
        late.setup()
        old_ids = _put_chain(late, "contested", 2)
        with HybridSaver.from_conn_string(tmp_path / "fast.sqlite", pg_url) as fast:
            _put_chain(fast, "contested", 1)
            fast.flush(timeout=30)
            fast.delete_thread("contested")
            fast.flush(timeout=30)
        held.start()
        late.flush(timeout=30)
        assert _pg_ids(pg_url, "contested") == []
        assert not set(old_ids) & set(_pg_ids(pg_url, "contested"))
        # ...while what "late" writes after the delete does reach PostgreSQL.
        newer = _put_chain(late, "contested", 1)
        late.flush(timeout=30)
        assert _pg_ids(pg_url, "contested") == newer
    finally:
        late.close()
        held.release()
        late_db.close()


@pytest.mark.parametrize("keep_last", [1, 2])
def test_prune_keep_last_both_tiers_with_tombstones(
    tmp_path: Path, pg_url: str, keep_last: int
) -> None:
    late_db = LocalDB.open(tmp_path / "late.sqlite")
    held = Replicator.acquire(late_db, pg_url, start=False)
    late = HybridSaver(late_db, pg_url, flush_namespaces=["*"], lease=False)
    try:
        late.setup()
        with HybridSaver.from_conn_string(
            tmp_path / "a.sqlite", pg_url, flush_namespaces=["*"]
        ) as a:
            ids = _put_chain(a, "p", 5)
            child = _put_chain(a, "p", 3, ns="sub:1")
            a.flush(timeout=30)
            # "late" holds an unflushed copy of the thread's oldest checkpoints (written before
            # the prune, e.g. on a machine that was offline).
            _put_chain(late, "p", 2, ids_from=ids)
            a.prune(["p"], strategy="keep_latest", keep_last=keep_last)
            local = [
                t.config["configurable"]["checkpoint_id"]
                for t in a.list({"configurable": {"thread_id": "p", "checkpoint_ns": ""}})
            ]
            assert local == list(reversed(ids))[:keep_last]
            a.flush(timeout=30)
            kept = sorted(ids[-keep_last:] + child[-keep_last:])
            assert _pg_ids(pg_url, "p") == kept
            tup = a.get_tuple({"configurable": {"thread_id": "p"}})
            assert tup is not None and tup.pending_writes == [("task-4", "items", [4])]
            assert tup.checkpoint["channel_values"]["items"] == [4, 4, 4]
            assert_tiers_equal(a, pg_url, "p")
            # A plain PostgresSaver reads the pruned thread.
            with PostgresSaver.from_conn_string(pg_url) as pg:
                latest = pg.get_tuple({"configurable": {"thread_id": "p", "checkpoint_ns": ""}})
                assert latest is not None and latest.checkpoint["id"] == ids[-1]
            a.copy_thread("p", "p-copy")
            a.flush(timeout=30)
            assert _pg_ids(pg_url, "p-copy") == kept
        # The late flush of pruned checkpoints is refused by their tombstones.
        held.start()
        late.flush(timeout=30)
        assert _pg_ids(pg_url, "p") == kept
    finally:
        late.close()
        held.release()
        late_db.close()


def test_delete_for_runs_both_tiers(tmp_path: Path, pg_url: str) -> None:
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url) as a:
        a.setup()
        ids = _put_chain(a, "r", 4)
        a.flush(timeout=30)
        a.delete_for_runs(["run-1", "run-2"])
        a.flush(timeout=30)
        assert _pg_ids(pg_url, "r") == [ids[0], ids[3]]
        assert_tiers_equal(a, pg_url, "r")


def test_bad_prune_arguments_change_nothing(tmp_path: Path, pg_url: str) -> None:
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url) as a:
        _put_chain(a, "x", 2)
        with pytest.raises(TypeError, match="not a str"):
            a.prune("x")
        with pytest.raises(ValueError, match="Unknown prune strategy"):
            a.prune(["x"], strategy="newest")
        with pytest.raises(ValueError, match="keep_last"):
            a.prune(["x"], keep_last=0)
        assert len(list(a.list({"configurable": {"thread_id": "x"}}))) == 2


def test_evict_local_then_rehydrate_newer_state(tmp_path: Path, pg_url: str) -> None:
    # Without leases (lease=False) a local copy is read as it is; evict_local drops it. (With
    # leases the stale copy is found and re-hydrated by itself: tests/checkpoint/test_lease.py.)
    with (
        HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url, lease=False) as a,
        HybridSaver.from_conn_string(tmp_path / "b.sqlite", pg_url, lease=False) as b,
    ):
        a.setup()
        first = _put_chain(a, "moving", 1)
        a.flush(timeout=30)
        assert b.get_tuple({"configurable": {"thread_id": "moving"}}).checkpoint["id"] == first[0]
        newer = _put_chain(b, "moving", 1)  # the thread moves on on machine b
        b.flush(timeout=30)
        stale = a.get_tuple({"configurable": {"thread_id": "moving"}})
        assert stale is not None and stale.checkpoint["id"] == first[0]  # local first
        a.evict_local("moving")
        fresh = a.get_tuple({"configurable": {"thread_id": "moving"}})
        assert fresh is not None and fresh.checkpoint["id"] == newer[0]
        assert a.status()["last_read_tier"] == "postgres"

    # Unflushed changes are never dropped: with the flusher held back, eviction refuses.
    db = LocalDB.open(tmp_path / "c.sqlite")
    held = Replicator.acquire(db, pg_url, start=False)
    c = HybridSaver(db, pg_url)
    try:
        _put_chain(c, "moving", 1)
        with pytest.raises(RuntimeError, match="flush"):
            c.evict_local("moving")
        assert len(list(c.list({"configurable": {"thread_id": "moving"}}))) == 1
        held.start()
        c.flush(timeout=30)
        c.evict_local("moving")
        assert len(_pg_ids(pg_url, "moving")) == 3
    finally:
        c.close()
        held.release()
        db.close()
