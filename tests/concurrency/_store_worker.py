"""Child process for the contention tests: threads of multi-key batches on shared keys.

Usage: ``python -m tests.concurrency._store_worker URL THREADS OPS SEED``; prints one JSON line
``{"ok": n, "errors": [...]}``.
"""

from __future__ import annotations

import json
import random
import sys
import threading

from langgraph.store.base import PutOp

from langgraph_hybrid_memory._pg import make_pool
from langgraph_hybrid_memory.store import PgVectorStore

NS = ("users", "shared", "m")
KEYS = [f"k{i}" for i in range(10)]


def batch_for(rng: random.Random, n: int) -> list[PutOp]:
    """Half the ops are 4-key batches in a random order, some of them deletes."""
    size = 4 if rng.random() < 0.5 else 1
    keys = rng.sample(KEYS, size)
    return [PutOp(NS, k, None if rng.random() < 0.2 else {"text": f"v{n}", "n": n}) for k in keys]


def run(url: str, threads: int, ops: int, seed: int) -> dict[str, object]:
    pool = make_pool(url, max_size=threads)
    store = PgVectorStore(pool, index={"fields": ["text"], "search_mode": "keyword"})
    ok = 0
    errors: list[str] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        nonlocal ok
        rng = random.Random(seed * 1000 + t)
        for n in range(ops):
            try:
                store.batch(batch_for(rng, n))
                with lock:
                    ok += 1
            except Exception as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    pool.close()
    return {"ok": ok, "errors": errors}


if __name__ == "__main__":
    url, threads, ops, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(run(url, threads, ops, seed)))
