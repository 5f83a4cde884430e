"""`AsyncPgVectorStore`: the asyncio twin of `PgVectorStore` (same plans, async I/O)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar, cast

import psycopg
from langgraph.store.base import GetOp, Item, Op, PutOp, Result, SearchItem, SearchOp, TTLConfig
from langgraph.store.base import _ensure_refresh as _refresh
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from langgraph_hybrid_memory._coalesce import Coalescer, batch_slots
from langgraph_hybrid_memory._migrations import arun_migrations
from langgraph_hybrid_memory._pg import make_async_pool
from langgraph_hybrid_memory._quality_schema import QUALITY_MIGRATIONS_TABLE, QUALITY_PG_MIGRATIONS
from langgraph_hybrid_memory._replica import (
    CURRENT_LSN,
    PRIMARY_LSN,
    REPLAY_LSN,
    REPLICA_STATE,
    UNKNOWN,
    ReadYourWrites,
    ReplicaLag,
    lag_report,
    parse_lsn,
)
from langgraph_hybrid_memory._retry import aretry_conflicts
from langgraph_hybrid_memory._validation import ValidatingStore, check_namespace
from langgraph_hybrid_memory.store._common import (
    PoolConfig,
    is_dead_connection,
    pool_args,
    resolve_embeddings_spec,
)
from langgraph_hybrid_memory.store._common import (
    sweep_interval_minutes as _sweep_interval,
)
from langgraph_hybrid_memory.store._config import (
    PgVectorIndexConfig,
    PgVectorTTLConfig,
    resolve_index,
)
from langgraph_hybrid_memory.store._schema import (
    DEFAULT_SCHEMA,
    DEFAULT_SCOPE_DEPTH,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    VECTOR_MIGRATIONS_TABLE,
    vector_migrations,
)
from langgraph_hybrid_memory.store._values import (
    register_packed_arrays,
    register_packed_copy_types,
)
from langgraph_hybrid_memory.store.base import (
    BasePgVectorStore,
    CopyIn,
    Embed,
    Plan,
    Sql,
    Step,
)

__all__ = ["AsyncPgVectorStore"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

AsyncConn = AsyncConnection[DictRow] | AsyncConnectionPool[AsyncConnection[DictRow]]


class AsyncPgVectorStore(BasePgVectorStore, ValidatingStore):
    """Async `PgVectorStore`: the same store, tables and semantics, on asyncio psycopg.

    Construct it with an `AsyncConnection` or an `AsyncConnectionPool` (or use
    `from_conn_string`). The sync methods (`get`, `put`, ...) work from other threads while the
    store's event loop runs (as in a sync node of an async graph); on the loop thread itself
    they raise `asyncio.InvalidStateError`: await the ``a*`` methods there.

    Examples:
        Needs a PostgreSQL server with pgvector, so not run as a doctest::

            from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

            async with AsyncPgVectorStore.from_conn_string(
                "postgresql://localhost/app",
                index={"fields": ["text"], "search_mode": "keyword"},
            ) as store:
                await store.setup()
                await store.aput(("users", "u1"), "m1", {"text": "likes green tea"})
                hits = await store.asearch(("users", "u1"), query="tea")

    See `PgVectorStore` for the search modes, scores, TTL and batch semantics.
    """

    supports_ttl = True

    def __init__(
        self,
        conn: AsyncConn,
        *,
        index: PgVectorIndexConfig | None = None,
        ttl: TTLConfig | PgVectorTTLConfig | None = None,
        schema: str = DEFAULT_SCHEMA,
        scope_depth: int = DEFAULT_SCOPE_DEPTH,
        read_conn: AsyncConn | None = None,
        max_value_bytes: int | None = None,
    ) -> None:
        embed = (index or {}).get("embed")
        self._init_base(
            schema=schema,
            scope_depth=scope_depth,
            index=(
                resolve_index(index, resolve_embeddings_spec(embed) if embed is not None else None)
                if index is not None
                else None
            ),
            ttl=ttl,
            max_value_bytes=max_value_bytes,
            index_config=index,
        )
        self._conn = conn
        self._read_conn = read_conn
        # Read-your-writes across the replica (see `_replica`).
        self._ryw = ReadYourWrites()
        self._locks = {
            id(c): asyncio.Lock()
            for c in (conn, read_conn)
            if c is not None and not isinstance(c, AsyncConnectionPool)
        }
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._sweeper: asyncio.Task[None] | None = None
        self._sweeper_stop: asyncio.Event | None = None
        self._coalescer = Coalescer(self._abatch_now, slots=batch_slots(conn, read_conn))
        self._read_namespaces_ok: set[tuple[str, ...]] = set()

    @classmethod
    @asynccontextmanager
    async def from_conn_string(
        cls,
        conn_string: str,
        *,
        index: PgVectorIndexConfig | None = None,
        ttl: TTLConfig | PgVectorTTLConfig | None = None,
        pool_config: PoolConfig | None = None,
        schema: str = DEFAULT_SCHEMA,
        scope_depth: int = DEFAULT_SCOPE_DEPTH,
        read_conn_string: str | None = None,
    ) -> AsyncIterator[AsyncPgVectorStore]:
        """A store on a health-checked async pool for `conn_string`, closed on exit."""
        kwargs = pool_args(pool_config)
        pool = make_async_pool(conn_string, **kwargs)
        read_pool = make_async_pool(read_conn_string, **kwargs) if read_conn_string else None
        await pool.open()
        try:
            if read_pool is not None:
                await read_pool.open()
            store = cls(
                pool,
                index=index,
                ttl=ttl,
                schema=schema,
                scope_depth=scope_depth,
                read_conn=read_pool,
            )
            try:
                yield store
            finally:
                await store.stop_ttl_sweeper()
        finally:
            await pool.close()
            if read_pool is not None:
                await read_pool.close()

    # -- driving plans -----------------------------------------------------------------------

    @asynccontextmanager
    async def _borrow(self, target: AsyncConn) -> AsyncIterator[AsyncConnection[DictRow]]:
        if isinstance(target, AsyncConnectionPool):
            async with target.connection() as conn:
                yield conn
        else:
            async with self._locks[id(target)]:
                yield target

    async def _run(self, make_plan: Callable[[], Plan[T]]) -> T:
        """Run a plan; retry it once on a fresh pooled connection if the first one died."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            used: list[AsyncConnection[DictRow]] = []
            try:
                return await self._run_once(make_plan(), used)
            except psycopg.OperationalError as exc:
                if attempt == 2 or not is_dead_connection(exc, used, self._conn):
                    raise
                logger.warning("PostgreSQL connection lost (%s); retrying once", type(exc).__name__)
                # One dead connection usually means all idle ones died with it (a server
                # restart, an idle timeout): drop them, so the retry gets a live one.
                await self._conn.check()  # type: ignore[union-attr]
        raise AssertionError("unreachable")

    async def _run_once(self, plan: Plan[T], used: list[AsyncConnection[DictRow]]) -> T:
        async with AsyncExitStack() as stack:
            conns: dict[bool, AsyncConnection[DictRow]] = {}

            async def borrow(key: bool) -> AsyncConnection[DictRow]:
                if key not in conns:
                    target = self._read_conn if key else self._conn
                    assert target is not None
                    conns[key] = await stack.enter_async_context(self._borrow(target))
                    used.append(conns[key])
                return conns[key]

            decision: dict[str, bool] = {}

            async def conn_for(replica: bool) -> AsyncConnection[DictRow]:
                if not replica or self._read_conn is None:
                    return await borrow(False)
                if "replica" not in decision:  # once per plan: all its reads see one server
                    decision["replica"] = await self._replica_has_our_writes(borrow)
                return await borrow(decision["replica"])

            wrote = [False]

            async def step_on(step: Step) -> Any:
                result = await self._step(step, conn_for)
                if not isinstance(step, Embed) and not getattr(step, "replica", False):
                    wrote[0] = True
                return result

            try:
                step = next(plan)
                while True:
                    step = plan.send(await step_on(step))
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            finally:
                plan.close()
                if self._read_conn is not None and (wrote[0] or self._ryw.fence == UNKNOWN):
                    await self._record_position(conns.get(False))

    async def _replica_has_our_writes(
        self, borrow: Callable[[bool], Awaitable[AsyncConnection[DictRow]]]
    ) -> bool:
        """Whether the replica has replayed this store's last write (read-your-writes)."""
        fence = self._ryw.fence
        if fence is None:
            return True
        if fence == UNKNOWN:
            return False
        cur = await (await borrow(True)).execute(REPLAY_LSN)
        row = await cur.fetchone()
        return self._ryw.replica_ok(row["lsn"] if row else None)

    async def _record_position(self, conn: AsyncConnection[DictRow] | None) -> None:
        """After a plan wrote on the primary: its WAL position, the replica's fence."""
        if conn is None:
            return
        try:
            row = await (await conn.execute(CURRENT_LSN)).fetchone()
        except psycopg.Error:
            self._ryw.wrote_unknown()
            return
        if row is not None:
            self._ryw.wrote(parse_lsn(row["lsn"]))

    async def areplica_status(self) -> ReplicaLag | None:
        """Async twin of `PgVectorStore.replica_status`."""
        if self._read_conn is None:
            return None
        async with self._borrow(self._read_conn) as rconn:
            replica = await (await rconn.execute(REPLICA_STATE)).fetchone()
        try:
            async with self._borrow(self._conn) as pconn:
                primary = await (await pconn.execute(PRIMARY_LSN)).fetchone()
        except psycopg.OperationalError:
            primary = None  # a primary outage: the replica's own view still helps
        assert replica is not None
        return lag_report(primary, replica)

    async def _step(self, step: Step, conn_for: Any) -> Any:
        if isinstance(step, Embed):
            assert self.index is not None and self.index.embeddings is not None
            return await self.index.embeddings.aembed_documents(step.texts)
        conn: AsyncConnection[DictRow] = await conn_for(step.replica)
        if isinstance(step, Sql):
            # One statement under autocommit: a conflict rolled it back whole, rerun it.
            return await aretry_conflicts(lambda: _execute(conn, step))

        async def tx() -> list[list[dict[str, Any]]]:
            async with conn.transaction():
                return [await _execute(conn, s) for s in step.statements]

        return await aretry_conflicts(tx, "the transaction")

    # -- BaseStore ---------------------------------------------------------------------------

    async def aget(
        self,
        namespace: tuple[str, ...],
        key: str,
        *,
        refresh_ttl: bool | None = None,
    ) -> Item | None:
        """langgraph's ``aget``, queued straight into the coalescer (as langgraph's
        `AsyncBatchedBaseStore` does): the generic path through `abatch` cost two more
        coroutine frames per call, which a 10,000-call burst felt."""
        self._check_read_namespace(namespace, "namespace")
        op = GetOp(namespace, str(key), _refresh(self.ttl_config, refresh_ttl))
        return cast("Item | None", await self._coalescer.enqueue(op))

    async def asearch(
        self,
        namespace_prefix: tuple[str, ...],
        /,
        *,
        query: str | None = None,
        filter: dict[str, Any] | None = None,
        limit: int = 10,
        offset: int = 0,
        refresh_ttl: bool | None = None,
    ) -> list[SearchItem]:
        """langgraph's ``asearch``, queued straight into the coalescer (see `aget`)."""
        self._check_read_namespace(namespace_prefix, "namespace_prefix")
        op = SearchOp(
            namespace_prefix, filter, limit, offset, query, _refresh(self.ttl_config, refresh_ttl)
        )
        return cast("list[SearchItem]", await self._coalescer.enqueue(op))

    def _check_read_namespace(self, namespace: tuple[str, ...], argument: str) -> None:
        """`check_namespace` once per distinct namespace: a burst reads a few namespaces
        thousands of times, and the check (each label's UTF-8 length, NUL, surrogates) was a
        fifth of a coalesced ``aget``'s own cost."""
        try:
            if namespace in self._read_namespaces_ok:
                return
        except TypeError:  # unhashable: not a tuple of strings, the check says so
            pass
        check_namespace(namespace, argument=argument)
        if len(self._read_namespaces_ok) >= 4096:  # bounded: a long tail of users
            self._read_namespaces_ok.clear()
        self._read_namespaces_ok.add(namespace)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `ops`: reads first (pre-batch state), then all writes in one statement.

        A single op (every ``aget``/``aput``/``asearch``/...) joins the ops other tasks of
        this loop issue meanwhile in one batch (`_coalesce.Coalescer`); at most the pool's
        size of batches run at once, so a burst never waits in the pool's queue.
        """
        ops = list(ops)
        if len(ops) == 1:
            return [await self._coalescer.enqueue(ops[0])]
        async with self._coalescer.slot():
            return await self._abatch_now(ops)

    async def _abatch_now(self, ops: Sequence[Op]) -> list[Result]:
        results = await self._run(lambda: self._batch_plan(ops))
        # Once per batch, not per call: the access counts of a coalesced burst flush together.
        if self._usage is not None and self._usage.due():
            await self.flush_usage()
        return results

    async def flush_usage(self) -> None:
        """Async twin of `PgVectorStore.flush_usage`."""
        if self._usage is None:
            return
        pending = self._usage.take()
        if not len(pending):
            return
        try:
            await self._run(lambda: self._usage_flush_plan(pending))
        except psycopg.Error as exc:
            self._usage.restore(pending)
            logger.warning("usage_flush_failed", extra={"error": type(exc).__name__})

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Sync bridge for other threads: runs `abatch` on the store's event loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._loop:
            raise asyncio.InvalidStateError(
                "synchronous calls to AsyncPgVectorStore from its event loop thread would "
                "deadlock; await the a* methods (e.g. await store.aget(...)) instead"
            )
        if self._loop is None or not self._loop.is_running():
            raise asyncio.InvalidStateError(
                "AsyncPgVectorStore's sync methods need its event loop running in another "
                "thread; use the a* methods, or PgVectorStore for sync code"
            )
        return asyncio.run_coroutine_threadsafe(self.abatch(ops), self._loop).result()

    # -- setup, bulk, TTL --------------------------------------------------------------------

    async def setup(self) -> None:
        """Async twin of `PgVectorStore.setup`."""
        await self._run(self._setup_checks_plan)
        async with self._borrow(self._conn) as conn:
            await arun_migrations(conn, MIGRATIONS, schema=self.schema, table=MIGRATIONS_TABLE)
            await arun_migrations(
                conn, QUALITY_PG_MIGRATIONS, schema=self.schema, table=QUALITY_MIGRATIONS_TABLE
            )
            if self.index is not None and self.index.has_vectors:
                await arun_migrations(
                    conn,
                    vector_migrations(self.index),
                    schema=self.schema,
                    table=VECTOR_MIGRATIONS_TABLE,
                )
        await self._run(self._setup_settings_plan)

    async def bulk_put(self, ops: Iterable[PutOp]) -> int:
        """Async twin of `PgVectorStore.bulk_put`."""
        ops = list(ops)
        return await self._run(lambda: self._bulk_plan(ops))

    async def sweep_ttl(self, batch_size: int = 1000) -> int:
        """Delete expired items in batches of `batch_size`; return how many were deleted."""
        return await self._run(lambda: self._sweep_plan(batch_size))

    async def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> asyncio.Task[None]:
        """Sweep expired items every interval in an asyncio task (no-op without TTL config).

        Idempotent, as langgraph's `AsyncPostgresStore`: while a sweeper runs, another call
        returns the running task.
        """
        if self.ttl_config is None:

            async def noop() -> None:
                return None

            return asyncio.create_task(noop())
        if self._sweeper is not None and not self._sweeper.done():
            return self._sweeper
        interval = _sweep_interval(self.ttl_config, sweep_interval_minutes)
        stop = self._sweeper_stop = asyncio.Event()

        async def loop() -> None:
            while True:
                try:
                    await asyncio.wait_for(stop.wait(), interval * 60)
                    return
                except asyncio.TimeoutError:
                    pass
                try:
                    n = await self.sweep_ttl()
                    if n:
                        logger.info("TTL sweeper deleted %d expired items", n)
                except Exception:
                    # Keep sweeping: the next run may succeed (e.g. after a restart).
                    logger.exception("TTL sweep failed")

        self._sweeper = asyncio.create_task(loop(), name="lghm-ttl-sweeper")
        return self._sweeper

    async def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper task; return whether it stopped within `timeout` seconds."""
        if self._sweeper is None:
            return True
        assert self._sweeper_stop is not None
        self._sweeper_stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._sweeper), timeout)
        except asyncio.TimeoutError:
            return False
        self._sweeper = None
        return True


async def _execute(conn: AsyncConnection[DictRow], step: Sql | CopyIn) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        if isinstance(step, CopyIn):
            if step.types is not None:
                register_packed_copy_types(cur, step.types)
            async with cur.copy(step.query) as copy:
                if step.types is not None:
                    copy.set_types(step.types)
                for row in step.rows:
                    await copy.write_row(row)
            return []
        register_packed_arrays(cur, step.params)
        await cur.execute(step.query, step.params)
        return await cur.fetchall() if cur.description else []
