"""Tables of the memory-quality features: duplicates merged by `dedup`, access counts and the
query log (`_usage`). PostgreSQL: numbered migrations in ``memory_quality_migrations`` in the
store's schema, run by the store's ``setup()``. Local file: ``CREATE TABLE IF NOT EXISTS``
statements (``lghm_`` tables), run before the first write, as the embedding cache does."""

from __future__ import annotations

from langgraph_hybrid_memory._migrations import Migration

__all__ = ["QUALITY_MIGRATIONS_TABLE", "QUALITY_PG_MIGRATIONS", "SQLITE_QUALITY_TABLES"]

QUALITY_MIGRATIONS_TABLE = "memory_quality_migrations"

# Every key is led by scope (the namespace's first scope_depth labels, as items.scope): the
# distribution key (docs/scaling.md).
QUALITY_PG_MIGRATIONS: list[Migration] = [
    Migration(
        "CREATE TABLE IF NOT EXISTS memory_duplicates ("
        "scope text NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, "
        'namespace text[] COLLATE "C" NOT NULL, key text NOT NULL, value jsonb NOT NULL, '
        'original_namespace text[] COLLATE "C" NOT NULL, original_key text NOT NULL, '
        "content_hash text NOT NULL, similarity float8 NOT NULL, method text NOT NULL, "
        "detected_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, id))",
        description="memory_duplicates: what dedup merged (lghm dedup)",
    ),
    Migration(
        # Apart from items on purpose: an access upsert never locks an item row.
        "CREATE TABLE IF NOT EXISTS item_access ("
        'scope text NOT NULL, namespace text[] COLLATE "C" NOT NULL, key text NOT NULL, '
        "access_count bigint NOT NULL, last_accessed_at timestamptz NOT NULL, "
        "PRIMARY KEY (scope, namespace, key))",
        description="item_access: access count and last access per item (track_access)",
    ),
    Migration(
        "CREATE TABLE IF NOT EXISTS query_log ("
        "scope text NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, "
        'namespace_prefix text[] COLLATE "C" NOT NULL, query text, '
        "result_count integer NOT NULL, latency_ms float8 NOT NULL, mode text NOT NULL, "
        "created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, id))",
        description="query_log: one row per search (query_log, opt-in)",
    ),
    Migration(
        "CREATE INDEX IF NOT EXISTS query_log_created_idx ON query_log (created_at)",
        description="query_log: retention deletes by time",
    ),
]

SQLITE_QUALITY_TABLES = (
    "CREATE TABLE IF NOT EXISTS lghm_memory_duplicates ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, namespace TEXT NOT NULL, key TEXT NOT NULL, "
    "value TEXT NOT NULL, original_namespace TEXT NOT NULL, original_key TEXT NOT NULL, "
    "content_hash TEXT NOT NULL, similarity REAL NOT NULL, method TEXT NOT NULL, "
    "detected_at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS lghm_item_access ("
    "namespace TEXT NOT NULL, key TEXT NOT NULL, access_count INTEGER NOT NULL, "
    "last_accessed_at REAL NOT NULL, PRIMARY KEY (namespace, key))",
    "CREATE TABLE IF NOT EXISTS lghm_query_log ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, namespace_prefix TEXT NOT NULL, "
    "query TEXT, result_count INTEGER NOT NULL, latency_ms REAL NOT NULL, mode TEXT NOT NULL, "
    "created_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS lghm_query_log_created ON lghm_query_log (created_at)",
)
