"""The (checkpointer, store) pair the samples and the demo run on, chosen by ``MEMORY_TYPE``.

A stand-in for `open_memory()` built only from langgraph's own savers and stores, so the samples
run on real backends today: ``memory`` (in-process), ``sqlite`` (one local file under
``MEMORY_DATA_DIR``) and ``postgres``/``hybrid`` (`PostgresSaver` + `PostgresStore` on
``DATABASE_URL``, or on the embedded PostgreSQL when none is set). Swapping it for
`open_memory()` changes no caller: both are context managers yielding ``(checkpointer, store)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from langgraph_hybrid_memory._config import MemoryConfig
from langgraph_hybrid_memory._embedded import EmbeddedPostgres
from langgraph_hybrid_memory._embeddings import embedding_dims, resolve_embeddings

__all__ = ["aopen_backends", "open_backends"]

Backends = tuple[BaseCheckpointSaver[Any], BaseStore]


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
    """Open ``(checkpointer, store)`` for sync graphs (`invoke`); closes them on exit.

    Args:
        config: defaults to `MemoryConfig.from_env()`.

    Examples:
        >>> with open_backends(MemoryConfig(memory_type="memory")) as (checkpointer, store):
        ...     type(checkpointer).__name__, type(store).__name__
        ('InMemorySaver', 'InMemoryStore')
    """
    config = MemoryConfig.from_env() if config is None else config
    with ExitStack() as stack:
        if config.memory_type == "memory":
            yield InMemorySaver(), InMemoryStore(index=_index(config))  # type: ignore[arg-type]
            return
        if config.memory_type == "sqlite":
            from langgraph.checkpoint.sqlite import SqliteSaver
            from langgraph.store.sqlite import SqliteStore

            config.data_dir.mkdir(parents=True, exist_ok=True)
            path = str(config.sqlite_path)
            saver = stack.enter_context(SqliteSaver.from_conn_string(path))
            sqlite_store = stack.enter_context(SqliteStore.from_conn_string(path))
            sqlite_store.setup()
            yield saver, sqlite_store
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
        yield pg_saver, pg_store


@asynccontextmanager
async def aopen_backends(config: MemoryConfig | None = None) -> AsyncIterator[Backends]:
    """Async twin of `open_backends`, for graphs run with `ainvoke`/`astream`.

    Examples:
        ::

            async with aopen_backends() as (checkpointer, store):
                graph = builder.compile(checkpointer=checkpointer, store=store)
                await graph.ainvoke(inputs, config)
    """
    config = MemoryConfig.from_env() if config is None else config
    async with AsyncExitStack() as stack:
        if config.memory_type == "memory":
            yield InMemorySaver(), InMemoryStore(index=_index(config))  # type: ignore[arg-type]
            return
        if config.memory_type == "sqlite":
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
            from langgraph.store.sqlite.aio import AsyncSqliteStore

            config.data_dir.mkdir(parents=True, exist_ok=True)
            path = str(config.sqlite_path)
            saver = await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(path))
            sqlite_store = await stack.enter_async_context(AsyncSqliteStore.from_conn_string(path))
            await sqlite_store.setup()
            yield saver, sqlite_store
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
        yield pg_saver, pg_store
