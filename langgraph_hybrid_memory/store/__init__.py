"""`PgVectorStore`: langgraph's `BaseStore` on PostgreSQL + pgvector (sync).

The async twin is `langgraph_hybrid_memory.store.aio.AsyncPgVectorStore`; both run the same
plans from `langgraph_hybrid_memory.store.base`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import psycopg
from langgraph.store.base import Op, PutOp, Result, TTLConfig
from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from langgraph_hybrid_memory._migrations import run_migrations
from langgraph_hybrid_memory._pg import borrow, make_pool
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
from langgraph_hybrid_memory._retry import retry_conflicts
from langgraph_hybrid_memory._sweeper import SweeperThread
from langgraph_hybrid_memory._validation import ValidatingStore
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
    HNSWIndexConfig,
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

__all__ = [
    "HNSWIndexConfig",
    "PgVectorIndexConfig",
    "PgVectorStore",
    "PgVectorTTLConfig",
    "PoolConfig",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

SyncConn = Connection[DictRow] | ConnectionPool[Connection[DictRow]]


class PgVectorStore(BasePgVectorStore, ValidatingStore):
    """Long-term memory on PostgreSQL + pgvector: a complete langgraph `BaseStore`.

    * Namespaces are stored as ``text[]``: a prefix matches whole labels only, and ``%``, ``_``
      and ``\\`` in labels are ordinary characters.
    * Filters follow `langgraph_hybrid_memory._filters` (``$eq $ne $gt $gte $lt $lte $in $nin
      $exists``, nested dicts); range operators compare numbers as numbers.
    * Search modes (``index["search_mode"]``) and the score of each result:

      - ``"vector"``: similarity of the item's best vector: ``1 - cosine distance`` (cosine),
        ``-distance`` (l2) or the dot product (inner_product).
      - ``"keyword"``: PostgreSQL full-text rank, ``ts_rank_cd`` of the item's indexed text
        against any word of the query (stemmed, stop words dropped); higher is better.
      - ``"hybrid"`` (default): reciprocal rank fusion of both rankings,
        ``sum(1 / (60 + rank))`` over the lists the item is in (rank from 1), so at most
        ``2/61``; items found by either way are returned.
      - without a query: most recently updated first, score ``None``.

    * Searches inside one scope (a prefix of at least `scope_depth` labels, e.g. one user) are
      exact; wider ones use the HNSW index with pgvector's iterative scan and fall back to an
      exact scan rather than return fewer than ``limit`` items while more match.
    * TTL in minutes (fractions allowed): ``ttl={"default_ttl": 60, "refresh_on_read": True,
      "omit_expired": True, "sweep_interval_minutes": 5}``; expired items are never returned
      (unless ``omit_expired=False``) and `sweep_ttl` / `start_ttl_sweeper` delete them.
    * A batch applies its reads first (they see the state before the batch), then all its
      puts and deletes, with their vectors, in ONE statement (atomic; the last put per key
      wins), so a put costs one round trip (pooled connections are not pinged before use
      unless idle, see `_pg.check_if_idle`); bad input raises before anything is written.

    Args:
        conn: A psycopg `Connection` (autocommit, as `_pg.get_connection` makes) or a
            `ConnectionPool` (recommended: a dead connection is retried once on a fresh one,
            and calls run in parallel; a single connection is shared behind a lock).
        index: `PgVectorIndexConfig`; ``None`` stores and filters but does not search by text.
        ttl: `PgVectorTTLConfig`.
        schema: PostgreSQL schema of the tables (created by `setup`).
        scope_depth: How many leading namespace labels form an item's scope (the primary key's
            first column and the Citus distribution column). Fixed at the first `setup`.
        read_conn: Optional connection or pool to a read replica; reads go there.

    Examples:
        Needs a PostgreSQL server with pgvector, so not run as a doctest::

            from langgraph_hybrid_memory.store import PgVectorStore

            with PgVectorStore.from_conn_string(
                "postgresql://localhost/app",
                index={"dims": 384, "embed": "local", "fields": ["text"]},
            ) as store:
                store.setup()
                store.put(("users", "u1", "memories"), "m1", {"text": "likes green tea"})
                hits = store.search(("users", "u1"), query="drinks", limit=5)

    Warning:
        `setup` must run once before use (it is idempotent and safe to run concurrently).
    """

    supports_ttl = True

    def __init__(
        self,
        conn: SyncConn,
        *,
        index: PgVectorIndexConfig | None = None,
        ttl: TTLConfig | PgVectorTTLConfig | None = None,
        schema: str = DEFAULT_SCHEMA,
        scope_depth: int = DEFAULT_SCOPE_DEPTH,
        read_conn: SyncConn | None = None,
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
        # A single connection cannot run two transactions at once; pools need no lock.
        self._locks = {
            id(c): threading.RLock()
            for c in (conn, read_conn)
            if c is not None and not isinstance(c, ConnectionPool)
        }
        # `sweep_ttl` looked up at each run, so a subclass's or a wrapped method is used.
        self._sweeper = SweeperThread(
            lambda: self.sweep_ttl(), name="lghm-ttl-sweeper", label="store"
        )

    @classmethod
    @contextmanager
    def from_conn_string(
        cls,
        conn_string: str,
        *,
        index: PgVectorIndexConfig | None = None,
        ttl: TTLConfig | PgVectorTTLConfig | None = None,
        pool_config: PoolConfig | None = None,
        schema: str = DEFAULT_SCHEMA,
        scope_depth: int = DEFAULT_SCOPE_DEPTH,
        read_conn_string: str | None = None,
    ) -> Iterator[PgVectorStore]:
        """A store on a health-checked pool for `conn_string`, closed on exit.

        Args:
            conn_string: libpq connection string or URL.
            pool_config: ``min_size``, ``max_size`` and extra connection ``kwargs``.
            read_conn_string: Optional read replica.
        """
        kwargs = pool_args(pool_config)
        pool = make_pool(conn_string, **kwargs)
        read_pool = make_pool(read_conn_string, **kwargs) if read_conn_string else None
        try:
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
                store.stop_ttl_sweeper()
        finally:
            pool.close()
            if read_pool is not None:
                read_pool.close()

    # -- driving plans -----------------------------------------------------------------------

    # Set by a part with a local fallback (HybridStore): borrow fails fast when PostgreSQL
    # refuses connections rather than waiting out the pool timeout.
    _fail_fast = False

    @contextmanager
    def _borrow(self, target: SyncConn) -> Iterator[Connection[DictRow]]:
        if isinstance(target, ConnectionPool):
            if self._fail_fast:
                with borrow(target, target.timeout) as conn:
                    yield conn
                return
            with target.connection() as conn:
                yield conn
        else:
            with self._locks[id(target)]:
                yield target

    def _run(self, make_plan: Callable[[], Plan[T]]) -> T:
        """Run a plan; retry it once on a fresh pooled connection if the first one died."""
        for attempt in (1, 2):
            used: list[Connection[DictRow]] = []
            try:
                return self._run_once(make_plan(), used)
            except psycopg.OperationalError as exc:
                if attempt == 2 or not is_dead_connection(exc, used, self._conn):
                    raise
                logger.warning("PostgreSQL connection lost (%s); retrying once", type(exc).__name__)
                # One dead connection usually means all idle ones died with it (a server
                # restart, an idle timeout): drop them, so the retry gets a live one.
                self._conn.check()  # type: ignore[union-attr]
        raise AssertionError("unreachable")

    def _run_once(self, plan: Plan[T], used: list[Connection[DictRow]]) -> T:
        with ExitStack() as stack:
            conns: dict[bool, Connection[DictRow]] = {}

            def borrow(key: bool) -> Connection[DictRow]:
                if key not in conns:
                    target = self._read_conn if key else self._conn
                    assert target is not None
                    conns[key] = stack.enter_context(self._borrow(target))
                    used.append(conns[key])
                return conns[key]

            decision: dict[str, bool] = {}

            def conn_for(replica: bool) -> Connection[DictRow]:
                if not replica or self._read_conn is None:
                    return borrow(False)
                if "replica" not in decision:  # once per plan: all its reads see one server
                    decision["replica"] = self._replica_has_our_writes(borrow)
                return borrow(decision["replica"])

            wrote = [False]

            def step_on(step: Step) -> Any:
                result = self._step(step, conn_for)
                if not isinstance(step, Embed) and not getattr(step, "replica", False):
                    wrote[0] = True
                return result

            try:
                step = next(plan)
                while True:
                    step = plan.send(step_on(step))
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            finally:
                plan.close()
                if self._read_conn is not None and (wrote[0] or self._ryw.fence == UNKNOWN):
                    self._record_position(conns.get(False))

    def _replica_has_our_writes(self, borrow: Callable[[bool], Connection[DictRow]]) -> bool:
        """Whether the replica has replayed this store's last write (read-your-writes)."""
        fence = self._ryw.fence
        if fence is None:
            return True
        if fence == UNKNOWN:
            return False
        row = borrow(True).execute(REPLAY_LSN).fetchone()
        return self._ryw.replica_ok(row["lsn"] if row else None)

    def _record_position(self, conn: Connection[DictRow] | None) -> None:
        """After a plan wrote on the primary: its WAL position, the replica's fence."""
        if conn is None:
            return
        try:
            row = conn.execute(CURRENT_LSN).fetchone()
        except psycopg.Error:
            self._ryw.wrote_unknown()
            return
        if row is not None:
            self._ryw.wrote(parse_lsn(row["lsn"]))

    def replica_status(self) -> ReplicaLag | None:
        """Lag of the read replica (bytes and seconds), or None without one.

        Raises:
            psycopg.OperationalError: the replica is unreachable.
        """
        if self._read_conn is None:
            return None
        with self._borrow(self._read_conn) as rconn:
            replica = rconn.execute(REPLICA_STATE).fetchone()
        try:
            with self._borrow(self._conn) as pconn:
                primary = pconn.execute(PRIMARY_LSN).fetchone()
        except psycopg.OperationalError:
            primary = None  # a primary outage: the replica's own view still helps
        assert replica is not None
        return lag_report(primary, replica)

    def _step(self, step: Step, conn_for: Callable[[bool], Connection[DictRow]]) -> Any:
        if isinstance(step, Embed):
            assert self.index is not None and self.index.embeddings is not None
            return self.index.embeddings.embed_documents(step.texts)
        conn = conn_for(step.replica)
        if isinstance(step, Sql):
            # One statement under autocommit: a conflict rolled it back whole, rerun it.
            return retry_conflicts(lambda: _execute(conn, step))

        def tx() -> list[list[dict[str, Any]]]:
            with conn.transaction():
                return [_execute(conn, s) for s in step.statements]

        return retry_conflicts(tx, "the transaction")

    # -- BaseStore ---------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `ops`: reads first (pre-batch state), then all writes in one statement."""
        ops = list(ops)
        results = self._run(lambda: self._batch_plan(ops))
        if self._usage is not None and self._usage.due():
            self.flush_usage()
        return results

    def flush_usage(self) -> None:
        """Write the pending access counts and query log entries now (one statement).

        ``index["track_access"]``/``index["query_log"]`` batch them (see `_usage`); call this
        before a process exits to keep the last ones. A failure is logged and the entries are
        kept for the next flush: statistics never fail a read.
        """
        if self._usage is None:
            return
        pending = self._usage.take()
        if not len(pending):
            return
        try:
            self._run(lambda: self._usage_flush_plan(pending))
        except psycopg.Error as exc:
            self._usage.restore(pending)
            logger.warning("usage_flush_failed", extra={"error": type(exc).__name__})

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch` in a worker thread (use `AsyncPgVectorStore` for native async I/O)."""
        ops = list(ops)
        return await asyncio.get_running_loop().run_in_executor(None, self.batch, ops)

    # -- setup, bulk, TTL --------------------------------------------------------------------

    def setup(self) -> None:
        """Create or migrate the tables (numbered migrations under an advisory lock).

        Raises:
            PgVectorMissingError: vector search is configured and the server has no pgvector.
            DimensionMismatchError: the existing vectors table has other dims or type.
            ConfigError: `scope_depth` differs from the one the store was set up with.
        """
        self._run(self._setup_checks_plan)
        with self._borrow(self._conn) as conn:
            run_migrations(conn, MIGRATIONS, schema=self.schema, table=MIGRATIONS_TABLE)
            run_migrations(
                conn, QUALITY_PG_MIGRATIONS, schema=self.schema, table=QUALITY_MIGRATIONS_TABLE
            )
            if self.index is not None and self.index.has_vectors:
                run_migrations(
                    conn,
                    vector_migrations(self.index),
                    schema=self.schema,
                    table=VECTOR_MIGRATIONS_TABLE,
                )
        self._run(self._setup_settings_plan)

    def bulk_put(self, ops: Iterable[PutOp]) -> int:
        """Load many puts fast: COPY into staging tables, one upsert transaction, and, for a load
        that is large next to the existing data, the HNSW index rebuilt after loading rather
        than maintained row by row. Returns the number of items written.

        Warning:
            A rebuild holds an exclusive lock on the vectors table (and, for the GIN index on
            the values, on the items table) until the load commits;
            meant for imports and migrations, not for live traffic.
        """
        ops = list(ops)
        return self._run(lambda: self._bulk_plan(ops))

    def sweep_ttl(self, batch_size: int = 1000) -> int:
        """Delete expired items in batches of `batch_size`; return how many were deleted."""
        return self._run(lambda: self._sweep_plan(batch_size))

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep expired items every interval in a daemon thread (no-op without a TTL config).

        Returns a future that completes when the sweeper stops.
        """
        if self.ttl_config is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        return self._sweeper.start(_sweep_interval(self.ttl_config, sweep_interval_minutes))

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; return whether it stopped within `timeout` seconds."""
        return self._sweeper.stop(timeout)


def _execute(conn: Connection[DictRow], step: Sql | CopyIn) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        if isinstance(step, CopyIn):
            if step.types is not None:
                register_packed_copy_types(cur, step.types)
            with cur.copy(step.query) as copy:
                if step.types is not None:
                    copy.set_types(step.types)
                for row in step.rows:
                    copy.write_row(row)
            return []
        register_packed_arrays(cur, step.params)
        cur.execute(step.query, step.params)
        return cur.fetchall() if cur.description else []
