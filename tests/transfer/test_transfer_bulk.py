"""`copy_items` / `acopy_items` into PgVectorStore and AsyncPgVectorStore: every item in ONE
``bulk_put`` (so a large copy rebuilds the HNSW index once), progress as items go through, and
async stores copied for real (not an un-awaited coroutine)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import psycopg
import pytest
from langgraph.store.base import PutOp
from langgraph.store.memory import InMemoryStore

from langgraph_hybrid_memory._transfer import acopy_items, copy_items, import_jsonl
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore
from tests.support import FakeEmbeddings

N = 1200  # more than two pages of 500


def _index() -> Any:
    return {"dims": 16, "embed": FakeEmbeddings(16), "fields": ["text"]}


def _source() -> InMemoryStore:
    store = InMemoryStore()
    store.batch(
        [
            PutOp(("users", f"u{i % 30}", "memories"), f"m{i}", {"text": f"memory {i} of user"})
            for i in range(N)
        ]
    )
    return store


def _counts(url: str) -> tuple[int, int, bool]:
    with psycopg.connect(url) as conn:
        items = conn.execute("SELECT count(*) FROM memory.items").fetchone()
        vectors = conn.execute("SELECT count(*) FROM memory.vectors WHERE text_hash IS NOT NULL")
        index = conn.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = 'vectors_embedding_idx'"
        ).fetchone()
        assert items is not None and index is not None
        return int(items[0]), int(vectors.fetchone()[0]), bool(index[0])  # type: ignore[index]


class CountingStore(PgVectorStore):
    """A real PgVectorStore that remembers how its bulk loads were called."""

    loads: list[int]

    def bulk_put(self, ops: Iterable[PutOp]) -> int:
        self.loads = [*getattr(self, "loads", []), 0]
        n = super().bulk_put(ops)
        self.loads[-1] = n
        return n


def test_copy_into_pgvectorstore_is_one_bulk_load(pg_url: str) -> None:
    with CountingStore.from_conn_string(pg_url, index=_index()) as target:
        target.setup()
        ticks: list[int] = []
        report = copy_items(_source(), target, progress=ticks.append)
        assert report.items == N and len(report.namespaces) == 30
        assert target.loads == [N]
        assert ticks == [500, 500, 200]
        assert _counts(pg_url) == (N, N, True)
        hits = target.search(("users", "u7"), query="memory 1027 of user", limit=1)
        assert [h.key for h in hits] == ["m1027"]


async def test_acopy_into_async_pgvectorstore_copies_everything(pg_url: str) -> None:
    async with AsyncPgVectorStore.from_conn_string(pg_url, index=_index()) as target:
        await target.setup()
        ticks: list[int] = []
        report = await acopy_items(_source(), target, progress=ticks.append)
        assert report.items == N and sum(ticks) == N
        assert _counts(pg_url) == (N, N, True)
        hits = await target.asearch(("users", "u7"), query="memory 1027 of user", limit=1)
        assert [h.key for h in hits] == ["m1027"]
        # And back out of the async store (an async source) into another store.
        back = InMemoryStore()
        again = await acopy_items(target, back)
        assert again.items == N
        assert (await back.aget(("users", "u7", "memories"), "m1027")).value == {  # type: ignore[union-attr]
            "text": "memory 1027 of user"
        }


async def test_sync_copy_refuses_an_async_store_and_writes_nothing(pg_url: str) -> None:
    async with AsyncPgVectorStore.from_conn_string(pg_url, index=_index()) as target:
        await target.setup()
        with pytest.raises(TypeError, match="acopy_items"):
            copy_items(_source(), target)
        with pytest.raises(TypeError, match="async store"):
            import_jsonl(io.StringIO(""), store=target)
    assert _counts(pg_url)[0] == 0


async def test_acopy_into_a_sync_pgvectorstore(pg_url: str) -> None:
    with PgVectorStore.from_conn_string(pg_url, index=_index()) as target:
        target.setup()
        report = await acopy_items(_source(), target, namespace_prefix=("users", "u3"))
        assert report.items == N // 30
        assert _counts(pg_url)[:2] == (N // 30, N // 30)
