"""The shared store contract (tests/store_contract.py) run against `HybridStore` (sync API) and
`AsyncHybridStore` (async API) on a real PostgreSQL database and a real SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore, TTLConfig

from langgraph_hybrid_memory import AsyncHybridStore, HybridStore
from tests.store_contract import *  # noqa: F403
from tests.store_contract import StoreFactory


@pytest.fixture
async def store_factory(pg_url: str, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    stores: list[HybridStore] = []

    async def factory(
        api_mode: str, *, index: dict[str, Any] | None = None, ttl: TTLConfig | None = None
    ) -> BaseStore:
        cls = AsyncHybridStore if api_mode == "async" else HybridStore
        store = cls(
            tmp_path / f"local{len(stores)}.sqlite",
            pg_url,
            index=index,  # type: ignore[arg-type]
            ttl=ttl,
            schema=f"s_{uuid.uuid4().hex[:12]}",
        )
        stores.append(store)
        HybridStore.setup(store)  # the sync setup, also for AsyncHybridStore (async setup)
        return store

    yield factory
    for store in stores:
        store.flush(timeout=30)
        assert store.status()["pending_writes"] == 0
        store.close()
