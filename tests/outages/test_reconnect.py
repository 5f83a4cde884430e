"""After PostgreSQL restarts, the next operation reconnects at once, even if one failed during
the outage.

An operation that fails during an outage makes psycopg_pool retry the connection with a backoff
that doubles from 1 s (for up to 5 minutes by default); the first operation after the restart
then waited for the next scheduled attempt (28 s seen) or failed with ``PoolTimeout``. The
package's pools give a failed attempt up after `_pg.POOL_RECONNECT_TIMEOUT_SECONDS` and the next
borrow tries at once; the replicator's backoff is cut short by `flush()`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from langgraph_hybrid_memory import AsyncPgVectorStore, HybridSaver, PgVectorStore
from langgraph_hybrid_memory._pg import make_async_pool, make_pool
from tests.support import PrivatePostgres

# Long enough for psycopg_pool's default backoff (attempts at 0, 1, 3, 7, 15, 31 s) to leave a
# long gap after the restart: the old behaviour then failed the first operation.
OUTAGE_SECONDS = 16.0
POOL_TIMEOUT = 2.0
# Generous: the first operation after the restart takes one connection (milliseconds).
RECONNECT_BOUND = 5.0
NS = ("users", "u1")


def _fails(fn: Any) -> None:
    with pytest.raises(psycopg.OperationalError):
        fn()


@pytest.mark.timeout(120)
def test_sync_store_reconnects_at_once_after_a_failed_op(private_pg: PrivatePostgres) -> None:
    pool = make_pool(private_pg.url, timeout=POOL_TIMEOUT)
    try:
        store = PgVectorStore(pool)
        store.setup()
        store.put(NS, "k", {"v": 1})
        private_pg.stop()
        _fails(lambda: store.get(NS, "k"))
        time.sleep(OUTAGE_SECONDS)
        private_pg.start()
        started = time.monotonic()
        item = store.get(NS, "k")
        took = time.monotonic() - started
        assert item is not None and item.value == {"v": 1}
        assert took < RECONNECT_BOUND, f"first op after the restart took {took:.1f}s"
    finally:
        pool.close()


@pytest.mark.timeout(120)
async def test_async_store_reconnects_at_once_after_a_failed_op(
    private_pg: PrivatePostgres,
) -> None:
    import asyncio

    pool = make_async_pool(private_pg.url)
    pool.timeout = POOL_TIMEOUT
    await pool.open()
    try:
        store = AsyncPgVectorStore(pool)
        await store.setup()
        await store.aput(NS, "k", {"v": 1})
        await asyncio.to_thread(private_pg.stop)
        with pytest.raises(psycopg.OperationalError):
            await store.aget(NS, "k")
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(private_pg.start)
        started = time.monotonic()
        item = await store.aget(NS, "k")
        took = time.monotonic() - started
        assert item is not None and item.value == {"v": 1}
        assert took < RECONNECT_BOUND, f"first op after the restart took {took:.1f}s"
    finally:
        await pool.close()


@pytest.mark.timeout(120)
def test_hybrid_saver_reconnects_at_once_after_a_failed_flush(
    private_pg: PrivatePostgres, sqlite_path: Path
) -> None:
    from tests.checkpoint.test_hydration_and_deletes import _pg_ids, _put_chain

    with HybridSaver(sqlite_path, private_pg.url, mode="write_through") as saver:
        saver.setup()
        _put_chain(saver, "before", 1)
        private_pg.stop()
        during = _put_chain(saver, "during", 1)  # the write-through fails; kept in the outbox
        assert saver.status()["write_through_degraded"] is True
        time.sleep(OUTAGE_SECONDS)
        private_pg.start()
        started = time.monotonic()
        saver.flush(timeout=RECONNECT_BOUND)  # raises FlushTimeoutError if it waited
        took = time.monotonic() - started
        assert took < RECONNECT_BOUND
        assert _pg_ids(private_pg.url, "during") == sorted(during)
        after = _put_chain(saver, "after", 1)
        assert _pg_ids(private_pg.url, "after") == after  # inline again
        assert saver.status()["write_through_degraded"] is False
