"""`close()` with PostgreSQL down drains for a bounded time, says what stays, and loses nothing.

It used to wait the full 30 s default (80 s seen through the factory: the saver and the store
each waited, then the flusher's connection attempt); now the whole close stays within
``close_timeout`` (``MEMORY_CLOSE_TIMEOUT``), one warning says how many changes stay in the local
outbox, and the next start with PostgreSQL back sends them.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_hybrid_memory import MemoryConfig, PgVectorStore, open_memory

CLOSE_TIMEOUT = 1.0
# Generous: the bound under test is CLOSE_TIMEOUT plus the pools' own shutdown, on a shared
# machine; the old behaviour took 30 s or more.
CLOSE_BOUND = 10.0


class State(TypedDict):
    n: int


def _graph() -> Any:
    builder = StateGraph(State)
    builder.add_node("inc", lambda s: {"n": s["n"] + 1})
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)
    return builder


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"postgresql://app@127.0.0.1:{port}/agents"


def test_close_is_bounded_with_postgres_down_and_the_outbox_drains_on_next_start(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    down = MemoryConfig.from_env(
        {"MEMORY_CLOSE_TIMEOUT": str(CLOSE_TIMEOUT)},
        memory_type="hybrid",
        data_dir=tmp_path,
        database_url=_refused_url(),
        embeddings="none",
    )
    assert down.close_timeout == CLOSE_TIMEOUT
    with open_memory(down) as memory:
        for i in range(3):
            memory.store.put(("users", "u1", "memories"), f"k{i}", {"text": f"fact {i}"})
        graph = _graph().compile(checkpointer=memory.checkpointer, store=memory.store)
        graph.invoke({"n": 0}, {"configurable": {"thread_id": "t1"}})
        assert memory.status()["degraded"]
        started = time.monotonic()
    closing = time.monotonic() - started
    assert closing < CLOSE_BOUND, f"close took {closing:.1f}s with close_timeout={CLOSE_TIMEOUT}"
    said = [r for r in caplog.records if getattr(r, "event", "") == "outbox_not_drained_at_close"]
    assert len(said) == 1, [r.getMessage() for r in said]
    left = said[0].entries_left  # type: ignore[attr-defined]
    assert left >= 4  # three puts and at least the thread's checkpoint
    message = said[0].getMessage()
    assert f"closing with {left} change(s) not yet in PostgreSQL" in message
    assert "sent on the next start" in message

    # PostgreSQL is back: the next start sends what stayed; nothing is lost.
    up = MemoryConfig(
        memory_type="hybrid", data_dir=tmp_path, database_url=pg_url, embeddings="none"
    )
    with open_memory(up) as memory:
        memory.checkpointer.flush(timeout=30)  # type: ignore[attr-defined]
        memory.store.flush(timeout=30)  # type: ignore[attr-defined]
        assert memory.checkpointer.status()["depth"] == 0  # type: ignore[attr-defined]
    with PgVectorStore.from_conn_string(pg_url) as remote:
        keys = sorted(i.key for i in remote.search(("users", "u1", "memories"), limit=10))
    assert keys == ["k0", "k1", "k2"]
    from langgraph.checkpoint.postgres import PostgresSaver

    with PostgresSaver.from_conn_string(pg_url) as saver:
        restored = saver.get_tuple({"configurable": {"thread_id": "t1"}})
    assert restored is not None and restored.checkpoint["channel_values"]["n"] == 1


def test_direct_close_returns_the_entries_left(tmp_path: Path) -> None:
    from langgraph_hybrid_memory import HybridStore

    store = HybridStore(tmp_path / "local.db", _refused_url(), close_timeout=0.5)
    store.setup()
    store.put(("users", "u1", "memories"), "k", {"text": "kept"})
    started = time.monotonic()
    left = store.close()
    assert time.monotonic() - started < CLOSE_BOUND
    assert left == 1
