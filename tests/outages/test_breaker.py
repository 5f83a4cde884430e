"""A graph step never waits for an unreachable PostgreSQL (hybrid mode).

With PostgreSQL refusing connections, the first `invoke` of a new thread used to take 5 s: the
saver's hydration probe (a thread with no local copy) waited the pool timeout. The circuit
breaker (`_breaker`) opens on the first connection failure of any part and the step path then
skips PostgreSQL; a refused connection itself fails fast (`_pg.borrow`). After the restart the
replicator's probe closes the breaker and the outbox drains.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_hybrid_memory import MemoryConfig, PgVectorStore, open_memory
from langgraph_hybrid_memory._factory import HYBRID_POOL_TIMEOUT_SECONDS
from tests.support import PrivatePostgres

# Generous against the 5 s pool timeout the step used to wait, on a shared machine.
STEP_BOUND = 2.0
NS = ("users", "u1", "memories")


class State(TypedDict):
    n: int


def _graph() -> Any:
    builder = StateGraph(State)
    builder.add_node("inc", lambda s: {"n": s["n"] + 1})
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)
    return builder


def _timed(fn: Any) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def _wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("down_at_start", [False, True], ids=["stopped-mid-session", "at-start"])
def test_steps_and_store_calls_do_not_wait_for_a_stopped_postgres(
    tmp_path: Path, private_pg: PrivatePostgres, down_at_start: bool
) -> None:
    assert HYBRID_POOL_TIMEOUT_SECONDS >= 5.0  # the wait this test proves is gone
    cfg = MemoryConfig(
        memory_type="hybrid",
        data_dir=tmp_path,
        database_url=private_pg.url,
        embeddings="none",
        close_timeout=2.0,
    )
    if down_at_start:
        with open_memory(cfg):
            pass  # create the remote tables while it is up
        private_pg.stop()
    with open_memory(cfg) as memory:
        graph = _graph().compile(checkpointer=memory.checkpointer, store=memory.store)
        saver: Any = memory.checkpointer
        if not down_at_start:
            graph.invoke({"n": 0}, {"configurable": {"thread_id": "before"}})
            memory.store.put(NS, "before", {"text": "written while up"})
            saver.flush(timeout=30)
            private_pg.stop()

        took = {
            "first invoke of a new thread": _timed(
                lambda: graph.invoke({"n": 1}, {"configurable": {"thread_id": "new-1"}})
            ),
            "store put": _timed(lambda: memory.store.put(NS, "k1", {"text": "while down"})),
            "store get": _timed(lambda: memory.store.get(NS, "k1")),
            "second new thread": _timed(
                lambda: graph.invoke({"n": 2}, {"configurable": {"thread_id": "new-2"}})
            ),
            "store search": _timed(lambda: memory.store.search(NS, limit=5)),
        }
        slow = {k: round(v, 2) for k, v in took.items() if v >= STEP_BOUND}
        assert not slow, f"waited for PostgreSQL while it was down: {slow}"
        assert memory.store.get(NS, "k1").value == {"text": "while down"}  # type: ignore[union-attr]
        assert memory.status()["degraded"]

        private_pg.start()
        # The replicator's probe sees it back; the outbox drains with nothing else to do.
        _wait(lambda: saver.status()["depth"] == 0)
        # And the step path uses PostgreSQL again (the breaker closed).
        _wait(lambda: memory.store.get(NS, "k1") is not None and _store_tier(memory) == "postgres")

    with PgVectorStore.from_conn_string(private_pg.url) as remote:
        assert remote.get(NS, "k1").value == {"text": "while down"}  # type: ignore[union-attr]
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(private_pg.url) as pg_saver:
        for thread in ("new-1", "new-2"):
            got = pg_saver.get_tuple({"configurable": {"thread_id": thread}})
            assert got is not None, thread


def _store_tier(memory: Any) -> Any:
    return memory.store.status()["last_read_tier"]
