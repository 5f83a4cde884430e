"""`sweep`: delete expired memories (TTL) in batches, on both tiers, and apply the checkpoint
retention policy (``MEMORY_CHECKPOINT_TTL_*``)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol, cast

from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.admin._context import AdminContext, table_exists
from langgraph_hybrid_memory.admin._forget_pg import pg_present
from langgraph_hybrid_memory.admin._results import SweepReport
from langgraph_hybrid_memory.errors import ConfigError

if TYPE_CHECKING:
    from langgraph_hybrid_memory.checkpoint._retention import RetentionReport


class Sweeps(Protocol):
    """A running checkpoint policy: `HybridSaver`, or `PostgresSaverRetention` beside a
    langgraph saver."""

    ttl: Any

    def sweep_checkpoints(self, *, dry_run: bool = False) -> RetentionReport: ...


__all__ = ["sweep", "sweep_checkpoints"]

PG_COUNT_EXPIRED = (
    "SELECT count(*) AS n FROM {}.items WHERE expires_at IS NOT NULL AND expires_at <= now()"
)
LOCAL_COUNT_EXPIRED = (
    "SELECT count(*) FROM lghm_store WHERE expires_at IS NOT NULL AND expires_at <= ?"
)


def sweep(
    ctx: AdminContext,
    *,
    batch_size: int = 1000,
    dry_run: bool = False,
    checkpointer: Sweeps | None = None,
) -> SweepReport:
    """Delete (or with `dry_run`, count) the expired store items of both tiers, and apply the
    checkpoint retention policy (`sweep_checkpoints`; `checkpointer`: a running saver to use).

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
    checkpoints = sweep_checkpoints(ctx, dry_run=dry_run, checkpointer=checkpointer)
    if checkpoints is not None:
        report["checkpoints"] = {
            "threads": checkpoints["threads"],
            "local_threads": checkpoints["local_threads"],
            "postgres_threads": checkpoints["postgres_threads"],
            "delta_threads": checkpoints["delta_threads"],
            "skipped_delta": checkpoints["skipped_delta"],
        }
    return report


def sweep_checkpoints(
    ctx: AdminContext, *, dry_run: bool = False, checkpointer: Sweeps | None = None
) -> RetentionReport | None:
    """Apply ``MemoryConfig.checkpoint_ttl`` once (None when no policy is configured).

    ``hybrid``: `HybridSaver.sweep_checkpoints` on the local file and PostgreSQL (deletes go
    through the outbox, drained before returning, with tombstones). ``postgres``: langgraph's
    `PostgresSaver` tables (`sweep_postgres_saver`); ``sqlite``: `SqliteSaver`'s tables in the
    local file (`sweep_sqlite_saver`). ``memory`` has no policy.
    A running `checkpointer` (e.g. `Memory.sweep`'s) is used as it is, with its own policy:
    a second saver on the same file would run a second flusher on one outbox.
    """
    if checkpointer is not None:
        return checkpointer.sweep_checkpoints(dry_run=dry_run) if checkpointer.ttl else None
    ttl = ctx.cfg.checkpoint_ttl
    if not ttl:
        return None
    if ctx.cfg.memory_type == "hybrid":
        from langgraph_hybrid_memory.checkpoint import HybridSaver

        policy: Any = {**ttl, "sweep_interval_minutes": None}  # one sweep, no thread
        with HybridSaver(ctx.sqlite_path, ctx.pg_url(), ttl=policy) as saver:
            saver.setup()
            return saver.sweep_checkpoints(dry_run=dry_run)
    if ctx.cfg.memory_type == "postgres":
        from langgraph_hybrid_memory.checkpoint._retention import sweep_postgres_saver

        with ctx.pg() as conn:
            if not pg_present(conn, "public.checkpoints"):
                return None
            return sweep_postgres_saver(conn, cast(Any, ttl), dry_run=dry_run)
    if ctx.cfg.memory_type == "sqlite":
        from langgraph_hybrid_memory.checkpoint._sqlite_retention import sweep_sqlite_saver

        db = LocalDB.open(ctx.sqlite_path) if ctx.sqlite_path.exists() else None
        if db is None:
            return None
        try:
            with db.read() as conn:
                if not table_exists(conn, "checkpoints"):
                    return None
        finally:
            db.close()
        return sweep_sqlite_saver(ctx.sqlite_path, cast(Any, ttl), dry_run=dry_run)
    return None


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
