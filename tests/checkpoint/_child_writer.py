"""Child process of the kill -9 tests: writes checkpoints through HybridSaver until killed.

Usage: python -m tests.checkpoint._child_writer SQLITE_PATH POSTGRES_URL N MODE
MODE "defer": put N checkpoints with the flusher stopped, print "flushing", then flush (the
parent kills it part-way). MODE "live": put with the flusher running, printing each id.
It is given the server's URL and never starts a server of its own.
"""

from __future__ import annotations

import sys
import time

from langgraph.checkpoint.base import empty_checkpoint

from langgraph_hybrid_memory._outbox import Replicator
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.checkpoint import HybridSaver

THREAD = "killed"


def main() -> None:
    path, url, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    db = LocalDB.open(path)
    # Small batches make the flush long enough to be killed in the middle of it.
    rep = Replicator.acquire(db, url, batch_size=1, start=(mode == "live"))
    saver = HybridSaver(db, url, flush_namespaces=["*"])
    saver.setup()
    config = {"configurable": {"thread_id": THREAD, "checkpoint_ns": ""}}
    version = None
    for i in range(n):
        checkpoint = empty_checkpoint()
        version = saver.get_next_version(version, None)
        checkpoint["channel_values"] = {"items": list(range(i % 7)), "step": i}
        checkpoint["channel_versions"] = {"items": version, "step": version}
        config = saver.put(config, checkpoint, {"source": "loop", "step": i}, {"items": version})
        saver.put_writes(config, [("items", [i]), ("step", i)], task_id=f"task-{i}")
        print(f"put {config['configurable']['checkpoint_id']}", flush=True)
    print("flushing", flush=True)
    rep.start()
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
