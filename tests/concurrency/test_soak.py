"""The bounded soak: 3 processes x 4 threads of graph runs and store ops on one PostgreSQL, with
one server restart in the middle: 0 failed ops, 0 lost, 0 duplicated.

Each process (`_soak_worker`) runs `open_memory()` in hybrid mode: two threads of graph runs
(`HybridSaver`; each turn also puts a memory through `HybridStore` and searches), one thread of
`HybridStore` puts/gets/searches and one of `PgVectorStore` puts/gets/searches. The test only
counts: an op that raised is failed (retries belong to the library, not to the test). Once
every process drained its outbox, PostgreSQL alone is read back, through langgraph's own
``PostgresSaver`` for the checkpoints: every acknowledged turn is in its thread's latest state
exactly once and in order, every acknowledged put has its last value.

``LGHM_SOAK_SECONDS`` sets the load's length (default 40 s, about a minute in all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from psycopg.rows import dict_row

from langgraph_hybrid_memory import MemoryConfig, open_memory
from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory.store import PgVectorStore
from tests.concurrency._soak_worker import DIRECT_SCHEMA, KEYWORD
from tests.support import PrivatePostgres

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 3
SECONDS = float(os.environ.get("LGHM_SOAK_SECONDS", "40"))


def _start_worker(url: str, data_dir: Path, worker: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.concurrency._soak_worker",
            url,
            str(data_dir),
            worker,
            str(SECONDS),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _postmaster_start(url: str) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0]


def _stored(url: str, schema: str, ns: tuple[str, ...]) -> dict[str, int]:
    """``key -> value["n"]`` of the items of `ns`, read from PostgreSQL alone."""
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        rows = conn.execute(
            psycopg.sql.SQL("SELECT key, value FROM {} WHERE namespace = %s").format(
                psycopg.sql.Identifier(schema, "items")
            ),
            (list(ns),),
        ).fetchall()
    return {r["key"]: r["value"].get("n", -1) for r in rows}


@pytest.mark.slow
def test_soak_with_a_server_restart(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    url = private_pg.url
    # Schemas first (start-up races are tested elsewhere: this test is about the load).
    with open_memory(
        MemoryConfig(memory_type="hybrid", database_url=url, data_dir=tmp_path / "setup")
    ):
        pass
    with get_connection(url) as conn:
        PgVectorStore(conn, index=KEYWORD, schema=DIRECT_SCHEMA).setup()  # type: ignore[arg-type]

    started = _postmaster_start(url)
    workers = {f"w{n}": _start_worker(url, tmp_path / f"w{n}", f"w{n}") for n in range(PROCESSES)}
    try:
        time.sleep(SECONDS * 0.4)
        private_pg.stop()  # fast shutdown: every connection of every process is cut
        time.sleep(2)
        private_pg.start()
        results: dict[str, dict[str, Any]] = {}
        for name, proc in workers.items():
            out, err = proc.communicate(timeout=SECONDS + 180)
            assert proc.returncode == 0, f"{name} exited {proc.returncode}: {err[-3000:]}"
            results[name] = json.loads(out.strip().splitlines()[-1])
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    assert _postmaster_start(url) > started  # the server did restart under the load
    failures = [f"{name}: {f}" for name, r in results.items() for f in r["failures"]]
    assert failures == [], failures[:20]
    ops = {kind: sum(r["ops"][kind] for r in results.values()) for kind in ("turns", "hybrid")}
    assert ops["turns"] >= PROCESSES * 2 and ops["hybrid"] >= PROCESSES * 5, ops  # it ran
    direct = sum(r["ops"]["direct"] for r in results.values())
    print(f"soak: {SECONDS:.0f} s, ops {ops}, direct {direct}")

    with get_connection(url) as conn:
        theirs = PostgresSaver(conn)  # type: ignore[arg-type]
        for name, r in results.items():
            for tid, acked in r["turns"].items():
                tup = theirs.get_tuple({"configurable": {"thread_id": tid, "checkpoint_ns": ""}})
                assert tup is not None, f"thread {tid}: nothing in PostgreSQL"
                log = tup.checkpoint["channel_values"].get("log", [])
                # Every acknowledged turn, once, in order (nothing lost, nothing replayed).
                assert log == acked, f"thread {tid}: {log} != {acked}"
            notes = _stored(url, "memory", ("users", name, "turns"))
            expected = {
                f"{tid.split('-', 1)[1]}-{asked.rsplit(':', 1)[1]}"
                for tid, acked in r["turns"].items()
                for asked in acked
            }
            assert expected <= set(notes), sorted(expected - set(notes))[:10]
            assert _stored(url, "memory", ("users", name, "hybrid")) == r["hybrid"]
            assert _stored(url, DIRECT_SCHEMA, ("users", name, "direct")) == r["direct"]
