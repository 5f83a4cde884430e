"""Invariants 1 and 2: nothing lost while PostgreSQL is down or when the process is killed with
``kill -9`` mid-flush; on restart the outbox drains, nothing duplicated."""

from __future__ import annotations

import operator
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import psycopg
import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_hybrid_memory import FlushTimeoutError, HybridSaver
from tests.checkpoint.helpers import assert_tiers_equal, build_graph
from tests.support import PrivatePostgres

ROOT = Path(__file__).resolve().parents[2]


class Loop(TypedDict):
    n: int
    log: Annotated[list[str], operator.add]


def _loop_graph(saver: HybridSaver, on_step: Any) -> Any:
    def work(state: Loop) -> dict[str, Any]:
        on_step(state["n"])
        return {"n": state["n"] + 1, "log": [f"step-{state['n']}"]}

    g = StateGraph(Loop)
    g.add_node("work", work)
    g.add_edge(START, "work")
    g.add_conditional_edges("work", lambda s: END if s["n"] >= 12 else "work")
    return g.compile(checkpointer=saver)


@pytest.mark.slow
def test_postgres_outage_mid_run(private_pg: PrivatePostgres, sqlite_path: Path) -> None:
    url = private_pg.url
    saver = HybridSaver(
        sqlite_path, url, flush_namespaces=["*"], backoff_max=0.5, connect_timeout=2
    )
    try:
        saver.setup()

        def on_step(n: int) -> None:
            if n == 4:
                private_pg.stop()  # PostgreSQL goes away in the middle of the run

        out = _loop_graph(saver, on_step).invoke(
            {"n": 0, "log": []}, {"configurable": {"thread_id": "outage"}}, durability="sync"
        )
        assert out["n"] == 12 and len(out["log"]) == 12  # the run went on
        # More work while it is down, including a new thread and a subgraph.
        graph = build_graph(saver)
        assert "__interrupt__" in graph.invoke({"task": "t"}, {"configurable": {"thread_id": "g"}})
        with pytest.raises(FlushTimeoutError):
            saver.flush(timeout=1)
        status = saver.status()
        assert status["depth"] > 0
        assert status["postgres_reachable"] is False
        assert status["last_error"] is not None
        private_pg.start()
        saver.flush(timeout=120)
        assert saver.status()["depth"] == 0
        assert saver.status()["last_error"] is None
        remote = assert_tiers_equal(saver, url, "outage")
        assert len(remote) == 14  # input + 13 loop checkpoints: none lost, none extra
        assert_tiers_equal(saver, url, "g")
    finally:
        saver.close()


def _spawn(sqlite_path: Path, url: str, n: int, mode: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.checkpoint._child_writer",
            str(sqlite_path),
            url,
            str(n),
            mode,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _pg_count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            psycopg.sql.SQL("SELECT count(*) FROM {} WHERE thread_id = 'killed'").format(
                psycopg.sql.Identifier(table)
            )
        ).fetchone()
    return int(row[0]) if row else 0


def _tables_exist(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('checkpoints') IS NOT NULL").fetchone()
    return bool(row and row[0])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["defer", "live"])
def test_kill_9_mid_flush(mode: str, sqlite_path: Path, pg_url: str) -> None:
    n = 600
    child = _spawn(sqlite_path, pg_url, n, mode)
    assert child.stdout is not None
    returned: list[str] = []
    killed_at: int | None = None
    try:
        for line in child.stdout:
            if line.startswith("put "):
                returned.append(line.split()[1])
                # "live": kill while puts and flushes are both under way.
                if mode == "live" and len(returned) == n // 2:
                    break
            elif line.strip() == "flushing":
                break
        if mode == "defer":
            # Kill once part of the outbox is in PostgreSQL.
            while not (_tables_exist(pg_url) and _pg_count(pg_url, "checkpoints") >= n // 10):
                time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        killed_at = _pg_count(pg_url, "checkpoints") if _tables_exist(pg_url) else 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert killed_at is not None
    if mode == "defer":
        assert 0 < killed_at < n, "the kill must land in the middle of the flush"

    # Restart on the same file: the outbox drains; PostgreSQL then holds exactly the local tier.
    with HybridSaver.from_conn_string(sqlite_path, pg_url, flush_namespaces=["*"]) as saver:
        local_ids = [
            t.config["configurable"]["checkpoint_id"]
            for t in saver.list({"configurable": {"thread_id": "killed"}})
        ]
        assert set(returned) <= set(local_ids)  # every put that returned is durable
        saver.flush(timeout=120)
        remote = assert_tiers_equal(saver, pg_url, "killed")
        assert len(remote) == len(local_ids)
        assert saver.status()["depth"] == 0
    assert _pg_count(pg_url, "checkpoints") == len(local_ids)
    with sqlite3.connect(sqlite_path) as raw:
        local_writes = raw.execute("SELECT count(*) FROM lghm_checkpoint_writes").fetchone()[0]
    raw.close()
    # The kill may land between a put and its put_writes: then the last checkpoint has none.
    assert local_writes in (2 * len(local_ids), 2 * len(local_ids) - 2)
    assert _pg_count(pg_url, "checkpoint_writes") == local_writes
    if mode == "defer":
        assert len(local_ids) == n
