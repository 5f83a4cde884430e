"""`AsyncHybridSaver`: the asyncio face of `HybridSaver`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from langgraph_hybrid_memory._asyncguard import refuse_on_event_loop
from langgraph_hybrid_memory.checkpoint import HybridSaver
from langgraph_hybrid_memory.checkpoint._retention import RetentionReport

__all__ = ["AsyncHybridSaver"]


class AsyncHybridSaver(HybridSaver):
    """`HybridSaver` for async graphs (``ainvoke``/``astream``): same tiers, modes and options.

    The local tier is one SQLite connection shared by every part of the process and the remote
    tier is drained by the replicator's own thread, so each ``a*`` method runs the sync method in
    a worker thread (`asyncio.to_thread`): the event loop never waits on a disk sync or on
    PostgreSQL. The sync methods stay usable, from any thread.

    Examples:
        A PostgreSQL server is needed, so this block is not run here::

            from langgraph_hybrid_memory import AsyncHybridSaver

            async with AsyncHybridSaver.from_conn_string("memory.sqlite", url) as saver:
                await saver.setup()
                graph = builder.compile(checkpointer=saver)
                await graph.ainvoke(inputs, {"configurable": {"thread_id": "t1"}})
                await saver.aflush(timeout=10)
    """

    @classmethod
    @asynccontextmanager
    async def from_conn_string(  # type: ignore[override]
        cls, sqlite_path: str | Path, postgres_url: str, **options: Any
    ) -> AsyncIterator[AsyncHybridSaver]:
        """A saver on `sqlite_path` and `postgres_url`, closed (outbox drained) on exit."""
        saver = await asyncio.to_thread(cls, sqlite_path, postgres_url, **options)
        try:
            yield saver
        finally:
            await saver.aclose()

    async def setup(self) -> None:  # type: ignore[override]
        """Create the local tables and migrate PostgreSQL (`HybridSaver.setup`), awaitable as
        langgraph's async savers' ``setup``."""
        await asyncio.to_thread(HybridSaver.setup, self)

    async def asetup(self) -> None:
        """Deprecated alias of ``await setup()``."""
        await self.setup()

    # -- sync calls: from other threads only, as langgraph's async savers -------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        refuse_on_event_loop(self, "get_tuple", "aget_tuple")
        return super().get_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        refuse_on_event_loop(self, "list", "alist")
        return super().list(config, filter=filter, before=before, limit=limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        refuse_on_event_loop(self, "put", "aput")
        return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        refuse_on_event_loop(self, "put_writes", "aput_writes")
        super().put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        refuse_on_event_loop(self, "delete_thread", "adelete_thread")
        super().delete_thread(thread_id)

    async def aflush(self, timeout: float | None = None) -> None:
        """Async `flush`."""
        await asyncio.to_thread(self.flush, timeout)

    async def asweep_checkpoints(
        self, *, now: float | None = None, limit: int | None = None, dry_run: bool = False
    ) -> RetentionReport:
        """Async `HybridSaver.sweep_checkpoints` (in a worker thread)."""
        return await asyncio.to_thread(
            lambda: self.sweep_checkpoints(now=now, limit=limit, dry_run=dry_run)
        )

    async def aclose(self) -> int | None:
        """Async `close` (returns the outbox entries left for the next start)."""
        return await asyncio.to_thread(self.close)

    async def __aenter__(self) -> AsyncHybridSaver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        items = await asyncio.to_thread(
            lambda: list(self.list(config, filter=filter, before=before, limit=limit))
        )
        for item in items:
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep_last: int = 1,
    ) -> None:
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy, keep_last=keep_last)
