"""The checkpointer and store the samples and the demo run on, chosen by ``MEMORY_TYPE``.

A stand-in for `open_memory()` built only from langgraph's own savers and stores, so the samples
run on real backends today: ``memory`` (in-process), ``sqlite`` (one local file under
``MEMORY_DATA_DIR``) and ``postgres``/``hybrid`` (`PostgresSaver` + `PostgresStore` on
``DATABASE_URL``, or on the embedded PostgreSQL when none is set). It honours `open_memory()`'s
contract (a context manager yielding an object with ``.checkpointer``, ``.store`` and
``.status()``), so swapping one for the other is the one import in ``samples/__init__.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from langgraph_hybrid_memory._config import MemoryConfig, redact_conninfo
from langgraph_hybrid_memory._embedded import EmbeddedPostgres
from langgraph_hybrid_memory._embeddings import embedding_dims, resolve_embeddings

__all__ = ["Backends", "aopen_backends", "open_backends"]

_WHERE = {
    "InMemorySaver": "process memory",
    "InMemoryStore": "process memory",
    "SqliteSaver": "local SQLite",
    "AsyncSqliteSaver": "local SQLite",
    "SqliteStore": "local SQLite",
    "AsyncSqliteStore": "local SQLite",
}


@dataclass(frozen=True)
class Backends:
    """An open checkpointer and store, and where they keep their data."""

    checkpointer: BaseCheckpointSaver[Any]
    store: BaseStore
    config: MemoryConfig
    postgres_url: str | None = None

    def status(self) -> dict[str, Any]:
        """What is in use and where it lives (no secrets)."""

        def where(backend: object) -> str:
            name = type(backend).__name__
            return f"{name} ({_WHERE.get(name, 'PostgreSQL')})"

        status: dict[str, Any] = {
            "memory_type": self.config.memory_type,
            "checkpointer": where(self.checkpointer),
            "store": where(self.store),
        }
        if self.postgres_url is not None:
            status["postgres"] = (
                f"embedded, data in {self.config.embedded_pgdata}"
                if self.config.uses_embedded_postgres
                else redact_conninfo(self.postgres_url)
            )
        path = self.config.sqlite_path
        status["local_sqlite"] = (
            f"{path} ({path.stat().st_size:,} bytes)" if path.exists() else f"{path} (not used)"
        )
        status["embeddings"] = self.config.embeddings or "none (searches go by recency)"
        return status


def _index(config: MemoryConfig) -> dict[str, Any] | None:
    """The store's vector index, when embeddings are configured; else searches go by recency."""
    embeddings = resolve_embeddings(config.embeddings) if config.embeddings else None
    if embeddings is None:
        return None
    return {"dims": embedding_dims(embeddings), "embed": embeddings, "fields": ["text"]}


def _postgres_url(config: MemoryConfig, stack: ExitStack) -> str:
    if config.database_url is not None:
        return config.database_url
    return stack.enter_context(EmbeddedPostgres(config.embedded_pgdata)).url


@contextmanager
def open_backends(config: MemoryConfig | None = None) -> Iterator[Backends]:
    """Open a checkpointer and a store for sync graphs (`invoke`); closes them on exit.

    Args:
        config: defaults to `MemoryConfig.from_env()`.

    Examples:
        >>> with open_backends(MemoryConfig(memory_type="memory")) as memory:
        ...     type(memory.checkpointer).__name__, type(memory.store).__name__
        ('InMemorySaver', 'InMemoryStore')
    """
    config = MemoryConfig.from_env() if config is None else config
    with ExitStack() as stack:
        if config.memory_type == "memory":
            store = InMemoryStore(index=_index(config))  # type: ignore[arg-type]
            yield Backends(InMemorySaver(), store, config)
            return
        if config.memory_type == "sqlite":
            from langgraph.checkpoint.sqlite import SqliteSaver
            from langgraph.store.sqlite import SqliteStore

            config.data_dir.mkdir(parents=True, exist_ok=True)
            path = str(config.sqlite_path)
            saver = stack.enter_context(SqliteSaver.from_conn_string(path))
            sqlite_store = stack.enter_context(SqliteStore.from_conn_string(path))
            sqlite_store.setup()
            yield Backends(saver, sqlite_store, config)
            return
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.store.postgres import PostgresStore

        url = _postgres_url(config, stack)
        pg_saver = stack.enter_context(PostgresSaver.from_conn_string(url))
        pg_store = stack.enter_context(
            PostgresStore.from_conn_string(url, index=_index(config))  # type: ignore[arg-type]
        )
        pg_saver.setup()
        pg_store.setup()
        yield Backends(pg_saver, pg_store, config, url)


@asynccontextmanager
async def aopen_backends(config: MemoryConfig | None = None) -> AsyncIterator[Backends]:
    """Async twin of `open_backends`, for graphs run with `ainvoke`/`astream`.

    Examples:
        ::

            async with aopen_backends() as memory:
                graph = builder.compile(checkpointer=memory.checkpointer, store=memory.store)
                await graph.ainvoke(inputs, config)
    """
    config = MemoryConfig.from_env() if config is None else config
    async with AsyncExitStack() as stack:
        if config.memory_type == "memory":
            store = InMemoryStore(index=_index(config))  # type: ignore[arg-type]
            yield Backends(InMemorySaver(), store, config)
            return
        if config.memory_type == "sqlite":
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
            from langgraph.store.sqlite.aio import AsyncSqliteStore

            config.data_dir.mkdir(parents=True, exist_ok=True)
            path = str(config.sqlite_path)
            saver = await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(path))
            sqlite_store = await stack.enter_async_context(AsyncSqliteStore.from_conn_string(path))
            await sqlite_store.setup()
            yield Backends(saver, sqlite_store, config)
            return
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from langgraph.store.postgres.aio import AsyncPostgresStore

        sync_stack = stack.enter_context(ExitStack())
        url = _postgres_url(config, sync_stack)
        pg_saver = await stack.enter_async_context(AsyncPostgresSaver.from_conn_string(url))
        pg_store = await stack.enter_async_context(
            AsyncPostgresStore.from_conn_string(url, index=_index(config))  # type: ignore[arg-type]
        )
        await pg_saver.setup()
        await pg_store.setup()
        yield Backends(pg_saver, pg_store, config, url)
