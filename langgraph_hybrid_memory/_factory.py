"""`open_memory()` / `aopen_memory()`: the whole memory for one `MEMORY_TYPE`, in one call.

=============  =====================================  ============================================
MEMORY_TYPE    checkpointer                           store
=============  =====================================  ============================================
``memory``     ``InMemorySaver``                      ``InMemoryStore`` (vector index if a model)
``sqlite``     ``SqliteSaver`` / ``AsyncSqliteSaver``  `LocalStore` on the same file
``postgres``   ``PostgresSaver`` / ``AsyncPostgresSaver``  `PgVectorStore` / `AsyncPgVectorStore`
``hybrid``     `HybridSaver` / `AsyncHybridSaver`      `HybridStore` / `AsyncHybridStore`
=============  =====================================  ============================================

``sqlite`` keeps everything in ``MemoryConfig.sqlite_path``. langgraph's ``SqliteSaver`` opens its
own connection to that file: its cursor commits whatever transaction is open on its connection,
so sharing the `LocalDB` connection would let it commit half of a `LocalStore` batch. Two
connections to one WAL file are safe; each waits up to 5 s (``busy_timeout``) for the other's
write lock. Embeddings are cached in the same file (`SQLiteEmbeddingCache`).

``postgres`` puts everything in PostgreSQL: ``DATABASE_URL`` (or the ``POSTGRES_*`` parts), else the
embedded server under ``MEMORY_DATA_DIR`` (with a warning that says how to use a real one). The
checkpoint tables are langgraph's ``PostgresSaver`` tables, created by its own numbered
migrations run under our advisory lock (so pods starting together do not race); the hybrid
checkpointer flushes into the very same tables. An unreachable database is an error at once
(`PostgresUnavailableError`): nothing falls back to another backend. Embeddings are cached in
PostgreSQL (`PostgresEmbeddingCache`).

``hybrid`` (the default) puts the checkpointer's local tier, the store's cache and transient
namespaces, the shared outbox and the local embedding cache in ``MemoryConfig.sqlite_path``, and
the same PostgreSQL as ``postgres`` (configured or embedded) behind one pool and one replicator.
Embeddings are cached in both (`TieredEmbeddingCache`: the file first, then PostgreSQL). An
unreachable PostgreSQL is not an error here: the memory starts degraded (local tier only, logged
as ``hybrid_memory_started_degraded`` and shown by ``status()["degraded"]``) and everything
written meanwhile is sent when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, closing, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from langchain_core.embeddings import Embeddings
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from langgraph_hybrid_memory._config import MemoryConfig, redact_conninfo
from langgraph_hybrid_memory._embedded import EmbeddedPostgres
from langgraph_hybrid_memory._embedding_cache import (
    AsyncPostgresEmbeddingCache,
    EmbeddingCache,
    PostgresEmbeddingCache,
    SQLiteEmbeddingCache,
    TieredEmbeddingCache,
)
from langgraph_hybrid_memory._embeddings import (
    CachedEmbeddings,
    EmbedSpec,
    embedding_dims,
    resolve_embeddings,
)
from langgraph_hybrid_memory._migrations import arun_migrations, run_migrations
from langgraph_hybrid_memory._outage import note_down, server_label
from langgraph_hybrid_memory._pg import get_connection, make_async_pool, make_pool
from langgraph_hybrid_memory._progress import progress
from langgraph_hybrid_memory._session import AsyncSessionLog, SessionLog
from langgraph_hybrid_memory._sqlite import BUSY_TIMEOUT_MS, LocalDB
from langgraph_hybrid_memory.checkpoint import HybridSaver
from langgraph_hybrid_memory.checkpoint._saver_retention import (
    PostgresSaverRetention,
    SaverRetention,
    SqliteSaverRetention,
)
from langgraph_hybrid_memory.checkpoint.aio import AsyncHybridSaver
from langgraph_hybrid_memory.checkpoint.base import (
    POSTGRES_MIGRATIONS,
    POSTGRES_MIGRATIONS_TABLE,
)
from langgraph_hybrid_memory.errors import ConfigError, PostgresUnavailableError
from langgraph_hybrid_memory.hybridstore import HybridStore
from langgraph_hybrid_memory.hybridstore.aio import AsyncHybridStore
from langgraph_hybrid_memory.localstore import LocalIndexConfig, LocalStore
from langgraph_hybrid_memory.store import PgVectorIndexConfig, PgVectorStore
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

if TYPE_CHECKING:
    from langgraph_hybrid_memory.admin import (
        AdminContext,
        ForgetReport,
        MemoryHit,
        PruneReport,
        StatsReport,
        StatusReport,
        SweepReport,
        ThreadInfo,
    )

__all__ = ["Memory", "aopen_memory", "open_memory"]

logger = logging.getLogger("langgraph_hybrid_memory")


@dataclass
class Memory:
    """The checkpointer and store of one memory setup, from `open_memory` / `aopen_memory`.

    Pass both to ``graph.compile(checkpointer=memory.checkpointer, store=memory.store)``.

    Examples:
        >>> from langgraph_hybrid_memory import MemoryConfig, open_memory
        >>> with open_memory(MemoryConfig(memory_type="memory", embeddings="none")) as memory:
        ...     memory.store.put(("users", "u1"), "pref", {"text": "likes tea"})
        ...     memory.status()["store"]
        'InMemoryStore'
    """

    config: MemoryConfig
    checkpointer: BaseCheckpointSaver[Any]
    store: BaseStore
    embeddings: CachedEmbeddings | None = None
    """The (cached) embedding model the store uses, or None (keyword search only)."""
    _extra_status: Callable[[], dict[str, Any]] | None = field(default=None, repr=False)
    _pg_url: str | None = field(default=None, repr=False)
    sessions: SessionLog | AsyncSessionLog | None = None
    """The session interaction log on this setup's tier (`SessionLog` from `open_memory`,
    `AsyncSessionLog` from `aopen_memory`): PostgreSQL in ``postgres``/``hybrid`` mode, the
    local file in ``sqlite`` mode, process memory in ``memory`` mode."""
    retention: SaverRetention | None = None
    """The checkpoint retention policy's sweeper beside a langgraph saver
    (``MEMORY_TYPE=postgres`` or ``sqlite`` with ``MEMORY_CHECKPOINT_TTL_MINUTES``);
    `HybridSaver` runs its own."""

    def status(self) -> dict[str, Any]:
        """What is running, for logs and the CLI. Never contains a secret."""
        out: dict[str, Any] = {
            "memory_type": self.config.memory_type,
            "data_dir": None if self.config.memory_type == "memory" else str(self.config.data_dir),
            "checkpointer": type(self.checkpointer).__name__,
            "store": type(self.store).__name__,
            "degraded": False,
        }
        if self.embeddings is None:
            out["embeddings"] = {"model": None, "search": "keyword" if self._keyword() else None}
        else:
            stats = self.embeddings.stats
            out["embeddings"] = {
                "model": self.embeddings.model_name,
                "calls": stats.calls,
                "texts_seen": stats.texts_seen,
                "texts_embedded": stats.texts_embedded,
                "cache_hits": stats.cache_hits,
            }
        if self._extra_status is not None:
            out.update(self._extra_status())
        if self.retention is not None:
            out["retention"] = self.retention.status()
        out.setdefault("retention", None)  # hybrid: its saver's (see _hybrid_status)
        return out

    # -- operations (`langgraph_hybrid_memory.admin`) on this memory -------------------------

    def admin(self) -> AdminContext:
        """An `AdminContext` on this memory's configuration, PostgreSQL and model, for the
        operations of `langgraph_hybrid_memory.admin`."""
        from langgraph_hybrid_memory.admin import AdminContext

        return AdminContext(self.config, embeddings=self.embeddings, database_url=self._pg_url)

    def forget_user(self, user: str, *, dry_run: bool = False) -> ForgetReport:
        """Erase one user everywhere (memories, threads, outbox entries, cache rows) and return
        what was removed: `langgraph_hybrid_memory.admin.forget_user`."""
        from langgraph_hybrid_memory.admin import forget_user

        return forget_user(self.admin(), user, dry_run=dry_run)

    def stats(self) -> StatsReport:
        """Counts per tier: `langgraph_hybrid_memory.admin.stats`."""
        from langgraph_hybrid_memory.admin import stats

        return stats(self.admin())

    def health(self) -> StatusReport:
        """Migrations, indexes, outbox and problems: `langgraph_hybrid_memory.admin.status`."""
        from langgraph_hybrid_memory.admin import status

        return status(self.admin())

    def recent(self, user: str | None = None, *, limit: int = 10) -> list[MemoryHit]:
        """The latest memories: `langgraph_hybrid_memory.admin.recent`."""
        from langgraph_hybrid_memory.admin import recent

        return recent(self.admin(), user=user, limit=limit)

    def user_threads(self, user: str, *, limit: int = 100) -> list[ThreadInfo]:
        """A user's threads with checkpoint counts per tier and their latest state."""
        from langgraph_hybrid_memory.admin import user_threads

        # An async saver's sync methods must not be driven from here (its loop may be ours).
        sync_saver = (
            None if type(self.checkpointer).__name__.startswith("Async") else self.checkpointer
        )
        return user_threads(self.admin(), user, saver=sync_saver, limit=limit)

    def prune(
        self,
        *,
        keep_last: int | None = None,
        older_than: float | str | None = None,
        apply: bool = False,
    ) -> PruneReport:
        """Delete old checkpoints (a dry run unless `apply`): `admin.prune`."""
        from langgraph_hybrid_memory.admin import prune

        return prune(self.admin(), keep_last=keep_last, older_than=older_than, apply=apply)

    def sweep(self, *, dry_run: bool = False) -> SweepReport:
        """Delete expired memories on both tiers and apply the checkpoint retention policy
        (with this memory's own `HybridSaver`): `admin.sweep`."""
        from langgraph_hybrid_memory.admin._sweep import sweep

        saver = self.checkpointer if isinstance(self.checkpointer, HybridSaver) else None
        return sweep(self.admin(), dry_run=dry_run, checkpointer=saver or self.retention)

    def _keyword(self) -> bool:
        return isinstance(self.store, LocalStore) and self.store.search_mode == "keyword"


