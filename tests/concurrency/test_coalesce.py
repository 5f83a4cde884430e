"""Async calls coalesced: a burst of single-op calls on one loop becomes a few batches, each
caller gets its own result, and pool waits are bounded (no `PoolTimeout`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from langgraph.store.base import GetOp

from langgraph_hybrid_memory import AsyncHybridStore
from langgraph_hybrid_memory._coalesce import Coalescer
from langgraph_hybrid_memory._pg import make_async_pool
from langgraph_hybrid_memory.errors import InvalidValueError
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

KEYWORD = {"fields": ["text"], "search_mode": "keyword"}
N = 20_000


async def _burst(store: AsyncPgVectorStore | AsyncHybridStore) -> None:
    ns = ("users", "u1", "m")
    for k in range(50):
        await store.aput(ns, f"seed{k}", {"text": f"tea number {k}", "k": k})

    async def one(i: int) -> None:
        kind = i % 4
        if kind == 0:
            await store.aput(ns, f"p{i}", {"text": f"note {i}", "i": i})
        elif kind == 3:
            hits = await store.asearch(("users", "u1"), query="tea", limit=3)
            assert len(hits) == 3
        else:
            item = await store.aget(ns, f"seed{i % 50}")
            assert item is not None and item.value["k"] == i % 50  # the caller's own result

    await asyncio.gather(*(one(i) for i in range(N)))
    # Every put of the burst landed, once.
    for i in range(0, N, 997 * 4):
        item = await store.aget(ns, f"p{i}")
        assert item is not None and item.value["i"] == i


async def test_20k_concurrent_calls_on_async_pgvector_store(pg_url: str) -> None:
    # A small pool with a short timeout: one batch per call would time out waiting for it.
    pool = make_async_pool(pg_url, max_size=4)
    pool.timeout = 5.0
    await pool.open()
    try:
        store = AsyncPgVectorStore(pool, index=KEYWORD)  # type: ignore[arg-type]
        await store.setup()
        start = time.monotonic()
        await _burst(store)
        assert time.monotonic() - start < 120  # generous: the point is no PoolTimeout
        assert store._coalescer.batches < store._coalescer.ops / 5
    finally:
        await pool.close()


async def test_20k_concurrent_calls_on_async_hybrid_store(pg_url: str, tmp_path: Path) -> None:
    store = AsyncHybridStore(tmp_path / "local.sqlite", pg_url, index=KEYWORD)  # type: ignore[arg-type]
    try:
        await store.asetup()
        await _burst(store)
    finally:
        await store.aclose()


async def test_a_bad_op_fails_only_its_caller(pg_url: str) -> None:
    pool = make_async_pool(pg_url, max_size=1)
    await pool.open()
    try:
        store = AsyncPgVectorStore(pool, index=KEYWORD)  # type: ignore[arg-type]
        await store.setup()
        ns = ("users", "u1")
        results = await asyncio.gather(
            *(store.aput(ns, f"k{i}", {"text": "ok"}) for i in range(20)),
            store.aput(ns, "bad", {"text": "nul\x00byte"}),
            *(store.aget(ns, f"k{i}") for i in range(5)),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1 and isinstance(errors[0], InvalidValueError)
        for i in range(20):
            assert await store.aget(ns, f"k{i}") is not None
        assert await store.aget(ns, "bad") is None
    finally:
        await pool.close()


async def test_coalescer_bounds_concurrent_batches_and_keeps_results() -> None:
    running = 0
    peak = 0
    sizes: list[int] = []

    async def run(ops: list[GetOp]) -> list[str]:  # type: ignore[type-arg]
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        sizes.append(len(ops))
        await asyncio.sleep(0.01)
        running -= 1
        return [op.key for op in ops]

    c = Coalescer(run, slots=3)  # type: ignore[arg-type]
    keys = [str(i) for i in range(3000)]
    assert await asyncio.gather(*(c.submit(GetOp(("n",), k)) for k in keys)) == keys
    assert peak == 3
    assert len(sizes) < 20


def test_coalescer_refuses_zero_slots() -> None:
    with pytest.raises(ValueError, match="slots"):
        Coalescer(lambda ops: asyncio.sleep(0), slots=0)  # type: ignore[arg-type,return-value]


async def test_identical_reads_share_one_op_and_callers_resume_in_arrival_order() -> None:
    batches: list[list[str]] = []

    async def run(ops: list[GetOp]) -> list[str]:  # type: ignore[type-arg]
        batches.append([op.key for op in ops])
        await asyncio.sleep(0)
        return [f"{op.key}!" for op in ops]

    c = Coalescer(run, slots=1)  # type: ignore[arg-type]
    resumed: list[int] = []

    async def one(i: int) -> str:
        got = await c.submit(GetOp(("n",), "abc"[i % 3]))
        resumed.append(i)
        return got  # type: ignore[return-value]

    got = await asyncio.gather(*(one(i) for i in range(30)))
    assert got == [f"{'abc'[i % 3]}!" for i in range(30)]  # each caller its own op's result
    assert batches == [["a", "b", "c"]]  # 30 callers, 3 distinct reads, one batch
    assert resumed == list(range(30))  # settled in arrival order, not grouped by op
