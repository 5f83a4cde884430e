"""Real backends for the sample graphs, each in a sync and an async flavour.

* ``memory``: InMemorySaver + InMemoryStore.
* ``sqlite``: SqliteSaver / AsyncSqliteSaver on a real file + InMemoryStore.
* ``postgres``: PostgresSaver + PostgresStore / their async twins on a fresh database.
* ``open_memory-<MEMORY_TYPE>``: this package's `open_memory()` / `aopen_memory()` for every
  ``MEMORY_TYPE`` (hybrid and postgres on a fresh database, files in the test's directory).

Stores get a vector index on the memories' ``text`` field (deterministic fake embeddings), so the
planner's ``search(query=objective)`` is a real vector search where the backend supports it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.base import BaseStore, Item, SearchItem
from langgraph.store.memory import InMemoryStore
from langgraph.types import StateSnapshot

from langgraph_hybrid_memory import MemoryConfig, aopen_memory, open_memory
from tests.support import FakeEmbeddings

MEMORY_TYPES = ("memory", "sqlite", "postgres", "hybrid")
KINDS = ("memory", "sqlite", "postgres", *(f"open_memory-{t}" for t in MEMORY_TYPES))
BACKENDS = [(kind, mode) for kind in KINDS for mode in ("sync", "async")]


@dataclass
class Backend:
    """A (checkpointer, store) pair and the calls a test needs, in the backend's own mode."""

    kind: str
    mode: str
    checkpointer: BaseCheckpointSaver[Any]
    store: BaseStore

    @property
    def is_async(self) -> bool:
        return self.mode == "async"

    async def invoke(self, graph: Any, inputs: Any, config: RunnableConfig) -> dict[str, Any]:
        if self.is_async:
            return await graph.ainvoke(inputs, config)  # type: ignore[no-any-return]
        return graph.invoke(inputs, config)  # type: ignore[no-any-return]

    async def state(self, graph: Any, config: RunnableConfig) -> StateSnapshot:
        if self.is_async:
            return await graph.aget_state(config)  # type: ignore[no-any-return]
        return graph.get_state(config)  # type: ignore[no-any-return]

    async def checkpoints(self, config: RunnableConfig) -> list[CheckpointTuple]:
        if self.is_async:
            return [t async for t in self.checkpointer.alist(config)]
        return list(self.checkpointer.list(config))

    async def search(self, namespace: tuple[str, ...]) -> list[SearchItem]:
        if self.is_async:
            return await self.store.asearch(namespace, limit=100)
        return self.store.search(namespace, limit=100)

    async def get(self, namespace: tuple[str, ...], key: str) -> Item | None:
        if self.is_async:
            return await self.store.aget(namespace, key)
        return self.store.get(namespace, key)

    async def put(self, namespace: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        if self.is_async:
            await self.store.aput(namespace, key, value)
        else:
            self.store.put(namespace, key, value)


@pytest.fixture(params=BACKENDS, ids=[f"{k}-{m}" for k, m in BACKENDS])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Any, fake_embeddings: FakeEmbeddings
) -> AsyncIterator[Backend]:
    kind, mode = request.param
    index: Any = {"dims": fake_embeddings.dims, "embed": fake_embeddings, "fields": ["text"]}
    async with AsyncExitStack() as astack:
        stack = astack.enter_context(ExitStack())
        checkpointer: BaseCheckpointSaver[Any]
        store: BaseStore
        if kind.startswith("open_memory-"):
            memory_type = kind.removeprefix("open_memory-")
            settings: dict[str, Any] = {"memory_type": memory_type, "data_dir": tmp_path / "d"}
            if memory_type in ("postgres", "hybrid"):
                settings["database_url"] = request.getfixturevalue("pg_url")
            config = MemoryConfig(**settings)
            if mode == "sync":
                memory = stack.enter_context(open_memory(config, embeddings=fake_embeddings))
            else:
                memory = await astack.enter_async_context(
                    aopen_memory(config, embeddings=fake_embeddings)
                )
            checkpointer, store = memory.checkpointer, memory.store
        elif kind == "memory":
            checkpointer, store = InMemorySaver(), InMemoryStore(index=index)
        elif kind == "sqlite":
            path = str(tmp_path / "checkpoints.sqlite")
            store = InMemoryStore(index=index)
            if mode == "sync":
                from langgraph.checkpoint.sqlite import SqliteSaver

                checkpointer = stack.enter_context(SqliteSaver.from_conn_string(path))
            else:
                from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

                checkpointer = await astack.enter_async_context(
                    AsyncSqliteSaver.from_conn_string(path)
                )
        else:
            url = request.getfixturevalue("pg_url")
            if mode == "sync":
                from langgraph.checkpoint.postgres import PostgresSaver
                from langgraph.store.postgres import PostgresStore

                saver = stack.enter_context(PostgresSaver.from_conn_string(url))
                pg_store = stack.enter_context(PostgresStore.from_conn_string(url, index=index))
                saver.setup()
                pg_store.setup()
                checkpointer, store = saver, pg_store
            else:
                from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
                from langgraph.store.postgres.aio import AsyncPostgresStore

                asaver = await astack.enter_async_context(AsyncPostgresSaver.from_conn_string(url))
                apg_store = await astack.enter_async_context(
                    AsyncPostgresStore.from_conn_string(url, index=index)
                )
                await asaver.setup()
                await apg_store.setup()
                checkpointer, store = asaver, apg_store
        yield Backend(kind, mode, checkpointer, store)