def _sessions(cfg: MemoryConfig, log: SessionLog, *, setup: bool = True) -> SessionLog:
    if setup:
        log.setup()
    return log


def _session_kw(cfg: MemoryConfig) -> dict[str, Any]:
    return {
        "ttl_hours": cfg.session_ttl_hours,
        "max_context_length": cfg.session_max_context_length,
    }


def _async_sessions(memory: Memory) -> Memory:
    """`aopen_memory` hands out the awaitable twin of the session log."""
    if isinstance(memory.sessions, SessionLog):
        memory.sessions = AsyncSessionLog(memory.sessions)
    return memory


def _resolve(config: MemoryConfig, override: EmbedSpec | None) -> Embeddings | None:
    return resolve_embeddings(override if override is not None else config.embeddings_spec())


def _cached(
    inner: Embeddings | None, db: LocalDB | None, cache: EmbeddingCache | None = None
) -> CachedEmbeddings | None:
    if inner is None or isinstance(inner, CachedEmbeddings):
        return inner
    if cache is None and db is not None:
        cache = SQLiteEmbeddingCache(db)
    return CachedEmbeddings(inner, cache)


def _memory_parts(config: MemoryConfig, embeddings: EmbedSpec | None) -> Memory:
    cached = _cached(_resolve(config, embeddings), None)
    index: Any = None if cached is None else {"dims": embedding_dims(cached), "embed": cached}
    memory = Memory(config, InMemorySaver(), InMemoryStore(index=index), cached)
    memory.sessions = SessionLog.in_memory(**_session_kw(config))
    return memory


