"""An outage in hybrid mode is one readable warning and one "back" line, not a wall of events.

A session runs through a real outage (the test's own PostgreSQL stopped and started): graph
steps and memory writes while it is down, then it comes back and the outbox drains. At WARNING
and above the whole run logs one line, which explains itself under plain
``logging.basicConfig()`` formatting (what keeps working, what is queued, how to check); the
return is one INFO line with what was sent. psycopg_pool's per-attempt warnings for our pools
are gone (DEBUG), and the structured fields stay in ``extra=``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_hybrid_memory import MemoryConfig, open_memory
from tests.support import PrivatePostgres


class State(TypedDict):
    n: int


def _graph() -> Any:
    builder = StateGraph(State)
    builder.add_node("inc", lambda s: {"n": s["n"] + 1})
    builder.add_edge(START, "inc")
    builder.add_edge("inc", END)
    return builder


def _wait(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.timeout(180)
def test_an_outage_logs_one_readable_warning_and_one_back_line(
    tmp_path: Path, private_pg: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = MemoryConfig(
        memory_type="hybrid",
        data_dir=tmp_path,
        database_url=private_pg.url,
        embeddings="none",
        close_timeout=2.0,
    )
    with open_memory(cfg) as memory:
        graph = _graph().compile(checkpointer=memory.checkpointer, store=memory.store)
        saver: Any = memory.checkpointer
        graph.invoke({"n": 0}, {"configurable": {"thread_id": "before"}})
        saver.flush(timeout=30)
        caplog.clear()

        private_pg.stop()
        for i in range(5):
            memory.store.put(("users", "u1", "memories"), f"k{i}", {"text": f"fact {i}"})
            graph.invoke({"n": i}, {"configurable": {"thread_id": f"during-{i}"}})
        time.sleep(1.0)  # a few flusher retries while it is down

        private_pg.start()
        _wait(lambda: saver.status()["depth"] == 0)

    records = [r for r in caplog.records if r.levelno >= logging.INFO and _ours_or_pool(r)]
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    messages = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in records]
    assert len(warnings) == 1, messages
    text = logging.Formatter(logging.BASIC_FORMAT).format(warnings[0])
    assert "PostgreSQL at" in text and "is unreachable" in text
    assert "keep working on the local file" in text and "queued" in text
    assert "lghm status" in text
    assert "password" not in text
    assert getattr(warnings[0], "event", None)  # structured fields kept for pipelines
    back = [r for r in records if getattr(r, "event", "") == "postgres_reachable_again"]
    assert len(back) == 1, messages
    assert "reachable again" in back[0].getMessage() and "sent" in back[0].getMessage()
    assert back[0].sent >= 1  # type: ignore[attr-defined]
    assert len(records) <= 4, messages
    pool_warnings = [r for r in caplog.records if r.name == "psycopg.pool" and r.levelno >= 30]
    assert not pool_warnings, [r.getMessage() for r in pool_warnings]


def _ours_or_pool(record: logging.LogRecord) -> bool:
    return record.name.startswith(("langgraph_hybrid_memory", "psycopg"))
