"""`HybridStore`: long-term memory in PostgreSQL with a local SQLite cache and outbox.

The async face is `langgraph_hybrid_memory.hybridstore.aio.AsyncHybridStore`; routing, payloads
and merging live in `langgraph_hybrid_memory.hybridstore.base`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np
import psycopg
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    GetOp,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from psycopg import Connection, Cursor, sql
from psycopg.rows import DictRow
from psycopg_pool import ConnectionPool

from langgraph_hybrid_memory._breaker import is_connection_error
from langgraph_hybrid_memory._embeddings import text_hash
from langgraph_hybrid_memory._migrations import run_migrations
from langgraph_hybrid_memory._outage import note_down
from langgraph_hybrid_memory._outbox import (
    DEFAULT_CLOSE_TIMEOUT,
    OutboxEntry,
    PostgresTarget,
    Replicator,
    redact,
)
from langgraph_hybrid_memory._pg import make_pool
from langgraph_hybrid_memory._sqlite import LocalDB, Synchronous
from langgraph_hybrid_memory._sweeper import SweeperThread
from langgraph_hybrid_memory._validation import ValidatingStore, resolve_limits
from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.hybridstore import base as hb
from langgraph_hybrid_memory.hybridstore._invalidation import (
    Invalidation,
    InvalidationListener,
    channel_for,
    notice_payload,
)
from langgraph_hybrid_memory.hybridstore.base import NamespaceRouter, Tier
from langgraph_hybrid_memory.localstore import LocalStore
from langgraph_hybrid_memory.localstore import base as lb
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store._common import resolve_embeddings_spec
from langgraph_hybrid_memory.store._common import sweep_interval_minutes as _sweep_interval
from langgraph_hybrid_memory.store._config import (
    PgVectorIndexConfig,
    PgVectorTTLConfig,
    ResolvedIndex,
)
from langgraph_hybrid_memory.store._schema import (
    DEFAULT_SCHEMA,
    DEFAULT_SCOPE_DEPTH,
)
from langgraph_hybrid_memory.store._values import (
    VECTOR_TYPE_OIDS,
    register_packed_arrays,
)
from langgraph_hybrid_memory.store.base import (
    Sql,
    WriteGuard,
    _PreparedPut,
)

__all__ = ["HybridStore", "HybridStoreStatus", "NamespaceRouter", "Tier"]

logger = logging.getLogger("langgraph_hybrid_memory")

REPLICATOR_OPTIONS = frozenset(
    {
        "max_entries",
        "full_timeout",
        "batch_size",
        "flush_interval",
        "flush_linger",
        "backoff_initial",
        "backoff_max",
        "max_attempts",
        "connect_timeout",
        "pool_max_size",
    }
)
_LOCAL_INDEX_KEYS = ("dims", "fields", "distance_type", "search_mode", "collapse", "ranking")
ReadTier = str  # "postgres" | "cache" | "local"


class HybridStoreStatus(TypedDict):
    """A snapshot of a `HybridStore`; never contains a secret."""

    degraded: bool
    """True while PostgreSQL is unreachable: reads come from the local cache, writes wait in
    the outbox."""
    postgres_reachable: bool | None
    pending_writes: int
    """Persistent writes waiting in the outbox for PostgreSQL."""
    last_error: str | None
    last_read_tier: str | None
    """``"postgres"``, ``"cache"`` (persistent namespace answered locally) or ``"local"``."""
    routing: dict[str, Any]
    cache_max_age: float
    cached_prefixes: int
    """Namespace prefixes loaded from PostgreSQL within ``cache_max_age``."""
    invalidation: str
    """``"listen"``: other instances' writes refresh the cache at once (LISTEN/NOTIFY);
    ``"cache_age"``: the cache is refreshed after ``cache_max_age`` only (LISTEN unavailable
    or turned off)."""
    invalidations: int
    """Other instances' write notices received."""


