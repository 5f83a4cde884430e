"""The shared store contract (tests/store_contract.py) run against `PgVectorStore` (sync API)
and `AsyncPgVectorStore` (async API), each in a fresh schema of a real PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from langgraph.store.base import BaseStore, TTLConfig

from langgraph_hybrid_memory import AsyncPgVectorStore, PgVectorStore
from langgraph_hybrid_memory._pg import aget_connection, get_connection
from tests.store_contract import *  # noqa: F403
from tests.store_contract import StoreFactory


@pytest.fixture
async def store_factory(pg_url: str) -> AsyncIterator[StoreFactory]:
    closers: list[Callable[[], Any]] = []

    async def factory(
        api_mode: str, *, index: dict[str, Any] | None = None, ttl: TTLConfig | None = None
    ) -> BaseStore:
        schema = f"s_{uuid.uuid4().hex[:12]}"
        if api_mode == "async":
            aconn = await aget_connection(pg_url)
            closers.append(aconn.close)
            astore = AsyncPgVectorStore(aconn, index=index, ttl=ttl, schema=schema)  # type: ignore[arg-type]
            await astore.setup()
            return astore
        conn = get_connection(pg_url)
        closers.append(conn.close)
        store = PgVectorStore(conn, index=index, ttl=ttl, schema=schema)  # type: ignore[arg-type]
        store.setup()
        return store

    yield factory
    for close in reversed(closers):
        result = close()
        if hasattr(result, "__await__"):
            await result
