"""Where `CachedEmbeddings` keeps vectors: the local SQLite file or PostgreSQL.

An entry is keyed by (model name, sha256 of the text) and holds the vector as float64 bytes, so a
cached vector is exactly the one the model returned. Entries are immutable: a text embedded by one
model always gives the same vector, so concurrent writers of the same entry can both "win".

Backends:

* `SQLiteEmbeddingCache`: table ``lghm_embedding_cache`` in the shared local file (`LocalDB`).
  Its async methods run the SQLite work in a worker thread.
* `PostgresEmbeddingCache` (a connection or pool) and `AsyncPostgresEmbeddingCache` (an async
  connection or pool): table ``embedding_cache`` in a schema (default ``memory``), created by a
  numbered migration (`_migrations.run_migrations`) in `setup()` / `asetup()`.
* `TieredEmbeddingCache(local, remote)`: the local file first, PostgreSQL second (hybrid setup).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol

import numpy as np
import psycopg
from psycopg import AsyncConnection, Connection, sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from langgraph_hybrid_memory._migrations import Migration, arun_migrations, run_migrations
from langgraph_hybrid_memory._sqlite import LocalDB

__all__ = [
    "PG_MIGRATIONS",
    "AsyncPostgresEmbeddingCache",
    "EmbeddingCache",
    "PostgresEmbeddingCache",
    "SQLiteEmbeddingCache",
    "TieredEmbeddingCache",
    "text_hash",
]

logger = logging.getLogger("langgraph_hybrid_memory")

DEFAULT_SCHEMA = "memory"
MIGRATIONS_TABLE = "embedding_cache_migrations"
# SQLite's default limit on host parameters is 32766 since 3.32; stay far below it.
_LOOKUP_CHUNK = 500


def text_hash(text: str) -> str:
    """sha256 of the UTF-8 text, hex: the cache key's text part, and the ``text_hash`` column of
    the stores' vectors tables (so a cache entry can be joined to the vectors made from it).

    Examples:
        >>> text_hash("tea")[:16]
        'a9f74d1ec36ebdeb'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _to_bytes(vector: Sequence[float]) -> bytes:
    return np.asarray(vector, dtype="<f8").tobytes()


def _from_bytes(data: bytes) -> list[float]:
    return [float(x) for x in np.frombuffer(data, dtype="<f8")]


