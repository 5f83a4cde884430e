"""The read replica's part of `status`: reachable, and how far behind the primary it is."""

from __future__ import annotations

from typing import Any

import psycopg

from langgraph_hybrid_memory._config import redact_conninfo
from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory._replica import PRIMARY_LSN, REPLICA_STATE, lag_report
from langgraph_hybrid_memory.admin._context import AdminContext, safe_error

__all__ = ["replica_health"]

# A replica further behind than this is reported as a problem: reads of other processes are
# that stale (the writer's own reads go to the primary until the replica catches up).
LAG_PROBLEM_SECONDS = 60.0


def replica_health(ctx: AdminContext, problems: list[str]) -> dict[str, Any] | None:
    """``DATABASE_READ_URL``'s state (None when unset): ``url`` (redacted), ``reachable``,
    ``in_recovery``, ``lag_bytes``, ``lag_seconds``, ``replay_paused``."""
    url = ctx.cfg.read_url
    if url is None:
        return None
    out: dict[str, Any] = {"url": redact_conninfo(url), "reachable": False}
    try:
        with get_connection(url, connect_timeout=5) as rconn:
            replica = rconn.execute(REPLICA_STATE).fetchone()
        out["reachable"] = True
    except psycopg.OperationalError as exc:
        out["error"] = safe_error(exc, ctx)
        problems.append("the read replica is unreachable: check DATABASE_READ_URL")
        return out
    primary: dict[str, Any] | None = None
    try:
        with ctx.pg(connect_timeout=5, create=False) as pconn:
            primary = pconn.execute(PRIMARY_LSN).fetchone()
    except psycopg.OperationalError:
        pass  # reported by the primary's own section
    assert replica is not None
    out.update(lag_report(primary, replica))
    if not out["in_recovery"]:
        problems.append(
            "DATABASE_READ_URL is not a standby (promoted, or the primary itself): "
            "point it at a replica, or unset it"
        )
    elif out["replay_paused"]:
        problems.append("the read replica's replay is paused: run SELECT pg_wal_replay_resume()")
    elif (out["lag_seconds"] or 0.0) > LAG_PROBLEM_SECONDS:
        problems.append(f"the read replica is {out['lag_seconds']:.0f} s behind the primary")
    return out
