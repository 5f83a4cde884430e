"""The parts `setup` migrates, and read-only checks of their state.

PostgreSQL parts are numbered migration lists (`_migrations`), each recorded in its own table;
local parts live in the local SQLite file and record their versions in their own tables.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow

from langgraph_hybrid_memory._embedding_cache import MIGRATIONS_TABLE as CACHE_MIGRATIONS_TABLE
from langgraph_hybrid_memory._embedding_cache import PG_MIGRATIONS as CACHE_MIGRATIONS
from langgraph_hybrid_memory._embedding_cache import SQLiteEmbeddingCache
from langgraph_hybrid_memory._migrations import Migration, migration_status, run_migrations
from langgraph_hybrid_memory._outbox import Outbox
from langgraph_hybrid_memory._quality_schema import QUALITY_MIGRATIONS_TABLE, QUALITY_PG_MIGRATIONS
from langgraph_hybrid_memory._session import MIGRATIONS_TABLE as SESSION_MIGRATIONS_TABLE
from langgraph_hybrid_memory._session import PG_SESSION_MIGRATIONS
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.admin._context import AdminContext, table_exists
from langgraph_hybrid_memory.admin._results import MigrationRow
from langgraph_hybrid_memory.checkpoint import base as cp
from langgraph_hybrid_memory.hybridstore import base as hs
from langgraph_hybrid_memory.localstore import LocalStore
from langgraph_hybrid_memory.localstore import base as ls
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store._config import resolve_index
from langgraph_hybrid_memory.store._schema import MIGRATIONS as STORE_MIGRATIONS
from langgraph_hybrid_memory.store._schema import MIGRATIONS_TABLE as STORE_MIGRATIONS_TABLE
from langgraph_hybrid_memory.store._schema import (
    VECTOR_MIGRATIONS_TABLE,
    vector_migrations,
)


@dataclass(frozen=True)
class PgPart:
    name: str
    schema: str
    table: str
    migrations: list[Migration]


def pg_parts(ctx: AdminContext) -> list[PgPart]:
    """Every PostgreSQL part, in the order `setup` runs them."""
    parts = [PgPart("store", ctx.schema, STORE_MIGRATIONS_TABLE, STORE_MIGRATIONS)]
    model = ctx.model()
    if model is not None:
        index = ctx.store_index()
        parts.append(
            PgPart(
                "store vectors",
                ctx.schema,
                VECTOR_MIGRATIONS_TABLE,
                vector_migrations(resolve_index({"dims": index["dims"]}, model)),
            )
        )
    parts.append(
        PgPart("memory quality", ctx.schema, QUALITY_MIGRATIONS_TABLE, QUALITY_PG_MIGRATIONS)
    )
    parts += [
        PgPart("checkpoints", "public", cp.POSTGRES_MIGRATIONS_TABLE, cp.POSTGRES_MIGRATIONS),
        PgPart("tombstones", "public", cp.HYBRID_MIGRATIONS_TABLE, cp.HYBRID_MIGRATIONS),
        PgPart("embedding cache", ctx.schema, CACHE_MIGRATIONS_TABLE, CACHE_MIGRATIONS),
        PgPart("session log", ctx.schema, SESSION_MIGRATIONS_TABLE, PG_SESSION_MIGRATIONS),
    ]
    if ctx.cfg.memory_type == "hybrid":
        # HybridStore's delete tombstones (a replayed put older than a delete is refused).
        parts.append(
            PgPart("store tombstones", ctx.schema, hs.HYBRID_MIGRATIONS_TABLE, hs.HYBRID_MIGRATIONS)
        )
    return parts


def pg_status(conn: Connection[DictRow], ctx: AdminContext) -> list[MigrationRow]:
    """Applied and pending versions per PostgreSQL part (read-only)."""
    out: list[MigrationRow] = []
    for part in pg_parts(ctx):
        st = migration_status(conn, part.migrations, schema=part.schema, table=part.table)
        out.append(
            {
                "tier": "postgres",
                "part": part.name,
                "table": f"{part.schema}.{part.table}",
                "applied": st.applied,
                "pending": st.pending,
            }
        )
    return out


def pg_setup(conn: Connection[DictRow], ctx: AdminContext) -> None:
    """Run every PostgreSQL part's migrations (idempotent, under advisory locks)."""
    # The store's own setup also checks pgvector, the vectors column and its settings row.
    PgVectorStore(conn, index=ctx.store_index(), schema=ctx.schema).setup()  # type: ignore[arg-type]
    for part in pg_parts(ctx):
        if part.name in ("store", "store vectors", "memory quality"):  # by PgVectorStore.setup()
            continue
        run_migrations(conn, part.migrations, schema=part.schema, table=part.table)


def _versions(conn: sqlite3.Connection, query: str, *params: Any) -> set[int]:
    try:
        return {int(r[0]) for r in conn.execute(query, params)}
    except sqlite3.OperationalError:  # the version table does not exist yet
        return set()


def local_status(conn: sqlite3.Connection | None, path: str) -> list[MigrationRow]:
    """Applied and pending versions per local part (read-only; None: the file does not exist)."""
    rows: list[tuple[str, str, set[int], int]] = []
    if conn is None:
        found: dict[str, set[int]] = {}
    else:
        found = {
            "checkpoints": _versions(conn, cp.LOCAL_SELECT_VERSIONS, cp.LOCAL_COMPONENT),
            "store": _versions(conn, ls.SELECT_VERSIONS),
            "outbox": {0} if table_exists(conn, "lghm_outbox") else set(),
            "embedding cache": {0} if table_exists(conn, "lghm_embedding_cache") else set(),
        }
    for name, table, count in (
        ("checkpoints", "lghm_local_schema", len(cp.LOCAL_MIGRATIONS)),
        ("store", ls.SCHEMA_VERSION_TABLE, len(ls.MIGRATIONS)),
        ("outbox", "lghm_outbox", 1),
        ("embedding cache", "lghm_embedding_cache", 1),
    ):
        rows.append((name, table, found.get(name, set()), count))
    return [
        {
            "tier": "local",
            "part": name,
            "table": f"{path}:{table}",
            "applied": sorted(v for v in applied if v < count),
            "pending": [v for v in range(count) if v not in applied],
        }
        for name, table, applied, count in rows
    ]


def local_setup(ctx: AdminContext) -> None:
    """Create or migrate every local table in the configured SQLite file."""
    ctx.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    db = LocalDB.open(ctx.sqlite_path)
    try:
        with db.transaction() as conn:
            conn.execute(cp.LOCAL_SCHEMA_TABLE)
            applied = _versions(conn, cp.LOCAL_SELECT_VERSIONS, cp.LOCAL_COMPONENT)
            for version, statements in enumerate(cp.LOCAL_MIGRATIONS):
                if version not in applied:
                    for stmt in statements:
                        conn.execute(stmt)
                    conn.execute(cp.LOCAL_INSERT_VERSION, (cp.LOCAL_COMPONENT, version))
        store = LocalStore(db)
        store.setup()
        store.close()
        Outbox(db).setup()
        SQLiteEmbeddingCache(db).setup()
    finally:
        db.close()
    if ctx.cfg.memory_type == "sqlite":
        # MEMORY_TYPE=sqlite checkpoints with langgraph's own SqliteSaver in the same file.
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = sqlite3.connect(str(ctx.sqlite_path), check_same_thread=False)
        try:
            SqliteSaver(conn).setup()
        finally:
            conn.close()
