"""`sweep`: delete expired memories (TTL) in batches, on both tiers."""

from __future__ import annotations

import time

from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.admin._context import AdminContext, table_exists
from langgraph_hybrid_memory.admin._forget_pg import pg_present
from langgraph_hybrid_memory.admin._results import SweepReport
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["sweep"]

PG_COUNT_EXPIRED = (
    "SELECT count(*) AS n FROM {}.items WHERE expires_at IS NOT NULL AND expires_at <= now()"
)
LOCAL_COUNT_EXPIRED = (
    "SELECT count(*) FROM lghm_store WHERE expires_at IS NOT NULL AND expires_at <= ?"
)


def sweep(ctx: AdminContext, *, batch_size: int = 1000, dry_run: bool = False) -> SweepReport:
    """Delete (or with `dry_run`, count) the expired store items of both tiers.

    Raises:
        ConfigError: `batch_size` is not a positive integer.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r}; use a positive integer")
    report: SweepReport = {"dry_run": dry_run}
    if ctx.uses_postgres:
        with ctx.pg() as conn:
            if pg_present(conn, f"{ctx.schema}.items"):
                if dry_run:
                    from psycopg import sql

                    row = conn.execute(
                        sql.SQL(PG_COUNT_EXPIRED).format(sql.Identifier(ctx.schema))
                    ).fetchone()
                    n = int(row["n"]) if row else 0
                else:
                    from langgraph_hybrid_memory.store import PgVectorStore

                    n = PgVectorStore(conn, schema=ctx.schema).sweep_ttl(batch_size)
                report["postgres"] = {"expired_items": n}
    if ctx.uses_local_file and ctx.sqlite_path.exists():
        report["local"] = {"expired_items": _sweep_local(ctx, batch_size, dry_run)}
    return report


def _sweep_local(ctx: AdminContext, batch_size: int, dry_run: bool) -> int:
    from langgraph_hybrid_memory.localstore import LocalStore

    db = LocalDB.open(ctx.sqlite_path)
    try:
        with db.read() as conn:
            if not table_exists(conn, "lghm_store"):
                return 0
            if dry_run:
                return int(conn.execute(LOCAL_COUNT_EXPIRED, (time.time(),)).fetchone()[0])
        store = LocalStore(db, sweep_batch_size=batch_size)
        try:
            return store.sweep_ttl()
        finally:
            store.close()
    finally:
        db.close()
