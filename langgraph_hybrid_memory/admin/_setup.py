"""`setup` and `migrations`: every part's numbered migrations, applied or listed."""

from __future__ import annotations

from langgraph_hybrid_memory.admin._context import AdminContext
from langgraph_hybrid_memory.admin._parts import local_setup, local_status, pg_setup, pg_status
from langgraph_hybrid_memory.admin._results import MigrationRow

__all__ = ["migrations", "setup"]


def setup(ctx: AdminContext) -> list[MigrationRow]:
    """Create or migrate every table (store, checkpoints, tombstones, embedding cache, the local
    file); idempotent and safe from several machines at once (advisory locks). Returns the
    migration state afterwards."""
    if ctx.uses_postgres:
        with ctx.pg() as conn:
            pg_setup(conn, ctx)
    if ctx.uses_local_file:
        local_setup(ctx)
    return migrations(ctx)


def migrations(ctx: AdminContext) -> list[MigrationRow]:
    """Applied and pending versions of every part; changes nothing (creates nothing).

    Raises:
        MemoryNotFoundError: no embedded cluster, or (sqlite) no local file, yet.
    """
    rows: list[MigrationRow] = []
    if ctx.uses_postgres:
        with ctx.pg(create=False) as conn:
            rows += pg_status(conn, ctx)
    if ctx.uses_local_file:
        if not ctx.uses_postgres:
            ctx.require_local_file()
        with ctx.local_read() as lconn:
            rows += local_status(lconn, str(ctx.sqlite_path))
    return rows
