"""The store contract (tests/store_contract.py) run against `LocalStore` on real SQLite files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import BaseStore, TTLConfig

from langgraph_hybrid_memory import LocalStore
from tests.store_contract import *  # noqa: F403
from tests.store_contract import StoreFactory


@pytest.fixture
async def store_factory(tmp_path: Path) -> AsyncIterator[StoreFactory]:
    stores: list[LocalStore] = []

    async def factory(
        api_mode: str, *, index: dict[str, Any] | None = None, ttl: TTLConfig | None = None
    ) -> BaseStore:
        path = tmp_path / f"store{len(stores)}.sqlite"
        store = LocalStore(path, index=index, ttl=ttl)  # type: ignore[arg-type]
        stores.append(store)
        await store.asetup()
        return store

    yield factory
    for store in stores:
        store.close()