def _local_store(
    db: LocalDB, inner: Embeddings | None
) -> tuple[LocalStore, CachedEmbeddings | None]:
    cached = _cached(inner, db)
    # Without a model the store still searches: keyword (FTS5) over the whole value.
    index: LocalIndexConfig = (
        {"fields": ["$"], "search_mode": "keyword"} if cached is None else {"embed": cached}
    )
    return LocalStore(db, index=index), cached


def _check_data_dir(config: MemoryConfig) -> None:
    if config.data_dir.exists() and not config.data_dir.is_dir():
        raise ConfigError(
            f"MEMORY_DATA_DIR={str(config.data_dir)!r} is a file, not a directory; point it at a "
            "directory (it is created if missing)"
        )


def _open_local_file(cfg: MemoryConfig) -> LocalDB:
    """The local SQLite file; a first run says where it is being created."""
    if not cfg.sqlite_path.exists():
        progress(
            f"creating the local memory file {cfg.sqlite_path} (MEMORY_DATA_DIR moves it; "
            "default: .memory under the current directory)"
        )
    return LocalDB.open(cfg.sqlite_path)


def _local_status(config: MemoryConfig, store: LocalStore) -> Callable[[], dict[str, Any]]:
    def status() -> dict[str, Any]:
        return {"sqlite_path": str(config.sqlite_path), "local_store": store.stats()}

    return status


