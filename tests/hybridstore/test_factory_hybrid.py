"""``MEMORY_TYPE=hybrid`` through `open_memory` / `aopen_memory`: HybridSaver + HybridStore on one
local file, one pool and one replicator; a new machine (fresh data dir, same database) resumes
the thread and recalls the memories from PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from langgraph_hybrid_memory import (
    AsyncHybridSaver,
    AsyncHybridStore,
    HybridSaver,
    HybridStore,
    MemoryConfig,
    aopen_memory,
    open_memory,
)
from tests.support import FakeEmbeddings
from tests.test_factory import _graph, _thread

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-test-secret-value-1234"


def _child_env(**settings: str) -> dict[str, str]:
    prefixes = ("MEMORY_", "POSTGRES_", "DATABASE_", "OPENAI_API_KEY")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["PYTHONPATH"] = str(ROOT)
    env.update(settings)
    return env


def test_hybrid_shares_one_file_pool_and_replicator_and_resumes_elsewhere(
    tmp_path: Path, pg_url: str
) -> None:
    emb = FakeEmbeddings(dims=16)
    cfg = MemoryConfig(memory_type="hybrid", data_dir=tmp_path / "a", database_url=pg_url)
    with open_memory(cfg, embeddings=emb) as memory:
        saver, store = memory.checkpointer, memory.store
        assert isinstance(saver, HybridSaver) and isinstance(store, HybridStore)
        assert saver.db is store.db and saver.replicator is store.replicator
        graph = _graph(memory, use_async=False)
        graph.invoke({"messages": ["I like green tea"], "user": "u1"}, _thread("t1"))
        status = memory.status()
        assert status["degraded"] is False and status["store"] == "HybridStore"
        assert status["store_status"]["pending_writes"] == 0
        assert status["checkpointer_status"]["mode"] == "write_behind"
        assert "password" not in json.dumps(status, default=str).lower()
        calls_first = emb.calls
    assert (tmp_path / "a" / "memory.sqlite").is_file()
    # Memories are in PostgreSQL (the store wrote through), the thread was flushed at close.
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM memory.items").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0] >= 1
        assert conn.execute("SELECT count(*) FROM memory.embedding_cache").fetchone()[0] >= 1
    assert calls_first >= 1

    # A second process on a new machine: fresh data dir, same DATABASE_URL.
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("_child_graph.py")), "green tea again"],
        env=_child_env(
            MEMORY_TYPE="hybrid", DATABASE_URL=pg_url, MEMORY_DATA_DIR=str(tmp_path / "b")
        ),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["out"]["messages"] == ["I like green tea", "green tea again"]
    assert result["out"]["user"] == "u1"  # the thread's state came from PostgreSQL
    assert result["out"]["recalled"] == ["I like green tea", "green tea again"]
    assert result["degraded"] is False and result["store"] == "HybridStore"
    assert (tmp_path / "b" / "memory.sqlite").is_file()


async def test_hybrid_async_graph(tmp_path: Path, pg_url: str) -> None:
    cfg = MemoryConfig(memory_type="hybrid", data_dir=tmp_path / "a", database_url=pg_url)
    async with aopen_memory(cfg, embeddings=FakeEmbeddings(dims=16)) as memory:
        assert isinstance(memory.checkpointer, AsyncHybridSaver)
        assert isinstance(memory.store, AsyncHybridStore)
        graph = _graph(memory, use_async=True)
        await graph.ainvoke({"messages": ["I like green tea"], "user": "u1"}, _thread("t1"))
        out = await graph.ainvoke({"messages": ["green tea again"]}, _thread("t1"))
        assert out["recalled"] == ["I like green tea", "green tea again"]
        assert memory.status()["degraded"] is False
    # A new local file on the same database reads it all back.
    cfg2 = MemoryConfig(memory_type="hybrid", data_dir=tmp_path / "b", database_url=pg_url)
    async with aopen_memory(cfg2, embeddings=FakeEmbeddings(dims=16)) as memory:
        state = await _graph(memory, use_async=True).aget_state(_thread("t1"))
        assert state.values["messages"] == ["I like green tea", "green tea again"]
        hits = await memory.store.asearch(("users", "u1"), query="tea")
        assert {h.value["text"] for h in hits} == {"I like green tea", "green tea again"}


def test_hybrid_with_postgres_down_starts_degraded_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # DEBUG: after the outage's one warning, the parts' reports are DEBUG lines (see _outage).
    caplog.set_level(logging.DEBUG, logger="langgraph_hybrid_memory")
    url = f"postgresql://app:{SECRET}@127.0.0.1:1/agents"
    cfg = MemoryConfig(
        memory_type="hybrid", data_dir=tmp_path / "a", database_url=url, embeddings="none"
    )
    with open_memory(cfg) as memory:
        memory.store.put(("users", "u1"), "k", {"text": "kept locally"})
        item = memory.store.get(("users", "u1"), "k")
        assert item is not None and item.value == {"text": "kept locally"}
        status = memory.status()
        assert status["degraded"] is True
        assert status["store_status"]["pending_writes"] == 1
        assert SECRET not in json.dumps(status, default=str)
        assert isinstance(memory.store, HybridStore)
        memory.store.close_timeout = 0.2
        assert isinstance(memory.checkpointer, HybridSaver)
        memory.checkpointer.close_timeout = 0.2
    events = [getattr(r, "event", None) for r in caplog.records]
    assert "hybrid_memory_started_degraded" in events
    assert "failed_to_persist_to_postgres" in events
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert SECRET not in logged


@pytest.mark.slow
def test_hybrid_without_a_database_uses_the_embedded_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = MemoryConfig(memory_type="hybrid", data_dir=tmp_path / "data", embeddings="none")
    with open_memory(cfg) as memory:
        memory.store.put(("users", "u1"), "k", {"text": "hello"})
        status = memory.status()
        assert status["postgres"] == "embedded" and status["degraded"] is False
    assert (tmp_path / "data" / "pg" / "PG_VERSION").is_file()
    assert "set DATABASE_URL=" in caplog.text
    (tmp_path / "data" / "memory.sqlite").unlink()  # lose the local file: PostgreSQL has it
    with open_memory(cfg) as memory:
        item = memory.store.get(("users", "u1"), "k")
    assert item is not None and item.value == {"text": "hello"}
