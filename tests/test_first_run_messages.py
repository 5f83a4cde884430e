"""What a new user sees on a first run: where the memory lives (an absolute path), said once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from langgraph_hybrid_memory import MemoryConfig, open_memory

EMBEDDED_WARNING = "no DATABASE_URL or POSTGRES_HOST set"


@pytest.mark.slow
def test_embedded_server_is_announced_once_with_its_absolute_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="langgraph_hybrid_memory")
    monkeypatch.chdir(tmp_path)
    cfg = MemoryConfig(memory_type="hybrid", data_dir=Path("rel"), embeddings="none")
    where = tmp_path / "rel" / "pg"
    for _ in range(2):  # two opens in one process (as the demo and its report do)
        with open_memory(cfg) as memory:
            memory.store.put(("users", "ada"), "k", {"text": "tea"})
            status = memory.status()
    assert caplog.text.count(EMBEDDED_WARNING) == 1
    assert caplog.text.count(f"creating the embedded PostgreSQL + pgvector in {where}") == 1
    assert str(where) in caplog.text
    assert status["data_dir"] == str(tmp_path / "rel")
    # Reachability is known from the start, not "None" until the first flush.
    assert status["checkpointer_status"]["postgres_reachable"] is True


def test_status_says_where_the_local_file_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="langgraph_hybrid_memory")
    cfg = MemoryConfig(memory_type="sqlite", data_dir=tmp_path, embeddings="none")
    for _ in range(2):
        with open_memory(cfg) as memory:
            assert memory.status()["data_dir"] == str(tmp_path)
            assert memory.status()["sqlite_path"] == str(tmp_path / "memory.sqlite")
    # Said on the run that creates it, not on later ones.
    assert caplog.text.count(f"creating the local memory file {tmp_path / 'memory.sqlite'}") == 1
