"""MEMORY_TYPE=hybrid: after a restart with a fresh local SQLite file, an interrupted sample thread
resumes from PostgreSQL (the root graph's checkpoints are flushed there by default)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.types import Command

from langgraph_hybrid_memory import MemoryConfig, open_memory
from langgraph_hybrid_memory.samples import (
    ScriptedChatModel,
    build_approval_graph,
    memory_namespace,
    pending_approval,
)
from tests.support import FakeEmbeddings


def test_interrupted_thread_resumes_on_a_fresh_machine(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="langgraph_hybrid_memory")
    embeddings = FakeEmbeddings(dims=16)
    config: RunnableConfig = {"configurable": {"thread_id": "approve-1"}}
    namespace = memory_namespace("ada")
    first = MemoryConfig(memory_type="hybrid", database_url=pg_url, data_dir=tmp_path / "a")
    with open_memory(first, embeddings=embeddings) as memory:
        memory.store.put(
            namespace,
            "home-city",
            {"subject": "home city", "value": "Lisbon", "text": "home city: Lisbon"},
        )
        graph = build_approval_graph(ScriptedChatModel()).compile(
            checkpointer=memory.checkpointer, store=memory.store
        )
        out = graph.invoke({"user_id": "ada", "objective": "Forget my home city."}, config)
        assert out["__interrupt__"]
    # Closing drained the outbox. Another machine: a new, empty local file, the same PostgreSQL.
    second = MemoryConfig(memory_type="hybrid", database_url=pg_url, data_dir=tmp_path / "b")
    with open_memory(second, embeddings=embeddings) as memory:
        graph = build_approval_graph(ScriptedChatModel()).compile(
            checkpointer=memory.checkpointer, store=memory.store
        )
        snapshot = graph.get_state(config)
        assert snapshot.next == ("execute",)  # hydrated from PostgreSQL, still waiting
        assert pending_approval(snapshot) is not None
        done = graph.invoke(Command(resume=True), config)
        assert "forgot your home city (it was 'Lisbon')" in done["response"]
        assert memory.store.get(namespace, "home-city") is None
    assert "thread_hydrated_from_postgres" in caplog.text