# How long `open_memory` waits for PostgreSQL before saying it is unreachable.
CONNECT_TIMEOUT_SECONDS = 10
# The schema of the checkpoint tables: PostgresSaver uses unqualified names, so `public` is where a
# plain PostgresSaver on the same database finds them.
CHECKPOINT_SCHEMA = "public"


# Data directories this process has already announced the embedded server of: the warning is
# said once per process, and only by the process that started the server (a demo's or a test's
# child processes that join a running server stay quiet).
_announced: set[str] = set()


def _postgres_url(cfg: MemoryConfig, stack: ExitStack | AsyncExitStack) -> str:
    """The configured PostgreSQL, or the embedded one (started now, stopped with `stack`)."""
    if cfg.database_url is not None:
        return cfg.database_url
    embedded = EmbeddedPostgres(cfg.embedded_pgdata)
    url = embedded.start()
    stack.callback(embedded.stop)
    where = str(cfg.embedded_pgdata)
    if embedded.started_here and where not in _announced:
        _announced.add(where)
        logger.warning(
            "no DATABASE_URL or POSTGRES_HOST set: using the embedded PostgreSQL + pgvector in "
            "%s; set DATABASE_URL=postgresql://user:password@host:5432/db to use your own server",
            where,
        )
    return url


def _unreachable(cfg: MemoryConfig, url: str, exc: BaseException) -> PostgresUnavailableError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return PostgresUnavailableError(
        f"MEMORY_TYPE={cfg.memory_type} needs PostgreSQL, which is unreachable at "
        f"{redact_conninfo(url)} ({reason}); check DATABASE_URL / POSTGRES_HOST and that the "
        "server is up. Nothing falls back to another backend."
    )