class EmbeddingCache(Protocol):
    """What `CachedEmbeddings` needs from a cache backend."""

    def lookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        """Vectors for the hashes that are cached (missing ones are left out)."""
        ...

    def store(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        """Add ``(hash, vector)`` entries; existing entries are kept."""
        ...

    async def alookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]: ...

    async def astore(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None: ...


# --- SQLite -------------------------------------------------------------------------------------

SQLITE_CREATE = (
    "CREATE TABLE IF NOT EXISTS lghm_embedding_cache ("
    "model TEXT NOT NULL, text_hash TEXT NOT NULL, dims INTEGER NOT NULL, "
    "vector BLOB NOT NULL, created_at REAL NOT NULL, PRIMARY KEY (model, text_hash))"
)
SQLITE_LOOKUP = (
    "SELECT text_hash, vector FROM lghm_embedding_cache WHERE model = ? AND text_hash IN "
)
SQLITE_STORE = (
    "INSERT OR IGNORE INTO lghm_embedding_cache (model, text_hash, dims, vector, created_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
SQLITE_COUNT = "SELECT model, count(*) FROM lghm_embedding_cache GROUP BY model ORDER BY model"


def _placeholders(n: int) -> str:
    return "(" + ",".join("?" * n) + ")"


class SQLiteEmbeddingCache:
    """Embedding cache in the local SQLite file.

    Examples:
        >>> import tempfile, pathlib
        >>> db = LocalDB.open(pathlib.Path(tempfile.mkdtemp()) / "memory.sqlite")
        >>> cache = SQLiteEmbeddingCache(db)
        >>> cache.store("m", [(text_hash("tea"), [0.5, 0.25])])
        >>> cache.lookup("m", [text_hash("tea"), text_hash("milk")])
        {'a9f74d1ec36ebdeb...': [0.5, 0.25]}
        >>> db.close()
    """

    def __init__(self, db: LocalDB) -> None:
        self.db = db
        self._ready = False
        self._lock = threading.Lock()

    def setup(self) -> None:
        """Create the cache table (idempotent)."""
        with self._lock:
            if not self._ready:
                with self.db.transaction() as conn:
                    conn.execute(SQLITE_CREATE)
                self._ready = True

    def lookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        self.setup()
        found: dict[str, list[float]] = {}
        with self.db.read() as conn:
            for start in range(0, len(hashes), _LOOKUP_CHUNK):
                chunk = list(hashes[start : start + _LOOKUP_CHUNK])
                query = SQLITE_LOOKUP + _placeholders(len(chunk))
                for h, blob in conn.execute(query, [model, *chunk]):
                    found[h] = _from_bytes(blob)
        return found

    def store(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        if not entries:
            return
        self.setup()
        now = time.time()
        with self.db.transaction() as conn:
            conn.executemany(
                SQLITE_STORE, [(model, h, len(v), _to_bytes(v), now) for h, v in entries]
            )

    async def alookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        return await asyncio.to_thread(self.lookup, model, hashes)

    async def astore(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        await asyncio.to_thread(self.store, model, entries)

    def counts(self) -> dict[str, int]:
        """Number of cached vectors per model."""
        self.setup()
        with self.db.read() as conn:
            return {model: n for model, n in conn.execute(SQLITE_COUNT)}


# --- PostgreSQL ---------------------------------------------------------------------------------

PG_MIGRATIONS: list[Migration] = [
    Migration(
        "CREATE TABLE IF NOT EXISTS embedding_cache ("
        "model text NOT NULL, text_hash text NOT NULL, dims integer NOT NULL, "
        "vector bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
        "PRIMARY KEY (model, text_hash))",
        description="embedding cache keyed by model and sha256 of the text",
    ),
]


def _prepare_lookup(schema: str) -> sql.Composed:
    return sql.SQL(
        "SELECT text_hash, vector FROM {}.embedding_cache WHERE model = %s AND text_hash = ANY(%s)"
    ).format(sql.Identifier(schema))


def _prepare_store(schema: str) -> sql.Composed:
    return sql.SQL(
        "INSERT INTO {}.embedding_cache (model, text_hash, dims, vector) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (model, text_hash) DO NOTHING"
    ).format(sql.Identifier(schema))


def _prepare_counts(schema: str) -> sql.Composed:
    return sql.SQL(
        "SELECT model, count(*) AS n FROM {}.embedding_cache GROUP BY model ORDER BY model"
    ).format(sql.Identifier(schema))


def _row_pair(row: Any) -> tuple[str, bytes]:
    if isinstance(row, dict):
        return str(row["text_hash"]), bytes(row["vector"])
    return str(row[0]), bytes(row[1])


def _count_pair(row: Any) -> tuple[str, int]:
    if isinstance(row, dict):
        return str(row["model"]), int(row["n"])
    return str(row[0]), int(row[1])


def _store_params(model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> list[Any]:
    return [(model, h, len(v), _to_bytes(v)) for h, v in entries]


class PostgresEmbeddingCache:
    """Embedding cache in PostgreSQL (sync connection or pool); async methods use a thread.

    Args:
        conn: an autocommit connection or a pool (see `_pg.get_connection` / `make_pool`).
        schema: where the ``embedding_cache`` table lives (created by `setup()`).

    Examples:
        Needs a server, so not run here::

            with get_connection(url) as conn:
                cache = PostgresEmbeddingCache(conn)
                cache.setup()
                emb = CachedEmbeddings(model, cache, "openai:text-embedding-3-small")
    """

    def __init__(
        self,
        conn: Connection[Any] | ConnectionPool[Any],
        *,
        schema: str = DEFAULT_SCHEMA,
    ) -> None:
        self.conn = conn
        self.schema = schema
        self._lock = threading.Lock()  # a single connection is not shared between threads

    @contextmanager
    def _connection(self) -> Iterator[Connection[Any]]:
        if isinstance(self.conn, ConnectionPool):
            with self.conn.connection() as conn:
                yield conn
        else:
            with self._lock:
                yield self.conn

    def setup(self) -> None:
        """Apply the cache's migrations (numbered, under an advisory lock)."""
        with self._connection() as conn:
            run_migrations(conn, PG_MIGRATIONS, schema=self.schema, table=MIGRATIONS_TABLE)

    def lookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        if not hashes:
            return {}
        with self._connection() as conn:
            rows = conn.execute(_prepare_lookup(self.schema), (model, list(hashes))).fetchall()
        return {h: _from_bytes(v) for h, v in map(_row_pair, rows)}

    def store(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        if not entries:
            return
        with self._connection() as conn, conn.cursor() as cur:
            cur.executemany(_prepare_store(self.schema), _store_params(model, entries))

    async def alookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        return await asyncio.to_thread(self.lookup, model, hashes)

    async def astore(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        await asyncio.to_thread(self.store, model, entries)

    def counts(self) -> dict[str, int]:
        with self._connection() as conn:
            rows = conn.execute(_prepare_counts(self.schema)).fetchall()
        return dict(map(_count_pair, rows))


class AsyncPostgresEmbeddingCache:
    """Embedding cache in PostgreSQL through an async connection or pool.

    Its sync `lookup`/`store` raise `TypeError`: use it with the async methods of
    `CachedEmbeddings` (``aembed_documents``), or use `PostgresEmbeddingCache`.
    """

    def __init__(
        self,
        conn: AsyncConnection[Any] | AsyncConnectionPool[Any],
        *,
        schema: str = DEFAULT_SCHEMA,
    ) -> None:
        self.conn = conn
        self.schema = schema
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if isinstance(self.conn, AsyncConnectionPool):
            async with self.conn.connection() as conn:
                yield conn
        else:
            async with self._lock:
                yield self.conn

    async def asetup(self) -> None:
        """Apply the cache's migrations (numbered, under an advisory lock)."""
        async with self._connection() as conn:
            await arun_migrations(conn, PG_MIGRATIONS, schema=self.schema, table=MIGRATIONS_TABLE)

    def lookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        raise TypeError(
            "AsyncPostgresEmbeddingCache serves async calls only (aembed_documents / "
            "aembed_query); use PostgresEmbeddingCache for sync code"
        )

    def store(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        self.lookup(model, [])

    async def alookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        if not hashes:
            return {}
        async with self._connection() as conn:
            cur = await conn.execute(_prepare_lookup(self.schema), (model, list(hashes)))
            rows = await cur.fetchall()
        return {h: _from_bytes(v) for h, v in map(_row_pair, rows)}

    async def astore(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        if not entries:
            return
        async with self._connection() as conn, conn.cursor() as cur:
            await cur.executemany(_prepare_store(self.schema), _store_params(model, entries))


# --- local first, then PostgreSQL ---------------------------------------------------------------


class TieredEmbeddingCache:
    """Two caches in series, for the hybrid setup: the local file first, PostgreSQL second.

    A lookup asks `local`, then `remote` for the misses, and copies remote hits into `local`. New
    entries go to both. The remote tier is only a cache: when it fails with a connection error
    (PostgreSQL down) the call goes on with the local tier, logs a warning and counts the failure
    in `remote_errors` (shown by ``status()``), so an outage costs at most a re-embedding.

    Examples:
        >>> import tempfile, pathlib
        >>> a = LocalDB.open(pathlib.Path(tempfile.mkdtemp()) / "a.sqlite")
        >>> b = LocalDB.open(pathlib.Path(tempfile.mkdtemp()) / "b.sqlite")
        >>> local, remote = SQLiteEmbeddingCache(a), SQLiteEmbeddingCache(b)
        >>> remote.store("m", [("h1", [1.0])])
        >>> TieredEmbeddingCache(local, remote).lookup("m", ["h1", "h2"])
        {'h1': [1.0]}
        >>> local.lookup("m", ["h1"])  # copied to the local tier
        {'h1': [1.0]}
        >>> a.close(); b.close()
    """

    def __init__(self, local: EmbeddingCache, remote: EmbeddingCache) -> None:
        self.local = local
        self.remote = remote
        self.remote_errors = 0

    def _remote_failed(self, exc: Exception, action: str) -> None:
        self.remote_errors += 1
        logger.warning(
            "embedding cache: PostgreSQL %s failed (%s); using the local cache only",
            action,
            type(exc).__name__,
        )

    def lookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        found = self.local.lookup(model, hashes)
        missing = [h for h in hashes if h not in found]
        if missing:
            try:
                remote = self.remote.lookup(model, missing)
            except psycopg.OperationalError as exc:
                self._remote_failed(exc, "lookup")
                remote = {}
            if remote:
                self.local.store(model, list(remote.items()))
                found.update(remote)
        return found

    def store(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        self.local.store(model, entries)
        try:
            self.remote.store(model, entries)
        except psycopg.OperationalError as exc:
            self._remote_failed(exc, "store")

    async def alookup(self, model: str, hashes: Sequence[str]) -> dict[str, list[float]]:
        found = await self.local.alookup(model, hashes)
        missing = [h for h in hashes if h not in found]
        if missing:
            try:
                remote = await self.remote.alookup(model, missing)
            except psycopg.OperationalError as exc:
                self._remote_failed(exc, "lookup")
                remote = {}
            if remote:
                await self.local.astore(model, list(remote.items()))
                found.update(remote)
        return found

    async def astore(self, model: str, entries: Sequence[tuple[str, Sequence[float]]]) -> None:
        await self.local.astore(model, entries)
        try:
            await self.remote.astore(model, entries)
        except psycopg.OperationalError as exc:
            self._remote_failed(exc, "store")
