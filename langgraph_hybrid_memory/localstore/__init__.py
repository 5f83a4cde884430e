"""`LocalStore`: a langgraph `BaseStore` on the local SQLite file.

It serves ``MEMORY_TYPE=sqlite`` and the local tier of the hybrid store. Same contract as
langgraph's stores (and `PgVectorStore`): namespaces, filters (`_filters` semantics), TTL, and
search by vector, keyword (SQLite FTS5, BM25) or both fused by reciprocal rank fusion.

Vectors are scored with numpy by an exact scan: sqlite-vec needs ``enable_load_extension``, which
some Python builds (including the pyenv one these machines carry) lack, and an exact scan is both
correct under any filter and fast enough at local-tier sizes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from langgraph_hybrid_memory._embeddings import embedding_dims, resolve_embeddings, text_hash
from langgraph_hybrid_memory._filters import matches
from langgraph_hybrid_memory._index_config import langgraph_index_config
from langgraph_hybrid_memory._quality import (
    QUALITY_INDEX_KEYS,
    Candidate,
    QualityConfig,
    check_importance,
    content_hash,
    fetch_sizes,
    rank_and_collapse,
    resolve_quality,
)
from langgraph_hybrid_memory._quality_schema import SQLITE_QUALITY_TABLES
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory._sweeper import SweeperThread
from langgraph_hybrid_memory._usage import (
    USAGE_INDEX_KEYS,
    UsageRecorder,
    resolve_usage,
    sorted_hits,
)
from langgraph_hybrid_memory._validation import ValidatingStore, resolve_limits
from langgraph_hybrid_memory.errors import ConfigError, MissingExtraError
from langgraph_hybrid_memory.localstore import base as _b
from langgraph_hybrid_memory.localstore.base import (
    DistanceType,
    LocalIndexConfig,
    SearchMode,
)

__all__ = ["LocalIndexConfig", "LocalStore"]

logger = logging.getLogger(__name__)

DEFAULT_SWEEP_BATCH = 1000
DEFAULT_SWEEP_INTERVAL_MINUTES = 5.0

_Row = tuple[Any, ...]


def _refreshable(row: _Row, now: float) -> bool:
    """An item with a TTL that has not expired yet (reading an expired item never revives it)."""
    return row[6] is not None and row[7] is not None and row[7] > now


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


class LocalStore(ValidatingStore):
    """A langgraph `BaseStore` on a local SQLite file, with vector, keyword and hybrid search.

    Pass a path (the store opens the process's shared `LocalDB` for it and closes it in `close()`)
    or a `LocalDB` you manage. Tables are created on first use (or by `setup()`).

    Batches follow langgraph's contract: one result per op in order; reads see the state before
    the batch's writes; the last write to a key wins; all writes of a batch commit in one SQLite
    transaction, and a batch with any invalid op raises before anything is written.

    Search with a ``query`` (needs ``index``) ranks by ``search_mode``:

    * ``"vector"``: best similarity over the item's vectors (one per indexed text); the score is
      the cosine similarity, minus the L2 distance, or the dot product (``distance_type``).
    * ``"keyword"``: SQLite FTS5 over the indexed texts (any query word, Porter stemming); the
      score is the BM25 relevance (higher is better).
    * ``"hybrid"`` (default with a model): both rankings fused by reciprocal rank fusion,
      score = sum over the two rankings of ``1 / (60 + rank)``.

    Only items that rank (have a vector, or match a query word) are returned for a query. Without
    a query, items come newest first (``updated_at``) with ``score=None``.

    Async methods run the SQLite work in a worker thread (``asyncio.to_thread``) and call the
    model's async methods on the event loop, so the loop is never blocked by disk or model.

    Warning:
        Expired items are hidden at once (``ttl={"omit_expired": False}`` shows them until the
        next sweep, as langgraph's stores do by default). Changing the embedding model of an
        existing file needs a new file: stored vectors are not re-embedded.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "memory.sqlite"
        >>> index = {"fields": ["text"], "search_mode": "keyword"}  # no model needed
        >>> with LocalStore.from_conn_string(path, index=index) as store:
        ...     store.put(("users", "u1"), "tea", {"text": "likes green tea"})
        ...     store.put(("users", "u1"), "car", {"text": "drives an old car"})
        ...     [item.key for item in store.search(("users",), query="tea")]
        ['tea']

        With a model (``"local"``, ``"openai:text-embedding-3-small"`` or any LangChain
        `Embeddings`) the default search mode is hybrid::

            LocalStore(path, index={"embed": "local", "fields": ["text"]})
    """

    supports_ttl = True

    def __init__(
        self,
        db: LocalDB | str | Path,
        *,
        index: LocalIndexConfig | None = None,
        ttl: TTLConfig | None = None,
        sweep_batch_size: int = DEFAULT_SWEEP_BATCH,
        max_value_bytes: int | None = None,
    ) -> None:
        self._limits = resolve_limits(max_value_bytes)
        self._owns_db = not isinstance(db, LocalDB)
        self.db: LocalDB = LocalDB.open(db) if not isinstance(db, LocalDB) else db
        self.ttl_config = _check_ttl_config(ttl)
        self.sweep_batch_size = sweep_batch_size
        self.index_config: LocalIndexConfig | None = None
        self.embeddings: Embeddings | None = None
        self.dims: int | None = None
        self.search_mode: SearchMode | None = None
        self.distance_type: DistanceType = "cosine"
        self._fields: _b.TokenizedFields | None = None
        self.quality = QualityConfig()
        self._usage: UsageRecorder | None = None
        if index is not None:
            self._configure_index(index)
        self._is_setup = False
        self._setup_lock = threading.Lock()
        # `sweep_ttl` looked up at each run, so a subclass's or a wrapped method is used.
        self._sweeper = SweeperThread(
            lambda: self.sweep_ttl(), name="lghm-local-ttl-sweeper", label="local store"
        )
        self._closed = False

    def _configure_index(self, index: LocalIndexConfig) -> None:
        if not isinstance(index, dict):
            raise ConfigError(
                f"index must be a dict (LocalIndexConfig), got {type(index).__name__}"
            )
        known = {
            "dims",
            "embed",
            "fields",
            "distance_type",
            "search_mode",
            *QUALITY_INDEX_KEYS,
            *USAGE_INDEX_KEYS,
        }
        unknown = set(index) - known
        if unknown:
            raise ConfigError(
                f"unknown index setting(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        self.quality = resolve_quality(index)
        usage = resolve_usage(index)
        self._usage = UsageRecorder(usage) if usage.active else None
        self.embeddings = resolve_embeddings(index.get("embed"))
        self.search_mode = _b.resolve_search_mode(index, self.embeddings is not None)
        self.distance_type = _b.resolve_distance(index)
        fields = index.get("fields")
        if fields is not None and (
            not isinstance(fields, list) or not all(isinstance(f, str) and f for f in fields)
        ):
            raise ConfigError(f"index['fields'] must be a list of field paths, got {fields!r}")
        self._fields = _b.tokenize_fields(fields)
        if self.embeddings is not None:
            dims = index.get("dims")
            if dims is None:
                dims = embedding_dims(self.embeddings)
            if isinstance(dims, bool) or not isinstance(dims, int) or dims < 1:
                raise ConfigError(f"index['dims'] must be a positive integer, got {dims!r}")
            self.dims = dims
        # Every key langgraph's stores expose (dims, embed, fields, text_fields, ...).
        self.index_config = cast(
            LocalIndexConfig,
            langgraph_index_config(
                index, dims=self.dims, embeddings=self.embeddings, fields=fields
            ),
        )

    @classmethod
    @contextmanager
    def from_conn_string(
        cls,
        conn_string: str | Path,
        *,
        index: LocalIndexConfig | None = None,
        ttl: TTLConfig | None = None,
    ) -> Iterator[LocalStore]:
        """Open a store on the SQLite file `conn_string`, set it up, close it on exit."""
        store = cls(conn_string, index=index, ttl=ttl)
        try:
            store.setup()
            yield store
        finally:
            store.close()

    # --- lifecycle ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create or migrate the store's tables (idempotent; safe from several threads)."""
        with self._setup_lock:
            if self._is_setup:
                return
            with self.db.transaction() as conn:
                conn.execute(_b.CREATE_VERSION_TABLE)
                applied = {row[0] for row in conn.execute(_b.SELECT_VERSIONS)}
                for version, statements in enumerate(_b.MIGRATIONS):
                    if version in applied:
                        continue
                    for statement in statements:
                        try:
                            conn.execute(statement)
                        except sqlite3.OperationalError as exc:
                            if "fts5" in str(exc):
                                raise MissingExtraError(
                                    "LocalStore needs SQLite's FTS5 module, which this Python's "
                                    "sqlite3 lacks; use a Python built against a standard "
                                    f"SQLite (3.9+ with FTS5): {exc}"
                                ) from exc
                            raise
                    conn.execute(_b.INSERT_VERSION, (version,))
                row = conn.execute(_b.VECTOR_SIZE).fetchone()
            if row is not None and self.dims is not None and row[0] != self.dims * 4:
                raise ConfigError(
                    f"the local store in {self.db.path} holds {row[0] // 4}-dimensional vectors "
                    f"but the index has dims={self.dims}; use the model the file was built with "
                    "or another MEMORY_DATA_DIR"
                )
            self._is_setup = True

    async def asetup(self) -> None:
        """Async twin of `setup` (runs in a worker thread)."""
        await asyncio.to_thread(self.setup)

    def close(self) -> None:
        """Stop the TTL sweeper and release the SQLite file (if this store opened it)."""
        if self._closed:
            return
        self._closed = True
        self.stop_ttl_sweeper()
        self.flush_usage()  # pending access counts and query log entries
        if self._owns_db:
            self.db.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _now() -> float:
        return time.time()

    # --- batches --------------------------------------------------------------------------------

    @property
    def max_value_bytes(self) -> int:
        """Largest JSON text of one value, in UTF-8 bytes (default 1 MiB, as every store of the
        package); a bigger put raises `ValueTooLargeError` and writes nothing. Settable."""
        return self._limits.max_value_bytes

    @max_value_bytes.setter
    def max_value_bytes(self, value: int) -> None:
        self._limits = resolve_limits(value)

    def _plan(self, ops: Iterable[Op]) -> _b.BatchPlan:
        ops = list(ops)
        check_importance(ops, self.quality)
        return _b.plan_batch(
            ops, fields=self._fields, vectors=self.embeddings is not None, limits=self._limits
        )

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Execute `ops` (see the class docstring for the batch contract)."""
        plan = self._plan(ops)
        texts, queries = self._embed(plan)
        results = self._execute(plan, texts, queries)
        if self._usage is not None and self._usage.due():
            self.flush_usage()
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async `batch`: embeddings via the model's async API, SQLite work in a worker thread."""
        plan = self._plan(ops)
        texts, queries = await self._aembed(plan)
        results = await asyncio.to_thread(self._execute, plan, texts, queries)
        if self._usage is not None and self._usage.due():
            await asyncio.to_thread(self.flush_usage)
        return results

    def flush_usage(self) -> None:
        """Write the pending access counts and query log entries now, in one short
        transaction (see `_usage`); they live in their own tables, apart from the items."""
        if self._usage is None:
            return
        pending = self._usage.take()
        if not len(pending):
            return
        cfg = self._usage.cfg
        try:
            with self.db.transaction() as conn:
                for stmt in SQLITE_QUALITY_TABLES:
                    conn.execute(stmt)
                conn.executemany(
                    "INSERT INTO lghm_item_access (namespace, key, access_count, "
                    "last_accessed_at) VALUES (?, ?, ?, ?) ON CONFLICT (namespace, key) DO "
                    "UPDATE SET access_count = access_count + excluded.access_count, "
                    "last_accessed_at = max(last_accessed_at, excluded.last_accessed_at)",
                    [
                        (_b.encode_namespace(k[1]), k[2], n, t.timestamp())
                        for k, (n, t) in sorted_hits(pending)
                    ],
                )
                conn.executemany(
                    "INSERT INTO lghm_query_log (scope, namespace_prefix, query, result_count, "
                    "latency_ms, mode, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            e.scope,
                            _b.encode_namespace(e.prefix),
                            e.query,
                            e.results,
                            e.latency_ms,
                            e.mode,
                            e.at.timestamp(),
                        )
                        for e in pending.queries
                    ],
                )
                if cfg.log_queries:
                    conn.execute(
                        "DELETE FROM lghm_query_log WHERE created_at < ?",
                        (time.time() - cfg.retention_days * 86400.0,),
                    )
        except sqlite3.Error as exc:
            self._usage.restore(pending)
            logger.warning("usage_flush_failed", extra={"error": type(exc).__name__})

    def _embed(
        self, plan: _b.BatchPlan
    ) -> tuple[dict[str, list[float]], dict[str, npt.NDArray[np.float32]]]:
        if self.embeddings is None or (not plan.texts and not plan.queries):
            return {}, {}
        docs = self.embeddings.embed_documents(plan.texts) if plan.texts else []
        queries = [self.embeddings.embed_query(q) for q in plan.queries]
        return self._checked(plan, docs, queries)

    async def _aembed(
        self, plan: _b.BatchPlan
    ) -> tuple[dict[str, list[float]], dict[str, npt.NDArray[np.float32]]]:
        if self.embeddings is None or (not plan.texts and not plan.queries):
            return {}, {}
        docs = await self.embeddings.aembed_documents(plan.texts) if plan.texts else []
        queries = list(
            await asyncio.gather(*(self.embeddings.aembed_query(q) for q in plan.queries))
        )
        return self._checked(plan, docs, queries)

    def _checked(
        self,
        plan: _b.BatchPlan,
        docs: Sequence[Sequence[float]],
        queries: Sequence[Sequence[float]],
    ) -> tuple[dict[str, list[float]], dict[str, npt.NDArray[np.float32]]]:
        assert self.dims is not None
        _b.check_vectors(docs, len(plan.texts), self.dims, "texts")
        _b.check_vectors(queries, len(plan.queries), self.dims, "search queries")
        texts = {t: list(v) for t, v in zip(plan.texts, docs, strict=True)}
        qvecs = {
            q: np.asarray(v, dtype=np.float32) for q, v in zip(plan.queries, queries, strict=True)
        }
        return texts, qvecs

    def _execute(
        self,
        plan: _b.BatchPlan,
        texts: dict[str, list[float]],
        queries: dict[str, npt.NDArray[np.float32]],
    ) -> list[Result]:
        if not self._is_setup:
            self.setup()
        now = self._now()
        results: list[Result] = []
        refresh: set[int] = set()
        # A batch with writes runs as one transaction (atomic, reads see the pre-write state); a
        # read-only batch only takes the write lock if it has TTLs to refresh.
        ctx = self.db.transaction() if plan.puts else self.db.read()
        with ctx as conn:
            for op in plan.ops:
                if isinstance(op, GetOp):
                    got = self._get(conn, op, now, refresh)
                    results.append(got)
                    if got is not None and self._usage is not None:
                        self._usage.hit([("", tuple(got.namespace), got.key)])
                elif isinstance(op, SearchOp):
                    started = time.perf_counter()
                    hits = self._search(conn, op, queries.get(op.query or ""), now, refresh)
                    results.append(hits)
                    if self._usage is not None:
                        self._record_search(op, hits, time.perf_counter() - started)
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(conn, op, now))
                else:
                    results.append(None)
            if refresh:
                with self.db.transaction() as wconn:
                    wconn.executemany(_b.REFRESH_TTL, [(now, item_id) for item_id in refresh])
            if plan.puts:
                self._apply_puts(conn, plan.puts, texts, now)
        return results

    # --- reads ----------------------------------------------------------------------------------

    @property
    def _omit_expired(self) -> bool:
        return bool(self.ttl_config is None or self.ttl_config.get("omit_expired", True))

    def _expired(self, expires_at: float | None, now: float) -> bool:
        return self._omit_expired and expires_at is not None and expires_at <= now

    @staticmethod
    def _fields_of(row: _Row) -> dict[str, Any]:
        _id, ns, key, value, created, updated, _ttl, _exp = row
        return {
            "namespace": _b.decode_namespace(ns),
            "key": key,
            "value": json.loads(value),
            "created_at": _ts(created),
            "updated_at": _ts(updated),
        }

    def _item(self, row: _Row) -> Item:
        return Item(**self._fields_of(row))

    def _search_item(self, row: _Row, score: float | None = None) -> SearchItem:
        return SearchItem(score=score, **self._fields_of(row))

    def _get(
        self, conn: sqlite3.Connection, op: GetOp, now: float, refresh: set[int]
    ) -> Item | None:
        row = conn.execute(_b.GET_ITEM, (_b.encode_namespace(op.namespace), op.key)).fetchone()
        if row is None or self._expired(row[7], now):
            return None
        if op.refresh_ttl and _refreshable(row, now):
            refresh.add(row[0])
        return self._item(row)

    def _scope(
        self,
        base_all: str,
        base_prefix: str,
        prefix: tuple[str, ...],
        now: float,
        filter: dict[str, Any] | None = None,
    ) -> tuple[str, list[Any]]:
        params: list[Any] = list(_b.namespace_range(prefix)) if prefix else []
        sql = base_prefix if prefix else base_all
        if self._omit_expired:
            sql = _b.not_expired_clause(sql)
            params.append(now)
        pre_sql, pre_params = _b.prefilter_sql(filter)
        if pre_sql:
            # Only narrows the rows decoded; every row is still checked with `matches`.
            sql += (" AND " if " WHERE " in sql else " WHERE ") + pre_sql
            params += pre_params
        return sql, params

    def _search(
        self,
        conn: sqlite3.Connection,
        op: SearchOp,
        qvec: npt.NDArray[np.float32] | None,
        now: float,
        refresh: set[int],
    ) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        ranked = bool(op.query) and self._fields is not None
        if self.quality.active:
            return self._quality_search(conn, op, qvec, now, refresh, ranked=ranked)
        if not ranked:
            return self._search_recent(conn, op, prefix, now, refresh)
        fused = self._fused(conn, op, qvec, now)
        page = fused[op.offset : op.offset + op.limit]
        rows = self._rows_by_id(conn, [item_id for item_id, _ in page])
        out: list[SearchItem] = []
        for item_id, score in page:
            row = rows[item_id]
            if op.refresh_ttl and _refreshable(row, now):
                refresh.add(item_id)
            out.append(self._search_item(row, float(score)))
        return out

    def _record_search(self, op: SearchOp, hits: list[SearchItem], seconds: float) -> None:
        assert self._usage is not None
        self._usage.hit([("", tuple(h.namespace), h.key) for h in hits])
        prefix = tuple(op.namespace_prefix)
        mode = (self.search_mode or "recent") if op.query else "recent"
        # The local file has no scope column; the user's labels (users, ID) stand for it.
        self._usage.query(".".join(prefix[:2]), prefix, op.query, len(hits), seconds * 1e3, mode)

    def _rows_by_id(self, conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, _Row]:
        rows: dict[int, _Row] = {}
        if ids:
            sql = _b.ITEMS_BY_ID + "(" + ",".join("?" * len(ids)) + ")"
            for row in conn.execute(sql, list(ids)):
                rows[row[0]] = row
        return rows

    def _quality_search(
        self,
        conn: sqlite3.Connection,
        op: SearchOp,
        qvec: npt.NDArray[np.float32] | None,
        now: float,
        refresh: set[int],
        *,
        ranked: bool,
    ) -> list[SearchItem]:
        """The search with ``index["collapse"]``/``index["ranking"]`` (`_quality`): candidates
        from the top, `fetch_sizes(want)` of them, doubled while the collapsed page is short
        and the scope has more."""
        want = op.limit + op.offset
        if want == 0:
            return []
        prefix = tuple(op.namespace_prefix)
        fused = self._fused(conn, op, qvec, now) if ranked else []
        fetch = fetch_sizes(want)
        scored: list[tuple[_Row, float | None]]
        while True:
            if ranked:
                window = fused[:fetch]
                rows = self._rows_by_id(conn, [item_id for item_id, _ in window])
                scored = [(rows[i], float(s)) for i, s in window]
                more = len(fused) > fetch
            else:
                ids: list[int] = []
                recent = self._search_recent(
                    conn, op._replace(limit=fetch, offset=0), prefix, now, set(), ids
                )
                rows = self._rows_by_id(conn, ids)
                scored = [(rows[i], None) for i, _ in zip(ids, recent, strict=True)]
                more = len(recent) >= fetch
            vectors: dict[int, npt.NDArray[np.float32]] = {}
            if self.quality.needs_vectors and self.dims is not None and scored:
                vectors = self._item_vectors(conn, [r[0] for r, _ in scored])
            cands = [
                Candidate(
                    item=self._search_item(r, s),
                    hash=content_hash([t for _, t in _b.texts_for(json.loads(r[3]), self._fields)])
                    if self._fields is not None
                    else text_hash(r[3]),
                    vector=vectors.get(r[0]),
                    extra=r,
                )
                for r, s in scored
            ]
            ordered = rank_and_collapse(cands, self.quality, query=ranked)
            if len(ordered) >= want or not more:
                break
            fetch *= 2
        out: list[SearchItem] = []
        for c in ordered[op.offset : want]:
            if op.refresh_ttl and _refreshable(c.extra, now):
                refresh.add(c.extra[0])
            out.append(c.item)
        return out

    def _item_vectors(
        self, conn: sqlite3.Connection, ids: Sequence[int]
    ) -> dict[int, npt.NDArray[np.float32]]:
        """Each item's vectors (mean of its fields)."""
        acc: dict[int, list[npt.NDArray[np.float32]]] = {}
        sql = _b.VECTORS_OF_ITEMS + "(" + ",".join("?" * len(ids)) + ")"
        for item_id, blob in conn.execute(sql, list(ids)):
            acc.setdefault(item_id, []).append(np.frombuffer(blob, dtype="<f4"))
        return {k: np.mean(v, axis=0).astype(np.float32) for k, v in acc.items()}

    def _fused(
        self,
        conn: sqlite3.Connection,
        op: SearchOp,
        qvec: npt.NDArray[np.float32] | None,
        now: float,
    ) -> list[tuple[int, float]]:
        """Every matching item id of a query with its score, best first."""
        prefix = tuple(op.namespace_prefix)
        if op.filter:
            sql, params = self._scope(_b.SEARCH_ALL, _b.SEARCH_PREFIX, prefix, now, op.filter)
            candidates: set[int] = {
                row[0]
                for row in conn.execute(sql, params)
                if matches(json.loads(row[3]), op.filter)
            }
        else:
            sql, params = self._scope(_b.IDS_ALL, _b.IDS_PREFIX, prefix, now)
            candidates = {row[0] for row in conn.execute(sql, params)}
        if not candidates:
            return []
        rankings: list[list[tuple[int, float]]] = []
        if self.search_mode in ("vector", "hybrid") and qvec is not None:
            rankings.append(self._vector_ranking(conn, prefix, candidates, qvec))
        if self.search_mode in ("keyword", "hybrid"):
            rankings.append(self._keyword_ranking(conn, op.query or "", candidates))
        if not rankings:
            return []
        if len(rankings) == 1:
            return rankings[0]
        return _b.rrf_fuse([[item_id for item_id, _ in r] for r in rankings])

    def _search_recent(
        self,
        conn: sqlite3.Connection,
        op: SearchOp,
        prefix: tuple[str, ...],
        now: float,
        refresh: set[int],
        ids: list[int] | None = None,
    ) -> list[SearchItem]:
        sql, params = self._scope(_b.SEARCH_ALL, _b.SEARCH_PREFIX, prefix, now, op.filter)
        sql += _b.ORDER_RECENT
        if not op.filter:
            sql += " LIMIT ? OFFSET ?"
            params += [op.limit, op.offset]
        out: list[SearchItem] = []
        skipped = 0
        if op.limit == 0:
            return out
        for row in conn.execute(sql, params):
            if op.filter:
                if not matches(json.loads(row[3]), op.filter):
                    continue
                if skipped < op.offset:
                    skipped += 1
                    continue
            if op.refresh_ttl and _refreshable(row, now):
                refresh.add(row[0])
            out.append(self._search_item(row))
            if ids is not None:
                ids.append(row[0])
            if len(out) >= op.limit:
                break
        return out

    def _vector_ranking(
        self,
        conn: sqlite3.Connection,
        prefix: tuple[str, ...],
        candidates: set[int],
        qvec: npt.NDArray[np.float32],
    ) -> list[tuple[int, float]]:
        sql, params = (
            (_b.VECTORS_PREFIX, list(_b.namespace_range(prefix)))
            if prefix
            else (_b.VECTORS_ALL, [])
        )
        ids: list[int] = []
        blobs: list[bytes] = []
        for item_id, blob in conn.execute(sql, params):
            if item_id in candidates:
                ids.append(item_id)
                blobs.append(blob)
        if not ids:
            return []
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(ids), -1)
        scores = _b.score_vectors(qvec, matrix, self.distance_type)
        best: dict[int, float] = {}
        for item_id, score in zip(ids, scores.tolist(), strict=True):
            if item_id not in best or score > best[item_id]:
                best[item_id] = score
        return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))

    def _keyword_ranking(
        self, conn: sqlite3.Connection, query: str, candidates: set[int]
    ) -> list[tuple[int, float]]:
        fts = _b.fts_query(query)
        if fts is None:
            return []
        hits = [
            (item_id, -rank)  # FTS5's bm25() is lower-is-better; negate so higher is better
            for item_id, rank in conn.execute(_b.KEYWORD_SEARCH, (fts,))
            if item_id in candidates
        ]
        return sorted(hits, key=lambda kv: (-kv[1], kv[0]))

    def _list_namespaces(
        self, conn: sqlite3.Connection, op: ListNamespacesOp, now: float
    ) -> list[tuple[str, ...]]:
        conditions = tuple(op.match_conditions or ())
        prefix = _b.literal_prefix(conditions)
        sql, params = self._scope(_b.NAMESPACES_ALL, _b.NAMESPACES_PREFIX, prefix, now)
        found: set[tuple[str, ...]] = set()
        for (text,) in conn.execute(sql, params):
            ns = _b.decode_namespace(text)
            if _b.namespace_matches(conditions, ns):
                found.add(ns[: op.max_depth] if op.max_depth is not None else ns)
        return sorted(found)[op.offset : op.offset + op.limit]

    # --- writes ---------------------------------------------------------------------------------

    def _apply_puts(
        self,
        conn: sqlite3.Connection,
        puts: Sequence[_b.PutPlan],
        texts: dict[str, list[float]],
        now: float,
    ) -> None:
        for put in puts:
            ns = _b.encode_namespace(put.namespace)
            if put.value_json is None:
                conn.execute(_b.DELETE_ITEM, (ns, put.key))
                continue
            expires = None if put.ttl_minutes is None else now + put.ttl_minutes * 60.0
            sort_key = _b.namespace_sort_key(put.namespace)
            (item_id,) = conn.execute(
                _b.UPSERT_ITEM,
                (ns, sort_key, put.key, put.value_json, now, now, expires, put.ttl_minutes),
            ).fetchone()
            # The value changed: vectors and keyword text of the old value are stale.
            conn.execute(_b.DELETE_VECTORS, (item_id,))
            conn.execute(_b.DELETE_FTS, (item_id,))
            if not (put.indexed and put.texts):
                continue
            conn.execute(_b.INSERT_FTS, (item_id, "\n".join(text for _, text in put.texts)))
            if self.embeddings is not None:
                conn.executemany(
                    _b.INSERT_VECTOR,
                    [
                        (item_id, name, text_hash(text), _b.to_blob(texts[text]))
                        for name, text in put.texts
                    ],
                )

    # --- TTL ------------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete expired items (and their vectors and keyword rows); return how many.

        Deletes in batches of `sweep_batch_size`, one short transaction each, so a big sweep never
        holds the write lock for long.
        """
        if not self._is_setup:
            self.setup()
        total = 0
        while True:
            with self.db.transaction() as conn:
                deleted = conn.execute(
                    _b.SWEEP_EXPIRED, (self._now(), self.sweep_batch_size)
                ).rowcount
            total += deleted
            if deleted < self.sweep_batch_size:
                return total

    async def asweep_ttl(self) -> int:
        """Async twin of `sweep_ttl` (runs in a worker thread)."""
        return await asyncio.to_thread(self.sweep_ttl)

    def start_ttl_sweeper(
        self, sweep_interval_minutes: float | None = None
    ) -> concurrent.futures.Future[None]:
        """Sweep expired items every `sweep_interval_minutes` (default: the TTL config's
        ``sweep_interval_minutes``, else 5) in a daemon thread until `stop_ttl_sweeper`.

        Returns a future that completes when the sweeper stops; cancelling it stops the sweeper.
        Idempotent: while a sweeper runs, another call returns its future.
        """
        interval = float(
            sweep_interval_minutes
            or (self.ttl_config or {}).get("sweep_interval_minutes")
            or DEFAULT_SWEEP_INTERVAL_MINUTES
        )
        if interval <= 0:
            raise ConfigError(f"sweep_interval_minutes must be positive, got {interval!r}")
        return self._sweeper.start(interval)

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the sweeper thread; True if it stopped (or was not running)."""
        return self._sweeper.stop(timeout)

    # --- status ---------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts for status displays: items, vectors, namespaces, and the index settings."""
        if not self._is_setup:
            self.setup()
        with self.db.read() as conn:
            items = conn.execute("SELECT count(*) FROM lghm_store").fetchone()[0]
            vectors = conn.execute("SELECT count(*) FROM lghm_store_vectors").fetchone()[0]
            namespaces = conn.execute(
                "SELECT count(DISTINCT namespace) FROM lghm_store"
            ).fetchone()[0]
        return {
            "items": items,
            "vectors": vectors,
            "namespaces": namespaces,
            "search_mode": self.search_mode,
            "distance_type": self.distance_type if self.index_config else None,
            "dims": self.dims,
        }


def _check_ttl_config(ttl: TTLConfig | None) -> TTLConfig | None:
    if ttl is None:
        return None
    if not isinstance(ttl, dict):
        raise ConfigError(f"ttl must be a dict (TTLConfig), got {type(ttl).__name__}")
    known = {"refresh_on_read", "omit_expired", "default_ttl", "sweep_interval_minutes"}
    unknown = set(ttl) - known
    if unknown:
        raise ConfigError(
            f"unknown ttl setting(s): {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )
    default = ttl.get("default_ttl")
    if default is not None and (
        isinstance(default, bool) or not isinstance(default, (int, float)) or default <= 0
    ):
        raise ConfigError(f"ttl['default_ttl'] must be positive minutes or None, got {default!r}")
    return TTLConfig(**ttl)
