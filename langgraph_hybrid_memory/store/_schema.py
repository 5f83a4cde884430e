"""`PgVectorStore`'s tables: numbered migrations, the HNSW index DDL and the checks `setup`
runs against an existing schema."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from langgraph_hybrid_memory._migrations import Migration
from langgraph_hybrid_memory.errors import (
    DimensionMismatchError,
)
from langgraph_hybrid_memory.store._config import ResolvedIndex

DEFAULT_SCHEMA = "memory"
DEFAULT_SCOPE_DEPTH = 2
MIGRATIONS_TABLE = "store_migrations"
VECTOR_MIGRATIONS_TABLE = "store_vector_migrations"

# --------------------------------------------------------------------------------------------
# Schema

DISTANCE_OPS: dict[str, tuple[str, str]] = {
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

VALUE_INDEX_NAME = "items_value_idx"
TSV_INDEX_NAME = "items_tsv_idx"


def value_index_ddl(*, concurrently: bool, schema: str | None) -> sql.Composed:
    """``CREATE INDEX`` for the GIN index on the values (used by the migration and by
    `bulk_put`, which rebuilds it after a large load as it does the HNSW index).

    jsonb_path_ops: only ``@>``, but smaller and faster than the default opclass; the
    selective-filter plan reads its candidates through it (`_sqlfilter.containment`)."""
    table = sql.Identifier(schema, "items") if schema else sql.Identifier("items")
    return sql.SQL(
        "CREATE INDEX {conc} IF NOT EXISTS {name} ON {table} USING gin (value jsonb_path_ops)"
    ).format(
        conc=sql.SQL("CONCURRENTLY" if concurrently else ""),
        name=sql.Identifier(VALUE_INDEX_NAME),
        table=table,
    )


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
    Migration(
        value_index_ddl(concurrently=True, schema=None),
        transactional=False,
        index=VALUE_INDEX_NAME,
        description="metadata filters: value @> containment, the selective-filter plan",
    ),
]

VECTOR_INDEX_NAME = "vectors_embedding_idx"

# `bulk_put`'s HNSW rebuild: pgvector builds fast only while the whole graph fits in
# maintenance_work_mem; past it the build goes on page by page, many times slower (a 1M-vector
# load would take hours). Bounds of the per-transaction setting, in MB.
BUILD_MEMORY_MIN_MB = 512
BUILD_MEMORY_MAX_MB = 4096


def build_memory_mb(vectors: int, idx: ResolvedIndex) -> int:
    """maintenance_work_mem (MB) for an HNSW build over `vectors` rows: the graph's size
    (each element holds its vector and its level-0 neighbour list of 2m candidates of about 16
    bytes, plus about 256 bytes of bookkeeping), 10% headroom, within the bounds above.

    Examples:
        >>> from langgraph_hybrid_memory.store._config import resolve_index
        >>> from langchain_core.embeddings import FakeEmbeddings
        >>> idx = resolve_index({"dims": 384}, FakeEmbeddings(size=384))
        >>> build_memory_mb(20_000, idx), build_memory_mb(1_000_000, idx)
        (512, 2292)
        >>> build_memory_mb(1_000_000, resolve_index(
        ...     {"dims": 384, "vector_type": "halfvec"}, FakeEmbeddings(size=384)))
        1486
    """
    per_value = (idx.dims or 0) * (4 if idx.vector_type == "vector" else 2) + 8
    per_element = per_value + 2 * idx.m * 16 + 256
    mb = int(vectors * per_element * 1.1 / 2**20) + 1
    return max(BUILD_MEMORY_MIN_MB, min(BUILD_MEMORY_MAX_MB, mb))


def prepare_ann_index(
    idx: ResolvedIndex, *, concurrently: bool, schema: str | None
) -> sql.Composed:
    """``CREATE INDEX`` for the HNSW index (used by the migration and by `bulk_put`)."""
    opclass = f"{idx.vector_type}_{DISTANCE_OPS[idx.distance][1]}"
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


# `available`: the server has pgvector's files; `creatable`: this role may also CREATE EXTENSION
# it (pgvector is not a trusted extension, so that takes a superuser unless it is marked so).
# Checked before any table is made, so a setup that cannot finish creates nothing.
PGVECTOR_AVAILABLE = (
    "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed, "
    "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available, "
    "EXISTS (SELECT 1 FROM pg_available_extension_versions v WHERE v.name = 'vector' AND ("
    "NOT v.superuser OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
    "OR (v.trusted AND has_database_privilege(current_database(), 'CREATE')))) AS creatable"
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


def pgvector_missing_message(available: bool = False) -> str:
    """Why vector search cannot be set up here, and the two ways on (MEMORY_EMBEDDINGS=none)."""
    why = (
        "the pgvector extension is not created in this database and this role may not create "
        "it (CREATE EXTENSION vector needs a superuser); ask a superuser to run "
        "CREATE EXTENSION vector"
        if available
        else "the pgvector extension is not available on this PostgreSQL server; install it "
        "(https://github.com/pgvector/pgvector#installation)"
    )
    return (
        f"{why}, or use the embedded server (unset DATABASE_URL), or go without vectors: "
        "MEMORY_EMBEDDINGS=none for open_memory() and lghm (keyword search works there), or "
        "configure the store with search_mode='keyword' and no dims/embed. Nothing was created."
    )
