"""`stats`: items per user, category and namespace; checkpoints and threads per tier; table
sizes. Read-only."""

from __future__ import annotations

from collections import Counter
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import DictRow

from langgraph_hybrid_memory.admin._context import AdminContext, table_exists
from langgraph_hybrid_memory.admin._results import StatsReport, TableSize, TierStats

__all__ = ["stats"]

LOCAL_NAMESPACES = "SELECT namespace, count(*) FROM lghm_store GROUP BY namespace"
LOCAL_CHECKPOINTS = "SELECT count(*), count(DISTINCT thread_id) FROM lghm_checkpoints"
SQLITE_SAVER_CHECKPOINTS = "SELECT count(*), count(DISTINCT thread_id) FROM checkpoints"
LOCAL_TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' "
    "AND (name LIKE 'lghm%' OR name IN ('checkpoints', 'writes'))"
)
# Bytes per local table with its indexes, where this SQLite build has the dbstat virtual table.
LOCAL_TABLE_BYTES = (
    "SELECT m.tbl_name, sum(d.pgsize) FROM dbstat AS d "
    "JOIN sqlite_master AS m ON m.name = d.name GROUP BY m.tbl_name"
)
PG_CHECKPOINTS = "SELECT count(*) AS n, count(DISTINCT thread_id) AS t FROM checkpoints"
PG_TABLE_SIZES = """
SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS bytes,
       c.reltuples::bigint AS rows_estimate
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND (n.nspname = %s OR (n.nspname = 'public' AND c.relname = ANY(%s)))
ORDER BY 1, 2
"""
EXACT_COUNT_BELOW = 100_000
PG_CHECKPOINT_TABLES = [
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "checkpoint_migrations",
    "lghm_checkpoint_tombstones",
    "lghm_checkpoint_migrations",
]


def _pg_namespaces(schema: str) -> sql.Composed:
    return sql.SQL("SELECT namespace, count(*) AS n FROM {}.items GROUP BY namespace").format(
        sql.Identifier(schema)
    )


def stats(ctx: AdminContext) -> StatsReport:
    """Counts per tier (``postgres``, ``local``) of the configured memory.

    Raises:
        ConfigError: a bad setting.
        psycopg.OperationalError: PostgreSQL is unreachable.
        MemoryNotFoundError: nothing has been stored where the settings point (no embedded
            cluster, no local file); nothing is created to look.
    """
    out: StatsReport = {}
    if ctx.uses_postgres:
        with ctx.pg(create=False) as conn:
            out["postgres"] = _pg_stats(conn, ctx.schema)
    if ctx.uses_local_file:
        if not ctx.uses_postgres:
            ctx.require_local_file()
        out["local"] = _local_stats(ctx)
    return out


def _tally(namespaces: list[tuple[tuple[str, ...], int]]) -> TierStats:
    users: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    nss: Counter[str] = Counter()
    for ns, n in namespaces:
        nss[".".join(ns)] += n
        if ns:
            cats[ns[-1]] += n
        if len(ns) >= 2 and ns[0] == "users":
            users[ns[1]] += n
    return {
        "users": dict(users),
        "categories": dict(cats),
        "namespaces": dict(nss),
        "items": sum(n for _, n in namespaces),
    }


def _pg_stats(conn: Connection[DictRow], schema: str) -> TierStats:
    present = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AS items, to_regclass('public.checkpoints') "
        "IS NOT NULL AS cps",
        (f"{schema}.items",),
    ).fetchone()
    assert present is not None
    namespaces = (
        [(tuple(r["namespace"]), int(r["n"])) for r in conn.execute(_pg_namespaces(schema))]
        if present["items"]
        else []
    )
    out = _tally(namespaces)
    cp = conn.execute(PG_CHECKPOINTS).fetchone() if present["cps"] else None
    out["checkpoints"] = int(cp["n"]) if cp else 0
    out["threads"] = int(cp["t"]) if cp else 0
    tables: list[TableSize] = []
    for r in conn.execute(PG_TABLE_SIZES, (schema, PG_CHECKPOINT_TABLES)).fetchall():
        rows = int(r["rows_estimate"])
        if rows < EXACT_COUNT_BELOW:
            # Small or never analyzed (the estimate is then 0 or -1): count exactly; big tables
            # keep the planner's estimate so `stats` stays cheap.
            count = sql.SQL("SELECT count(*) AS n FROM {}").format(
                sql.Identifier(r["schema"], r["name"])
            )
            found = conn.execute(count).fetchone()
            rows = int(found["n"]) if found else 0
        table = f"{r['schema']}.{r['name']}"
        tables.append({"table": table, "rows": rows, "bytes": int(r["bytes"])})
    out["tables"] = tables
    return out


def _local_bytes(conn: Any) -> dict[str, int]:
    import sqlite3

    try:
        return {str(name): int(size or 0) for name, size in conn.execute(LOCAL_TABLE_BYTES)}
    except sqlite3.OperationalError:  # SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
        return {}


def _local_stats(ctx: AdminContext) -> TierStats:
    with ctx.local_read() as conn:
        if conn is None:
            return {**_tally([]), "checkpoints": 0, "threads": 0, "tables": []}
        namespaces: list[tuple[tuple[str, ...], int]] = []
        if table_exists(conn, "lghm_store"):
            namespaces = [
                (tuple(ns.split(".")), int(n)) for ns, n in conn.execute(LOCAL_NAMESPACES)
            ]
        out = _tally(namespaces)
        checkpoints = threads = 0
        # HybridSaver's local tier, or langgraph's SqliteSaver (MEMORY_TYPE=sqlite).
        for table, query in (
            ("lghm_checkpoints", LOCAL_CHECKPOINTS),
            ("checkpoints", SQLITE_SAVER_CHECKPOINTS),
        ):
            if table_exists(conn, table):
                n, t = conn.execute(query).fetchone()
                checkpoints += int(n)
                threads += int(t)
        out["checkpoints"], out["threads"] = checkpoints, threads
        sizes = _local_bytes(conn)
        tables: list[TableSize] = []
        for (name,) in conn.execute(LOCAL_TABLES).fetchall():
            # Names come from sqlite_master; quoting keeps odd names harmless.
            quoted = '"' + name.replace('"', '""') + '"'
            rows = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
            entry: TableSize = {"table": name, "rows": int(rows)}
            if name in sizes:
                entry["bytes"] = sizes[name]
            tables.append(entry)
        out["tables"] = sorted(tables, key=lambda t: t["table"])
        out["file_bytes"] = ctx.sqlite_path.stat().st_size
        return out
