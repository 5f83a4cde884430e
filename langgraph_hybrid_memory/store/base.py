"""I/O-free core of `PgVectorStore` and `AsyncPgVectorStore`.

Everything that decides *what* to send to PostgreSQL lives here: the schema (numbered migrations),
SQL constants and ``_prepare_*`` builders, namespace encoding, the filter-to-SQL translation and
the shaping of rows into `Item`\\ s. The sync and async classes only *drive* it.

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
import math
import re
import struct
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, TypeVar, cast

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.adapt import Dumper
from psycopg.pq import Format

from langgraph_hybrid_memory._embeddings import text_hash
from langgraph_hybrid_memory._filters import validate_filter
from langgraph_hybrid_memory._migrations import Migration
from langgraph_hybrid_memory.errors import (
    ConfigError,
    DimensionMismatchError,
    InvalidValueError,
)

__all__ = [
    "DEFAULT_SCHEMA",
    "DEFAULT_SCOPE_DEPTH",
    "HNSWIndexConfig",
    "PgVectorIndexConfig",
    "PgVectorTTLConfig",
]

DEFAULT_SCHEMA = "memory"
DEFAULT_SCOPE_DEPTH = 2
MIGRATIONS_TABLE = "store_migrations"
VECTOR_MIGRATIONS_TABLE = "store_vector_migrations"

# HNSW indexes `vector` up to 2,000 dimensions and `halfvec` up to 4,000 (pgvector 0.8).
MAX_VECTOR_DIMS = 2000
MAX_HALFVEC_DIMS = 4000

# Reciprocal rank fusion constant (Cormack et al. 2009); 60 is the value used almost everywhere.
RRF_K = 60

# ef_search used for searches through the HNSW index, unless configured. Measured on the
# benchmark's clustered 384-dim data (bench/bench_store.py, and sweeps of ef_search per index):
#
# * m=16, ef_construction=96 (the default): unfiltered recall@10 at 20k vectors 0.991 at ef 150,
#   at 100k 0.985 at 250, 0.986 at 281, 0.990 at 300; with a 10% metadata filter 0.989 at 320
#   (20k) and 0.992 at 560 (100k). Hence 160 at 20k, grown as (vectors / 20k) ** 0.35, doubled
#   for filtered searches.
# * m=16, ef_construction=64 (pgvector's default, and indexes built by earlier versions of this
#   package): 300 at 20k gives 0.996 and 526 at 100k 0.986, so such an index keeps the wider beam.
#
# ef_construction trades ingest speed for graph quality (row-by-row `batch` ingest at 10k items,
# against langgraph's PostgresStore at 64: 1.22x faster at 64, 1.06x at 96, 0.92x at 128), and a
# better graph needs a narrower beam: unfiltered p50 at 100k went from 3.3x langgraph's (at its
# ef 40, recall 0.71) with 64 to about 2.2-2.7x with 96.
EF_CALIBRATION: dict[int, float] = {
    # least ef_construction of the index -> ef_search at EF_SCALE_ROWS vectors
    96: 160.0,
    0: 300.0,
}
EF_SCALE_EXPONENT = 0.35
EF_FILTER_FACTOR = 2.0
EF_SCALE_ROWS = 20000
MAX_EF_SEARCH = 1000
# How long a search trusts its cached estimate of the vectors table's size.
ROWS_ESTIMATE_SECONDS = 60.0
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 96
# A bulk load at least this large relative to the existing vectors rebuilds the HNSW index after
# loading instead of maintaining it row by row (row-by-row inserts run at a few hundred rows/s).
BULK_REBUILD_RATIO = 0.2
BULK_EMBED_CHUNK = 20000

T = TypeVar("T")
Query = str | sql.SQL | sql.Composed

SearchMode = Literal["vector", "keyword", "hybrid"]
DistanceType = Literal["cosine", "l2", "inner_product"]


class HNSWIndexConfig(TypedDict, total=False):
    """HNSW settings of the vector index."""

    m: int
    """Graph degree (pgvector default 16)."""
    ef_construction: int
    """Candidate list size while building (default 96; pgvector's own default is 64). A
    better-built graph needs a narrower beam for the same recall, so searches are faster;
    row-by-row inserts get slower."""
    ef_search: int
    """Candidate list size while searching (raised to the number of rows a search needs).
    Default (index built with ef_construction >= 96): 160 up to 20k vectors, then scaled by
    ``(vectors / 20000) ** 0.35`` up to 1000, and doubled for filtered searches (recall@10 >=
    0.98 on the benchmark's hard data at 20k and 100k; pgvector's own default is 40). An index
    built with a smaller ef_construction (64, pgvector's default) starts from 300: its graph
    needs the wider beam. A configured value is used as is."""


class PgVectorIndexConfig(IndexConfig, total=False):
    """How `PgVectorStore` indexes items for search.

    ``dims`` and ``embed`` enable vector search; ``fields`` choose the indexed texts (langgraph's
    path syntax, default ``["$"]``, the whole value). ``{"fields": [...], "search_mode":
    "keyword"}`` alone is valid: keyword search with no embedding model.
    """

    distance_type: DistanceType
    """``"cosine"`` (default), ``"l2"`` or ``"inner_product"``."""
    search_mode: SearchMode
    """``"hybrid"`` (default when ``embed`` is set), ``"vector"`` or ``"keyword"``."""
    vector_type: Literal["vector", "halfvec"]
    """Column type; default ``vector`` up to 2,000 dims and ``halfvec`` above (HNSW's limit)."""
    hnsw: HNSWIndexConfig
    """HNSW index settings."""
    ann_index: Literal["hnsw", "none"]
    """``"hnsw"`` (default) or ``"none"`` (always exact search)."""
    text_search_config: str
    """PostgreSQL text search configuration for keyword search (default ``"english"``)."""


class PgVectorTTLConfig(TTLConfig, total=False):
    """langgraph's `TTLConfig`. ``omit_expired`` defaults to ``True`` here: an expired item is
    never returned, even before the sweeper deletes it."""


# --------------------------------------------------------------------------------------------
# Plan steps


@dataclass(frozen=True)
class Sql:
    """Run one statement; the result is its rows (a list of dicts, empty if none)."""

    query: Query
    params: Sequence[Any] | None = None
    replica: bool = False


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


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass
class ResolvedIndex:
    """The index config, checked and with defaults filled in."""

    dims: int | None
    embeddings: Embeddings | None
    fields: list[str]
    tokenized: list[tuple[str, list[str] | Literal["$"]]]
    distance: DistanceType
    mode: SearchMode
    vector_type: Literal["vector", "halfvec"]
    ann: Literal["hnsw", "none"]
    m: int
    ef_construction: int
    ef_search: int | None
    ts_config: str

    @property
    def has_vectors(self) -> bool:
        return self.dims is not None

    @property
    def uses_vectors(self) -> bool:
        return self.has_vectors and self.mode in ("vector", "hybrid")

    @property
    def uses_keywords(self) -> bool:
        return self.mode in ("keyword", "hybrid")


_TS_CONFIG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"index[{name!r}] must be a positive integer, got {value!r}")
    return value


def resolve_index(index: Mapping[str, Any] | None, embeddings: Embeddings | None) -> ResolvedIndex:
    """Check an index config (`embeddings` already resolved from ``index["embed"]``)."""
    index = dict(index or {})
    known = set(PgVectorIndexConfig.__annotations__) | {"dims", "embed", "fields"}
    unknown = sorted(set(index) - known)
    if unknown:
        raise ConfigError(
            f"unknown index config key(s) {unknown}; accepted: {', '.join(sorted(known))}"
        )
    dims = index.get("dims")
    if dims is not None:
        dims = _positive_int(dims, "dims")
    if (dims is None) != (embeddings is None):
        raise ConfigError(
            "index needs both 'dims' and 'embed' for vector search (or neither, with "
            "search_mode='keyword')"
        )
    fields = index.get("fields") or ["$"]
    if isinstance(fields, str) or not all(isinstance(f, str) and f for f in fields):
        raise ConfigError(f"index['fields'] must be a list of paths, got {fields!r}")
    distance = index.get("distance_type", "cosine")
    if distance not in ("cosine", "l2", "inner_product"):
        raise ConfigError(
            f"index['distance_type']={distance!r}; use 'cosine', 'l2' or 'inner_product'"
        )
    mode = index.get("search_mode", "hybrid" if dims is not None else "keyword")
    if mode not in ("vector", "keyword", "hybrid"):
        raise ConfigError(f"index['search_mode']={mode!r}; use 'vector', 'keyword' or 'hybrid'")
    if mode != "keyword" and dims is None:
        raise ConfigError(
            f"search_mode={mode!r} needs 'dims' and 'embed'; without an embedding model use "
            "search_mode='keyword'"
        )
    vector_type = index.get("vector_type")
    if vector_type is None:
        vector_type = "halfvec" if dims is not None and dims > MAX_VECTOR_DIMS else "vector"
    if vector_type not in ("vector", "halfvec"):
        raise ConfigError(f"index['vector_type']={vector_type!r}; use 'vector' or 'halfvec'")
    ann = index.get("ann_index", "hnsw")
    if ann not in ("hnsw", "none"):
        raise ConfigError(f"index['ann_index']={ann!r}; use 'hnsw' or 'none'")
    if dims is not None and ann == "hnsw":
        limit = MAX_VECTOR_DIMS if vector_type == "vector" else MAX_HALFVEC_DIMS
        if dims > limit:
            raise ConfigError(
                f"an HNSW index on {vector_type} supports at most {limit} dims, got dims={dims}; "
                "use vector_type='halfvec' (up to 4000) or ann_index='none'"
            )
    hnsw = dict(index.get("hnsw") or {})
    bad = sorted(set(hnsw) - set(HNSWIndexConfig.__annotations__))
    if bad:
        raise ConfigError(
            f"unknown index['hnsw'] key(s) {bad}; accepted: m, ef_construction, ef_search"
        )
    ts_config = index.get("text_search_config", "english")
    if not isinstance(ts_config, str) or not _TS_CONFIG_RE.match(ts_config):
        raise ConfigError(
            f"index['text_search_config']={ts_config!r} is not a text search configuration name"
        )
    return ResolvedIndex(
        dims=dims,
        embeddings=embeddings,
        fields=list(fields),
        tokenized=[(f, "$" if f == "$" else tokenize_path(f)) for f in fields],
        distance=distance,
        mode=mode,
        vector_type=cast(Literal["vector", "halfvec"], vector_type),
        ann=ann,
        m=_positive_int(hnsw.get("m", DEFAULT_M), "hnsw.m"),
        ef_construction=_positive_int(
            hnsw.get("ef_construction", DEFAULT_EF_CONSTRUCTION), "hnsw.ef_construction"
        ),
        ef_search=(
            _positive_int(hnsw["ef_search"], "hnsw.ef_search") if "ef_search" in hnsw else None
        ),
        ts_config=ts_config,
    )


def validate_schema_name(schema: str) -> str:
    if not isinstance(schema, str) or not schema or len(schema) > 63 or "\x00" in schema:
        raise ConfigError(
            f"schema must be a non-empty name of at most 63 characters, got {schema!r}"
        )
    return schema


# --------------------------------------------------------------------------------------------
# Schema

_DISTANCE_OPS: dict[str, tuple[str, str]] = {
    # distance type -> (operator, opclass suffix)
    "cosine": ("<=>", "cosine_ops"),
    "l2": ("<->", "l2_ops"),
    "inner_product": ("<#>", "ip_ops"),
}

_CREATE_ITEMS = """
CREATE TABLE IF NOT EXISTS items (
    scope text COLLATE "C" NOT NULL,
    namespace text[] COLLATE "C" NOT NULL,
    key text NOT NULL,
    value jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    ttl_minutes double precision,
    tsv tsvector,
    PRIMARY KEY (scope, namespace, key)
);
CREATE TABLE IF NOT EXISTS store_settings (
    name text PRIMARY KEY,
    value jsonb NOT NULL
);
"""

MIGRATIONS: list[Migration] = [
    Migration(_CREATE_ITEMS, description="items table, settings table"),
    Migration(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_namespace_idx ON items (namespace, key)",
        transactional=False,
        index="items_namespace_idx",
        description="namespace prefix searches shorter than the scope",
    ),
    Migration(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_tsv_idx ON items USING gin (tsv)",
        transactional=False,
        index="items_tsv_idx",
        description="keyword search",
    ),
    Migration(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_expires_idx ON items (expires_at) "
        "WHERE expires_at IS NOT NULL",
        transactional=False,
        index="items_expires_idx",
        description="TTL sweeps",
    ),
]

VECTOR_INDEX_NAME = "vectors_embedding_idx"


def prepare_ann_index(
    idx: ResolvedIndex, *, concurrently: bool, schema: str | None
) -> sql.Composed:
    """``CREATE INDEX`` for the HNSW index (used by the migration and by `bulk_put`)."""
    opclass = f"{idx.vector_type}_{_DISTANCE_OPS[idx.distance][1]}"
    table = sql.Identifier(schema, "vectors") if schema else sql.Identifier("vectors")
    return sql.SQL(
        "CREATE INDEX {conc} IF NOT EXISTS {name} ON {table} USING hnsw (embedding {ops}) "
        "WITH (m = {m}, ef_construction = {efc})"
    ).format(
        conc=sql.SQL("CONCURRENTLY" if concurrently else ""),
        name=sql.Identifier(VECTOR_INDEX_NAME),
        table=table,
        ops=sql.Identifier(opclass),
        m=sql.Literal(idx.m),
        efc=sql.Literal(idx.ef_construction),
    )


def vector_migrations(idx: ResolvedIndex) -> list[Migration]:
    """Migrations of the vectors table. Dims, type and distance come from the config; `setup`
    checks an existing table against it, so a changed config never silently reuses a table."""
    assert idx.dims is not None
    out = [
        Migration(
            # Into public: the extension's types and operators must be on every session's
            # search_path, and the store schema is not.
            "CREATE EXTENSION IF NOT EXISTS vector SCHEMA public",
            description="pgvector",
        ),
        Migration(
            sql.SQL(
                """
CREATE TABLE IF NOT EXISTS vectors (
    scope text COLLATE "C" NOT NULL,
    namespace text[] COLLATE "C" NOT NULL,
    key text NOT NULL,
    field text NOT NULL,
    embedding {vtype}({dims}) NOT NULL,
    PRIMARY KEY (scope, namespace, key, field),
    FOREIGN KEY (scope, namespace, key) REFERENCES items (scope, namespace, key)
        ON DELETE CASCADE
)"""
            ).format(vtype=sql.SQL(idx.vector_type), dims=sql.Literal(idx.dims)),
            description="vectors table",
        ),
    ]
    if idx.ann == "hnsw":
        out.append(
            Migration(
                prepare_ann_index(idx, concurrently=True, schema=None),
                transactional=False,
                index=VECTOR_INDEX_NAME,
                description="HNSW index",
            )
        )
    else:
        out.append(Migration("SELECT 1", description="no ANN index"))
    out.append(
        Migration(
            # NULL in rows written before this migration (`lghm forget` hashes their values).
            "ALTER TABLE vectors ADD COLUMN IF NOT EXISTS text_hash text",
            description="text_hash: sha256 of the embedded text, as the embedding cache keys it",
        )
    )
    return out


PGVECTOR_AVAILABLE = (
    "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed, "
    "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available"
)
EMBEDDING_COLUMN_TYPE = (
    "SELECT format_type(a.atttypid, a.atttypmod) AS type FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = 'vectors' AND a.attname = 'embedding' "
    "AND NOT a.attisdropped"
)


def check_embedding_column(idx: ResolvedIndex, rows: list[dict[str, Any]], schema: str) -> None:
    """Raise if an existing vectors table has other dims or type than the config."""
    if not rows or idx.dims is None:
        return
    found = rows[0]["type"]
    wanted = f"{idx.vector_type}({idx.dims})"
    if found != wanted:
        raise DimensionMismatchError(
            f"{schema}.vectors holds {found} but the index config says {wanted}; keep the "
            "embedding model the table was built with, or set up the new model in another "
            "schema and re-import (a silent mix of models would make search return nonsense)"
        )


def pgvector_missing_message() -> str:
    return (
        "the pgvector extension is not available on this PostgreSQL server; install it "
        "(https://github.com/pgvector/pgvector#installation) or use the embedded server, or "
        "configure the store with search_mode='keyword' and no dims/embed"
    )


# --------------------------------------------------------------------------------------------
# Namespaces


def scope_of(namespace: Sequence[str], depth: int) -> str:
    """The scope of a namespace: its first `depth` labels joined by ``.``.

    Labels never contain ``.`` (langgraph rejects them), so the join is unambiguous.

    Examples:
        >>> scope_of(("users", "u1", "memories"), 2)
        'users.u1'
        >>> scope_of(("docs",), 2)
        'docs'
    """
    return ".".join(namespace[:depth])


def prefix_upper_bound(prefix: Sequence[str]) -> list[str]:
    """The smallest array greater than every array that starts with `prefix` (C collation).

    Every namespace ``n`` with ``n[:k] == prefix`` satisfies ``prefix <= n < bound`` and no other
    does: the last label gets a ``\\x01`` appended, and labels cannot contain ``\\x00``.

    Examples:
        >>> prefix_upper_bound(["users", "john"])
        ['users', 'john\\x01']
    """
    return [*prefix[:-1], prefix[-1] + "\x01"]


def prefix_condition(
    alias: str, prefix: Sequence[str], depth: int
) -> tuple[sql.Composable, list[Any]]:
    """SQL condition "the namespace in `alias` starts with the labels of `prefix`".

    Whole labels only and every character literal: it compares arrays, never uses ``LIKE``.
    A prefix as long as the scope also pins ``scope``, which is the primary key's first column
    (and the distribution column under Citus).
    """
    a = sql.Identifier(alias)
    if not prefix:
        return sql.SQL("TRUE"), []
    parts: list[sql.Composable] = []
    params: list[Any] = []
    if len(prefix) >= depth:
        parts.append(sql.SQL("{}.scope = %s").format(a))
        params.append(scope_of(prefix, depth))
    if len(prefix) != depth:
        parts.append(
            sql.SQL(
                '{a}.namespace >= %s::text[] COLLATE "C" AND {a}.namespace < %s::text[] COLLATE "C"'
                " AND {a}.namespace[1:%s] = %s::text[]"
            ).format(a=a)
        )
        params += [list(prefix), prefix_upper_bound(prefix), len(prefix), list(prefix)]
    return sql.SQL(" AND ").join(parts), params


def _match_condition(alias: str, cond: MatchCondition) -> tuple[sql.Composable, list[Any]]:
    a = sql.Identifier(alias)
    path = list(cond.path)
    if not path:
        return sql.SQL("TRUE"), []
    parts: list[sql.Composable] = [sql.SQL("cardinality({}.namespace) >= %s").format(a)]
    params: list[Any] = [len(path)]
    if cond.match_type == "prefix":
        lead = 0
        while lead < len(path) and path[lead] != "*":
            lead += 1
        if lead:
            lead_sql, lead_params = prefix_condition(alias, path[:lead], 10**6)
            parts.append(lead_sql)
            params += lead_params
        for i, label in enumerate(path[lead:], start=lead + 1):
            if label != "*":
                parts.append(sql.SQL("{}.namespace[%s] = %s").format(a))
                params += [i, label]
    elif cond.match_type == "suffix":
        n = len(path)
        for i, label in enumerate(path):
            if label != "*":
                parts.append(
                    sql.SQL("{a}.namespace[cardinality({a}.namespace) - %s] = %s").format(a=a)
                )
                params += [n - 1 - i, label]
    else:
        raise ValueError(f"unknown match type {cond.match_type!r}; use 'prefix' or 'suffix'")
    return sql.SQL(" AND ").join(parts), params


# --------------------------------------------------------------------------------------------
# Filters -> SQL


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_operator_dict(condition: Any) -> bool:
    return isinstance(condition, Mapping) and any(
        isinstance(k, str) and k.startswith("$") for k in condition
    )


def _jsonb(value: Any) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def filter_condition(
    expr: sql.Composable, filter: Mapping[str, Any] | None
) -> tuple[sql.Composable, list[Any]]:
    """Translate a `_filters` filter on the jsonb expression `expr` (an item's value) to SQL.

    The result is a boolean that is never NULL, with the semantics of `_filters.matches`
    (tested against it with random values and filters). A missing field is SQL NULL (``->``
    with a text key gives NULL for a missing key and for a non-object); JSON ``null`` is
    ``'null'::jsonb``.
    """
    validate_filter(filter)
    if not filter:
        return sql.SQL("TRUE"), []
    return _fields_condition(_Expr(expr, []), filter)


@dataclass(frozen=True)
class _Expr:
    """A SQL expression with its own parameters (repeated at every use)."""

    sql: sql.Composable
    params: list[Any]


def _fields_condition(parent: _Expr, fields: Mapping[str, Any]) -> tuple[sql.Composable, list[Any]]:
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for name, condition in fields.items():
        child = _Expr(sql.SQL("({} -> %s::text)").format(parent.sql), [*parent.params, name])
        c_sql, c_params = _condition(child, condition)
        parts.append(c_sql)
        params += c_params
    return sql.SQL("(") + sql.SQL(" AND ").join(parts) + sql.SQL(")"), params


def _use(template: str, e: _Expr, n: int, *extra: Any) -> tuple[sql.Composable, list[Any]]:
    """Fill `template`'s ``{0}`` (used `n` times, before any ``%s``) with `e`."""
    return sql.SQL(template).format(e.sql), [*(e.params * n), *extra]


def _condition(e: _Expr, condition: Any) -> tuple[sql.Composable, list[Any]]:
    if _is_operator_dict(condition):
        parts: list[sql.Composable] = []
        params: list[Any] = []
        for op, operand in condition.items():
            s, p = _operator(e, op, operand)
            parts.append(s)
            params += p
        return sql.SQL("(") + sql.SQL(" AND ").join(parts) + sql.SQL(")"), params
    if isinstance(condition, Mapping):
        # Partial match on a nested object: the stored value must be an object.
        head, head_params = _use("COALESCE(jsonb_typeof({0}) = 'object', FALSE)", e, 1)
        if not condition:
            return head, head_params
        inner, inner_params = _fields_condition(e, condition)
        return sql.SQL("({} AND {})").format(head, inner), [*head_params, *inner_params]
    return _equals(e, condition)


def _equals(e: _Expr, operand: Any) -> tuple[sql.Composable, list[Any]]:
    if operand is None:
        return _use("({0} IS NULL OR {0} = 'null'::jsonb)", e, 2)
    return _use("COALESCE({0} = %s::jsonb, FALSE)", e, 1, _jsonb(operand))


def _operator(e: _Expr, op: str, operand: Any) -> tuple[sql.Composable, list[Any]]:
    if op == "$eq":
        return _equals(e, operand)
    if op == "$ne":
        s, p = _equals(e, operand)
        return sql.SQL("NOT ") + s, p
    if op in ("$in", "$nin"):
        items = list(operand)
        non_null = [_jsonb(x) for x in items if x is not None]
        if any(x is None for x in items):
            s, p = _in_with_null(e, non_null)
        else:
            s, p = _use("COALESCE({0} = ANY(%s::jsonb[]), FALSE)", e, 1, non_null)
        return (sql.SQL("NOT ") + s if op == "$nin" else s), p
    if op == "$exists":
        return _use("({0} IS NOT NULL)" if operand else "({0} IS NULL)", e, 1)
    cmp = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
    if _is_number(operand):
        # jsonb compares numbers as numbers (9 < 10), unlike text.
        return _use(
            "COALESCE(jsonb_typeof({0}) = 'number' AND {0} " + cmp + " %s::jsonb, FALSE)",
            e,
            2,
            _jsonb(operand),
        )
    # Strings by code point, like Python: UTF-8 byte order under the C collation.
    return _use(
        "COALESCE(jsonb_typeof({0}) = 'string' AND ({0} #>> '{{}}') COLLATE \"C\" "
        + cmp
        + ' %s::text COLLATE "C", FALSE)',
        e,
        2,
        operand,
    )


def _in_with_null(e: _Expr, non_null: list[str]) -> tuple[sql.Composable, list[Any]]:
    s = sql.SQL("(COALESCE({0} = ANY(%s::jsonb[]), FALSE) OR {0} IS NULL OR {0} = 'null'::jsonb)")
    return s.format(e.sql), [*e.params, non_null, *e.params, *e.params]


# --------------------------------------------------------------------------------------------
# Values and indexed texts

_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def encode_value(namespace: tuple[str, ...], key: str, value: Any) -> str:
    """The JSON text stored for a value, or a clear `InvalidValueError`."""
    where = f"value of {namespace!r}/{key!r}"
    if not isinstance(value, Mapping):
        raise InvalidValueError(f"{where} must be a dict, got {type(value).__name__}")
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(
            f"{where} is not JSON-serialisable ({exc}); store only dicts, lists, strings, "
            "numbers, booleans and None (convert dates and objects to strings first)"
        ) from None
    if _NUL_ESCAPE.search(text):
        raise InvalidValueError(
            f"{where} contains a NUL character (\\x00), which PostgreSQL cannot store"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(
            f"{where} contains a lone surrogate and is not valid Unicode"
        ) from None
    for k in _walk_keys(value):
        if not isinstance(k, str):
            raise InvalidValueError(f"{where} has a non-string key {k!r}; JSON keys are strings")
    return text


def _walk_keys(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield k
            yield from _walk_keys(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _walk_keys(v)


def _string_leaves(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _string_leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _string_leaves(v)
    elif value is not None:
        yield str(value)


def indexed_texts(
    idx: ResolvedIndex, value: Mapping[str, Any], index: Literal[False] | list[str] | None
) -> tuple[list[tuple[str, str]], str | None]:
    """(field name, text) pairs to embed and the text for keyword search, for one put.

    A path yielding one text names its vector after the path, one yielding several
    ``path.0``, ``path.1``, ... (as langgraph's stores do).
    """
    if index is False:
        return [], None
    if index is None:
        tokenized = idx.tokenized
    else:
        if isinstance(index, str) or not all(isinstance(f, str) and f for f in index):
            raise InvalidValueError(
                f"put(index=...) must be False, None or a list of paths, got {index!r}"
            )
        tokenized = [(f, "$" if f == "$" else tokenize_path(f)) for f in index]
    out: list[tuple[str, str]] = []
    keyword: list[str] = []
    for path, tokens in tokenized:
        if tokens == "$":
            texts = [json.dumps(value, sort_keys=True, ensure_ascii=False)]
            # Keywords from the values only: key names would match every item.
            keyword.extend(_string_leaves(value))
        else:
            texts = get_text_at_path(value, tokens)
            keyword.extend(texts)
        if len(texts) == 1:
            out.append((path, texts[0]))
        else:
            out.extend((f"{path}.{i}", t) for i, t in enumerate(texts))
    keyword_text = "\n".join(keyword) if keyword else None
    return out, keyword_text


class PackedVector(bytes):
    """A vector in pgvector's binary wire format (``vector`` or ``halfvec``)."""


def pack_vector(vec: Sequence[float] | np.ndarray, vector_type: str) -> PackedVector:
    """pgvector's binary form: dims and a zero as int16, then big-endian float4 (float2 for
    halfvec).

    Examples:
        >>> pack_vector([1.0, -2.0], "vector").hex()
        '000200003f800000c0000000'
    """
    arr = np.asarray(vec, dtype=">f4" if vector_type == "vector" else ">f2")
    return PackedVector(struct.pack(">HH", arr.shape[0], 0) + arr.tobytes())


def packed_vector_dumper(type_oid: int) -> type[Dumper]:
    """A binary psycopg dumper that sends `PackedVector` bytes as type `type_oid`."""

    class PackedVectorDumper(Dumper):
        format = Format.BINARY
        oid = type_oid

        def dump(self, obj: Any) -> Buffer:
            return cast(bytes, obj)

    return PackedVectorDumper


class PackedVectorArray(bytes):
    """A one-dimensional ``vector[]`` / ``halfvec[]`` in PostgreSQL's binary array format.

    A batch's vectors travel as one binary parameter: formatting 384 floats as text in Python
    and parsing them again in the server took about a fifth of a row-by-row ingest.
    `array_oid` is the array type's OID (see `register_packed_arrays`).
    """

    array_oid: int


def pack_vector_array(
    vectors: Iterable[Sequence[float] | np.ndarray], vector_type: str, oids: tuple[int, int]
) -> PackedVectorArray:
    """`vectors` as a binary ``vector[]`` (``halfvec[]``); `oids` = (element, array) type OIDs.

    Examples:
        >>> a = pack_vector_array([[1.0], [2.0]], "vector", (16385, 16390))
        >>> a[:20].hex(), a.array_oid  # 1 dim, no nulls, element type, 2 elements from 1
        ('0000000100000000000040010000000200000001', 16390)
        >>> a[20:32].hex()  # the first element: 8 bytes, pgvector's binary form of [1.0]
        '00000008000100003f800000'
    """
    parts = [pack_vector(v, vector_type) for v in vectors]
    # ndim, has-nulls flag, element type; then (length, lower bound) per dimension; then each
    # element as (byte length, bytes).
    head = struct.pack(">iiI", 1 if parts else 0, 0, oids[0])
    if parts:
        head += struct.pack(">ii", len(parts), 1)
    out = PackedVectorArray(head + b"".join(struct.pack(">i", len(p)) + p for p in parts))
    out.array_oid = oids[1]
    return out


_ARRAY_DUMPERS: dict[int, type[Dumper]] = {}


def register_packed_arrays(cur: Any, params: Sequence[Any] | None) -> None:
    """Teach `cur` (only this cursor) to send the `PackedVectorArray` values of `params`."""
    for value in params or ():
        if isinstance(value, PackedVectorArray):
            dumper = _ARRAY_DUMPERS.get(value.array_oid)
            if dumper is None:
                dumper = _ARRAY_DUMPERS[value.array_oid] = packed_vector_dumper(value.array_oid)
            cur.adapters.register_dumper(PackedVectorArray, dumper)


VECTOR_TYPE_OIDS = (
    "SELECT t.oid::int AS oid, t.typarray::int AS array_oid FROM pg_type t "
    "WHERE t.oid = %s::regtype"
)


def vector_literal(vec: Sequence[float] | np.ndarray) -> str:
    """pgvector's text form of a vector.

    Examples:
        >>> vector_literal([0.5, -1.0])
        '[0.5,-1.0]'
    """
    return "[" + ",".join(map(repr, np.asarray(vec, dtype=np.float64).tolist())) + "]"


def check_vectors(vectors: Any, texts: Sequence[str], dims: int, what: str) -> np.ndarray:
    """The embedder's answer as a (len(texts), dims) float array, or a clear error."""
    vectors = list(vectors)
    if len(vectors) != len(texts):
        raise DimensionMismatchError(
            f"the embedding model returned {len(vectors)} vectors for {len(texts)} {what}"
        )
    sizes = {len(v) for v in vectors}
    if sizes - {dims}:
        bad = min(sizes - {dims})
        raise DimensionMismatchError(
            f"the embedding model returned a {bad}-dim vector but the index has "
            f"dims={dims}; set dims to the model's size (in a new schema) or use the "
            "model the index was built with"
        )
    arr = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), dims)
    if not np.isfinite(arr).all():
        raise DimensionMismatchError(f"the embedding model returned a non-finite value for {what}")
    return arr


# --------------------------------------------------------------------------------------------
# Results


def row_to_item(row: Mapping[str, Any]) -> Item:
    return Item(
        value=row["value"],
        key=row["key"],
        namespace=tuple(row["namespace"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def row_to_search_item(row: Mapping[str, Any], score: float | None) -> SearchItem:
    return SearchItem(
        namespace=tuple(row["namespace"]),
        key=row["key"],
        value=row["value"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        score=score,
    )


def _item_key(row: Mapping[str, Any]) -> tuple[str, tuple[str, ...], str]:
    return (row["scope"], tuple(row["namespace"]), row["key"])


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
    ) -> None:
        self.schema = validate_schema_name(schema)
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
            if default_ttl is not None and not (_is_number(default_ttl) and default_ttl > 0):
                raise ConfigError(
                    f"ttl['default_ttl'] must be a positive number of minutes, got {default_ttl!r}"
                )
        self.ttl_config = ttl
        s = sql.Identifier(schema)
        self._t_items = sql.Identifier(schema, "items")
        self._t_vectors = sql.Identifier(schema, "vectors")
        self._t_settings = sql.Identifier(schema, "store_settings")
        self._s = s
        self._rows_estimate: tuple[tuple[float, int], float] | None = None
        # `_write_sql`'s statement text per shape (puts?, deletes?, tombstone table).
        self._write_queries: dict[tuple[bool, bool, str | None], str] = {}
        self._vector_oids: tuple[int, int] | None = None

    # -- settings ----------------------------------------------------------------------------

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
            if not rows or (rows[0]["installed"] is None and not rows[0]["available"]):
                from langgraph_hybrid_memory.errors import PgVectorMissingError

                raise PgVectorMissingError(pgvector_missing_message())
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
        # Validate everything before any I/O, so bad input changes nothing.
        for i, op in enumerate(ops):
            validate_op_namespace(op)
            if isinstance(op, GetOp):
                gets.append((i, op))
            elif isinstance(op, SearchOp):
                validate_filter(op.filter)
                _check_page(op.limit, op.offset)
                searches.append((i, op))
            elif isinstance(op, ListNamespacesOp):
                _check_page(op.limit, op.offset)
                if op.max_depth is not None and (
                    isinstance(op.max_depth, bool)
                    or not isinstance(op.max_depth, int)
                    or op.max_depth < 1
                ):
                    raise ValueError(f"max_depth must be a positive integer, got {op.max_depth!r}")
                lists.append((i, op))
            elif isinstance(op, PutOp):
                # Last put per key wins.
                puts.pop((tuple(op.namespace), str(op.key)), None)
                puts[(tuple(op.namespace), str(op.key))] = op
            else:
                raise TypeError(f"unknown store operation {type(op).__name__}")
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
        if gets:
            found = yield from self._get_plan([op for _, op in gets])
            for (i, _), item in zip(gets, found, strict=True):
                results[i] = item
        for i, op in searches:
            results[i] = yield from self._search_plan(op, query_vectors.get(i))
        for i, op in lists:
            results[i] = yield from self._list_plan(op)
        if prepared:
            yield from self._put_plan(prepared, put_vectors)
        return results

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
        yield Sql(
            sql.SQL(
                "UPDATE {items} i "
                "SET expires_at = now() + make_interval(secs => i.ttl_minutes * 60) "
                "FROM unnest(%s::text[], %s::text[], %s::text[]) AS q(scope, ns, key) "
                "WHERE i.scope = q.scope AND i.key = q.key "
                "AND i.namespace = string_to_array(q.ns, '.')::text[] "
                "AND i.ttl_minutes IS NOT NULL"
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
            c, p = _match_condition("i", cond)
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
        idx = self.index
        want = op.limit + op.offset
        if want == 0:
            return []
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
            )
            scored: list[tuple[Mapping[str, Any], float | None]] = [(r, None) for r in rows]
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
        if op.refresh_ttl:
            stale = [r for r, _ in scored if r["ttl_minutes"] is not None]
            if stale:
                yield from self._refresh_plan(stale)
        return [row_to_search_item(r, s) for r, s in scored]

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
        ``src``). Only a short approximate answer or a multi-field index that needs more rows
        costs further statements (`_vector_candidates`)."""
        idx = cast(ResolvedIndex, self.index)
        branches: list[sql.Composable] = []
        args: list[Any] = []
        ef: int | None = None
        vector_plan: tuple[str, bool, int] | None = None
        if idx.uses_vectors and qvec is not None:
            qtext = vector_literal(qvec)
            exact = idx.ann == "none" or len(op.namespace_prefix) >= self.scope_depth
            per_item = max(1, len(idx.fields))
            fetch = want * per_item + (per_item > 1) * want
            if not exact:
                ef = yield from self._ef_search(op, fetch)
            branch, branch_args = self._vector_scan_sql(conds, params, qtext, fetch, exact=exact)
            branches.append(branch)
            args += branch_args
            vector_plan = (qtext, exact, fetch)
        if idx.uses_keywords:
            branch, branch_args = self._keyword_sql(op, want, conds, params)
            branches.append(branch)
            args += branch_args
        if not branches:
            return [], []
        query: sql.Composed = sql.SQL(" UNION ALL ").join(
            sql.SQL("({})").format(b) for b in branches
        )
        if ef is not None:
            query, args = _with_hnsw_knobs(query, args, ef)
        rows = yield Sql(query, args, replica=True)
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
                first=[r for r in rows if r["src"] == "v"],
            )
        return vector_hits, keyword_hits

    def _vector_scan_sql(
        self, conds: sql.Composable, params: list[Any], qtext: str, fetch: int, *, exact: bool
    ) -> tuple[sql.Composed, list[Any]]:
        """The `fetch` nearest vectors in scope joined to their items (``src = 'v'``).

        ``exact`` adds ``+ 0`` to the ORDER BY, which makes it unindexable, so the planner
        scores every row in scope exactly instead of post-filtering an approximate index scan.
        Without it the scan reads the HNSW index: run it under `_with_hnsw_knobs`.
        """
        order = "({dist}) + 0" if exact else "{dist}"
        query = sql.SQL(
            "SELECT 'v'::text AS src, {cols}, ({dist})::float8 AS distance, NULL::float8 AS rank "
            "FROM {vectors} v JOIN {items} i ON i.scope = v.scope "
            "AND i.namespace = v.namespace AND i.key = v.key WHERE {knobs} AND {conds} "
            "ORDER BY " + order + " LIMIT %s"
        ).format(
            cols=sql.SQL(_CANDIDATE_COLUMNS),
            dist=self._distance_sql(),
            vectors=self._t_vectors,
            items=self._t_items,
            knobs=sql.SQL("TRUE" if exact else _KNOBS_GATE),
            conds=conds,
        )
        return query, [qtext, *params, qtext, fetch]

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
            sql.SQL(_DISTANCE_OPS[idx.distance][0]),
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
        rows, efc = yield from self._vectors_estimate()
        return auto_ef_search(rows, filtered=bool(op.filter), fetch=fetch, ef_construction=efc)

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
        first: list[dict[str, Any]],
    ) -> Plan[list[tuple[Mapping[str, Any], float]]]:
        """The `want` items closest to the query vector in scope, best vector per item, best
        first; `first` holds the rows `_ranked_candidates` already fetched.

        * A search inside one scope (a prefix at least ``scope_depth`` long, e.g. one user's
          memories) is exact: the scope's rows come from the primary key and are all scored.
        * Otherwise the HNSW index with pgvector's iterative scan (``relaxed_order``), which
          keeps walking the graph until enough rows pass the filters; if it still comes back
          short (``hnsw.max_scan_tuples`` reached), an exact scan answers instead. So a search
          never returns fewer than `limit` items while that many match.

        Vectors are fetched in distance order; the first `want` distinct items among them are
        exactly the top `want` by best vector, so the fetch grows until it has them.
        """
        rows: list[dict[str, Any]] | None = first
        while True:
            if rows is None:
                query, args = self._vector_scan_sql(conds, params, qtext, fetch, exact=exact)
                if not exact:
                    ef = yield from self._ef_search(op, fetch)
                    query, args = _with_hnsw_knobs(query, args, ef)
                rows = yield Sql(query, args, replica=True)
            if not exact and len(rows) < fetch:
                # Short: the iterative scan gave up before finding enough matching rows, or
                # fewer exist. An exact scan (every row in scope scored) tells which.
                query, args = self._vector_scan_sql(conds, params, qtext, fetch, exact=True)
                rows = yield Sql(query, args, replica=True)
            rows.sort(key=lambda r: r["distance"])
            best: dict[tuple[str, tuple[str, ...], str], tuple[Mapping[str, Any], float]] = {}
            for r in rows:
                k = _item_key(r)
                if k not in best:
                    best[k] = (r, self._score(r["distance"]))
            if len(best) >= want or len(rows) < fetch:
                return list(best.values())[:want]
            fetch *= 2
            rows = None

    def _vectors_estimate(self) -> Plan[tuple[float, int]]:
        """The planner's estimate of the vectors table's size and the HNSW index's
        ``ef_construction`` (pgvector's default 64 if the index does not say), cached for a
        minute."""
        now = time.monotonic()
        cached = self._rows_estimate
        if cached is not None and now - cached[1] < ROWS_ESTIMATE_SECONDS:
            return cached[0]
        rows = yield Sql(
            "SELECT GREATEST(t.reltuples, 0)::float8 AS n, "
            "(SELECT o.option_value FROM pg_class ix, pg_options_to_table(ix.reloptions) o "
            "WHERE ix.oid = to_regclass(%s) AND o.option_name = 'ef_construction') AS efc "
            "FROM pg_class t WHERE t.oid = %s::regclass",
            (
                sql.Identifier(self.schema, VECTOR_INDEX_NAME).as_string(None),
                self._t_vectors.as_string(None),
            ),
            replica=True,
        )
        estimate = (float(rows[0]["n"]), int(rows[0]["efc"] or 64)) if rows else (0.0, 64)
        self._rows_estimate = (estimate, now)
        return estimate

    # -- put ---------------------------------------------------------------------------------

    def _prepare_put(self, op: PutOp) -> _PreparedPut:
        ns, key = tuple(op.namespace), str(op.key)
        if op.value is None:
            return _PreparedPut(ns, key, None, None)
        value_json = encode_value(ns, key, op.value)
        ttl = op.ttl
        if ttl is not None and not (_is_number(ttl) and ttl > 0 and math.isfinite(ttl)):
            raise InvalidValueError(
                f"ttl must be a positive number of minutes or None, got {ttl!r}"
            )
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

        # Parameters in the order of the placeholders of `_write_query`.
        params: list[Any] = []
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
        table = guard.table if guard is not None else None
        shape = (bool(upserts), bool(deletes), table.as_string(None) if table else None)
        query = self._write_queries.get(shape)
        if query is None:
            query = self._write_queries[shape] = self._write_query(shape[0], shape[1], table)
        return Sql(query, params)

    def _write_query(self, upserts: bool, deletes: bool, tombstones: sql.Composable | None) -> str:
        """The text of `_write_sql`'s statement for one shape (cached: it is built once)."""
        idx = self.index
        vec = idx is not None and idx.has_vectors
        guard = tombstones is not None
        ctes: list[sql.Composable] = []
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
        written = sql.SQL("(SELECT count(*) FROM puts)" if upserts else "0")
        return (
            sql.SQL("WITH {ctes} SELECT {written} AS written")
            .format(ctes=sql.SQL(", ").join(ctes), written=written)
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
            validate_op_namespace(op)
            if op.value is None:
                raise InvalidValueError("bulk_put loads values; delete with batch()/delete()")
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
        if has_vec and idx is not None and idx.ann == "hnsw" and vec_rows:
            rows = yield Sql(sql.SQL("SELECT count(*) AS n FROM {}").format(self._t_vectors))
            rebuild = len(vec_rows) >= BULK_REBUILD_RATIO * int(rows[0]["n"])
        vector_oid = 0
        if vec_rows and idx is not None:
            rows = yield Sql("SELECT %s::regtype::oid AS oid", (idx.vector_type,))
            vector_oid = int(rows[0]["oid"])
        ts_config = idx.ts_config if idx is not None else "simple"
        stmts: list[Sql | CopyIn] = [
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
                    Sql("SELECT set_config('maintenance_work_mem', '512MB', true)"),
                    Sql(prepare_ann_index(idx, concurrently=False, schema=self.schema)),
                ]
        # Fresh statistics: the planner's row estimates (and the ef_search default) follow.
        stmts.append(
            Sql(sql.SQL("ANALYZE {}, {}").format(self._t_items, self._t_vectors))
            if has_vec
            else Sql(sql.SQL("ANALYZE {}").format(self._t_items))
        )
        yield Tx(stmts)
        self._rows_estimate = None
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


def auto_ef_search(
    rows: float, *, filtered: bool, fetch: int, ef_construction: int = DEFAULT_EF_CONSTRUCTION
) -> int:
    """The default ``hnsw.ef_search`` for an index of about `rows` vectors built with
    `ef_construction` (see `EF_CALIBRATION`).

    Examples:
        >>> auto_ef_search(5000, filtered=False, fetch=10)
        160
        >>> auto_ef_search(100_000, filtered=False, fetch=10)
        281
        >>> auto_ef_search(100_000, filtered=True, fetch=10)
        562
        >>> auto_ef_search(100_000, filtered=False, fetch=10, ef_construction=64)
        526
    """
    base = EF_CALIBRATION[max(k for k in EF_CALIBRATION if k <= ef_construction)]
    ef = base * max(1.0, rows / EF_SCALE_ROWS) ** EF_SCALE_EXPONENT
    if filtered:
        ef *= EF_FILTER_FACTOR
    return int(min(MAX_EF_SEARCH, max(ef, fetch)))


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
            k = _item_key(row)
            rows.setdefault(k, row)
            scores[k] = scores.get(k, 0.0) + 1.0 / (RRF_K + rank)
    order = sorted(scores, key=lambda k: -scores[k])
    return [(rows[k], scores[k]) for k in order]


def _check_page(limit: Any, offset: Any) -> None:
    for name, v in (("limit", limit), ("offset", offset)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")
