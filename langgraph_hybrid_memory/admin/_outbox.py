"""`outbox_health`: the local outbox's depth and age, its dead letters and the last error.
Read-only."""

from __future__ import annotations

import time

from langgraph_hybrid_memory._outbox import redact
from langgraph_hybrid_memory.admin._context import AdminContext, table_exists
from langgraph_hybrid_memory.admin._results import OutboxHealth

__all__ = ["outbox_health"]

LOCAL_OUTBOX = "SELECT count(*), min(created_at) FROM lghm_outbox"
LOCAL_DEAD = (
    "SELECT seq, stream, kind, attempts, error, failed_at FROM lghm_outbox_dead "
    "ORDER BY failed_at DESC, seq DESC LIMIT ?"
)
LOCAL_DEAD_COUNT = "SELECT count(*) FROM lghm_outbox_dead"


def outbox_health(ctx: AdminContext, *, dead_limit: int = 20) -> OutboxHealth:
    """Pending entries (depth, oldest age), dead letters (count, the newest `dead_limit`) and
    the newest dead letter's error; zeros where there is no local file or outbox."""
    out: OutboxHealth = {
        "depth": 0,
        "oldest_age_seconds": None,
        "dead_letters": 0,
        "last_error": None,
        "dead": [],
    }
    if not ctx.uses_local_file:
        return out
    with ctx.local_read() as conn:
        if conn is None:
            return out
        if table_exists(conn, "lghm_outbox"):
            depth, oldest = conn.execute(LOCAL_OUTBOX).fetchone()
            out["depth"] = int(depth)
            if oldest is not None:
                out["oldest_age_seconds"] = round(time.time() - float(oldest), 3)
        if table_exists(conn, "lghm_outbox_dead"):
            out["dead_letters"] = int(conn.execute(LOCAL_DEAD_COUNT).fetchone()[0])
            out["dead"] = [
                {
                    "seq": int(seq),
                    "stream": stream,
                    "kind": kind,
                    "attempts": int(attempts),
                    "error": redact(str(error)),
                    "failed_at": float(failed_at),
                }
                for seq, stream, kind, attempts, error, failed_at in conn.execute(
                    LOCAL_DEAD, (dead_limit,)
                )
            ]
            if out["dead"]:
                out["last_error"] = out["dead"][0]["error"]
    return out
