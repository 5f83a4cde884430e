"""Tables of the memory-quality features: duplicates merged by `dedup`, access counts and the
query log (`_usage`). PostgreSQL: numbered migrations in ``memory_quality_migrations`` in the
store's schema, run by the store's ``setup()``. Local file: ``CREATE TABLE IF NOT EXISTS``
statements (``lghm_`` tables), run before the first write, as the embedding cache does."""

from __future__ import annotations

import sqlite3
from typing import Any

from psycopg import sql

from langgraph_hybrid_memory._migrations import Migration

__all__ = [
    "QUALITY_MIGRATIONS_TABLE",
    "QUALITY_PG_MIGRATIONS",
    "SQLITE_QUALITY_TABLES",
    "erase_user_local",
    "erase_user_pg",
]

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


# -- erasure (`lghm forget --user`): a user's rows in these tables go with the user ------------

# (table, namespace column): the user's rows are those whose namespace is ("users", ID, ...).
USER_TABLES = (
    ("memory_duplicates", "namespace"),
    ("item_access", "namespace"),
    ("query_log", "namespace_prefix"),
)


def erase_user_pg(conn: Any, schema: str, user: str, *, dry_run: bool) -> dict[str, int]:
    """Count (and unless `dry_run` delete) one user's rows in the quality tables, in the
    caller's transaction; tables that do not exist yet are skipped."""
    out: dict[str, int] = {}
    for table, col in USER_TABLES:
        name = sql.Identifier(schema, table)
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (f"{schema}.{table}",))
        row = found.fetchone()
        if not (row["ok"] if isinstance(row, dict) else row[0]):
            continue
        cond = sql.SQL("{c}[1] = 'users' AND {c}[2] = %s").format(c=sql.Identifier(col))
        verb = (
            "SELECT count(*) AS n FROM {t} WHERE {c}"
            if dry_run
            else ("WITH d AS (DELETE FROM {t} WHERE {c} RETURNING 1) SELECT count(*) AS n FROM d")
        )
        got = conn.execute(sql.SQL(verb).format(t=name, c=cond), (user,)).fetchone()
        out[table] = int(got["n"] if isinstance(got, dict) else got[0])
    return out


def erase_user_local(
    conn: sqlite3.Connection, ns_range: tuple[str, str, str], *, dry_run: bool
) -> dict[str, int]:
    """The same in the local file; `ns_range` is the user's encoded-namespace range (``=``,
    ``>=``, ``<``), as the local store's prefix matching uses."""
    out: dict[str, int] = {}
    for table, col in USER_TABLES:
        local = f"lghm_{table}"
        if not conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (local,)
        ).fetchone():
            continue
        cond = f"({col} = ? OR ({col} >= ? AND {col} < ?))"
        if dry_run:
            n = conn.execute(f"SELECT count(*) FROM {local} WHERE {cond}", ns_range).fetchone()[0]
        else:
            n = conn.execute(f"DELETE FROM {local} WHERE {cond}", ns_range).rowcount
        out[local] = int(n)
    return out
