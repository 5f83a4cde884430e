"""I/O-free core of `PgVectorStore` and `AsyncPgVectorStore`: the plans of every operation.

Everything that decides *what* to send to PostgreSQL lives here and in the modules it draws on:
`_config` (index and TTL configuration, HNSW defaults), `_schema` (numbered migrations, index
DDL), `_sqlfilter` (namespaces and filters as SQL) and `_values` (value encoding, indexed texts,
vector formats, rows to `Item` objects). The sync and async classes only *drive* it.

Driving works through "plans": a plan is a generator that yields steps (`Sql`, `Tx`, `Embed`)
and receives each step's result, and finally returns the operation's result. The sync driver runs
the steps with a `psycopg.Connection`, the async one with an `AsyncConnection`, so the store's
logic exists once and the two classes cannot drift apart.

Tables (in the configured schema, ``memory`` by default):

* ``items(scope, namespace, key, value, created_at, updated_at, expires_at, ttl_minutes, tsv)``,
  primary key ``(scope, namespace, key)``. ``namespace`` is a ``text[] COLLATE "C"``, so a
  namespace prefix is an array comparison (whole labels, no ``LIKE``, no escaping), and
  ``scope`` is the namespace's first `scope_depth` labels joined by ``.`` (labels cannot contain
  a dot), the column Citus distributes by.
* ``vectors(scope, namespace, key, field, embedding, text_hash)``: one row per produced text
  (``text_hash``: sha256 hex of the text, `_embeddings.text_hash`, NULL in rows from before
  that column), primary key led by ``scope``, foreign key to ``items`` with
  ``ON DELETE CASCADE``.

A batch's puts and deletes are written by ONE statement (`BasePgVectorStore._write_sql`): one
round trip, atomic under autocommit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np
from langgraph.store.base import (
    GetOp,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)
from psycopg import sql

from langgraph_hybrid_memory._embeddings import text_hash
from langgraph_hybrid_memory._index_config import langgraph_index_config
from langgraph_hybrid_memory._quality import (
    Candidate,
    check_importance,
    content_hash,
    fetch_sizes,
    rank_and_collapse,
)
from langgraph_hybrid_memory._usage import Pending, UsageRecorder, sorted_hits
from langgraph_hybrid_memory._validation import (
    Limits,
    check_value,
    resolve_limits,
    validate_op,
    validate_ops,
)
from langgraph_hybrid_memory.errors import (
    ConfigError,
    InvalidValueError,
)
from langgraph_hybrid_memory.store._config import (
    MAX_EF_SEARCH,
    ROWS_ESTIMATE_SECONDS,
    UNSELECTIVE_FILTERS_KEPT,
    PgVectorTTLConfig,
    ResolvedIndex,
    auto_ef_search,
    exact_filter_rows,
    validate_schema_name,
)
from langgraph_hybrid_memory.store._counts import RecentlyUnselective
from langgraph_hybrid_memory.store._locks import (
    KEY_LOCK_CLASS,
    LOCK_STORE_EXCLUSIVE,
    store_lock_params,
)
from langgraph_hybrid_memory.store._schema import (
    DISTANCE_OPS,
    EMBEDDING_COLUMN_TYPE,
    PGVECTOR_AVAILABLE,
    TSV_INDEX_NAME,
    VALUE_INDEX_NAME,
    VECTOR_INDEX_NAME,
    build_memory_mb,
    check_embedding_column,
    pgvector_missing_message,
    prepare_ann_index,
    value_index_ddl,
)
from langgraph_hybrid_memory.store._sqlfilter import (
    containment_condition,
    filter_condition,
    is_number,
    match_condition,
    prefix_condition,
    scope_of,
)
from langgraph_hybrid_memory.store._values import (
    VECTOR_TYPE_OIDS,
    PackedVector,
    check_vectors,
    indexed_texts,
    item_key,
    pack_vector,
    pack_vector_array,
    row_to_item,
    row_to_search_item,
    vector_literal,
)

__all__ = [
    "BasePgVectorStore",
    "CopyIn",
    "Embed",
    "Plan",
    "Sql",
    "Step",
    "Tx",
    "WriteGuard",
]

# Reciprocal rank fusion constant (Cormack et al. 2009); 60 is the value used almost everywhere.
RRF_K = 60

# A bulk load at least this large relative to the existing vectors rebuilds the HNSW index after
# loading instead of maintaining it row by row (row-by-row inserts run at a few hundred rows/s).
BULK_REBUILD_RATIO = 0.2
BULK_EMBED_CHUNK = 20000

T = TypeVar("T")
Query = str | sql.SQL | sql.Composed

# --------------------------------------------------------------------------------------------
# Plan steps


@dataclass(frozen=True)
class Sql:
    """Run one statement; the result is its rows (a list of dicts, empty if none)."""

    query: Query
    params: Sequence[Any] | None = None
    replica: bool = False
    merge: bool = False
    """A read that may share one statement with other reads of the same text (`_lockstep`):
    a plain ``SELECT`` whose rows keep their order as a subquery, and that sets nothing
    (no ``set_config``, unlike the HNSW knobs)."""


@dataclass(frozen=True)
class CopyIn:
    """``COPY ... FROM STDIN`` `rows` (only inside a `Tx`).

    With `types` (names or OIDs, one per column) the copy is binary; `PackedVector` values are
    sent as they are (pgvector's binary form), which spares formatting floats as text.
    """

    query: Query
    rows: Iterable[Sequence[Any]]
    types: Sequence[str | int] | None = None


@dataclass(frozen=True)
class Tx:
    """Run statements in one transaction; the result is the list of their rows."""

    statements: Sequence[Sql | CopyIn]
    replica: bool = False


@dataclass(frozen=True)
class Embed:
    """Embed `texts` with one call; the result is one vector per text."""

    texts: list[str]


Step = Sql | Tx | Embed
Plan = Generator[Step, Any, T]
# A filter's containment condition and its parameters (`_sqlfilter.containment_condition`).
Contains = tuple[sql.Composable, list[Any]]


# --------------------------------------------------------------------------------------------
# The store core


@dataclass
class _PreparedPut:
    namespace: tuple[str, ...]
    key: str
    value_json: str | None  # None: delete
    ttl: float | None
    fields: list[tuple[str, str]] = field(default_factory=list)
    keyword_text: str | None = None


@dataclass(frozen=True)
class WriteGuard:
    """Tombstones for a write statement (`HybridStore`'s outbox replay).

    `times` has one Unix time per prepared put or delete, in order: a put is refused if its
    key's tombstone in `table` is at least as recent; a delete records its time there.
    """

    table: sql.Composable
    times: Sequence[float]
    notify: tuple[str, str] | None = None
    """``(channel, payload)``: a ``pg_notify`` in the same statement, delivered at its commit
    (other `HybridStore` instances refresh their caches, `hybridstore._invalidation`)."""


def _need_oids(oids: tuple[int, int] | None) -> tuple[int, int]:
    if oids is None:
        raise AssertionError("vectors to write need the vector type's OIDs (_vector_oids_plan)")
    return oids


def _vector_rows(
    puts: Sequence[_PreparedPut], vectors: np.ndarray
) -> list[tuple[_PreparedPut, str, str, np.ndarray]]:
    """``(put, field, text_hash, vector)`` per produced text, `vectors` in the same order.

    A field produced twice for one item (e.g. a path listed twice) keeps its first vector: one
    statement may not write the same ``(key, field)`` row twice.
    """
    out: list[tuple[_PreparedPut, str, str, np.ndarray]] = []
    seen: set[tuple[int, str]] = set()
    n = 0
    for p in puts:
        for name, text in p.fields:
            if (id(p), name) not in seen:
                seen.add((id(p), name))
                out.append((p, name, text_hash(text), vectors[n]))
            n += 1
    return out


class BasePgVectorStore:
    """State and plans shared by `PgVectorStore` and `AsyncPgVectorStore` (no I/O)."""

    schema: str
    scope_depth: int
    index: ResolvedIndex | None
    ttl_config: TTLConfig | None

    def _init_base(
        self,
        *,
        schema: str,
        scope_depth: int,
        index: ResolvedIndex | None,
        ttl: TTLConfig | None,
        max_value_bytes: int | None = None,
        index_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.schema = validate_schema_name(schema)
        self._limits = resolve_limits(max_value_bytes)
        # What langgraph's stores expose as `index_config` (and `embeddings`), for code that
        # reads them; the store itself uses `self.index`.
        self.index_config: dict[str, Any] | None = (
            langgraph_index_config(
                index_config, dims=index.dims, embeddings=index.embeddings, fields=index.fields
            )
            if index is not None and index_config is not None
            else None
        )
        self.embeddings = index.embeddings if index is not None else None
        if isinstance(scope_depth, bool) or not isinstance(scope_depth, int) or scope_depth < 1:
            raise ConfigError(f"scope_depth must be a positive integer, got {scope_depth!r}")
        self.scope_depth = scope_depth
        self.index = index
        if ttl is not None:
            bad = sorted(
                set(ttl) - set(PgVectorTTLConfig.__annotations__) - set(TTLConfig.__annotations__)
            )
            if bad:
                raise ConfigError(
                    f"unknown ttl config key(s) {bad}; accepted: default_ttl, refresh_on_read, "
                    "omit_expired, sweep_interval_minutes"
                )
            default_ttl = ttl.get("default_ttl")
            if default_ttl is not None and not (is_number(default_ttl) and default_ttl > 0):
                raise ConfigError(
                    f"ttl['default_ttl'] must be a positive number of minutes, got {default_ttl!r}"
                )
        self.ttl_config = ttl
        s = sql.Identifier(schema)
        self._t_items = sql.Identifier(schema, "items")
        self._t_vectors = sql.Identifier(schema, "vectors")
        self._t_settings = sql.Identifier(schema, "store_settings")
        self._s = s
        self._rows_estimate: tuple[tuple[float, int, int], float] | None = None
        self._unselective = RecentlyUnselective(
            size=UNSELECTIVE_FILTERS_KEPT, seconds=ROWS_ESTIMATE_SECONDS
        )
        self._index_name = sql.Identifier(schema, VECTOR_INDEX_NAME).as_string(None)
        # `_write_sql`'s statement text per shape (puts?, deletes?, tombstone table).
        self._write_queries: dict[tuple[bool, bool, str | None, bool], str] = {}
        self._vector_oids: tuple[int, int] | None = None
        self._usage: UsageRecorder | None = (
            UsageRecorder(index.usage) if index is not None and index.usage.active else None
        )

    # -- settings ----------------------------------------------------------------------------

    @property
    def max_value_bytes(self) -> int:
        """Largest JSON text of one value, in UTF-8 bytes (default 1 MiB); a bigger put raises
        `ValueTooLargeError` and writes nothing. Settable."""
        return self._limits.max_value_bytes

    @max_value_bytes.setter
    def max_value_bytes(self, value: int) -> None:
        self._limits = resolve_limits(value)

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def omit_expired(self) -> bool:
        return bool((self.ttl_config or {}).get("omit_expired", True))

    def _alive(self, alias: str) -> sql.Composable:
        if not self.omit_expired:
            return sql.SQL("TRUE")
        return sql.SQL("({0}.expires_at IS NULL OR {0}.expires_at > now())").format(
            sql.Identifier(alias)
        )

    # -- setup -------------------------------------------------------------------------------

    def _setup_checks_plan(self) -> Plan[None]:
        """Checks before the migrations: pgvector present, existing vectors table compatible."""
        if self.index is not None and self.index.has_vectors:
            rows = yield Sql(PGVECTOR_AVAILABLE)
            if not rows or (rows[0]["installed"] is None and not rows[0].get("creatable")):
                from langgraph_hybrid_memory.errors import PgVectorMissingError

                available = bool(rows and rows[0]["available"])
                raise PgVectorMissingError(pgvector_missing_message(available))
            rows = yield Sql(EMBEDDING_COLUMN_TYPE, (self.schema,))
            check_embedding_column(self.index, rows, self.schema)

    def _setup_settings_plan(self) -> Plan[None]:
        """After the migrations: record scope_depth once and refuse a different one later; learn
        the vector type's OIDs (puts send vectors in binary)."""
        if self.index is not None and self.index.has_vectors:
            self._vector_oids = None  # the extension may have been (re)created by setup
            yield from self._vector_oids_plan()
        yield Sql(
            sql.SQL(
                "INSERT INTO {} (name, value) VALUES ('scope_depth', %s::jsonb) "
                "ON CONFLICT (name) DO NOTHING"
            ).format(self._t_settings),
            (json.dumps(self.scope_depth),),
        )
        rows = yield Sql(
            sql.SQL("SELECT value FROM {} WHERE name = 'scope_depth'").format(self._t_settings)
        )
        stored = rows[0]["value"]
        if stored != self.scope_depth:
            raise ConfigError(
                f"the store in schema {self.schema!r} was set up with scope_depth={stored}, "
                f"not {self.scope_depth}; pass scope_depth={stored} (scopes are stored keys)"
            )

    # -- batch -------------------------------------------------------------------------------

    def _batch_plan(self, ops: Iterable[Op]) -> Plan[list[Result]]:
        ops = list(ops)
        results: list[Result] = [None] * len(ops)
        gets: list[tuple[int, GetOp]] = []
        searches: list[tuple[int, SearchOp]] = []
        lists: list[tuple[int, ListNamespacesOp]] = []
        puts: dict[tuple[tuple[str, ...], str], PutOp] = {}
        # Validate everything before any I/O, so bad input changes nothing (one validator for
        # every store of the package: `_validation`).
        validate_ops(ops, self._limits)
        for i, op in enumerate(ops):
            if isinstance(op, GetOp):
                gets.append((i, op))
            elif isinstance(op, SearchOp):
                searches.append((i, op))
            elif isinstance(op, ListNamespacesOp):
                lists.append((i, op))
            elif isinstance(op, PutOp):
                # Last put per key wins.
                puts.pop((tuple(op.namespace), str(op.key)), None)
                puts[(tuple(op.namespace), str(op.key))] = op
            else:
                raise TypeError(f"unknown store operation {type(op).__name__}")
        if self.index is not None:
            check_importance(list(puts.values()), self.index.quality)
        prepared = [self._prepare_put(op) for op in puts.values()]
        put_vectors: np.ndarray = np.zeros((0, 0))
        put_texts = [t for p in prepared for _, t in p.fields]
        if put_texts and self.index is not None and self.index.has_vectors:
            raw = yield Embed(put_texts)
            put_vectors = check_vectors(raw, put_texts, cast(int, self.index.dims), "texts")
        query_vectors: dict[int, np.ndarray] = {}
        if self.index is not None and self.index.uses_vectors:
            need = [(i, op.query) for i, op in searches if op.query]
            if need:
                raw = yield Embed([q for _, q in need])
                vecs = check_vectors(
                    raw, [q for _, q in need], cast(int, self.index.dims), "queries"
                )
                query_vectors = {i: v for (i, _), v in zip(need, vecs, strict=True)}
        # Reads see the state before this batch's writes.
        usage = self._usage
        if gets:
            found = yield from self._get_plan([op for _, op in gets])
            for (i, _), item in zip(gets, found, strict=True):
                results[i] = item
            if usage is not None:
                usage.hit([self._usage_key(it) for it in found if it is not None])
        if searches:
            started = time.perf_counter()
            found_hits = yield from _lockstep(
                [self._search_plan(op, query_vectors.get(i)) for i, op in searches]
            )
            seconds = time.perf_counter() - started
            for (i, op), hits in zip(searches, found_hits, strict=True):
                results[i] = hits
                if usage is not None:
                    self._record_search(usage, op, hits, seconds)
        for i, op in lists:
            results[i] = yield from self._list_plan(op)
        if prepared:
            yield from self._put_plan(prepared, put_vectors)
        return results

    # -- access tracking and query log (`_usage`) ---------------------------------------------

    def _usage_key(self, item: Item) -> tuple[str, tuple[str, ...], str]:
        ns = tuple(item.namespace)
        return (scope_of(ns, self.scope_depth), ns, item.key)

    def _record_search(
        self, usage: UsageRecorder, op: SearchOp, hits: list[SearchItem], seconds: float
    ) -> None:
        usage.hit([self._usage_key(h) for h in hits])
        prefix = tuple(op.namespace_prefix)
        mode = cast(ResolvedIndex, self.index).mode if op.query else "recent"
        scope = ".".join(prefix[: self.scope_depth])
        usage.query(scope, prefix, op.query, len(hits), seconds * 1000.0, mode)

    def _usage_flush_plan(self, pending: Pending) -> Plan[None]:
        """ONE statement: the summed hits upserted into ``item_access`` in key order (no item
        row is locked, so no writer waits), the query log appended, old log rows deleted."""
        hits = sorted_hits(pending)
        q = pending.queries
        cfg = cast(ResolvedIndex, self.index).usage
        access = sql.Identifier(self.schema, "item_access")
        qlog = sql.Identifier(self.schema, "query_log")
        yield Sql(
            sql.SQL(
                "WITH acc AS (INSERT INTO {access} AS a "
                "(scope, namespace, key, access_count, last_accessed_at) "
                "SELECT h.scope, string_to_array(h.ns, '.'), h.key, h.n, h.t FROM "
                "unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::timestamptz[]) "
                "WITH ORDINALITY AS h(scope, ns, key, n, t, ord) ORDER BY h.ord "
                "ON CONFLICT (scope, namespace, key) DO UPDATE SET "
                "access_count = a.access_count + excluded.access_count, "
                "last_accessed_at = greatest(a.last_accessed_at, excluded.last_accessed_at) "
                "RETURNING 1), "
                "ql AS (INSERT INTO {qlog} (scope, namespace_prefix, query, result_count, "
                "latency_ms, mode, created_at) SELECT q.scope, string_to_array(q.ns, '.'), "
                "q.query, q.n, q.ms, q.mode, q.t FROM unnest(%s::text[], %s::text[], %s::text[], "
                "%s::int[], %s::float8[], %s::text[], %s::timestamptz[]) "
                "AS q(scope, ns, query, n, ms, mode, t) RETURNING 1), "
                "old AS (DELETE FROM {qlog} WHERE %s AND "
                "created_at < now() - make_interval(secs => %s) RETURNING 1) "
                "SELECT (SELECT count(*) FROM acc) + (SELECT count(*) FROM ql) "
                "+ (SELECT count(*) FROM old) AS n"
            ).format(access=access, qlog=qlog),
            (
                [k[0] for k, _ in hits],
                [".".join(k[1]) for k, _ in hits],
                [k[2] for k, _ in hits],
                [n for _, (n, _) in hits],
                [t for _, (_, t) in hits],
                [e.scope for e in q],
                [".".join(e.prefix) for e in q],
                [e.query for e in q],
                [e.results for e in q],
                [e.latency_ms for e in q],
                [e.mode for e in q],
                [e.at for e in q],
                cfg.log_queries,
                cfg.retention_days * 86400.0,
            ),
        )

    # -- get ---------------------------------------------------------------------------------

    def _get_plan(self, ops: list[GetOp]) -> Plan[list[Item | None]]:
        scopes = [scope_of(op.namespace, self.scope_depth) for op in ops]
        query = sql.SQL(
            "SELECT q.ord, i.scope, i.namespace, i.key, i.value, i.created_at, i.updated_at, "
            "i.ttl_minutes FROM unnest(%s::text[], %s::text[], %s::text[]) "
            "WITH ORDINALITY AS q(scope, ns, key, ord) "
            "JOIN {items} i ON i.scope = q.scope AND i.key = q.key "
            "AND i.namespace = string_to_array(q.ns, '.')::text[] "
            "WHERE {alive}"
        ).format(items=self._t_items, alive=self._alive("i"))
        rows = yield Sql(
            query,
            (scopes, [".".join(op.namespace) for op in ops], [str(op.key) for op in ops]),
            replica=True,
        )
        by_ord = {r["ord"]: r for r in rows}
        out: list[Item | None] = []
        refresh: list[Mapping[str, Any]] = []
        for n, op in enumerate(ops, start=1):
            row = by_ord.get(n)
            out.append(row_to_item(row) if row else None)
            if row and op.refresh_ttl and row["ttl_minutes"] is not None:
                refresh.append(row)
        if refresh:
            yield from self._refresh_plan(refresh)
        return out

    def _refresh_plan(self, rows: Sequence[Mapping[str, Any]]) -> Plan[None]:
        # TTL refresh on read never waits for a row lock (invariant 9): rows a writer holds
        # are skipped (`SKIP LOCKED`), the writer is never blocked behind a read, and the read
        # cannot join a lock cycle (it waits for nothing). A skipped row was just written, so
        # its expiry moved anyway, or the next read refreshes it. Without this, 4 threads x 20
        # refreshing searches of 50 items deadlocked 3 times (UPDATE locks rows in scan order).
        yield Sql(
            sql.SQL(
                "UPDATE {items} i "
                "SET expires_at = now() + make_interval(secs => i.ttl_minutes * 60) "
                "FROM (SELECT j.scope, j.namespace, j.key FROM {items} j "
                "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS q(scope, ns, key) "
                "ON j.scope = q.scope AND j.key = q.key "
                "AND j.namespace = string_to_array(q.ns, '.')::text[] "
                "WHERE j.ttl_minutes IS NOT NULL FOR UPDATE OF j SKIP LOCKED) s "
                "WHERE i.scope = s.scope AND i.namespace = s.namespace AND i.key = s.key"
            ).format(items=self._t_items),
            (
                [r["scope"] for r in rows],
                [".".join(r["namespace"]) for r in rows],
                [r["key"] for r in rows],
            ),
        )

    # -- list_namespaces ---------------------------------------------------------------------

    def _list_plan(self, op: ListNamespacesOp) -> Plan[list[tuple[str, ...]]]:
        conds: list[sql.Composable] = [self._alive("i")]
        params: list[Any] = []
        for cond in op.match_conditions or ():
            c, p = match_condition("i", cond)
            conds.append(c)
            params += p
        ns_expr = (
            sql.SQL("i.namespace[1:%s]") if op.max_depth is not None else sql.SQL("i.namespace")
        )
        head: list[Any] = [op.max_depth] if op.max_depth is not None else []
        rows = yield Sql(
            sql.SQL(
                "SELECT DISTINCT {ns} AS ns FROM {items} i WHERE {conds} "
                "ORDER BY 1 LIMIT %s OFFSET %s"
            ).format(ns=ns_expr, items=self._t_items, conds=sql.SQL(" AND ").join(conds)),
            [*head, *params, op.limit, op.offset],
            replica=True,
        )
        return [tuple(r["ns"]) for r in rows]

    # -- search ------------------------------------------------------------------------------

    def _scope_conditions(self, op: SearchOp, alias: str = "i") -> tuple[sql.Composable, list[Any]]:
        ns_sql, ns_params = prefix_condition(alias, op.namespace_prefix, self.scope_depth)
        f_sql, f_params = filter_condition(
            sql.SQL("{}.value").format(sql.Identifier(alias)), op.filter
        )
        return (
            sql.SQL(" AND ").join([ns_sql, f_sql, self._alive(alias)]),
            [*ns_params, *f_params],
        )

    def _search_plan(self, op: SearchOp, query_vector: np.ndarray | None) -> Plan[list[SearchItem]]:
        if op.limit + op.offset == 0:
            return []
        if self.index is not None and self.index.quality.active:
            scored = yield from self._quality_rows_plan(op, query_vector)
        else:
            scored = yield from self._search_rows_plan(op, query_vector)
        if op.refresh_ttl:
            stale = [r for r, _ in scored if r["ttl_minutes"] is not None]
            if stale:
                yield from self._refresh_plan(stale)
        return [row_to_search_item(r, s) for r, s in scored]

    def _quality_rows_plan(
        self, op: SearchOp, query_vector: np.ndarray | None
    ) -> Plan[list[tuple[Mapping[str, Any], float | None]]]:
        """`_search_rows_plan` with ``index["collapse"]``/``index["ranking"]`` applied
        (`_quality`): candidates are fetched from offset 0, `fetch_sizes(want)` of them, doubled
        while the collapsed page is short and the scope has more."""
        idx = cast(ResolvedIndex, self.index)
        cfg = idx.quality
        want = op.limit + op.offset
        fetch = fetch_sizes(want)
        while True:
            raw = yield from self._search_rows_plan(
                op._replace(limit=fetch, offset=0), query_vector
            )
            vectors: dict[tuple[str, tuple[str, ...], str], np.ndarray] = {}
            if cfg.needs_vectors and idx.has_vectors and raw:
                vectors = yield from self._item_vectors_plan([r for r, _ in raw])
            cands = [
                Candidate(
                    item=row_to_search_item(r, s),
                    hash=content_hash([t for _, t in indexed_texts(idx, r["value"], None)[0]]),
                    vector=vectors.get(item_key(r)),
                    extra=r,
                )
                for r, s in raw
            ]
            ordered = rank_and_collapse(cands, cfg, query=bool(op.query))
            if len(ordered) >= want or len(raw) < fetch:
                return [(c.extra, c.item.score) for c in ordered[op.offset : want]]
            fetch *= 2

    def _item_vectors_plan(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> Plan[dict[tuple[str, tuple[str, ...], str], np.ndarray]]:
        """Each item's stored vectors (mean of its fields): one statement."""
        found = yield Sql(
            sql.SQL(
                # Binary (pgvector's send format: int16 dims, int16 0, big-endian floats): a
                # float4[] would be parsed from text, 384 floats per row.
                "SELECT v.scope, v.namespace, v.key, {send}(v.embedding) AS emb FROM {vectors} v "
                "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS q(scope, ns, key) "
                "ON v.scope = q.scope AND v.key = q.key "
                "AND v.namespace = string_to_array(q.ns, '.')::text[]"
            ).format(
                vectors=self._t_vectors,
                send=sql.Identifier(f"{cast(ResolvedIndex, self.index).vector_type}_send"),
            ),
            (
                [r["scope"] for r in rows],
                [".".join(r["namespace"]) for r in rows],
                [r["key"] for r in rows],
            ),
            replica=True,
        )
        fmt = ">f2" if cast(ResolvedIndex, self.index).vector_type == "halfvec" else ">f4"
        acc: dict[tuple[str, tuple[str, ...], str], list[np.ndarray]] = {}
        for r in found:
            vec = np.frombuffer(bytes(r["emb"]), dtype=fmt, offset=4).astype(np.float32)
            acc.setdefault(item_key(r), []).append(vec)
        return {k: np.mean(v, axis=0).astype(np.float32) for k, v in acc.items()}

    def _search_rows_plan(
        self, op: SearchOp, query_vector: np.ndarray | None
    ) -> Plan[list[tuple[Mapping[str, Any], float | None]]]:
        """The search's page as (row, score), best first (no TTL refresh)."""
        idx = self.index
        want = op.limit + op.offset
        conds, params = self._scope_conditions(op)
        if not op.query or idx is None:
            rows = yield Sql(
                sql.SQL(
                    "SELECT i.scope, i.namespace, i.key, i.value, i.created_at, i.updated_at, "
                    "i.ttl_minutes FROM {items} i WHERE {conds} "
                    "ORDER BY i.updated_at DESC, i.namespace, i.key LIMIT %s OFFSET %s"
                ).format(items=self._t_items, conds=conds),
                [*params, op.limit, op.offset],
                replica=True,
                merge=True,
            )
            scored: Sequence[tuple[Mapping[str, Any], float | None]] = [(r, None) for r in rows]
        else:
            vector_hits, keyword_hits = yield from self._ranked_candidates(
                op, query_vector, want, conds, params
            )
            if idx.mode == "vector":
                scored = list(vector_hits)
            elif idx.mode == "keyword":
                scored = list(keyword_hits)
            else:
                scored = list(fuse_rrf([vector_hits, keyword_hits]))
            scored = scored[op.offset : want]
        return list(scored)

    def _ranked_candidates(
        self,
        op: SearchOp,
        qvec: np.ndarray | None,
        want: int,
        conds: sql.Composable,
        params: list[Any],
    ) -> Plan[tuple[list[tuple[Mapping[str, Any], float]], list[tuple[Mapping[str, Any], float]]]]:
        """The vector and the keyword candidates of a search, best first, fetched with ONE
        statement (one round trip; the two rankings are ``UNION ALL`` branches tagged by
        ``src``). Only a short approximate answer, a filter found unselective or a multi-field
        index that needs more rows costs further statements (`_vector_candidates`); a filter
        found unselective lately (`_unselective`) goes to the HNSW index without the count."""
        idx = cast(ResolvedIndex, self.index)
        branches: list[sql.Composable] = []
        args: list[Any] = []
        ef: int | None = None
        vector_plan: tuple[str, bool, int] | None = None
        contains: Contains | None = None
        cutoff = 0
        if idx.uses_vectors and qvec is not None:
            qtext = vector_literal(qvec)
            exact = idx.ann == "none" or len(op.namespace_prefix) >= self.scope_depth
            per_item = max(1, len(idx.fields))
            fetch = want * per_item + (per_item > 1) * want
            if not exact:
                contains = containment_condition("i", op.filter)
            if contains is not None and self._unselective.known(_filter_key(contains)):
                contains = None
            if contains is not None:
                # Filter first, if the statement's own bounded count finds it selective.
                vectors, _, _ = yield from self._vectors_estimate()
                cutoff = exact_filter_rows(vectors)
                branch, branch_args = self._filter_first_branch(
                    conds, params, qtext, fetch, contains, cutoff
                )
                exact = True
            else:
                if not exact:
                    ef = yield from self._ef_search(op, fetch)
                branch, branch_args = self._vector_scan_sql(
                    conds, params, qtext, fetch, exact=exact, scope_only=self._scope_only(op)
                )
            branches.append(branch)
            args += branch_args
            vector_plan = (qtext, exact, fetch)
        if idx.uses_keywords:
            branch, branch_args = self._keyword_sql(op, want, conds, params)
            branches.append(branch)
            args += branch_args
        if not branches:
            return [], []
        if contains is not None:
            branches.append(sql.SQL(_FILTERED_COUNT_BRANCH))
        query: sql.Composed = sql.SQL(" UNION ALL ").join(
            sql.SQL("({})").format(b) for b in branches
        )
        first: list[dict[str, Any]] | None
        if contains is not None:
            results = yield self._filter_first_tx(query, args, contains, cutoff)
            rows = results[-1]
            count = next(int(r["distance"]) for r in rows if r["src"] == "n")
            first = [r for r in rows if r["src"] == "v"]
            if count > cutoff:
                # Unselective: the gate kept the exact branch from running; the HNSW index.
                assert vector_plan is not None
                self._unselective.remember(_filter_key(contains))
                contains, first = None, None
                vector_plan = (vector_plan[0], False, vector_plan[2])
        else:
            if ef is not None:
                query, args = _with_hnsw_knobs(query, args, ef)
            # Without the HNSW knobs (keyword and exact vector branches) it is a plain read.
            rows = yield Sql(query, args, replica=True, merge=ef is None)
            first = [r for r in rows if r["src"] in _VECTOR_SOURCES]
        keyword_hits = [(r, float(r["rank"])) for r in rows if r["src"] == "k"]
        vector_hits: list[tuple[Mapping[str, Any], float]] = []
        if vector_plan is not None:
            qtext, exact, fetch = vector_plan
            vector_hits = yield from self._vector_candidates(
                op,
                qtext,
                want,
                conds,
                params,
                exact=exact,
                fetch=fetch,
                first=first,
                contains=contains,
                cutoff=cutoff,
            )
        return vector_hits, keyword_hits

    def _filter_first_branch(
        self,
        conds: sql.Composable,
        params: list[Any],
        qtext: str,
        fetch: int,
        contains: Contains,
        cutoff: int,
    ) -> tuple[sql.Composed, list[Any]]:
        """The exact vector branch of a selective filter (at most `cutoff` items contain its
        containment, `_config.exact_filter_rows`): the items that contain the filter's
        containment (the GIN index on the values, see `_filter_first_tx`), every one scored,
        each item's vectors by primary key (the LATERAL subquery).

        It runs only if `_filter_first_tx`'s bounded count shows the filter selective: the
        count is an InitPlan gate, evaluated before any row is read. The items subquery holds
        only the containment condition (OFFSET 0 keeps the prefix, the filter's own SQL and
        the TTL condition, applied outside, from being pushed into it): the planner could
        otherwise start from the namespace range, which it misestimates (see below)."""
        query = sql.SQL(
            "SELECT 'v'::text AS src, {cols}, ({dist})::float8 AS distance, "
            "NULL::float8 AS rank FROM (SELECT {cols}, i.expires_at FROM {items} i "
            "WHERE {contains} OFFSET 0) i CROSS JOIN LATERAL (SELECT v.embedding "
            "FROM {vectors} v WHERE v.scope = i.scope AND v.namespace = i.namespace "
            "AND v.key = i.key OFFSET 0) v WHERE (SELECT n FROM lghm_filtered) <= %s "
            "AND {conds} ORDER BY ({dist}) + 0 LIMIT %s"
        ).format(
            cols=sql.SQL(_CANDIDATE_COLUMNS),
            dist=self._distance_sql(),
            items=self._t_items,
            contains=contains[0],
            vectors=self._t_vectors,
            conds=conds,
        )
        return query, [qtext, *contains[1], cutoff, *params, qtext, fetch]

    def _filter_first_tx(
        self, query: sql.Composable, args: list[Any], contains: Contains, cutoff: int
    ) -> Tx:
        """`query` under the CTE ``lghm_filtered``: how many items contain the filter's
        containment, counted through the GIN index up to `cutoff` + 1 (so an
        unselective filter costs a short count, not a scan), with sequential scans off for
        this transaction.

        The store, not the planner, decides that the index is the way in: on a table of some
        thousands of cached rows the planner prices the index's scattered heap reads above a
        sequential scan of everything (5 ms against 0.2 ms at 20k items), and it cannot be
        told otherwise inside the statement (planner settings are read before it runs)."""
        full = sql.SQL(
            "WITH lghm_filtered AS MATERIALIZED (SELECT count(*) AS n FROM (SELECT 1 "
            "FROM {items} i WHERE {contains} LIMIT %s) c) {query}"
        ).format(items=self._t_items, contains=contains[0], query=query)
        return Tx(
            [
                Sql("SET LOCAL enable_seqscan = off"),
                Sql(full, [*contains[1], cutoff + 1, *args]),
            ],
            replica=True,
        )

    def _vector_scan_sql(
        self,
        conds: sql.Composable,
        params: list[Any],
        qtext: str,
        fetch: int,
        *,
        exact: bool,
        scope_only: Contains | None = None,
    ) -> tuple[sql.Composed, list[Any]]:
        """The `fetch` nearest vectors in scope joined to their items (``src = 'v'``).

        ``exact`` adds ``+ 0`` to the ORDER BY, which makes it unindexable, so the planner
        scores every row in scope exactly instead of post-filtering an approximate index scan.
        Without it the scan reads the HNSW index: run it under `_with_hnsw_knobs`.
        An exact scan with `scope_only` (the search has no filter, `_scope_only`) scores the
        vectors alone and joins the items of the best `fetch` only (`_scored_first_sql`).
        """
        if exact and scope_only is not None:
            return self._scored_first_sql(scope_only, qtext, fetch)
        if exact:
            query = sql.SQL(
                "SELECT 'v'::text AS src, {cols}, ({dist})::float8 AS distance, "
                "NULL::float8 AS rank FROM {vectors} v JOIN {items} i ON i.scope = v.scope "
                "AND i.namespace = v.namespace AND i.key = v.key WHERE {conds} "
                "ORDER BY ({dist}) + 0 LIMIT %s"
            ).format(
                cols=sql.SQL(_CANDIDATE_COLUMNS),
                dist=self._distance_sql(),
                vectors=self._t_vectors,
                items=self._t_items,
                conds=conds,
            )
            return query, [qtext, *params, qtext, fetch]
        # The store wants the HNSW index here, so the statement leaves the planner no other
        # way: vectors in index order, each item looked up by primary key and post-filtered
        # in a LATERAL subquery that OFFSET 0 keeps from being flattened into a join (so the
        # items cannot become the outer side). With a plain join, the planner estimated the
        # namespace-range conditions of ("users",) at 0.5% of rows (they matched all 20,000),
        # joined every item to its vector and sorted: 353 ms p50 against 11 ms unprefixed
        # (20k items, 50 users, one run). The scan's iterative mode keeps producing rows
        # while the post-filter rejects them; a short answer falls back to the exact scan.
        query = sql.SQL(
            "SELECT 'v'::text AS src, {cols}, ({dist})::float8 AS distance, NULL::float8 AS rank "
            "FROM {vectors} v CROSS JOIN LATERAL (SELECT {cols_only} FROM {items} i "
            "WHERE i.scope = v.scope AND i.namespace = v.namespace AND i.key = v.key "
            "AND {conds} OFFSET 0) i WHERE {knobs} ORDER BY {dist} LIMIT %s"
        ).format(
            cols=sql.SQL(_CANDIDATE_COLUMNS),
            cols_only=sql.SQL(_CANDIDATE_COLUMNS),
            dist=self._distance_sql(),
            vectors=self._t_vectors,
            items=self._t_items,
            knobs=sql.SQL(_KNOBS_GATE),
            conds=conds,
        )
        return query, [qtext, *params, qtext, fetch]

    def _scope_only(self, op: SearchOp) -> Contains | None:
        """The search's namespace prefix as a condition on the vectors (alias ``v``, which
        carry ``scope`` and ``namespace`` too), if that is all it selects by besides expiry:
        no filter."""
        if op.filter:
            return None
        return prefix_condition("v", op.namespace_prefix, self.scope_depth)

    def _scored_first_sql(
        self, scope_only: Contains, qtext: str, fetch: int
    ) -> tuple[sql.Composed, list[Any]]:
        """Exact scan of a search without a filter: the `fetch` nearest vectors in scope,
        scored on the vectors table alone, then each one's item by primary key (LATERAL,
        kept from flattening by OFFSET 0) with the expiry condition.

        Joining every vector of the scope to its item before sorting made a one-user search
        (2,000 items, 100k in all) spend most of its time in the join and in carrying every
        item's value through the sort: 2.7 ms against 0.5 ms for the top 10 first, then their
        items. A vector whose item is expired comes back as ``src = 'x'`` (no item columns):
        it counts as scanned, so `_vector_candidates` fetches more while the top is short."""
        query = sql.SQL(
            "SELECT CASE WHEN i.key IS NULL THEN {unmatched} ELSE 'v' END::text AS src, v.scope, "
            "v.namespace, v.key, i.value, i.created_at, i.updated_at, i.ttl_minutes, "
            "v.distance, NULL::float8 AS rank FROM (SELECT v.scope, v.namespace, v.key, "
            "({dist})::float8 AS distance FROM {vectors} v WHERE {scope} "
            "ORDER BY ({dist}) + 0 LIMIT %s) v LEFT JOIN LATERAL (SELECT i.key, i.value, "
            "i.created_at, i.updated_at, i.ttl_minutes FROM {items} i WHERE i.scope = v.scope "
            "AND i.namespace = v.namespace AND i.key = v.key AND {alive} OFFSET 0) i ON TRUE"
        ).format(
            dist=self._distance_sql(),
            vectors=self._t_vectors,
            scope=scope_only[0],
            items=self._t_items,
            alive=self._alive("i"),
            unmatched=sql.Literal(_SCORED_UNMATCHED),
        )
        return query, [qtext, *scope_only[1], qtext, fetch]

    def _keyword_sql(
        self, op: SearchOp, want: int, conds: sql.Composable, params: list[Any]
    ) -> tuple[sql.Composed, list[Any]]:
        """The `want` best keyword matches (``src = 'k'``): any query word (OR), ranked by
        ``ts_rank_cd``."""
        idx = cast(ResolvedIndex, self.index)
        query = sql.SQL(
            "SELECT 'k'::text AS src, {cols}, NULL::float8 AS distance, "
            "ts_rank_cd(i.tsv, q.query)::float8 AS rank FROM {items} i, "
            # OR of the query's lexemes: a lexeme has no spaces, so every space of the
            # stripped tsvector's text separates two of them.
            "(SELECT replace(strip(to_tsvector(%s::regconfig, %s))::text, ' ', ' | ')"
            "::tsquery AS query) q "
            "WHERE i.tsv @@ q.query AND {conds} "
            "ORDER BY rank DESC, i.updated_at DESC LIMIT %s"
        ).format(cols=sql.SQL(_CANDIDATE_COLUMNS), items=self._t_items, conds=conds)
        return query, [idx.ts_config, op.query, *params, want]

    def _distance_sql(self, qparam_alias: str = "v") -> sql.Composable:
        idx = cast(ResolvedIndex, self.index)
        return sql.SQL("{}.embedding {} %s::{}").format(
            sql.Identifier(qparam_alias),
            sql.SQL(DISTANCE_OPS[idx.distance][0]),
            sql.SQL(idx.vector_type),
        )

    def _score(self, distance: float) -> float:
        idx = cast(ResolvedIndex, self.index)
        if idx.distance == "cosine":
            return 1.0 - distance
        # l2: negative distance; inner product: `<#>` is the negated dot product.
        return -distance

    def _ef_search(self, op: SearchOp, fetch: int) -> Plan[int]:
        idx = cast(ResolvedIndex, self.index)
        if idx.ef_search is not None:
            return max(idx.ef_search, min(fetch, MAX_EF_SEARCH))
        rows, m, efc = yield from self._vectors_estimate()
        return auto_ef_search(rows, filtered=bool(op.filter), fetch=fetch, m=m, ef_construction=efc)

    def _vector_candidates(
        self,
        op: SearchOp,
        qtext: str,
        want: int,
        conds: sql.Composable,
        params: list[Any],
        *,
        exact: bool,
        fetch: int,
        first: list[dict[str, Any]] | None,
        contains: Contains | None,
        cutoff: int,
    ) -> Plan[list[tuple[Mapping[str, Any], float]]]:
        """The `want` items closest to the query vector in scope, best vector per item, best
        first; `first` holds the rows `_ranked_candidates` already fetched.

        * A search inside one scope (a prefix at least ``scope_depth`` long, e.g. one user's
          memories) is exact: the scope's rows come from the primary key and are all scored.
        * A selective filter (`contains`: at most `cutoff` items contain its containment,
          `_config.exact_filter_rows`) is exact: its items come from the GIN index on the
          values and are all scored (`_filter_first_branch`).
        * Otherwise the HNSW index with pgvector's iterative scan (``relaxed_order``), which
          keeps walking the graph until enough rows pass the filters; if it still comes back
          short (``hnsw.max_scan_tuples`` reached), an exact scan answers instead. So a search
          never returns fewer than `limit` items while that many match.

        Vectors are fetched in distance order; the first `want` distinct items among them are
        exactly the top `want` by best vector, so the fetch grows until it has them.
        """
        rows: list[dict[str, Any]] | None = first
        while True:
            if rows is None and contains is not None:
                query, args = self._filter_first_branch(
                    conds, params, qtext, fetch, contains, cutoff
                )
                results = yield self._filter_first_tx(query, args, contains, cutoff)
                rows = results[-1]
            elif rows is None:
                query, args = self._vector_scan_sql(
                    conds, params, qtext, fetch, exact=exact, scope_only=self._scope_only(op)
                )
                if not exact:
                    ef = yield from self._ef_search(op, fetch)
                    query, args = _with_hnsw_knobs(query, args, ef)
                rows = yield Sql(query, args, replica=True)
            if not exact and len(rows) < fetch:
                # Short: the iterative scan gave up before finding enough matching rows, or
                # fewer exist. An exact scan (every row in scope scored) tells which.
                query, args = self._vector_scan_sql(
                    conds, params, qtext, fetch, exact=True, scope_only=self._scope_only(op)
                )
                rows = yield Sql(query, args, replica=True, merge=True)
            rows.sort(key=lambda r: r["distance"])
            best: dict[tuple[str, tuple[str, ...], str], tuple[Mapping[str, Any], float]] = {}
            for r in rows:
                if r["src"] == _SCORED_UNMATCHED:
                    continue  # scored, but its item is expired or gone (`_scored_first_sql`)
                k = item_key(r)
                if k not in best:
                    best[k] = (r, self._score(r["distance"]))
            if len(best) >= want or len(rows) < fetch:
                return list(best.values())[:want]
            fetch *= 2
            rows = None

    def _vectors_estimate(self) -> Plan[tuple[float, int, int]]:
        """The planner's estimate of the vectors table's size and the HNSW index's ``m`` and
        ``ef_construction`` (pgvector's defaults 16 and 64 where the index does not say),
        cached for a minute."""
        now = time.monotonic()
        cached = self._rows_estimate
        if cached is not None and now - cached[1] < ROWS_ESTIMATE_SECONDS:
            return cached[0]
        rows = yield Sql(
            VECTORS_ESTIMATE,
            (self._index_name, self._t_vectors.as_string(None)),
            replica=True,
        )
        estimate = (
            (float(rows[0]["n"]), int(rows[0]["m"] or 16), int(rows[0]["efc"] or 64))
            if rows
            else (0.0, 16, 64)
        )
        self._rows_estimate = (estimate, now)
        return estimate

    # -- put ---------------------------------------------------------------------------------

    def _prepare_put(self, op: PutOp) -> _PreparedPut:
        ns, key = tuple(op.namespace), str(op.key)
        if op.value is None:
            return _PreparedPut(ns, key, None, None)
        value_json = check_value(ns, key, op.value, self._limits)
        ttl = op.ttl
        fields: list[tuple[str, str]] = []
        keyword_text = None
        if self.index is not None:
            fields, keyword_text = indexed_texts(self.index, op.value, op.index)
            if not self.index.has_vectors:
                fields = []
        elif op.index not in (None, False):
            raise InvalidValueError(
                f"put(index={op.index!r}) needs a store configured with index=...; "
                "this one has none"
            )
        return _PreparedPut(ns, key, value_json, ttl, fields, keyword_text)

    def _write_sql(
        self,
        prepared: Sequence[_PreparedPut],
        vectors: np.ndarray,
        *,
        oids: tuple[int, int] | None = None,
        guard: WriteGuard | None = None,
    ) -> Sql:
        """ONE statement for all of a batch's puts and deletes, with their vectors (sent as one
        binary `PackedVectorArray`; `oids` are the vector type's, see `_vector_oids_plan`).

        Data-modifying CTEs run on one snapshot in an unspecified order and may not touch a row
        twice, so each writes rows no other one touches:

        * ``up`` upserts the put items; ``del`` deletes the deleted ones (their vectors go by
          the foreign key's ``ON DELETE CASCADE``). The keys are distinct (last put per key
          wins before this), so the two never meet.
        * ``vup`` upserts the produced ``(key, field)`` vector rows (``ON CONFLICT DO UPDATE``),
          ``vdel`` deletes the put items' vector rows whose field is no longer produced: the
          two sets are disjoint. Foreign keys are checked at the end of the statement, so a
          vector of an item inserted by ``up`` passes.

        Under autocommit a single statement is atomic: a failure leaves the store as it was,
        and a put costs one round trip. (A concurrent put of the same key whose set of indexed
        fields differs can keep the other put's extra field rows: ``vdel`` reads its snapshot.
        Puts of the same fields replace each other's rows, last writer wins.)

        `guard` is `HybridStore`'s replay: puts older than their key's tombstone are refused
        in the same statement, and deletes record their tombstones. The result's one row has
        ``written``, the number of puts applied.
        """
        d = self.scope_depth
        idx = self.index
        vec = idx is not None and idx.has_vectors
        deletes = [(n, p) for n, p in enumerate(prepared) if p.value_json is None]
        upserts = [(n, p) for n, p in enumerate(prepared) if p.value_json is not None]
        times = list(guard.times) if guard is not None else []

        def keys(rows: Sequence[tuple[int, _PreparedPut]]) -> list[Any]:
            return [
                [scope_of(p.namespace, d) for _, p in rows],
                [".".join(p.namespace) for _, p in rows],
                [p.key for _, p in rows],
            ]

        # Parameters in the order of the placeholders of `_write_query`; first the keys whose
        # advisory locks the statement takes (every key it writes, puts and deletes alike).
        params: list[Any] = [
            KEY_LOCK_CLASS,
            [".".join(p.namespace) for p in prepared],
            [p.key for p in prepared],
            *store_lock_params(self.schema),
        ]
        if upserts:
            params += [
                *keys(upserts),
                [p.value_json for _, p in upserts],
                [p.ttl for _, p in upserts],
                [p.keyword_text for _, p in upserts],
            ]
            if vec:
                # Each put's produced field names, a JSON array: `vdel` keeps exactly those.
                params.append([json.dumps([name for name, _ in p.fields]) for _, p in upserts])
            if guard is not None:
                params.append([times[n] for n, _ in upserts])
            params.append(idx.ts_config if idx is not None else "simple")
            if vec:
                rows = _vector_rows([p for _, p in upserts], vectors)
                params += [
                    [scope_of(p.namespace, d) for p, _, _, _ in rows],
                    [".".join(p.namespace) for p, _, _, _ in rows],
                    [p.key for p, _, _, _ in rows],
                    [name for _, name, _, _ in rows],
                    pack_vector_array(
                        [v for _, _, _, v in rows],
                        cast(ResolvedIndex, idx).vector_type,
                        _need_oids(oids),
                    ),
                    [h for _, _, h, _ in rows],
                ]
        if deletes:
            params += keys(deletes)
            if guard is not None:
                params.append([times[n] for n, _ in deletes])
        notify = guard.notify if guard is not None else None
        if notify is not None:
            params += list(notify)
        table = guard.table if guard is not None else None
        shape = (
            bool(upserts),
            bool(deletes),
            table.as_string(None) if table else None,
            notify is not None,
        )
        query = self._write_queries.get(shape)
        if query is None:
            query = self._write_queries[shape] = self._write_query(
                shape[0], shape[1], table, notify=shape[3]
            )
        return Sql(query, params)

    def _write_query(
        self,
        upserts: bool,
        deletes: bool,
        tombstones: sql.Composable | None,
        *,
        notify: bool = False,
    ) -> str:
        """The text of `_write_sql`'s statement for one shape (cached: it is built once)."""
        idx = self.index
        vec = idx is not None and idx.has_vectors
        guard = tombstones is not None
        # The global lock order (invariant 9, `_locks`): before touching any row, the
        # statement takes the store lock shared, then a transaction-scoped advisory lock per
        # written key, in ascending order of the key's hash. Two of our writes that share a
        # key queue on the lowest shared lock instead of each holding one row the other wants
        # (2 of 40 opposite-order batches deadlocked without it); rows are only touched under
        # their key's lock, so row-lock waits between our statements cannot form a cycle. A
        # hash collision only serializes two writers. The main query reads `locks` (an
        # InitPlan), so it runs before the data-modifying CTEs, which PostgreSQL runs after
        # the main query, in the order they are listed.
        ctes: list[sql.Composable] = [
            sql.SQL(
                "locks AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s::int4, l.h) "
                "FROM (SELECT DISTINCT hashtext(k.ns || chr(1) || k.key) AS h "
                "FROM unnest(%s::text[], %s::text[]) AS k(ns, key) ORDER BY 1) l "
                # The store lock shared, first (`_locks`): an InitPlan of a one-time filter
                # runs before the scan yields its first row, so before any key lock.
                "WHERE (SELECT pg_advisory_xact_lock_shared(%s::int4, %s::int4)::text) "
                "IS NOT NULL)"
            )
        ]
        if upserts:
            refused = (
                sql.SQL(
                    " WHERE NOT EXISTS (SELECT 1 FROM {t} t WHERE t.scope = q.scope "
                    "AND t.namespace = string_to_array(q.ns, '.')::text[] AND t.key = q.key "
                    "AND t.deleted_at >= q.at)"
                ).format(t=tombstones)
                if guard
                else sql.SQL("")
            )
            ctes.append(
                sql.SQL(
                    "puts AS (SELECT q.scope, string_to_array(q.ns, '.')::text[] AS namespace, "
                    "q.key, q.value, q.ttl, q.txt{fields} FROM unnest(%s::text[], %s::text[], "
                    "%s::text[], %s::text[], %s::float8[], %s::text[]{fields_col}{at_col}) "
                    "AS q(scope, ns, key, value, ttl, txt{fields_name}{at_name}){refused})"
                ).format(
                    fields=sql.SQL(", q.fields::jsonb AS fields" if vec else ""),
                    fields_col=sql.SQL(", %s::text[]" if vec else ""),
                    fields_name=sql.SQL(", fields" if vec else ""),
                    at_col=sql.SQL(", %s::float8[]" if guard else ""),
                    at_name=sql.SQL(", at" if guard else ""),
                    refused=refused,
                )
            )
            ctes.append(
                sql.SQL(
                    "up AS (INSERT INTO {items} AS i (scope, namespace, key, value, expires_at, "
                    "ttl_minutes, tsv) "
                    "SELECT u.scope, u.namespace, u.key, u.value::jsonb, "
                    "now() + make_interval(secs => u.ttl * 60), u.ttl, "
                    "CASE WHEN u.txt IS NULL THEN NULL "
                    "ELSE to_tsvector(%s::regconfig, u.txt) END FROM puts u "
                    "ON CONFLICT (scope, namespace, key) DO UPDATE SET value = excluded.value, "
                    "updated_at = now(), expires_at = excluded.expires_at, "
                    "ttl_minutes = excluded.ttl_minutes, tsv = excluded.tsv)"
                ).format(items=self._t_items)
            )
            if vec:
                assert idx is not None
                ctes.append(
                    sql.SQL(
                        "vrows AS (SELECT r.scope, "
                        "string_to_array(r.ns, '.')::text[] AS namespace, r.key, r.field, r.emb, "
                        "r.hash FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
                        "%s::{vtype}[], %s::text[]) "
                        "AS r(scope, ns, key, field, emb, hash))"
                    ).format(vtype=sql.SQL(idx.vector_type))
                )
                # Guarded: only rows of puts that are written (a refused put keeps its old
                # vectors); otherwise every put is written.
                written_only = (
                    sql.SQL(
                        " JOIN puts u ON u.scope = r.scope AND u.namespace = r.namespace "
                        "AND u.key = r.key"
                    )
                    if guard
                    else sql.SQL("")
                )
                ctes.append(
                    sql.SQL(
                        "vup AS (INSERT INTO {vectors} AS v (scope, namespace, key, field, "
                        "embedding, text_hash) SELECT r.scope, r.namespace, r.key, r.field, "
                        "r.emb::{vtype}, r.hash FROM vrows r{written_only} "
                        "ON CONFLICT (scope, namespace, key, field) DO UPDATE "
                        "SET embedding = excluded.embedding, text_hash = excluded.text_hash)"
                    ).format(
                        vectors=self._t_vectors,
                        vtype=sql.SQL(idx.vector_type),
                        written_only=written_only,
                    )
                )
                # `jsonb ? text`: a test per row, cheaper to plan and run than an anti-join.
                ctes.append(
                    sql.SQL(
                        "vdel AS (DELETE FROM {vectors} v USING puts u WHERE v.scope = u.scope "
                        "AND v.namespace = u.namespace AND v.key = u.key "
                        "AND NOT (u.fields ? v.field))"
                    ).format(vectors=self._t_vectors)
                )
        if deletes:
            ctes.append(
                sql.SQL(
                    "dels AS (SELECT q.scope, string_to_array(q.ns, '.')::text[] AS namespace, "
                    "q.key{at} FROM unnest(%s::text[], %s::text[], %s::text[]{at_col}) "
                    "AS q(scope, ns, key{at_name}))"
                ).format(
                    at=sql.SQL(", q.at" if guard else ""),
                    at_col=sql.SQL(", %s::float8[]" if guard else ""),
                    at_name=sql.SQL(", at" if guard else ""),
                )
            )
            ctes.append(
                sql.SQL(
                    "del AS (DELETE FROM {items} i USING dels q WHERE i.scope = q.scope "
                    "AND i.namespace = q.namespace AND i.key = q.key)"
                ).format(items=self._t_items)
            )
            if guard:
                ctes.append(
                    sql.SQL(
                        "tomb AS (INSERT INTO {t} AS t (scope, namespace, key, deleted_at) "
                        "SELECT q.scope, q.namespace, q.key, q.at FROM dels q "
                        "ON CONFLICT (scope, namespace, key) DO UPDATE "
                        "SET deleted_at = greatest(t.deleted_at, excluded.deleted_at))"
                    ).format(t=tombstones)
                )
        notified = sql.SQL("")
        if notify:
            ctes.append(sql.SQL("notice AS MATERIALIZED (SELECT pg_notify(%s, %s))"))
            notified = sql.SQL(", (SELECT count(*) FROM notice) AS notified")
        written = sql.SQL("(SELECT count(*) FROM puts)" if upserts else "0")
        return (
            sql.SQL(
                "WITH {ctes} SELECT (SELECT count(*) FROM locks) AS locked{notified}, "
                "{written} AS written"
            )
            .format(ctes=sql.SQL(", ").join(ctes), written=written, notified=notified)
            .as_string(None)
        )

    def _put_plan(self, prepared: list[_PreparedPut], vectors: np.ndarray) -> Plan[None]:
        # One statement (atomic under autocommit): one round trip, and a failure changes nothing.
        oids = None
        if self.index is not None and self.index.has_vectors:
            oids = yield from self._vector_oids_plan()  # cached: no round trip after setup
        yield self._write_sql(prepared, vectors, oids=oids)

    def _vector_oids_plan(self) -> Plan[tuple[int, int]]:
        """The OIDs of the vector type and its array type (looked up once per store)."""
        if self._vector_oids is None:
            idx = cast(ResolvedIndex, self.index)
            rows = yield Sql(VECTOR_TYPE_OIDS, (idx.vector_type,))
            self._vector_oids = (int(rows[0]["oid"]), int(rows[0]["array_oid"]))
        return self._vector_oids

    # -- bulk --------------------------------------------------------------------------------

    def _bulk_plan(self, ops: Iterable[PutOp]) -> Plan[int]:
        """Load puts with COPY into staging tables, then upsert them in one transaction; a
        large load drops the HNSW index first and rebuilds it after (inside the transaction,
        so a failure keeps the old index)."""
        latest: dict[tuple[tuple[str, ...], str], PutOp] = {}
        for op in ops:
            if not isinstance(op, PutOp):
                raise TypeError(f"bulk_put takes PutOps, got {type(op).__name__}")
            if op.value is None:
                raise InvalidValueError("bulk_put loads values; delete with batch()/delete()")
            validate_op(op, self._limits)
            latest.pop((tuple(op.namespace), str(op.key)), None)
            latest[(tuple(op.namespace), str(op.key))] = op
        prepared = [self._prepare_put(op) for op in latest.values()]
        if not prepared:
            return 0
        idx = self.index
        has_vec = idx is not None and idx.has_vectors
        vec_rows: list[tuple[_PreparedPut, str, str, PackedVector]] = []
        if has_vec:
            assert idx is not None
            texts = [t for p in prepared for _, t in p.fields]
            packed: list[PackedVector] = []
            # Embedding calls in large chunks: one per batch would hold every vector at once.
            for start in range(0, len(texts), BULK_EMBED_CHUNK):
                chunk = texts[start : start + BULK_EMBED_CHUNK]
                raw = yield Embed(chunk)
                vecs = check_vectors(raw, chunk, cast(int, idx.dims), "texts")
                packed.extend(pack_vector(v, idx.vector_type) for v in vecs)
            names = [(p, name, text_hash(t)) for p in prepared for name, t in p.fields]
            vec_rows = [(p, name, h, v) for (p, name, h), v in zip(names, packed, strict=True)]
        d = self.scope_depth
        rebuild = False
        existing = 0
        if has_vec and idx is not None and idx.ann == "hnsw" and vec_rows:
            rows = yield Sql(sql.SQL("SELECT count(*) AS n FROM {}").format(self._t_vectors))
            existing = int(rows[0]["n"])
            rebuild = len(vec_rows) >= BULK_REBUILD_RATIO * existing
        # The GIN index on the values likewise: maintained row by row it halved the load rate
        # (20k items: 8.7 s against 4.9 s); rebuilt after the load it costs a fraction of that.
        rows = yield Sql(sql.SQL("SELECT count(*) AS n FROM {}").format(self._t_items))
        rebuild_values = len(prepared) >= BULK_REBUILD_RATIO * int(rows[0]["n"])
        vector_oid = 0
        if vec_rows and idx is not None:
            rows = yield Sql("SELECT %s::regtype::oid AS oid", (idx.vector_type,))
            vector_oid = int(rows[0]["oid"])
        ts_config = idx.ts_config if idx is not None else "simple"
        stmts: list[Sql | CopyIn] = []
        if rebuild or rebuild_values:
            # DROP INDEX needs the tables' ACCESS EXCLUSIVE lock. A batch write holds ROW
            # EXCLUSIVE on them from its statement's start, *then* waits for the shared store
            # lock; taking the table locks before the store lock (items, then vectors, the order
            # a write statement opens them) keeps the two from waiting on each other in a cycle.
            tables = [self._t_items, *([self._t_vectors] if has_vec else [])]
            stmts.append(
                Sql(
                    sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                        sql.SQL(", ").join(tables)
                    )
                )
            )
        stmts += [
            # The store lock exclusive (`_locks`): no batch write holds a key or row lock
            # meanwhile, so the load's row locks cannot close a cycle with one.
            Sql(LOCK_STORE_EXCLUSIVE, store_lock_params(self.schema)),
            Sql(
                "CREATE TEMP TABLE lghm_stage_items (scope text, ns text, key text, value text, "
                "ttl float8, txt text) ON COMMIT DROP"
            ),
            CopyIn(
                "COPY lghm_stage_items (scope, ns, key, value, ttl, txt) FROM STDIN",
                (
                    (
                        scope_of(p.namespace, d),
                        ".".join(p.namespace),
                        p.key,
                        p.value_json,
                        p.ttl,
                        p.keyword_text,
                    )
                    for p in prepared
                ),
            ),
        ]
        if rebuild:
            stmts.append(
                Sql(
                    sql.SQL("DROP INDEX IF EXISTS {}").format(
                        sql.Identifier(self.schema, VECTOR_INDEX_NAME)
                    )
                )
            )
        if rebuild_values:
            stmts.append(
                Sql(
                    sql.SQL("DROP INDEX IF EXISTS {}").format(
                        sql.Identifier(self.schema, VALUE_INDEX_NAME)
                    )
                )
            )
        stmts.append(
            Sql(
                sql.SQL(
                    "INSERT INTO {items} AS i (scope, namespace, key, value, expires_at, "
                    "ttl_minutes, tsv) "
                    "SELECT q.scope, string_to_array(q.ns, '.')::text[] COLLATE \"C\", q.key, "
                    "q.value::jsonb, now() + make_interval(secs => q.ttl * 60), q.ttl, "
                    "CASE WHEN q.txt IS NULL THEN NULL ELSE to_tsvector(%s::regconfig, q.txt) END "
                    # Rows of one scope together on disk: a per-scope (exact) search then
                    # reads a few pages instead of one page per item.
                    "FROM lghm_stage_items q ORDER BY q.scope, q.ns, q.key "
                    "ON CONFLICT (scope, namespace, key) DO UPDATE SET value = excluded.value, "
                    "updated_at = now(), expires_at = excluded.expires_at, "
                    "ttl_minutes = excluded.ttl_minutes, tsv = excluded.tsv"
                ).format(items=self._t_items),
                (ts_config,),
            )
        )
        if has_vec:
            assert idx is not None
            stmts += [
                Sql(
                    sql.SQL(
                        "DELETE FROM {vectors} v USING lghm_stage_items q WHERE v.scope = q.scope "
                        "AND v.key = q.key AND v.namespace = string_to_array(q.ns, '.')::text[]"
                    ).format(vectors=self._t_vectors)
                ),
                Sql(
                    sql.SQL(
                        "CREATE TEMP TABLE lghm_stage_vectors (scope text, ns text, key text, "
                        "field text, emb {vtype}, hash text) ON COMMIT DROP"
                    ).format(vtype=sql.SQL(idx.vector_type))
                ),
                CopyIn(
                    "COPY lghm_stage_vectors (scope, ns, key, field, emb, hash) FROM STDIN "
                    "(FORMAT BINARY)",
                    (
                        (scope_of(p.namespace, d), ".".join(p.namespace), p.key, name, emb, h)
                        for p, name, h, emb in vec_rows
                    ),
                    types=["text", "text", "text", "text", vector_oid, "text"],
                ),
                Sql(
                    sql.SQL(
                        "INSERT INTO {vectors} (scope, namespace, key, field, embedding, "
                        "text_hash) SELECT scope, string_to_array(ns, '.')::text[], key, field, "
                        "emb, hash FROM lghm_stage_vectors ORDER BY scope, ns, key, field"
                    ).format(vectors=self._t_vectors)
                ),
            ]
            if rebuild:
                stmts += [
                    # HNSW builds fast only while the graph fits in maintenance_work_mem.
                    Sql(
                        "SELECT set_config('maintenance_work_mem', %s, true)",
                        (f"{build_memory_mb(existing + len(vec_rows), idx)}MB",),
                    ),
                    Sql(prepare_ann_index(idx, concurrently=False, schema=self.schema)),
                ]
        if rebuild_values:
            stmts.append(Sql(value_index_ddl(concurrently=False, schema=self.schema)))
        # The GIN indexes the load maintained (not rebuilt) took its rows into their pending
        # lists, which every search then reads through until a vacuum merges them: a keyword
        # lookup right after a 100k load read 248 pages of it instead of 4 (2.6 ms).
        stmts.append(
            Sql(
                CLEAN_GIN_PENDING,
                (
                    [
                        sql.Identifier(self.schema, name).as_string(None)
                        for name in (
                            TSV_INDEX_NAME,
                            *(() if rebuild_values else (VALUE_INDEX_NAME,)),
                        )
                    ],
                ),
            )
        )
        # Fresh statistics: the planner's row estimates (and the ef_search default) follow.
        stmts.append(
            Sql(sql.SQL("ANALYZE {}, {}").format(self._t_items, self._t_vectors))
            if has_vec
            else Sql(sql.SQL("ANALYZE {}").format(self._t_items))
        )
        yield Tx(stmts)
        self._rows_estimate = None
        self._unselective.clear()
        return len(prepared)

    # -- TTL ---------------------------------------------------------------------------------

    def _sweep_plan(self, batch_size: int) -> Plan[int]:
        total = 0
        while True:
            rows = yield Sql(
                sql.SQL(
                    "WITH doomed AS (SELECT scope, namespace, key FROM {items} "
                    "WHERE expires_at IS NOT NULL AND expires_at < now() LIMIT %s "
                    "FOR UPDATE SKIP LOCKED) "
                    "DELETE FROM {items} i USING doomed d WHERE i.scope = d.scope "
                    "AND i.namespace = d.namespace AND i.key = d.key RETURNING 1"
                ).format(items=self._t_items),
                (batch_size,),
            )
            total += len(rows)
            if len(rows) < batch_size:
                return total


# Table size from the planner's statistics, and the HNSW index's build settings (one pass over
# its reloptions; NULL when the index does not say).
VECTORS_ESTIMATE = (
    "SELECT GREATEST(t.reltuples, 0)::float8 AS n, "
    "max(o.option_value) FILTER (WHERE o.option_name = 'm') AS m, "
    "max(o.option_value) FILTER (WHERE o.option_name = 'ef_construction') AS efc "
    "FROM pg_class t LEFT JOIN pg_class ix ON ix.oid = to_regclass(%s) "
    "LEFT JOIN LATERAL pg_options_to_table(ix.reloptions) o ON TRUE "
    "WHERE t.oid = %s::regclass GROUP BY t.reltuples"
)

# Merge the pending lists of the named GIN indexes into their trees (those that exist and that
# the current role may maintain; `gin_clean_pending_list` refuses others).
CLEAN_GIN_PENDING = (
    "SELECT count(gin_clean_pending_list(c.oid)) AS n FROM pg_class c "
    "WHERE c.oid = ANY(ARRAY(SELECT to_regclass(x) FROM unnest(%s::text[]) x)) "
    "AND pg_has_role(c.relowner, 'USAGE')"
)

# The filter-first statement's last branch: how many items (up to the cutoff + 1) contain
# the filter's containment; `distance` carries it (the branches share their columns).
_FILTERED_COUNT_BRANCH = (
    "SELECT 'n'::text AS src, NULL AS scope, NULL AS namespace, NULL AS key, NULL AS value, "
    "NULL AS created_at, NULL AS updated_at, NULL AS ttl_minutes, "
    "(SELECT n FROM lghm_filtered)::float8 AS distance, NULL::float8 AS rank"
)

# `src` of a vector branch's rows: scored and matching, or (`_scored_first_sql`) scored but with
# its item expired or gone.
_SCORED_UNMATCHED = "x"
_VECTOR_SOURCES = ("v", _SCORED_UNMATCHED)


def _filter_key(contains: Contains) -> str:
    """A filter's containment as the key of `RecentlyUnselective` (its jsonb text: the
    condition's SQL is the same for every filter)."""
    return str(contains[1][0])


_CANDIDATE_COLUMNS = (
    "i.scope, i.namespace, i.key, i.value, i.created_at, i.updated_at, i.ttl_minutes"
)

# The HNSW scan's settings travel in the statement itself, so a search is one round trip (no
# BEGIN / SET LOCAL / COMMIT) and nothing leaks into the session (PgBouncer-safe): the knobs CTE
# runs as an InitPlan of the gate's one-time filter, before the index scan returns its first
# row, which is when pgvector reads hnsw.ef_search and hnsw.iterative_scan; set_config(...,
# true) lasts until the end of the statement's transaction. A test checks that the settings
# take effect (tests/store/test_search.py).
_KNOBS_GATE = "(SELECT knobs FROM hnsw_knobs) IS NOT NULL"


def _with_hnsw_knobs(
    query: sql.Composable, args: list[Any], ef_search: int
) -> tuple[sql.Composed, list[Any]]:
    """`query` (whose HNSW branch filters on `_KNOBS_GATE`) under the CTE that sets the scan's
    ``hnsw.ef_search`` and ``hnsw.iterative_scan = relaxed_order`` for this statement only."""
    return (
        sql.SQL(
            "WITH hnsw_knobs AS MATERIALIZED (SELECT set_config('hnsw.ef_search', %s, true) "
            "|| set_config('hnsw.iterative_scan', 'relaxed_order', true) AS knobs) {}"
        ).format(query),
        [str(ef_search), *args],
    )


# Reads merged into one statement at most (a statement's parameters are bounded by 65,535;
# a search has a handful).
MERGE_MAX = 64
_OP_COLUMN = "lghm_op"


def _lockstep(plans: Sequence[Plan[T]]) -> Plan[list[T]]:
    """Run independent read plans side by side; their results, in order.

    Each round, every plan's pending step runs; steps marked `Sql.merge` with the same text
    run as ONE statement, a ``UNION ALL`` of each as a subquery tagged with its plan's number
    (`_merge`), so a batch of many searches of one shape costs one round trip instead of one
    per search: a coalesced burst of 70 distinct searches took 30 ms as 70 statements.
    Everything else runs as the plan would have run it alone.
    """
    results: list[Any] = [None] * len(plans)
    pending: dict[int, Step] = {}
    for n, plan in enumerate(plans):
        try:
            pending[n] = next(plan)
        except StopIteration as stop:
            results[n] = stop.value
    while pending:
        answers: dict[int, Any] = {}
        groups: dict[tuple[str, bool], list[int]] = {}
        for n, step in pending.items():
            if isinstance(step, Sql) and step.merge:
                text = step.query if isinstance(step.query, str) else step.query.as_string(None)
                groups.setdefault((text, step.replica), []).append(n)
        for (text, replica), members in groups.items():
            if len(members) == 1:
                continue
            for start in range(0, len(members), MERGE_MAX):
                chunk = members[start : start + MERGE_MAX]
                query, params = _merge(text, [cast(Sql, pending[n]).params for n in chunk])
                rows = yield Sql(query, params, replica=replica)
                split: dict[int, list[dict[str, Any]]] = {n: [] for n in chunk}
                for row in rows:
                    split[chunk[row.pop(_OP_COLUMN)]].append(row)
                answers.update(split)
        for n, step in pending.items():
            if n not in answers:
                answers[n] = yield step
        for n, answer in answers.items():
            try:
                pending[n] = plans[n].send(answer)
            except StopIteration as stop:
                results[n] = stop.value
                del pending[n]
    return results


def _merge(text: str, params: Sequence[Sequence[Any] | None]) -> tuple[str, list[Any]]:
    """One statement for several runs of the read `text`: each run a subquery tagged with its
    number in `_OP_COLUMN`. Each branch's rows come back in its own order (an ``Append``
    returns a child's rows as that child produces them; a subquery's ``ORDER BY ... LIMIT``
    is kept, which `_ranked_candidates`'s ``UNION ALL`` relies on too).

    Examples:
        >>> query, params = _merge("SELECT %s AS x", [[1], [2]])
        >>> for branch in query.split(" UNION ALL "):
        ...     print(branch)
        (SELECT 0 AS lghm_op, s.* FROM (SELECT %s AS x) s)
        (SELECT 1 AS lghm_op, s.* FROM (SELECT %s AS x) s)
        >>> params
        [1, 2]
    """
    branches = [f"(SELECT {n} AS {_OP_COLUMN}, s.* FROM ({text}) s)" for n in range(len(params))]
    return " UNION ALL ".join(branches), [p for ps in params for p in (ps or ())]


def fuse_rrf(
    lists: Sequence[Sequence[tuple[Mapping[str, Any], float]]],
) -> list[tuple[Mapping[str, Any], float]]:
    """Reciprocal rank fusion: score = sum over lists of 1 / (60 + rank), rank from 1.

    Examples:
        >>> a, b, c = ({"scope": "s", "namespace": ["n"], "key": k} for k in "abc")
        >>> fused = fuse_rrf([[(a, 0.9), (b, 0.8)], [(b, 3.0), (c, 1.0)]])
        >>> [(r["key"], round(s, 4)) for r, s in fused]
        [('b', 0.0325), ('a', 0.0164), ('c', 0.0161)]
    """
    scores: dict[tuple[str, tuple[str, ...], str], float] = {}
    rows: dict[tuple[str, tuple[str, ...], str], Mapping[str, Any]] = {}
    for hits in lists:
        for rank, (row, _) in enumerate(hits, start=1):
            k = item_key(row)
            rows.setdefault(k, row)
            scores[k] = scores.get(k, 0.0) + 1.0 / (RRF_K + rank)
    order = sorted(scores, key=lambda k: -scores[k])
    return [(rows[k], scores[k]) for k in order]
