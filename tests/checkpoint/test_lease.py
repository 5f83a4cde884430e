"""Invariant 10, one owner per thread: HybridSaver's lease in PostgreSQL, epoch fencing of a
stale holder's flush, re-hydration of a stale local copy, and offline work kept as a branch."""

from __future__ import annotations

import itertools
import logging
import operator
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import psycopg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typing_extensions import TypedDict

from bench.tcp_proxy import DelayProxy
from langgraph_hybrid_memory import HybridSaver, ThreadBusyError
from langgraph_hybrid_memory._outbox import Replicator
from langgraph_hybrid_memory._sqlite import LocalDB

# Short lease settings so handovers happen within a test's time.
FAST = {"lease_ttl": 2.0, "lease_idle": 0.3, "lease_wait": 15.0}


class State(TypedDict, total=False):
    turns: Annotated[list[str], operator.add]
    steps: int


def _graph(saver: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("think", lambda s: {"steps": s.get("steps", 0) + 1})
    builder.add_edge(START, "think")
    builder.add_edge("think", END)
    return builder.compile(checkpointer=saver)


def _turn(saver: Any, thread: str, label: str) -> list[str]:
    out = _graph(saver).invoke({"turns": [label]}, {"configurable": {"thread_id": thread}})
    return list(out["turns"])


def _pg_turns(pg_url: str, thread: str) -> list[str]:
    with PostgresSaver.from_conn_string(pg_url) as pg:
        tup = pg.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
    assert tup is not None
    return list(tup.checkpoint["channel_values"]["turns"])


def _assert_linear(saver: HybridSaver, thread: str) -> None:
    """Each root checkpoint's parent is the previous one (no fork)."""
    tuples = list(saver.list({"configurable": {"thread_id": thread, "checkpoint_ns": ""}}))
    tuples.reverse()
    for prev, cur in itertools.pairwise(tuples):
        assert cur.parent_config is not None
        assert (
            cur.parent_config["configurable"]["checkpoint_id"]
            == prev.config["configurable"]["checkpoint_id"]
        )


def test_handover_a_b_a_every_turn_once_and_a_rehydrates(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with (
        HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url, **FAST) as a,
        HybridSaver.from_conn_string(tmp_path / "b.sqlite", pg_url, **FAST) as b,
    ):
        a.setup()
        assert _turn(a, "t", "a0") == ["a0"]
        assert _turn(a, "t", "a1") == ["a0", "a1"]
        # B waits for A's idle release (A flushed first), hydrates, continues from A's latest.
        assert _turn(b, "t", "b2") == ["a0", "a1", "b2"]
        assert _turn(b, "t", "b3") == ["a0", "a1", "b2", "b3"]
        # A's local copy is stale: its next run re-hydrates from PostgreSQL before running.
        assert _turn(a, "t", "a4") == ["a0", "a1", "b2", "b3", "a4"]
        assert a.status()["thread_conflicts"] == 0
        a.flush(timeout=30)
        assert _pg_turns(pg_url, "t") == ["a0", "a1", "b2", "b3", "a4"]
        _assert_linear(a, "t")
    assert any(getattr(r, "event", "") == "thread_rehydrated" for r in caplog.records)


def test_second_instance_gets_thread_busy_error_naming_thread_and_holder(
    tmp_path: Path, pg_url: str
) -> None:
    with (
        HybridSaver.from_conn_string(tmp_path / "a.sqlite", pg_url, lease_idle=60) as a,
        HybridSaver.from_conn_string(tmp_path / "b.sqlite", pg_url, lease_wait=0.3) as b,
    ):
        a.setup()
        _turn(a, "busy", "a0")
        assert a.status()["leases_held"] == 1
        started = time.monotonic()
        with pytest.raises(ThreadBusyError) as info:
            _turn(b, "busy", "b1")
        assert time.monotonic() - started < 10
        assert info.value.thread_id == "busy"
        assert a.leases is not None and info.value.holder == a.leases.holder
        assert a.leases.holder in str(info.value) and "'busy'" in str(info.value)
        # Nothing was written by B; an explicit release hands the thread over at once.
        assert b.status()["depth"] == 0
        a.flush(timeout=30)
        assert _pg_turns(pg_url, "busy") == ["a0"]
        assert a.release_thread("busy")
        assert _turn(b, "busy", "b1") == ["a0", "b1"]


def test_two_instances_on_one_file_at_once_are_serialized(tmp_path: Path, pg_url: str) -> None:
    db = LocalDB.open(tmp_path / "shared.sqlite")
    savers = [HybridSaver(db, pg_url, **FAST) for _ in range(2)]
    acked: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        for n in range(6):
            label = f"s{i}-{n}"
            try:
                _turn(savers[i], "one-file", label)
            except ThreadBusyError:
                with lock:
                    refused.append(label)
                continue
            with lock:
                acked.append(label)

    try:
        savers[0].setup()
        workers = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        final = savers[0].get_tuple({"configurable": {"thread_id": "one-file"}})
        assert final is not None
        turns = final.checkpoint["channel_values"]["turns"]
        assert sorted(turns) == sorted(set(turns))  # each turn at most once
        assert set(acked) <= set(turns), set(acked) - set(turns)
        assert len(acked) + len(refused) == 12 and len(acked) >= 6
        _assert_linear(savers[0], "one-file")
    finally:
        for s in savers:
            s.close()
        db.close()


def test_stale_holder_flush_is_fenced_kept_as_branch_and_rehydrated(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = LocalDB.open(tmp_path / "a.sqlite")
    held = Replicator.acquire(db, pg_url, start=False)  # the flusher runs only when asked
    a = HybridSaver(db, pg_url, lease_ttl=1.5, lease_idle=60)
    try:
        a.setup()
        _turn(a, "fenced", "a0")
        a.flush(timeout=30)  # no flusher thread: flushed in this thread
        _turn(a, "fenced", "a1")  # under epoch 1, not yet sent
        # Another instance (another local file) takes the thread over: the epoch moves on.
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(
                "UPDATE lghm_thread_leases SET holder = 'intruder', origin = 'elsewhere', "
                "epoch = epoch + 1, expires_at = clock_timestamp() WHERE thread_id = 'fenced'"
            )
        a.flush(timeout=30)
        # Refused by epoch: not in PostgreSQL, not retried, not dead-lettered; kept and counted.
        assert _pg_turns(pg_url, "fenced") == ["a0"]
        status = a.status()
        assert status["depth"] == 0 and status["dead_letters"] == 0
        assert status["thread_conflicts"] == 1
        events = [r for r in caplog.records if getattr(r, "event", "") == "thread_conflict"]
        assert len(events) == 1
        assert events[0].levelno == logging.WARNING
        assert "'fenced'" in events[0].getMessage() and "intruder" in events[0].getMessage()
        assert events[0].checkpoints >= 1  # type: ignore[attr-defined]
        with db.read() as conn:
            branch = conn.execute(
                "SELECT count(*) FROM lghm_conflict_checkpoints WHERE thread_id = 'fenced'"
            ).fetchone()[0]
        assert branch == events[0].checkpoints  # type: ignore[attr-defined]
        # The renewer finds the lease lost; the next run re-hydrates PostgreSQL's state: the
        # branch never becomes the latest state.
        deadline = time.monotonic() + 10
        while a.status()["leases_held"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert a.status()["leases_held"] == 0
        assert _turn(a, "fenced", "a2") == ["a0", "a2"]
        a.flush(timeout=30)
        assert _pg_turns(pg_url, "fenced") == ["a0", "a2"]
        assert a.status()["thread_conflicts"] == 1
    finally:
        a.close()
        held.release()
        db.close()


def test_lease_wait_from_the_environment_reaches_the_factory_saver(
    tmp_path: Path, pg_url: str
) -> None:
    from langgraph_hybrid_memory import MemoryConfig, open_memory
    from langgraph_hybrid_memory._config import DEFAULT_LEASE_WAIT
    from langgraph_hybrid_memory.checkpoint import _lease
    from langgraph_hybrid_memory.errors import ConfigError

    assert DEFAULT_LEASE_WAIT == _lease.DEFAULT_LEASE_WAIT
    cfg = MemoryConfig.from_env(
        {"MEMORY_LEASE_WAIT": "2.5"},
        memory_type="hybrid",
        data_dir=tmp_path,
        database_url=pg_url,
        embeddings="none",
    )
    assert cfg.lease_wait == 2.5
    with pytest.raises(ConfigError, match="MEMORY_LEASE_WAIT"):
        MemoryConfig.from_env({"MEMORY_LEASE_WAIT": "soon"}, memory_type="hybrid")
    with open_memory(cfg) as memory:
        saver = memory.checkpointer
        assert isinstance(saver, HybridSaver) and saver.leases is not None
        assert saver.leases.wait == 2.5
        status = memory.status()
        assert status["thread_conflicts"] == 0
        assert status["checkpointer_status"]["leases_held"] == 0


def test_lease_expiry_during_outage_with_takeover_keeps_offline_branch(
    tmp_path: Path, private_pg: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = private_pg.url
    # A reaches PostgreSQL through a TCP proxy; closing the proxy is A's outage (a network
    # partition: PostgreSQL itself stays up for B). A cannot renew its lease, so it lapses.
    params = conninfo_to_dict(url)
    sock = f"{params['host']}/.s.PGSQL.{params.get('port', 5432)}"
    proxy = DelayProxy(sock, delay=0).__enter__()
    a_url = make_conninfo(url, host="127.0.0.1", port=str(proxy.port))
    # A's flusher backs off for long after a failure, so B takes over before A resends.
    a = HybridSaver(
        tmp_path / "a.sqlite",
        a_url,
        lease_ttl=1.0,
        lease_idle=60,
        connect_timeout=1,
        backoff_initial=60,
        close_timeout=1,
    )
    try:
        a.setup()
        _turn(a, "out", "a0")
        a.flush(timeout=30)
        proxy.close()
        # PostgreSQL unreachable from A: A keeps working locally under its lease's epoch.
        assert _turn(a, "out", "a1-offline") == ["a0", "a1-offline"]
        time.sleep(1.5)  # A's lease lapses in PostgreSQL (A could not renew it)
        with HybridSaver.from_conn_string(tmp_path / "b.sqlite", url, **FAST) as b:
            assert _turn(b, "out", "b2") == ["a0", "b2"]  # B took over from PostgreSQL's state
            b.flush(timeout=30)
    finally:
        left = a.close()  # A's offline entries stay in its outbox (backoff): sent at next start
    assert left
    with HybridSaver.from_conn_string(tmp_path / "a.sqlite", url, **FAST) as a2:
        a2.flush(timeout=30)  # fenced by epoch: kept as a branch, reported
        assert a2.status()["thread_conflicts"] == 1 and a2.status()["dead_letters"] == 0
        events = [r for r in caplog.records if getattr(r, "event", "") == "thread_conflict"]
        assert len(events) == 1 and events[0].thread_id == "out"  # type: ignore[attr-defined]
        # A continues from the latest state (B's), re-hydrated; the branch is not the latest.
        assert _turn(a2, "out", "a3") == ["a0", "b2", "a3"]
        a2.flush(timeout=30)
        with a2.db.read() as conn:
            kept = conn.execute(
                "SELECT checkpoint FROM lghm_conflict_checkpoints WHERE thread_id = 'out'"
            ).fetchall()
        assert kept
    assert _pg_turns(url, "out") == ["a0", "b2", "a3"]


def _children(args: list[list[str]]) -> list[str]:
    """Run lease children at once; return their output lines (each must exit 0)."""
    import subprocess
    import sys

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.checkpoint._lease_child", *a],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for a in args
    ]
    lines: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        lines += out.splitlines()
    return lines


def test_handover_between_processes_a_b_a(tmp_path: Path, pg_url: str) -> None:
    a, b = str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")
    acked: list[str] = []
    for path, label in ((a, "A0"), (b, "B1"), (a, "A2")):
        acked += [ln.split()[1] for ln in _children([[path, pg_url, "p", label, "2"]])]
    assert acked == ["A0-0", "A0-1", "B1-0", "B1-1", "A2-0", "A2-1"]
    assert _pg_turns(pg_url, "p") == acked  # every turn once, each run from the latest state


def test_two_processes_on_one_file_at_once(tmp_path: Path, pg_url: str) -> None:
    path = str(tmp_path / "shared.sqlite")
    with HybridSaver.from_conn_string(path, pg_url) as setup:
        setup.setup()
    lines = _children([[path, pg_url, "q", "P", "5"], [path, pg_url, "q", "Q", "5"]])
    acked = [ln.split()[1] for ln in lines if ln.startswith("ack")]
    assert len(lines) == 10 and acked
    with HybridSaver.from_conn_string(path, pg_url) as saver:
        final = saver.get_tuple({"configurable": {"thread_id": "q"}})
        assert final is not None
        turns = final.checkpoint["channel_values"]["turns"]
        assert len(turns) == len(set(turns))
        assert set(acked) <= set(turns), set(acked) - set(turns)
        _assert_linear(saver, "q")


_KILLED_HOLDER = """
import sys, time
from langgraph_hybrid_memory import HybridSaver
from tests.checkpoint.test_lease import _turn
saver = HybridSaver(sys.argv[1], sys.argv[2], lease_ttl=60, lease_idle=600)
saver.setup()
_turn(saver, "crash", "before")
saver.flush(timeout=30)
print("ready", flush=True)
time.sleep(600)
"""


def test_a_restart_on_the_same_file_takes_over_a_killed_holders_lease(
    tmp_path: Path, pg_url: str
) -> None:
    # A process holding a thread's lease (60 s) is killed; the next process on the same file
    # takes the thread at once: nobody else can hold this file's copy, and the holder is dead.
    import subprocess
    import sys

    path = str(tmp_path / "a.sqlite")
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_HOLDER, path, pg_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    finally:
        child.kill()
        child.wait(timeout=30)
        assert child.stdout is not None
        child.stdout.close()
    with HybridSaver.from_conn_string(path, pg_url, lease_ttl=60, lease_wait=1.0) as again:
        assert _turn(again, "crash", "after") == ["before", "after"]
    # Another file is a different machine's copy: it waits for the lease as before.
    other = str(tmp_path / "b.sqlite")
    with HybridSaver.from_conn_string(path, pg_url, lease_ttl=60, lease_idle=600) as holder:
        _turn(holder, "held", "x")
        with HybridSaver.from_conn_string(other, pg_url, lease_wait=0.5) as b:
            with pytest.raises(ThreadBusyError):
                _turn(b, "held", "y")
