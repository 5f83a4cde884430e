"""Child process of the soak test: threads of graph runs and store ops until a deadline.

Usage: ``python -m tests.concurrency._soak_worker URL DATA_DIR WORKER SECONDS``; prints one JSON
line: the acknowledged turns per graph thread, the acknowledged store keys and every failed op.

Everything goes through the package as an application would use it: `open_memory()` in hybrid
mode (`HybridSaver` + `HybridStore` on one local file and one pool) for the graph runs and
the hybrid store thread, and a `PgVectorStore` on a pool of its own (schema ``soak_direct``,
set up by the parent). Nothing here retries: an op that raised is a failed op.
"""

from __future__ import annotations

import json
import operator
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_hybrid_memory import MemoryConfig, open_memory
from langgraph_hybrid_memory._pg import make_pool
from langgraph_hybrid_memory.store import PgVectorStore

DIRECT_SCHEMA = "soak_direct"
KEYWORD = {"fields": ["text"], "search_mode": "keyword"}
GRAPH_THREADS = 2
TURNS_PER_THREAD = 4
PAUSE = 0.01  # between ops: a steady load, not a benchmark (the machine is shared)


class Turn(TypedDict, total=False):
    asked: str
    log: Annotated[list[str], operator.add]


def _note(state: Turn) -> dict[str, Any]:
    """Remember the turn in the store (a persistent namespace) and in the thread's state."""
    asked = state["asked"]
    worker, thread, turn = asked.split(":")
    get_store().put(("users", worker, "turns"), f"{thread}-{turn}", {"text": f"turn {asked}"})
    return {"log": [asked]}


def _reflect(state: Turn) -> dict[str, Any]:
    worker = state["asked"].split(":")[0]
    get_store().search(("users", worker), query="turn", limit=3)
    return {}


def build_graph(checkpointer: Any, store: Any) -> Any:
    graph = StateGraph(Turn)
    graph.add_node("note", _note)
    graph.add_node("reflect", _reflect)
    graph.add_edge(START, "note")
    graph.add_edge("note", "reflect")
    graph.add_edge("reflect", END)
    return graph.compile(checkpointer=checkpointer, store=store)


def main() -> None:
    url, data_dir, worker, seconds = sys.argv[1], Path(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    turns: dict[str, list[str]] = {}  # graph thread id -> acknowledged turns, in order
    hybrid_keys: dict[str, int] = {}  # key -> last acknowledged value
    direct_keys: dict[str, int] = {}
    failures: list[str] = []
    ops = {"turns": 0, "hybrid": 0, "direct": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def failed(what: str, exc: BaseException) -> None:
        with lock:
            failures.append(f"{what}: {type(exc).__name__}: {exc}")

    cfg = MemoryConfig(memory_type="hybrid", database_url=url, data_dir=data_dir, embeddings="none")
    pool = make_pool(url, max_size=2, name="lghm-soak-direct")
    direct = PgVectorStore(pool, index=KEYWORD, schema=DIRECT_SCHEMA)  # type: ignore[arg-type]
    with open_memory(cfg) as memory:
        graph = build_graph(memory.checkpointer, memory.store)
        store = memory.store

        def graph_runs(t: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                tid = f"{worker}-g{t}-{n}"
                config = {"configurable": {"thread_id": tid}}
                for turn in range(TURNS_PER_THREAD):
                    asked = f"{worker}:g{t}-{n}:{turn}"
                    try:
                        graph.invoke({"asked": asked}, config)
                    except Exception as exc:
                        failed(f"turn {asked}", exc)
                        break
                    with lock:
                        turns.setdefault(tid, []).append(asked)
                        ops["turns"] += 1
                    time.sleep(PAUSE)
                n += 1

        def store_ops(kind: str, target: Any, keys: dict[str, int]) -> None:
            ns = ("users", worker, kind)
            n = 0
            while time.monotonic() < deadline:
                key = f"{kind}{n % 50}"  # keys are rewritten: the last value must win
                try:
                    target.put(ns, key, {"text": f"fact {n}", "n": n})
                    with lock:
                        keys[key] = n
                    if n % 3 == 0:
                        got = target.get(ns, key)
                        if got is None or got.value["n"] != n:
                            raise AssertionError(f"get {key} saw {got and got.value}, wrote {n}")
                    if n % 5 == 0:
                        target.search(ns[:2], query="fact", limit=5)
                except Exception as exc:
                    failed(f"{kind} op {n}", exc)
                with lock:
                    ops[kind] += 1
                n += 1
                time.sleep(PAUSE)

        threads = [threading.Thread(target=graph_runs, args=(t,)) for t in range(GRAPH_THREADS)]
        threads.append(threading.Thread(target=store_ops, args=("hybrid", store, hybrid_keys)))
        threads.append(threading.Thread(target=store_ops, args=("direct", direct, direct_keys)))
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        # Everything acknowledged reaches PostgreSQL (the outbox drains once it is back).
        try:
            memory.checkpointer.flush(60)  # type: ignore[attr-defined]
            store.flush(60)  # type: ignore[attr-defined]
        except Exception as exc:
            failed("final flush", exc)
    pool.close()
    print(
        json.dumps(
            {
                "turns": turns,
                "hybrid": hybrid_keys,
                "direct": direct_keys,
                "failures": failures,
                "ops": ops,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