class HybridStore(ValidatingStore):
    """A langgraph `BaseStore` that keeps long-term memory in PostgreSQL and keeps working
    without it.

    Every namespace is routed by the longest matching prefix rule (whole labels) to a tier:

    * **persistent** (the default): PostgreSQL (a `PgVectorStore`) is the truth, and the local
      SQLite file (the `LocalStore` tables of the file the checkpointer uses) holds a cache.
    * **transient**: the local file only; never sent to PostgreSQL.

    Writes. A persistent put or delete is written to the local cache **and** to the shared
    durable outbox in one local transaction, then sent to PostgreSQL before the call returns
    (write-through; logged ``node_persisted_to_postgres``). If PostgreSQL is unreachable the call
    still returns (logged ``failed_to_persist_to_postgres``); the write waits in the outbox and
    the file's replicator replays it, in per-namespace order, idempotently, when PostgreSQL is
    back. Deletes leave a tombstone in PostgreSQL with the delete's time: a put written earlier
    (on any machine) and replayed later is refused, so a deleted item never comes back.

    Reads. Gets, searches and namespace listings of persistent namespaces go to PostgreSQL
    (search: its vector + keyword hybrid ranking) while it is reachable and has every local write
    of the namespace; otherwise the local cache answers, `status()` says ``degraded`` and a
    ``store_degraded`` event is logged (``store_recovered`` when PostgreSQL answers again). A
    namespace read from PostgreSQL is copied into the cache when its copy is older than
    ``cache_max_age`` seconds (default 60); `warm` loads a whole prefix (a user) at session start.
    Transient namespaces are read locally; a search or listing whose prefix spans both tiers
    merges the two answers (one ordering: score, or newest first).

    A batch validates every op before any I/O, runs its reads first (they see the state before
    its writes) and then all its writes in one local transaction (last write per key wins); the
    persistent ones reach PostgreSQL in replicator batches of up to ``batch_size`` entries
    (default 500), one statement per round of distinct keys, without ``BEGIN``/``COMMIT``: a
    write-through put is one round trip. TTLs (minutes) apply in both tiers.

    Args:
        local: Path of the local SQLite file, or a `LocalDB` (shared with the checkpointer).
        postgres: PostgreSQL URL/conninfo, or a `ConnectionPool` shared with other parts (not a
            single connection: the replicator's transactions run on their own thread).
        index: `PgVectorIndexConfig` for both tiers (one model; ``None``: no text search).
        ttl: TTL config for both tiers.
        routes: ``{namespace prefix: "persistent" | "transient"}``.
        default_tier: Tier of namespaces no rule matches (``"persistent"``).
        cache_max_age: Seconds before a cached namespace is reloaded from PostgreSQL.
        invalidation: ``"listen"`` (default): a dedicated connection LISTENs for the notices
            every instance's writes send (``pg_notify`` in the write statement) and re-reads
            the cached prefixes they touch, so this cache follows other instances' puts and
            deletes within a round trip. ``"cache_age"``: no LISTEN connection (e.g. behind a
            transaction-mode pooler, which does not deliver notices); the cache is as fresh
            as ``cache_max_age``. Started by `setup`.
        retry_interval: Seconds between the LISTEN connection's reconnect attempts while
            PostgreSQL is down. Reads and writes skip PostgreSQL while the server's circuit
            breaker is open (after a connection failure, until the replicator's probe or a
            call succeeds) instead of waiting for a connection.
        refresh_limit: Most items one cache refresh or `warm` copies.
        tombstone_retention: Seconds a delete's tombstone is kept (default 30 days; `sweep_ttl`
            drops older ones). A put replayed later than this after a delete it predates is no
            longer refused.
        schema, scope_depth: Of the PostgreSQL tables (see `PgVectorStore`).
        **replicator_options: As `HybridSaver` (used when this store creates the replicator).

    Examples:
        A PostgreSQL server is needed, so this block is not run here::

            from langgraph_hybrid_memory import HybridStore

            with HybridStore.from_conn_string(
                "memory.sqlite", "postgresql://user@host/db",
                index={"embed": "local", "fields": ["text"]},
                routes={("scratch",): "transient"},
            ) as store:
                store.setup()
                store.warm(("users", "u1"))          # session start: cache this user
                store.put(("users", "u1", "memories"), "m1", {"text": "likes green tea"})
                store.search(("users", "u1"), query="drinks", limit=5)
                print(store.status())

    Warning:
        The cache is per machine. With PostgreSQL down, another machine's recent writes are
        not visible here until it is back; and routing rules must be the same on every
        machine sharing a database (a namespace changed from persistent to transient keeps
        its PostgreSQL copy, which this store no longer reads).
    """

    supports_ttl = True

    def __init__(
        self,
        local: str | Path | LocalDB,
        postgres: PostgresTarget,
        *,
        index: PgVectorIndexConfig | None = None,
        ttl: TTLConfig | PgVectorTTLConfig | None = None,
        routes: Mapping[Sequence[str], Tier] | None = None,
        default_tier: Tier = hb.DEFAULT_TIER,
        cache_max_age: float = hb.DEFAULT_CACHE_MAX_AGE,
        invalidation: Invalidation = "listen",
        retry_interval: float = hb.DEFAULT_RETRY_INTERVAL,
        refresh_limit: int = hb.DEFAULT_REFRESH_LIMIT,
        tombstone_retention: float = hb.DEFAULT_TOMBSTONE_RETENTION,
        schema: str = DEFAULT_SCHEMA,
        scope_depth: int = DEFAULT_SCOPE_DEPTH,
        synchronous: Synchronous = "FULL",
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        max_value_bytes: int | None = None,
        **replicator_options: Any,
    ) -> None:
        unknown = set(replicator_options) - REPLICATOR_OPTIONS
        if unknown:
            raise ConfigError(
                f"unknown HybridStore option(s) {sorted(unknown)}; accepted: "
                f"{sorted(REPLICATOR_OPTIONS)}"
            )
        for name, value in (("cache_max_age", cache_max_age), ("retry_interval", retry_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if invalidation not in ("listen", "cache_age"):
            raise ConfigError(f"invalidation must be 'listen' or 'cache_age', got {invalidation!r}")
        self.invalidation: Invalidation = invalidation
        self.instance_id = uuid.uuid4().hex
        self._listener: InvalidationListener | None = None
        self._listen_token = 0
        self._limits = resolve_limits(max_value_bytes)
        self.router = NamespaceRouter(routes, default=default_tier)
        self.cache_max_age = float(cache_max_age)
        self.retry_interval = float(retry_interval)
        self.refresh_limit = refresh_limit
        self.tombstone_retention = float(tombstone_retention)
        self.close_timeout = close_timeout
        self.ttl_config = ttl
        # One model for both tiers, resolved once: the same texts get the same vectors.
        index_dict: dict[str, Any] = dict(index or {})
        embeddings: Embeddings | None = None
        if index is not None and index_dict.get("embed") is not None:
            embeddings = resolve_embeddings_spec(index_dict["embed"])
            index_dict["embed"] = embeddings
        self.remote = PgVectorStore(
            self._remote_target(postgres, replicator_options),
            index=index_dict or None,  # type: ignore[arg-type]
            ttl=ttl,
            schema=schema,
            scope_depth=scope_depth,
        )
        # The cache answers when PostgreSQL is down: a refused connection falls back at once
        # instead of after the pool timeout (`_pg.borrow`).
        self.remote._fail_fast = True
        local_index: dict[str, Any] | None = None
        if index is not None:
            local_index = {k: index_dict[k] for k in _LOCAL_INDEX_KEYS if k in index_dict}
            if embeddings is not None:
                local_index["embed"] = embeddings
                local_index.setdefault(
                    "dims", self.remote.index.dims if self.remote.index else None
                )
        local_ttl = (
            None
            if ttl is None
            else TTLConfig(**{k: v for k, v in ttl.items() if k in TTLConfig.__annotations__})  # type: ignore[typeddict-item]
        )
        self._owns_db = not isinstance(local, LocalDB)
        self.db = (
            local if isinstance(local, LocalDB) else LocalDB.open(local, synchronous=synchronous)
        )
        self.local = LocalStore(self.db, index=local_index, ttl=local_ttl)  # type: ignore[arg-type]
        self.max_value_bytes = self._limits.max_value_bytes  # both tiers hold the same bound
        self.replicator = Replicator.acquire(self.db, postgres, **replicator_options)
        self.outbox = self.replicator.outbox
        self._remote_ready = False
        self._remote_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._down_at: float | None = None
        self._last_error: str | None = None
        self._last_read_tier: str | None = None
        self._fresh: dict[tuple[str, ...], float] = {}
        # Bumped by every local write: a refresh that read PostgreSQL before a write must not
        # overwrite that write's cache rows with what it read.
        self._generation = 0
        self._persist_failing = False
        self._closed = False
        # The base class's sweep, also for the async subclass (whose `sweep_ttl` is a coroutine).
        self._ttl_sweeper = SweeperThread(
            lambda: HybridStore.sweep_ttl(self),
            name="lghm-hybrid-ttl-sweeper",
            label="hybrid store",
        )
        self.replicator.register(
            hb.STORE_KINDS,
            self._replay,
            log_as=hb.LOG_AS,
            prepare=self._prepare_remote,
            stream_key="namespaces",
            stream_prefix=hb.STREAM_PREFIX,
            # Each round of `_replay` is one atomic statement and replays are idempotent in
            # order, so a store-only batch skips BEGIN/COMMIT: a write-through put is one
            # round trip to PostgreSQL.
            transaction=False,
        )

    def _remote_target(
        self, postgres: PostgresTarget, options: Mapping[str, Any]
    ) -> Connection[DictRow] | ConnectionPool[Connection[DictRow]]:
        self._owned_pool: ConnectionPool[Connection[DictRow]] | None = None
        if not isinstance(postgres, (str, ConnectionPool)):
            # The replicator runs transactions on its own thread: reads on the same single
            # connection would land inside them.
            raise ConfigError(
                "HybridStore needs a PostgreSQL URL or a ConnectionPool, not a single "
                f"{type(postgres).__name__}; pass the URL, or make_pool(url) to share one pool"
            )
        if isinstance(postgres, str):
            timeout = float(options.get("connect_timeout", 5.0))
            # A short wait for a connection: while PostgreSQL is down a read falls back to the
            # cache after this long, instead of the pool's default 30 s.
            self._owned_pool = make_pool(
                postgres,
                min_size=1,
                max_size=int(options.get("pool_max_size", 4)),
                name="lghm-hybrid-store",
                timeout=timeout,
                connect_timeout=max(1, round(timeout)),
            )
            return self._owned_pool
        return postgres

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def from_conn_string(
        cls, sqlite_path: str | Path, postgres_url: str, **options: Any
    ) -> Iterator[HybridStore]:
        """A store on `sqlite_path` and `postgres_url`, closed (outbox drained) on exit."""
        store = cls(sqlite_path, postgres_url, **options)
        try:
            yield store
        finally:
            store.close()

    def setup(self, *, remote: bool = True) -> None:
        """Create the local tables and, if PostgreSQL is reachable, migrate its tables.

        With PostgreSQL unreachable (or ``remote=False``: the caller already knows it is down)
        the store works on its local tier, degraded and logged; the replicator migrates
        PostgreSQL on its first successful connection.
        """
        self.local.setup()
        self._start_listener()
        if not remote:
            self._mark_down(ConnectionError("PostgreSQL unreachable at start"))
            return
        try:
            self._prepare_remote(None)
        except psycopg.OperationalError as exc:
            self._mark_down(exc)

    def _prepare_remote(self, conn: Connection[DictRow] | None) -> None:
        if self._remote_ready:
            return
        with self._remote_lock:
            if self._remote_ready:
                return
            self.remote.setup()
            with self.remote._borrow(self.remote._conn) as c:
                run_migrations(
                    c,
                    hb.HYBRID_MIGRATIONS,
                    schema=self.remote.schema,
                    table=hb.HYBRID_MIGRATIONS_TABLE,
                )
            self._remote_ready = True

    def flush(self, timeout: float | None = None) -> None:
        """Return once every persistent write so far is in PostgreSQL.

        Raises:
            FlushTimeoutError: not done within `timeout` seconds (nothing is lost).
        """
        self.replicator.flush(timeout, kinds=hb.STORE_KINDS)

    def flush_usage(self) -> None:
        """Write pending access counts and query log entries (``index["track_access"]``,
        ``index["query_log"]``: PostgreSQL reads are counted there) now; also done on close."""
        self.remote.flush_usage()

    def close(self) -> int | None:
        """Drain the outbox (up to ``close_timeout`` seconds), then release the file and
        connections. Returns how many outbox entries stay for the next start (logged once as a
        warning when not zero), or None while another part still shares the outbox."""
        if self._closed:
            return None
        self._closed = True
        if self._listener is not None:
            self._listener.release(self._listen_token)
        self.remote.stop_ttl_sweeper()
        self._ttl_sweeper.stop(timeout=self.close_timeout)
        self.flush_usage()
        left = self.replicator.release(timeout=self.close_timeout)
        self.local.close()
        if self._owned_pool is not None:
            self._owned_pool.close()
        if self._owns_db:
            self.db.close()
        return left

    def __enter__(self) -> HybridStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- PostgreSQL health -------------------------------------------------------------------

    def _remote_usable(self) -> bool:
        # The server's circuit breaker, shared with the saver and the replicator: open after
        # any part saw a connection failure, closed by the replicator's probe or a success.
        return self.replicator.breaker.allows()

    def _mark_down(self, exc: BaseException) -> None:
        error = redact(f"{type(exc).__name__}: {' '.join(str(exc).split())}")[:500]
        with self._state_lock:
            was_up = self._down_at is None
            self._down_at = time.time()
            self._last_error = error
        if not isinstance(exc, psycopg.Error) or is_connection_error(exc):
            self.replicator.breaker.trip(error)
        if was_up:
            # The one readable warning of an outage is shared with the saver and the
            # replicator (`_outage`): whoever notices first says it.
            note_down(
                self.replicator.server,
                error,
                source="store",
                event="store_degraded",
                local_file=self.db.path,
                detail="persistent namespaces answered from the local cache, writes kept in "
                "the outbox",
            )

    def _mark_up(self) -> None:
        with self._state_lock:
            was_down = self._down_at is not None
            self._down_at = None
        self.replicator.breaker.reset()
        if was_down:
            logger.debug("store_recovered", extra={"event": "store_recovered"})

    def _pending_under(self, prefix: Sequence[str]) -> bool:
        exact, low, high = hb.stream_range(prefix)
        with self.db.read() as conn:
            row = conn.execute(hb.PENDING_UNDER_SQL, (*hb.STORE_KINDS, exact, low, high)).fetchone()
        return row is not None

    def _remote_current(self, prefix: Sequence[str]) -> bool:
        """Whether PostgreSQL can answer for `prefix`: reachable and holding every local write
        under it (pending ones are pushed first)."""
        if not self._remote_usable():
            return False
        if not self._pending_under(prefix):
            return True
        if self.replicator.flush_now(self.outbox.max_seq()):
            return not self._pending_under(prefix)
        return False

    # -- BaseStore ---------------------------------------------------------------------------

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run `ops`: reads first (pre-batch state), then every write (see the class docs)."""
        ops = list(ops)
        self._validate(ops)
        results: list[Result] = [None] * len(ops)
        reads = [(i, op) for i, op in enumerate(ops) if not isinstance(op, PutOp)]
        if reads:
            self._read(reads, results)
        puts = [op for op in ops if isinstance(op, PutOp)]
        if puts:
            self._write(puts)
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """`batch` in a worker thread (local disk and the replicator are thread-based)."""
        ops = list(ops)
        return await asyncio.to_thread(self.batch, ops)

    @property
    def max_value_bytes(self) -> int:
        """Largest JSON text of one value, in UTF-8 bytes (default 1 MiB), held by both tiers;
        a bigger put raises `ValueTooLargeError` and writes nothing. Settable."""
        return self._limits.max_value_bytes

    @max_value_bytes.setter
    def max_value_bytes(self, value: int) -> None:
        self._limits = resolve_limits(value)
        self.local.max_value_bytes = value
        self.remote.max_value_bytes = value

    def _validate(self, ops: Sequence[Op]) -> None:
        # The package's one validator (in `plan_batch`), then the remote tier's own put
        # preparation, before any I/O: what PostgreSQL would refuse at replay is refused here,
        # so an acknowledged write cannot end up as a dead letter.
        lb.plan_batch(ops, fields=self.local._fields, vectors=False, limits=self._limits)
        for op in ops:
            if isinstance(op, PutOp) and self.router.tier(op.namespace) == "persistent":
                self.remote._prepare_put(op)

    # -- reads -------------------------------------------------------------------------------

    def _read(self, reads: Sequence[tuple[int, Op]], results: list[Result]) -> None:
        remote_ops: list[tuple[int, Op]] = []
        local_ops: list[tuple[int, Op]] = []
        mixed: list[tuple[int, Op]] = []
        tier_used = "local"
        for i, op in reads:
            prefix = _prefix_of(op)
            if self.router.tier(prefix) == "transient" and not self.router.is_mixed(prefix):
                local_ops.append((i, op))
            elif self._remote_current(prefix):
                (mixed if self.router.is_mixed(prefix) else remote_ops).append((i, op))
            else:
                local_ops.append((i, op))
                tier_used = "cache"
        if remote_ops or mixed:
            try:
                remote_results = self.remote.batch(
                    [op for _, op in remote_ops] + [_widen(op) for _, op in mixed]
                )
                self._mark_up()
                tier_used = "postgres" if tier_used == "local" else tier_used
            except psycopg.OperationalError as exc:
                self._mark_down(exc)
                local_ops += remote_ops + mixed
                remote_ops, mixed, remote_results = [], [], []
                tier_used = "cache"
            for (i, _), res in zip(remote_ops, remote_results, strict=False):
                results[i] = res
            for (i, op), res in zip(mixed, remote_results[len(remote_ops) :], strict=True):
                results[i] = self._merge_mixed(op, res)
        if local_ops:
            local_results = self.local.batch([op for _, op in local_ops])
            for (i, _), res in zip(local_ops, local_results, strict=True):
                results[i] = res
        self._last_read_tier = tier_used
        if remote_ops or mixed:
            self._refresh_stale([op for _, op in remote_ops + mixed])

    def _merge_mixed(self, op: Op, remote_result: Any) -> Any:
        """Add the transient namespaces' local answer to PostgreSQL's for a mixed prefix."""
        if isinstance(op, SearchOp):
            want = op.limit + op.offset
            local = self._local_transient_search(op, want)
            return hb.merge_items(
                [remote_result, local], ranked=bool(op.query), limit=op.limit, offset=op.offset
            )
        assert isinstance(op, ListNamespacesOp)
        everything = cast(
            list[tuple[str, ...]],
            self.local.batch(
                [ListNamespacesOp(op.match_conditions, None, limit=2**31 - 1, offset=0)]
            )[0],
        )
        found = {
            ns[: op.max_depth] if op.max_depth is not None else ns
            for ns in everything
            if self.router.tier(ns) == "transient"
        }
        found.update(remote_result)
        return sorted(found)[op.offset : op.offset + op.limit]

    def _local_transient_search(self, op: SearchOp, want: int) -> list[SearchItem]:
        # The local file also holds cached persistent items: ask for more until enough
        # transient ones are found or the local tier has no more.
        fetch = max(want, 10)
        while True:
            got = cast(list[SearchItem], self.local.batch([op._replace(limit=fetch, offset=0)])[0])
            transient = [it for it in got if self.router.tier(it.namespace) == "transient"]
            if len(transient) >= want or len(got) < fetch:
                return transient[:want]
            fetch *= 4

    # -- cache -------------------------------------------------------------------------------

    def _is_fresh(self, namespace: Sequence[str]) -> bool:
        ns = tuple(namespace)
        now = time.monotonic()
        return any(
            now - at < self.cache_max_age
            for n in range(len(ns), -1, -1)
            if (at := self._fresh.get(ns[:n])) is not None
        )

    def _refresh_stale(self, ops: Sequence[Op]) -> None:
        for op in ops:
            prefix = _prefix_of(op)
            # A search above one scope (e.g. every user) is not copied whole into the cache.
            if isinstance(op, ListNamespacesOp) or (
                isinstance(op, SearchOp) and len(prefix) < self.remote.scope_depth
            ):
                continue
            if not prefix or self._is_fresh(prefix):
                continue
            try:
                self.refresh(prefix)
            except psycopg.OperationalError as exc:
                self._mark_down(exc)
                return

    def warm(self, namespace_prefix: Sequence[str]) -> int:
        """Load everything under `namespace_prefix` (e.g. ``("users", uid)``) from PostgreSQL
        into the local cache, at session start; return how many items were loaded.

        Logged as ``loading_user_memories_from_postgres``. With PostgreSQL unreachable, returns
        0 and the cache keeps what it had (degraded).
        """
        prefix = tuple(namespace_prefix)
        logger.info(
            "loading_user_memories_from_postgres",
            extra={"event": "loading_user_memories_from_postgres", "namespace": list(prefix)},
        )
        try:
            return self.refresh(prefix)
        except psycopg.OperationalError as exc:
            self._mark_down(exc)
            return 0

    def refresh(self, namespace_prefix: Sequence[str]) -> int:
        """Replace the cached copy of the persistent namespaces under `namespace_prefix` with
        PostgreSQL's (items, times, TTLs and vectors); return how many items were copied.

        Skipped (returns 0) while writes under the prefix are still waiting for PostgreSQL.

        Raises:
            psycopg.OperationalError: PostgreSQL is unreachable.
        """
        prefix = tuple(namespace_prefix)
        if not self._remote_current(prefix):
            return 0  # unreachable (degraded) or writes under it still pending
        generation = self._generation
        rows, vectors = self.remote._run(
            lambda: _refresh_plan(self.remote, prefix, self.refresh_limit)
        )
        self._mark_up()
        items = [hb.remote_row(r) for r in rows]
        if len(items) >= self.refresh_limit:
            logger.warning(
                "cache_refresh_truncated",
                extra={
                    "event": "cache_refresh_truncated",
                    "namespace": list(prefix),
                    "limit": self.refresh_limit,
                },
            )
        puts = [
            PutOp(it.namespace, it.key, it.value, None, it.ttl_minutes)
            for it in items
            if self.router.tier(it.namespace) == "persistent"
        ]
        plan = self.local._plan(puts)
        texts = self._texts_for(plan, vectors)
        keep = {(p.namespace, p.key) for p in puts}
        with self.db.transaction() as conn:
            if self._generation != generation or self._pending_under(prefix):
                return 0  # a local write raced this refresh: keep the cache as written
            sql_, params = (
                (hb.LOCAL_KEYS_UNDER_SQL, lb.namespace_range(prefix))
                if prefix
                else (hb.LOCAL_KEYS_ALL_SQL, ())
            )
            stale = [
                (ns, key)
                for ns, key in conn.execute(sql_, params).fetchall()
                if (lb.decode_namespace(ns), key) not in keep
                and self.router.tier(lb.decode_namespace(ns)) == "persistent"
            ]
            conn.executemany(lb.DELETE_ITEM, stale)
            if puts:
                self.local._execute(plan, texts, {})
                conn.executemany(
                    hb.LOCAL_SET_TIMES_SQL,
                    [
                        (
                            it.created_at,
                            it.updated_at,
                            it.expires_at,
                            lb.encode_namespace(it.namespace),
                            it.key,
                        )
                        for it in items
                        if self.router.tier(it.namespace) == "persistent"
                    ],
                )
        self._fresh[prefix] = time.monotonic()
        return len(puts)

    def _texts_for(
        self, plan: lb.BatchPlan, vectors: Mapping[tuple[tuple[str, ...], str, str], list[float]]
    ) -> dict[str, list[float]]:
        """Vectors for the cache rows: PostgreSQL's copies, the model only for what is missing."""
        if self.local.embeddings is None:
            return {}
        texts: dict[str, list[float]] = {}
        missing: list[str] = []
        for put in plan.puts:
            for name, text in put.texts:
                vec = vectors.get((put.namespace, put.key, name))
                if vec is not None:
                    texts[text] = vec
                elif text not in texts:
                    missing.append(text)
        missing = [t for t in dict.fromkeys(missing) if t not in texts]
        if missing:
            for text, vec in zip(
                missing, self.local.embeddings.embed_documents(missing), strict=True
            ):
                texts[text] = list(vec)
        return texts

    # -- writes ------------------------------------------------------------------------------

    def _write(self, puts: Sequence[PutOp]) -> None:
        last: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in puts:
            last.pop((tuple(op.namespace), op.key), None)
            last[(tuple(op.namespace), op.key)] = op
        plan = self.local._plan(list(last.values()))
        texts, _ = self.local._embed(plan)
        persistent = [op for op in last.values() if self.router.tier(op.namespace) == "persistent"]
        if persistent:
            self.outbox.wait_for_room()
        with self.db.transaction() as conn:
            self.local._execute(plan, texts, {})
            seq = 0
            planned = {(p.namespace, p.key): p for p in plan.puts}
            for op in persistent:
                put = planned[(tuple(op.namespace), op.key)]
                vecs = {t: texts[t] for _, t in put.texts if t in texts}
                kind, payload = hb.encode_payload(op, vecs)
                seq = self.outbox.append(conn, hb.stream_of(op.namespace), kind, payload)
            self._generation += 1
        if persistent:
            self._send(persistent, seq)

    def _send(self, ops: Sequence[PutOp], seq: int) -> None:
        namespaces = sorted({".".join(op.namespace) for op in ops})
        ok = self._remote_usable() and self.replicator.flush_now(seq)
        if ok:
            self._mark_up()
            self._persist_failing = False
            logger.debug(
                "node_persisted_to_postgres",
                extra={
                    "event": "node_persisted_to_postgres",
                    "namespaces": namespaces,
                    "items": len(ops),
                },
            )
            return
        self.replicator.wake()
        rep = self.replicator.status()
        error = rep["last_error"] or self._last_error
        if rep["postgres_reachable"] is False or not self._remote_usable():
            self._mark_down(ConnectionError(error or "PostgreSQL unreachable"))
        # Every failed write is logged at DEBUG: the outage itself is announced once, readably,
        # by `_outage` (from _mark_down above or the replicator).
        level = logging.DEBUG
        self._persist_failing = True
        logger.log(
            level,
            "failed_to_persist_to_postgres",
            extra={
                "event": "failed_to_persist_to_postgres",
                "namespaces": namespaces,
                "items": len(ops),
                "detail": "kept in the local outbox; replayed when PostgreSQL is back",
                "error": error,
            },
        )

    def _vector_oids(self, cur: Cursor[DictRow]) -> tuple[int, int]:
        """The remote store's vector type OIDs (known after its `setup`; else looked up)."""
        if self.remote._vector_oids is None:
            idx = cast(ResolvedIndex, self.remote.index)
            row = cur.execute(VECTOR_TYPE_OIDS, (idx.vector_type,)).fetchone()
            assert row is not None
            self.remote._vector_oids = (int(row["oid"]), int(row["array_oid"]))
        return self.remote._vector_oids

    def _replay(self, cur: Cursor[DictRow], entries: Sequence[OutboxEntry]) -> dict[str, int]:
        """Outbox handler: apply entries in order, idempotently, refusing puts older than a
        tombstone.

        Entries go in rounds of distinct keys (a repeated key starts a new round, which keeps
        the entries' order); each round is ONE statement (`PgVectorStore._write_sql` with a
        `WriteGuard`) that checks the tombstones, writes items and vectors and records the
        deletes' tombstones, so a write-through put costs one statement.
        """
        guard_table = sql.Identifier(self.remote.schema, hb.TOMBSTONES_TABLE)
        channel = channel_for(self.remote.schema)
        dims = self.remote.index.dims if self.remote.index is not None else None
        batch: dict[tuple[tuple[str, ...], str], tuple[_PreparedPut, list[list[float]], float]]
        batch = {}
        counts = {"puts": 0, "deletes": 0, "refused": 0}

        def send() -> None:
            if not batch:
                return
            prepared = [p for p, _, _ in batch.values()]
            vectors = [v for p, vs, _ in batch.values() if p.value_json is not None for v in vs]
            arr = np.asarray(vectors, dtype=float).reshape(len(vectors), dims or 0)
            index = self.remote.index
            oids = self._vector_oids(cur) if index is not None and index.has_vectors else None
            notice = notice_payload(self.instance_id, [ns for ns, _ in batch], self.remote.schema)
            step = self.remote._write_sql(
                prepared,
                arr,
                oids=oids,
                guard=WriteGuard(
                    guard_table, [t for _, _, t in batch.values()], notify=(channel, notice)
                ),
            )
            register_packed_arrays(cur, step.params)
            cur.execute(step.query, step.params)
            row = cur.fetchone()
            written = int(row["written"]) if row is not None else 0
            counts["puts"] += written
            counts["refused"] += sum(p.value_json is not None for p in prepared) - written
            batch.clear()

        for entry in entries:
            op = hb.decode_payload(entry.kind, entry.payload)
            key = (tuple(op.namespace), op.key)
            if key in batch:
                send()  # one statement per key per round keeps the entries' order
            prepared = self.remote._prepare_put(op)
            if op.value is None:
                batch[key] = (prepared, [], entry.created_at)
                counts["deletes"] += 1
            else:
                vecs = self._vectors(prepared, hb.payload_vectors(entry.payload))
                batch[key] = (prepared, vecs, entry.created_at)
        send()
        return counts

    def _vectors(
        self, prepared: _PreparedPut, carried: Mapping[str, list[float]]
    ) -> list[list[float]]:
        texts = [t for _, t in prepared.fields]
        out: dict[str, list[float]] = {}
        missing = []
        for t in texts:
            vec = carried.get(text_hash(t))
            if vec is None:
                missing.append(t)
            else:
                out[t] = vec
        if missing:
            # Only when the payload lacks a vector (e.g. PostgreSQL indexes other fields).
            assert self.remote.index is not None and self.remote.index.embeddings is not None
            for t, v in zip(
                missing, self.remote.index.embeddings.embed_documents(missing), strict=True
            ):
                out[t] = list(v)
        return [out[t] for t in texts]

    # -- TTL and status ----------------------------------------------------------------------

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Run `sweep_ttl` every interval in a daemon thread, as langgraph's `PostgresStore`
        (no-op without a ``ttl`` config; idempotent; stopped by `close`). Returns a future that
        completes when the sweeper stops."""
        if self.ttl_config is None:
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            done.set_result(None)
            return done
        return self._ttl_sweeper.start(_sweep_interval(self.ttl_config, sweep_interval_minutes))

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the background sweeper; True if it stopped within `timeout` seconds."""
        return self._ttl_sweeper.stop(timeout)

    def sweep_ttl(self) -> int:
        """Delete expired items in both tiers; return how many distinct items were swept
        (PostgreSQL's count plus the transient ones swept locally)."""
        with self.db.read() as conn:
            expired = conn.execute(hb.LOCAL_EXPIRED_SQL, (time.time(),)).fetchall()
        transient = sum(
            1 for (ns,) in expired if self.router.tier(lb.decode_namespace(ns)) == "transient"
        )
        self.local.sweep_ttl()
        remote = 0
        if self._remote_usable():
            try:
                remote = self.remote.sweep_ttl()
                self._sweep_tombstones()
                self._mark_up()
            except psycopg.OperationalError as exc:
                self._mark_down(exc)
        return remote + transient

    def _sweep_tombstones(self) -> None:
        cutoff = time.time() - self.tombstone_retention
        query = hb.prepare_delete_old_tombstones(self.remote.schema)

        def plan() -> Any:
            yield Sql(query, (cutoff,))

        self.remote._run(plan)

    def status(self) -> HybridStoreStatus:
        """Degraded flag, pending writes, last error, routing; never a secret."""
        rep = self.replicator.status()
        with self.db.read() as conn:
            pending = int(conn.execute(hb.COUNT_PENDING_SQL, hb.STORE_KINDS).fetchone()[0])
        now = time.monotonic()
        with self._state_lock:
            down = self._down_at is not None
            error = self._last_error
        return HybridStoreStatus(
            degraded=down or (pending > 0 and rep["postgres_reachable"] is False),
            postgres_reachable=rep["postgres_reachable"] if not down else False,
            pending_writes=pending,
            last_error=rep["last_error"] or error,
            last_read_tier=self._last_read_tier,
            routing=self.router.describe(),
            cache_max_age=self.cache_max_age,
            cached_prefixes=sum(1 for at in self._fresh.values() if now - at < self.cache_max_age),
            invalidation="listen"
            if self._listener is not None and self._listener.listening
            else "cache_age",
            invalidations=self._listener.notices_for(self._listen_token)
            if self._listener is not None
            else 0,
        )

    # -- invalidation ------------------------------------------------------------------------

    def _start_listener(self) -> None:
        if self.invalidation != "listen" or self._listener is not None:
            return
        pool = self.remote._conn
        assert isinstance(pool, ConnectionPool)  # `_remote_target` refuses anything else
        # psycopg_pool lets both be callables (computed per connection).
        conninfo = pool.conninfo if isinstance(pool.conninfo, str) else pool.conninfo()
        kwargs = pool.kwargs if not callable(pool.kwargs) else pool.kwargs()
        self._listener, self._listen_token = InvalidationListener.acquire(
            (conninfo, kwargs or {}),
            self.remote.schema,
            self.instance_id,
            self._on_remote_change,
            retry_interval=self.retry_interval or 5.0,
        )

    def _on_remote_change(self, namespaces: list[tuple[str, ...]] | None) -> None:
        """Another instance wrote `namespaces` (``None``: anything): re-read the cached
        prefixes they touch, so the cache that answers in an outage is current."""
        cached = list(self._fresh)
        touched = (
            cached
            if namespaces is None
            else [
                p
                for p in cached
                if any(ns[: len(p)] == p or p[: len(ns)] == ns for ns in namespaces)
            ]
        )
        for prefix in touched:
            self._fresh.pop(prefix, None)  # if the refresh fails, the next read retries it
            try:
                self.refresh(prefix)
            except psycopg.OperationalError as exc:
                self._mark_down(exc)
                return


def _prefix_of(op: Op) -> tuple[str, ...]:
    if isinstance(op, GetOp):
        return tuple(op.namespace)
    if isinstance(op, SearchOp):
        return tuple(op.namespace_prefix)
    if isinstance(op, ListNamespacesOp):
        return lb.literal_prefix(tuple(op.match_conditions or ()))
    raise TypeError(f"unknown store operation {type(op).__name__}")


def _widen(op: Op) -> Op:
    """The remote half of a mixed read: the top ``offset + limit`` (merged and paged later)."""
    if isinstance(op, SearchOp):
        return op._replace(limit=op.limit + op.offset, offset=0)
    if isinstance(op, ListNamespacesOp):
        return op._replace(limit=op.limit + op.offset, offset=0)
    return op


def _refresh_plan(store: PgVectorStore, prefix: tuple[str, ...], limit: int) -> Any:
    query, params = hb.prepare_refresh_items(store, prefix, limit)
    rows = yield Sql(query, params)
    vectors: dict[tuple[tuple[str, ...], str, str], list[float]] = {}
    if store.index is not None and store.index.has_vectors and rows:
        vquery, vparams = hb.prepare_refresh_vectors(store, prefix)
        for r in (yield Sql(vquery, vparams)):
            vectors[(tuple(r["namespace"]), r["key"], r["field"])] = [float(x) for x in r["emb"]]
    return rows, vectors
