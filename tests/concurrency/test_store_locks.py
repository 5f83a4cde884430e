"""Invariant 9: no two statements of ours can deadlock; TTL refresh on read never blocks a writer.

Real threads and real processes on one real PostgreSQL; every op must succeed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from typing import Any

import psycopg
import pytest
from langgraph.store.base import PutOp

from langgraph_hybrid_memory._pg import make_async_pool, make_pool
from langgraph_hybrid_memory._retry import MAX_ATTEMPTS, retry_conflicts
from langgraph_hybrid_memory.errors import WriteConflictError
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore
from tests.concurrency._store_worker import run as run_worker

NS = ("users", "shared", "m")
KEYWORD = {"fields": ["text"], "search_mode": "keyword"}


def _store(url: str, size: int, **kwargs: Any) -> tuple[PgVectorStore, Any]:
    pool = make_pool(url, max_size=size)
    store = PgVectorStore(pool, index=KEYWORD, **kwargs)  # type: ignore[arg-type]
    store.setup()
    return store, pool


def test_opposite_order_batches_from_threads(pg_url: str) -> None:
    store, pool = _store(pg_url, 4)
    errors: list[BaseException] = []

    def writer(keys: list[str]) -> None:
        for n in range(40):
            try:
                # A put and a delete in one batch, in opposite orders in the two threads:
                # the shape that deadlocked (puts and deletes lock in separate passes).
                store.batch(
                    [PutOp(NS, keys[0], {"text": f"a{n}"}), PutOp(NS, keys[1], None)]
                    if n % 2
                    else [PutOp(NS, k, {"text": f"b{n}"}) for k in keys]
                )
            except BaseException as exc:
                errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(["k1", "k2", "k3"],)),
        threading.Thread(target=writer, args=(["k3", "k2", "k1"],)),
        threading.Thread(target=writer, args=(["k2", "k1", "k3"],)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.close()
    assert errors == []


def test_multi_key_batches_from_processes(pg_url: str) -> None:
    _, pool = _store(pg_url, 1)
    pool.close()
    env = {**os.environ, "PYTHONPATH": os.getcwd() + os.pathsep + os.environ.get("PYTHONPATH", "")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.concurrency._store_worker", pg_url, "4", "25", str(s)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for s in range(3)
    ]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["errors"] for r in results] == [[], [], []]
    assert sum(int(r["ok"]) for r in results) == 3 * 4 * 25


def test_refresh_on_read_searches_do_not_deadlock_with_writers(pg_url: str) -> None:
    store, pool = _store(pg_url, 8, ttl={"default_ttl": 10, "refresh_on_read": True})
    store.batch([PutOp(NS, f"k{i}", {"text": f"item {i}"}) for i in range(50)])
    errors: list[BaseException] = []

    def reader() -> None:
        for _ in range(20):
            try:
                assert len(store.search(("users", "shared"), limit=50)) == 50
            except BaseException as exc:
                errors.append(exc)

    writer_stop = threading.Event()

    def writer() -> None:
        n = 0
        while not writer_stop.is_set():
            try:
                store.batch([PutOp(NS, f"k{i}", {"text": f"item {i} v{n}"}) for i in (7, 3, 41)])
            except BaseException as exc:
                errors.append(exc)
            n += 1

    readers = [threading.Thread(target=reader) for _ in range(4)]
    w = threading.Thread(target=writer)
    w.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    writer_stop.set()
    w.join()
    pool.close()
    assert errors == []


async def test_async_refresh_and_opposite_batches(pg_url: str) -> None:
    pool = make_async_pool(pg_url, max_size=6)
    await pool.open()
    store = AsyncPgVectorStore(
        pool,
        index=KEYWORD,  # type: ignore[arg-type]
        ttl={"default_ttl": 10, "refresh_on_read": True},
    )
    await store.setup()
    await store.abatch([PutOp(NS, f"k{i}", {"text": f"item {i}"}) for i in range(50)])

    async def searches() -> None:
        for _ in range(10):
            # The writers delete (and re-put) k1, k4, k2 now and then.
            assert len(await store.asearch(("users", "shared"), limit=50)) >= 47

    async def writes(order: list[int]) -> None:
        for n in range(20):
            await store.abatch(
                [
                    PutOp(NS, f"k{i}", None if n % 3 == 0 and i == order[0] else {"text": "x"})
                    for i in order
                ]
            )

    try:
        await asyncio.gather(
            searches(), searches(), writes([1, 2, 3, 4]), writes([4, 3, 2, 1]), writes([2, 4, 1])
        )
    finally:
        await pool.close()


def test_conflicts_from_others_are_retried_then_ours(pg_url: str) -> None:
    calls = 0

    def deadlocking() -> None:
        nonlocal calls
        calls += 1
        # A real DeadlockDetected from the server: two sessions locking two rows crosswise.
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    with pytest.raises(WriteConflictError, match="lost to concurrent transactions") as info:
        retry_conflicts(deadlocking, "the put")
    assert calls == MAX_ATTEMPTS
    assert isinstance(info.value.__cause__, psycopg.errors.DeadlockDetected)
    assert isinstance(info.value, psycopg.OperationalError)

    flaky = iter([psycopg.errors.SerializationFailure("could not serialize"), None])

    def once_then_ok() -> str:
        exc = next(flaky)
        if exc is not None:
            raise exc
        return "done"

    assert retry_conflicts(once_then_ok) == "done"


def test_worker_in_process_smoke(pg_url: str) -> None:
    # The worker's own code path, in this process (so a broken worker fails here, readably).
    _, pool = _store(pg_url, 1)
    pool.close()
    out = run_worker(pg_url, 2, 5, 1)
    assert out == {"ok": 10, "errors": []}


def _deadlocks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_bulk_put_and_forget_never_deadlock_with_batch_writes(pg_url: str, tmp_path: Any) -> None:
    # bulk_put and forget write a user's rows by the hundred (in key and scan order) while
    # threads write the same keys in multi-key batches (hash order): the store lock
    # (`store._locks`) orders them. PostgreSQL's own deadlock counter must stay at 0: our
    # retries would hide a deadlock from the callers, not from it.
    from langgraph_hybrid_memory import MemoryConfig, admin

    store, pool = _store(pg_url, 6)
    ns = ("users", "u1", "m")
    keys = [f"k{i}" for i in range(200)]
    before = _deadlocks(pg_url)
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(seed: int) -> None:
        import random

        rng = random.Random(seed)
        while not stop.is_set():
            try:
                picked = rng.sample(keys, 4)
                store.batch(
                    [PutOp(ns, k, None if rng.random() < 0.2 else {"text": k}) for k in picked]
                )
            except BaseException as exc:
                errors.append(exc)

    def bulk() -> None:
        for n in range(8):
            try:
                order = keys if n % 2 else keys[::-1]
                store.bulk_put(PutOp(ns, k, {"text": f"bulk {n} {k}"}) for k in order)
            except BaseException as exc:
                errors.append(exc)

    def forget() -> None:
        cfg = MemoryConfig(
            memory_type="postgres", database_url=pg_url, data_dir=tmp_path, embeddings="none"
        )
        with admin.AdminContext(cfg) as ctx:
            for _ in range(8):
                try:
                    admin.forget_user(ctx, "u1")
                except BaseException as exc:
                    errors.append(exc)

    writers = [threading.Thread(target=writer, args=(s,)) for s in range(3)]
    others = [threading.Thread(target=bulk), threading.Thread(target=forget)]
    for t in writers + others:
        t.start()
    for t in others:
        t.join(timeout=120)
    stop.set()
    for t in writers:
        t.join(timeout=60)
    pool.close()
    assert errors == []
    assert _deadlocks(pg_url) == before