def _check_reachable(cfg: MemoryConfig, url: str) -> None:
    # `get_connection` raises an error that holds no password (psycopg's own `pgconn` does);
    # ours is raised outside the `except`, so not even that one is kept as `__context__`.
    try:
        with get_connection(url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1")
        return
    except PostgresUnavailableError as exc:
        error = _unreachable(cfg, url, exc)
    raise error


def _pg_index(cached: CachedEmbeddings | None) -> PgVectorIndexConfig:
    if cached is None:
        # Without a model the store still searches: PostgreSQL full-text over the whole value.
        return {"fields": ["$"], "search_mode": "keyword"}
    return {"dims": embedding_dims(cached), "embed": cached}


def _pg_status(cfg: MemoryConfig, url: str) -> Callable[[], dict[str, Any]]:
    where = "embedded" if cfg.uses_embedded_postgres else redact_conninfo(url)

    def status() -> dict[str, Any]:
        out: dict[str, Any] = {"postgres": where}
        if cfg.uses_embedded_postgres:
            out["embedded_pgdata"] = str(cfg.embedded_pgdata)
        return out

    return status


def _open_postgres(cfg: MemoryConfig, inner: Embeddings | None, stack: ExitStack) -> Memory:
    from langgraph.checkpoint.postgres import PostgresSaver

    url = _postgres_url(cfg, stack)
    _check_reachable(cfg, url)
    pool = make_pool(url, max_size=cfg.pool_size, name="lghm")
    stack.callback(pool.close)
    read_pool = None
    if cfg.read_url is not None:
        _check_reachable(cfg, cfg.read_url)
        read_pool = make_pool(cfg.read_url, max_size=cfg.pool_size, name="lghm-read")
        stack.callback(read_pool.close)
    cache = PostgresEmbeddingCache(pool)
    cached = _cached(inner, None, cache)
    store = PgVectorStore(pool, index=_pg_index(cached), read_conn=read_pool)
    store.setup()  # first: it checks pgvector before anything is created
    cache.setup()
    with pool.connection() as conn:
        run_migrations(
            conn, POSTGRES_MIGRATIONS, schema=CHECKPOINT_SCHEMA, table=POSTGRES_MIGRATIONS_TABLE
        )
    memory = Memory(cfg, PostgresSaver(pool), store, cached, _pg_status(cfg, url), _pg_url=url)
    memory.sessions = _sessions(cfg, SessionLog.postgres(pool, **_session_kw(cfg)))
    memory.retention = _saver_retention(cfg, url, stack)
    return memory


def _saver_retention(
    cfg: MemoryConfig, url: str | None, stack: ExitStack | AsyncExitStack
) -> SaverRetention | None:
    """The checkpoint policy beside langgraph's PostgresSaver (`url`) or SqliteSaver (None: the
    local file); its background sweeper starts now when an interval is set, closed with the
    memory."""
    if not cfg.checkpoint_ttl:
        return None
    ttl = cast(Any, cfg.checkpoint_ttl)
    retention: SaverRetention = (
        PostgresSaverRetention(url, ttl) if url else SqliteSaverRetention(cfg.sqlite_path, ttl)
    )
    timeout = cfg.close_timeout
    _defer(stack, lambda: retention.close(timeout))
    return retention


async def _aopen_postgres(
    cfg: MemoryConfig, inner: Embeddings | None, stack: AsyncExitStack
) -> Memory:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    url = _postgres_url(cfg, stack)
    _check_reachable(cfg, url)
    pool = make_async_pool(url, max_size=cfg.pool_size, name="lghm")
    await pool.open()
    stack.push_async_callback(pool.close)
    read_pool = None
    if cfg.read_url is not None:
        _check_reachable(cfg, cfg.read_url)
        read_pool = make_async_pool(cfg.read_url, max_size=cfg.pool_size, name="lghm-read")
        await read_pool.open()
        stack.push_async_callback(read_pool.close)
    cache = AsyncPostgresEmbeddingCache(pool)
    cached = _cached(inner, None, cache)
    store = AsyncPgVectorStore(pool, index=_pg_index(cached), read_conn=read_pool)
    await store.setup()  # first: it checks pgvector before anything is created
    await cache.asetup()
    async with pool.connection() as conn:
        await arun_migrations(
            conn, POSTGRES_MIGRATIONS, schema=CHECKPOINT_SCHEMA, table=POSTGRES_MIGRATIONS_TABLE
        )
    memory = Memory(cfg, AsyncPostgresSaver(pool), store, cached, _pg_status(cfg, url), _pg_url=url)
    # AsyncSessionLog runs the sync log in worker threads: it needs a (small) sync pool.
    session_pool = make_pool(url, max_size=2, name="lghm-sessions")
    stack.push_async_callback(asyncio.to_thread, session_pool.close)
    log = SessionLog.postgres(session_pool, **_session_kw(cfg))
    await asyncio.to_thread(log.setup)
    memory.sessions = AsyncSessionLog(log)
    memory.retention = _saver_retention(cfg, url, stack)
    return memory


# Borrowing a pooled connection waits this long in the hybrid setup: while PostgreSQL is down the
# store answers from its cache and the saver from its file after this wait, not psycopg_pool's 30 s.
HYBRID_POOL_TIMEOUT_SECONDS = 5.0


def _hybrid_reachable(cfg: MemoryConfig, url: str) -> bool:
    """Whether PostgreSQL answers; if not, the hybrid setup starts degraded (and says so)."""
    try:
        with get_connection(url, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
            conn.execute("SELECT 1")
    except PostgresUnavailableError as exc:
        # The outage's one readable warning (`_outage`); the parts' later reports are DEBUG.
        note_down(
            server_label(url),
            " ".join(str(exc).split()),
            source="start",
            event="hybrid_memory_started_degraded",
            local_file=cfg.sqlite_path,
        )
        return False
    return True


def _defer(stack: ExitStack | AsyncExitStack, close: Callable[[], object]) -> None:
    """Close on exit; from an async stack in a worker thread (closing drains the outbox)."""
    if isinstance(stack, AsyncExitStack):
        stack.push_async_callback(asyncio.to_thread, close)
    else:
        stack.callback(close)


def _hybrid_parts(
    cfg: MemoryConfig,
    inner: Embeddings | None,
    stack: ExitStack | AsyncExitStack,
    saver_cls: type[HybridSaver],
    store_cls: type[HybridStore],
) -> Memory:
    """HybridSaver + HybridStore on one local file, one PostgreSQL pool and one replicator."""
    url = _postgres_url(cfg, stack)
    reachable = _hybrid_reachable(cfg, url)
    db = _open_local_file(cfg)
    stack.callback(db.close)
    pool = make_pool(
        url,
        max_size=cfg.pool_size,
        name="lghm",
        timeout=HYBRID_POOL_TIMEOUT_SECONDS,
        connect_timeout=round(HYBRID_POOL_TIMEOUT_SECONDS),
    )
    _defer(stack, pool.close)
    local_cache = SQLiteEmbeddingCache(db)
    local_cache.setup()
    cache: EmbeddingCache = local_cache
    remote_cache = PostgresEmbeddingCache(pool) if reachable else None
    if remote_cache is not None:
        cache = TieredEmbeddingCache(local_cache, remote_cache)
    cached = _cached(inner, db, cache)
    # One replicator per (file, pool): the saver creates it, the store shares it.
    saver = saver_cls(
        db,
        pool,
        ttl=cast(Any, cfg.checkpoint_ttl),
        close_timeout=cfg.close_timeout,
        lease_wait=cfg.lease_wait,
    )
    _defer(stack, saver.close)
    # Known now: status() says so before the first flush (not "postgres_reachable: None").
    saver.replicator.note_reachability(reachable)
    store = store_cls(db, pool, index=_pg_index(cached), close_timeout=cfg.close_timeout)
    _defer(stack, store.close)
    # The store first: it checks pgvector before anything is created, so a server without it
    # fails with nothing made (PgVectorMissingError names MEMORY_EMBEDDINGS=none).
    # The base classes' sync setup: this runs in a worker thread for the async classes too,
    # whose own `setup` is a coroutine (as langgraph's async savers and stores).
    HybridStore.setup(store, remote=reachable)
    if reachable:
        assert remote_cache is not None
        remote_cache.setup()
        HybridSaver.setup(saver)
    memory = Memory(cfg, saver, store, cached, _hybrid_status(cfg, url, saver, store), _pg_url=url)
    # On PostgreSQL, as the memories; while it is unreachable the log's calls raise (and
    # health_check() says so) rather than keep a second, local history.
    memory.sessions = _sessions(cfg, SessionLog.postgres(pool, **_session_kw(cfg)), setup=reachable)
    return memory


def _hybrid_status(
    cfg: MemoryConfig, url: str, saver: HybridSaver, store: HybridStore
) -> Callable[[], dict[str, Any]]:
    pg = _pg_status(cfg, url)

    def status() -> dict[str, Any]:
        checkpointer = saver.status()
        saver_status = dict(checkpointer)
        store_status = dict(store.status())
        # Saver and store share one replicator (one outbox file), so one count covers both.
        dead = checkpointer["dead_letters"]
        return {
            **pg(),
            "sqlite_path": str(cfg.sqlite_path),
            # Degraded still serves every call; unhealthy means an acknowledged write is stuck.
            "healthy": dead == 0,
            "dead_letters": dead,
            # Offline work on threads another instance took over: kept locally as branches.
            "thread_conflicts": checkpointer["thread_conflicts"],
            "degraded": bool(
                store_status["degraded"]
                or saver_status["write_through_degraded"]
                or saver_status["postgres_reachable"] is False
            ),
            "checkpointer_status": saver_status,
            "store_status": store_status,
            "retention": saver_status["retention"],
        }

    return status


@contextmanager
def open_memory(
    config: MemoryConfig | None = None, *, embeddings: EmbedSpec | None = None
) -> Iterator[Memory]:
    """Build the checkpointer and store for ``config.memory_type`` (default: from the
    environment), run their `setup()`, and close them on exit.

    Args:
        config: the settings; `MemoryConfig.from_env()` when None.
        embeddings: a LangChain `Embeddings` or a function to use instead of
            ``config.embeddings`` (``MEMORY_EMBEDDINGS``).

    Raises:
        ConfigError: a bad setting (named, with the accepted values).
        PostgresUnavailableError: ``MEMORY_TYPE=postgres`` and the database is unreachable
            (``hybrid`` starts degraded instead: local tier only, logged and in `status()`).

    Examples:
        >>> import tempfile
        >>> from langgraph_hybrid_memory import MemoryConfig, open_memory
        >>> cfg = MemoryConfig(memory_type="sqlite", data_dir=tempfile.mkdtemp(), embeddings="none")
        >>> with open_memory(cfg) as memory:
        ...     memory.store.put(("users", "u1"), "pref", {"text": "likes green tea"})
        ...     [i.key for i in memory.store.search(("users",), query="tea")]
        ['pref']
    """
    cfg = MemoryConfig.from_env() if config is None else config
    if cfg.memory_type == "memory":
        yield _memory_parts(cfg, embeddings)
        return
    if cfg.memory_type == "postgres":
        _check_data_dir(cfg)
        inner = _resolve(cfg, embeddings)
        with ExitStack() as stack:
            yield _open_postgres(cfg, inner, stack)
        return
    if cfg.memory_type == "hybrid":
        _check_data_dir(cfg)
        inner = _resolve(cfg, embeddings)
        with ExitStack() as stack:
            yield _hybrid_parts(cfg, inner, stack, HybridSaver, HybridStore)
        return
    _check_data_dir(cfg)
    inner = _resolve(cfg, embeddings)  # bad settings fail before any file is made
    with ExitStack() as stack:
        db = _open_local_file(cfg)
        stack.callback(db.close)
        store, cached = _local_store(db, inner)
        stack.callback(store.close)
        store.setup()
        conn = stack.enter_context(
            closing(
                sqlite3.connect(
                    str(cfg.sqlite_path), check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
                )
            )
        )
        from langgraph.checkpoint.sqlite import SqliteSaver

        saver = SqliteSaver(conn)
        saver.setup()
        memory = Memory(cfg, saver, store, cached, _local_status(cfg, store))
        memory.sessions = _sessions(cfg, SessionLog.sqlite(db, **_session_kw(cfg)))
        memory.retention = _saver_retention(cfg, None, stack)
        yield memory


@asynccontextmanager
async def aopen_memory(
    config: MemoryConfig | None = None, *, embeddings: EmbedSpec | None = None
) -> AsyncIterator[Memory]:
    """Async twin of `open_memory`: the checkpointer has async methods (``AsyncSqliteSaver`` for
    ``sqlite``) for ``graph.ainvoke`` / ``astream``."""
    cfg = MemoryConfig.from_env() if config is None else config
    if cfg.memory_type == "memory":
        yield _async_sessions(_memory_parts(cfg, embeddings))
        return
    if cfg.memory_type == "postgres":
        _check_data_dir(cfg)
        inner = _resolve(cfg, embeddings)
        async with AsyncExitStack() as stack:
            yield await _aopen_postgres(cfg, inner, stack)
        return
    if cfg.memory_type == "hybrid":
        _check_data_dir(cfg)
        inner = _resolve(cfg, embeddings)
        async with AsyncExitStack() as stack:
            yield _async_sessions(
                await asyncio.to_thread(
                    _hybrid_parts, cfg, inner, stack, AsyncHybridSaver, AsyncHybridStore
                )
            )
        return
    _check_data_dir(cfg)
    inner = _resolve(cfg, embeddings)  # bad settings fail before any file is made
    async with AsyncExitStack() as stack:
        db = _open_local_file(cfg)
        stack.callback(db.close)
        store, cached = _local_store(db, inner)
        stack.callback(store.close)
        await store.asetup()
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        conn = await stack.enter_async_context(
            aiosqlite.connect(str(cfg.sqlite_path), timeout=BUSY_TIMEOUT_MS / 1000)
        )
        saver = AsyncSqliteSaver(conn)
        await saver.setup()
        memory = Memory(cfg, saver, store, cached, _local_status(cfg, store))
        memory.retention = _saver_retention(cfg, None, stack)
        memory.sessions = AsyncSessionLog(_sessions(cfg, SessionLog.sqlite(db, **_session_kw(cfg))))
        yield memory
