"""Every store of the package behind one async API, for the memory-quality tests: PgVectorStore
(sync, async), LocalStore, HybridStore (sync, async), on real PostgreSQL and SQLite files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore, Op, Result

from langgraph_hybrid_memory import HybridStore, LocalStore
from langgraph_hybrid_memory._pg import get_connection, make_async_pool
from langgraph_hybrid_memory.hybridstore.aio import AsyncHybridStore
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

KINDS = ["pg-sync", "pg-async", "local", "hybrid-sync", "hybrid-async"]


class AnyStore:
    """``await s.batch(ops)`` on any store: ``abatch`` for the async classes."""

    def __init__(self, store: BaseStore, is_async: bool) -> None:
        self.store = store
        self.is_async = is_async

    async def batch(self, ops: Iterable[Op]) -> list[Result]:
        if self.is_async:
            return await self.store.abatch(ops)
        return self.store.batch(ops)

    async def search(self, prefix: tuple[str, ...], **kw: Any) -> Any:
        if self.is_async:
            return await self.store.asearch(prefix, **kw)
        return self.store.search(prefix, **kw)

    async def put(self, ns: tuple[str, ...], key: str, value: dict[str, Any]) -> None:
        if self.is_async:
            await self.store.aput(ns, key, value)
        else:
            self.store.put(ns, key, value)

    async def get(self, ns: tuple[str, ...], key: str) -> Any:
        if self.is_async:
            return await self.store.aget(ns, key)
        return self.store.get(ns, key)


MakeAny = Callable[..., Awaitable[AnyStore]]


@pytest.fixture(params=KINDS)
async def make_any(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: Path
) -> AsyncIterator[MakeAny]:
    kind: str = request.param
    closers: list[Callable[[], Any]] = []

    async def make(index: dict[str, Any]) -> AnyStore:
        if kind == "pg-sync":
            conn = get_connection(pg_url)
            closers.append(conn.close)
            pg = PgVectorStore(conn, index=index)  # type: ignore[arg-type]
            pg.setup()
            return AnyStore(pg, False)
        if kind == "pg-async":
            pool = make_async_pool(pg_url, max_size=2)
            await pool.open()
            apg = AsyncPgVectorStore(pool, index=index)  # type: ignore[arg-type]
            closers.append(pool.close)
            await apg.setup()
            return AnyStore(apg, True)
        if kind == "local":
            local = LocalStore(tmp_path / "q.sqlite", index=index)  # type: ignore[arg-type]
            closers.append(local.close)
            local.setup()
            return AnyStore(local, False)
        cls = AsyncHybridStore if kind == "hybrid-async" else HybridStore
        hy = cls(tmp_path / "h.sqlite", pg_url, index=index)  # type: ignore[arg-type]
        closers.append(hy.close)
        if isinstance(hy, AsyncHybridStore):
            await hy.setup()  # a coroutine, as langgraph's async stores' setup
        else:
            hy.setup()
        return AnyStore(hy, kind == "hybrid-async")

    yield make
    for close in reversed(closers):
        res = close()
        if hasattr(res, "__await__"):
            await res
