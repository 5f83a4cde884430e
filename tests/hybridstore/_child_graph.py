"""A child process for the hybrid factory test: builds the memory from the environment
(MEMORY_TYPE, DATABASE_URL, MEMORY_DATA_DIR) exactly as a user's program would, runs one turn of
the test graph on thread ``t1`` and prints the result as JSON."""

from __future__ import annotations

import json
import sys

from langgraph_hybrid_memory import open_memory
from tests.support import FakeEmbeddings
from tests.test_factory import _graph, _thread

if __name__ == "__main__":
    with open_memory(embeddings=FakeEmbeddings(dims=16)) as memory:
        out = _graph(memory, use_async=False).invoke({"messages": [sys.argv[1]]}, _thread("t1"))
        status = memory.status()
    print(json.dumps({"out": out, "degraded": status["degraded"], "store": status["store"]}))
