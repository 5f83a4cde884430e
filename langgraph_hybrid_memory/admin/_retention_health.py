"""The checkpoint retention part of `status`: the configured policy (``MEMORY_CHECKPOINT_TTL_*``)
and what the sweeps of every process did (``lghm_checkpoint_sweeps``). Read-only."""

from __future__ import annotations

from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow

from langgraph_hybrid_memory.admin._context import AdminContext
from langgraph_hybrid_memory.admin._forget_pg import pg_present
from langgraph_hybrid_memory.checkpoint._retention import PG_SELECT_SWEEPS, SWEEPS_ROW

__all__ = ["retention_health"]

# Memory types whose checkpoints a policy applies to (process memory has none).
SWEPT_TYPES = ("hybrid", "postgres", "sqlite")


def retention_health(ctx: AdminContext, conn: Connection[DictRow] | None) -> dict[str, Any]:
    """``policy`` (None: none configured), and from PostgreSQL (`conn`, when reachable) the
    ``last_sweep_at`` (seconds since the epoch), ``last_threads``, ``sweeps``,
    ``threads_swept``, ``delta_threads`` and ``skipped`` totals, None before any sweep."""
    ttl = ctx.cfg.checkpoint_ttl if ctx.cfg.memory_type in SWEPT_TYPES else None
    out: dict[str, Any] = {"policy": dict(ttl) if ttl else None, "last_sweep": None}
    if conn is not None and pg_present(conn, "public.lghm_checkpoint_sweeps"):
        row = conn.execute(PG_SELECT_SWEEPS, (SWEEPS_ROW,)).fetchone()
        out["last_sweep"] = dict(row) if row else None
    return out
