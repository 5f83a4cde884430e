"""`AsyncHybridStore`: the asyncio face of `HybridStore`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from langgraph.store.base import Op, Result

from langgraph_hybrid_memory._asyncguard import refuse_on_event_loop
from langgraph_hybrid_memory._coalesce import Coalescer
from langgraph_hybrid_memory.hybridstore import HybridStore

__all__ = ["AsyncHybridStore"]


class AsyncHybridStore(HybridStore):
    """`HybridStore` for async graphs: same tiers, routing, cache and outbox.

    The local tier is one SQLite connection shared by every part of the process and the outbox
    is drained by the replicator's own thread, so each ``a*`` method runs the sync method in a
    worker thread (`asyncio.to_thread`): the event loop never waits on a disk sync or on
    PostgreSQL. The sync methods stay usable from other threads.

    Examples:
        A PostgreSQL server is needed, so this block is not run here::

            from langgraph_hybrid_memory import AsyncHybridStore

            async with AsyncHybridStore.from_conn_string(
                "memory.sqlite", url, index={"embed": "local", "fields": ["text"]}
            ) as store:
                await store.setup()
                await store.awarm(("users", "u1"))
                await store.aput(("users", "u1", "memories"), "m1", {"text": "likes tea"})
                hits = await store.asearch(("users", "u1"), query="drinks")
    """

    @classmethod
    @asynccontextmanager
    async def from_conn_string(  # type: ignore[override]
        cls, sqlite_path: str | Path, postgres_url: str, **options: Any
    ) -> AsyncIterator[AsyncHybridStore]:
        """A store on `sqlite_path` and `postgres_url`, closed (outbox drained) on exit."""
        store = await asyncio.to_thread(cls, sqlite_path, postgres_url, **options)
        try:
            yield store
        finally:
            await store.aclose()

    # Worker threads a burst of coalesced batches may occupy: the local file is one connection,
    # so more would only queue behind its lock.
    BATCH_SLOTS = 4

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch` in a worker thread; a single op (every ``aget``/``aput``/``asearch``/...)
        joins the ops other tasks of this loop issue meanwhile in one batch
        (`_coalesce.Coalescer`), at most `BATCH_SLOTS` batches at once."""
        ops = list(ops)
        coalescer = self.__dict__.get("_coalescer")
        if coalescer is None:
            coalescer = self.__dict__["_coalescer"] = Coalescer(
                self._abatch_now, slots=self.BATCH_SLOTS
            )
        if len(ops) == 1:
            return [await coalescer.submit(ops[0])]
        async with coalescer.slot():
            return await self._abatch_now(ops)

    async def _abatch_now(self, ops: Sequence[Op]) -> list[Result]:
        return await asyncio.to_thread(self.batch, ops)

    async def setup(self, *, remote: bool = True) -> None:  # type: ignore[override]
        """`HybridStore.setup`, awaitable as langgraph's async stores' ``setup``."""
        await asyncio.to_thread(lambda: HybridStore.setup(self, remote=remote))

    async def asetup(self) -> None:
        """Deprecated alias of ``await setup()``."""
        await self.setup()

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        # As langgraph's async stores: a sync call on the loop's own thread would block it.
        refuse_on_event_loop(self, "batch", "abatch")
        return super().batch(ops)

    async def awarm(self, namespace_prefix: Sequence[str]) -> int:
        """Async `warm`."""
        return await asyncio.to_thread(self.warm, namespace_prefix)

    async def arefresh(self, namespace_prefix: Sequence[str]) -> int:
        """Async `refresh`."""
        return await asyncio.to_thread(self.refresh, namespace_prefix)

    async def aflush(self, timeout: float | None = None) -> None:
        """Async `flush`."""
        await asyncio.to_thread(self.flush, timeout)

    async def sweep_ttl(self) -> int:  # type: ignore[override]
        """Delete expired items in both tiers (a coroutine, as langgraph's
        `AsyncPostgresStore.sweep_ttl`)."""
        return await asyncio.to_thread(HybridStore.sweep_ttl, self)

    async def asweep_ttl(self) -> int:
        """Async `sweep_ttl` (kept for existing callers)."""
        return await asyncio.to_thread(HybridStore.sweep_ttl, self)

    async def start_ttl_sweeper(  # type: ignore[override]
        self, sweep_interval_minutes: float | None = None
    ) -> asyncio.Future[None]:
        """Start the background sweeper (a coroutine, as `AsyncPostgresStore`'s; idempotent).
        Returns a future that completes when it stops."""
        return asyncio.wrap_future(HybridStore.start_ttl_sweeper(self, sweep_interval_minutes))

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Stop the background sweeper; True if it stopped within `timeout` seconds."""
        return await asyncio.to_thread(HybridStore.stop_ttl_sweeper, self, timeout)

    async def aclose(self) -> int | None:
        """Async `close` (returns the outbox entries left for the next start)."""
        return await asyncio.to_thread(self.close)

    async def __aenter__(self) -> AsyncHybridStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
