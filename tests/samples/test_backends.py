"""`open_backends`: the stand-in for `open_memory()` the examples use, on real files and servers."""

from __future__ import annotations

from pathlib import Path

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from langgraph_hybrid_memory import MemoryConfig

# The stand-in itself, even after samples.open_backends is switched to open_memory().
from langgraph_hybrid_memory.samples._backends import Backends, aopen_backends, open_backends


async def test_sqlite_backends_keep_memories_in_the_file_for_sync_and_async(tmp_path: Path) -> None:
    config = MemoryConfig(memory_type="sqlite", data_dir=tmp_path / "data")
    with open_backends(config) as memory:
        memory.store.put(("users", "ada", "memories"), "home-city", {"value": "Lisbon"})
        assert memory.status()["checkpointer"] == "SqliteSaver (local SQLite)"
    assert config.sqlite_path.exists()
    async with aopen_backends(config) as memory:
        item = await memory.store.aget(("users", "ada", "memories"), "home-city")
        assert item is not None and item.value == {"value": "Lisbon"}
        assert memory.status()["store"] == "AsyncSqliteStore (local SQLite)"


async def test_postgres_backends_use_the_configured_database(pg_url: str, tmp_path: Path) -> None:
    config = MemoryConfig(memory_type="postgres", database_url=pg_url, data_dir=tmp_path)
    with open_backends(config) as memory:
        memory.store.put(("users", "ada", "memories"), "k", {"value": 1})
        assert memory.status()["checkpointer"] == "PostgresSaver (PostgreSQL)"
    async with aopen_backends(config) as memory:
        item = await memory.store.aget(("users", "ada", "memories"), "k")
        assert item is not None and item.value == {"value": 1}
    assert not (tmp_path / "pg").exists()  # a configured database never starts the embedded one


def test_status_never_shows_the_password() -> None:
    url = "postgresql://bob:hunter2@db.example:5432/app"
    config = MemoryConfig(memory_type="postgres", database_url=url)
    status = Backends(InMemorySaver(), InMemoryStore(), config, url).status()
    assert status["postgres"] == "postgresql://bob:***@db.example:5432/app"
    assert "hunter2" not in repr(status)
