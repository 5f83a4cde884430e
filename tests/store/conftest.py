"""Store fixtures: every contract test runs on the sync and the async store, each on a single
connection and on a pool, against the real PostgreSQL server (a fresh database per test)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from langgraph_hybrid_memory._pg import aget_connection, get_connection, make_async_pool, make_pool
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

# BaseStore methods whose async twin is the "a"-prefixed name.
_TWINS = {"get", "put", "delete", "search", "list_namespaces", "batch"}


class Handle:
    """One API over both stores: ``await h.put(...)`` calls ``put`` on the sync store and
    ``aput`` on the async one; other methods (``setup``, ``bulk_put``, ...) are awaited only
    when they return an awaitable. So one test body covers both classes."""

    def __init__(self, store: PgVectorStore | AsyncPgVectorStore, url: str) -> None:
        self.store = store
        self.url = url
        self.is_async = isinstance(store, AsyncPgVectorStore)

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.is_async and name in _TWINS:
            name = "a" + name
        result = getattr(self.store, name)(*args, **kwargs)
        return await result if inspect.isawaitable(result) else result

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        return functools.partial(self._call, name)

    def sql(self, query: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Look at the tables directly (for assertions only)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []


MakeStore = Callable[..., Awaitable[Handle]]

KINDS = ["sync-conn", "sync-pool", "async-conn", "async-pool"]


@pytest.fixture(params=KINDS)
async def make_store(request: pytest.FixtureRequest, pg_url: str) -> AsyncIterator[MakeStore]:
    """Factory: ``await make_store(index=..., ttl=...)`` -> a set-up store `Handle`."""
    kind: str = request.param
    closers: list[Callable[[], Any]] = []

    async def make(*, setup: bool = True, url: str | None = None, **kwargs: Any) -> Handle:
        target = url or pg_url
        store: PgVectorStore | AsyncPgVectorStore
        if kind == "sync-conn":
            conn = get_connection(target)
            closers.append(conn.close)
            store = PgVectorStore(conn, **kwargs)
        elif kind == "sync-pool":
            pool = make_pool(target, max_size=4)
            closers.append(pool.close)
            store = PgVectorStore(pool, **kwargs)
        elif kind == "async-conn":
            aconn = await aget_connection(target)
            closers.append(aconn.close)
            store = AsyncPgVectorStore(aconn, **kwargs)
        else:
            apool = make_async_pool(target, max_size=4)
            await apool.open()
            closers.append(apool.close)
            store = AsyncPgVectorStore(apool, **kwargs)
        handle = Handle(store, target)
        if setup:
            await handle.setup()
        return handle

    yield make
    for close in reversed(closers):
        result = close()
        if inspect.isawaitable(result):
            await result
