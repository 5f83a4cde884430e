"""The checkpoint ``ttl`` policy on langgraph's `SqliteSaver` tables (``MEMORY_TYPE=sqlite``).

`SqliteSaver` keeps each checkpoint as one serialized value, so SQL cannot read its ``ts``: a
thread's age comes from its newest ``checkpoint_id`` instead, a uuid6 that carries the time the
checkpoint was created (the same moment langgraph stamps ``ts``). ``delete`` removes the thread's
rows (as `SqliteSaver.delete_thread`); ``keep_latest`` keeps each namespace's newest checkpoint
with its writes and, on a DeltaChannel thread, the ancestors its delta values are rebuilt from
(read with the saver's serializer). A subgraph call's namespace keeps its newest checkpoint too
(`SqliteSaver` has no ``prune`` whose rule to follow): more kept, nothing lost.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from langgraph_hybrid_memory._sqlite import BUSY_TIMEOUT_MS
from langgraph_hybrid_memory.checkpoint._retention import (
    DEFAULT_SWEEP_LIMIT,
    CheckpointTTLConfig,
    RetentionReport,
    empty_report,
    validate_ttl,
)

__all__ = ["checkpoint_id_time", "sweep_sqlite_saver"]

# 100-ns intervals between the uuid epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000

# One row per thread: its newest checkpoint id, whether keep_latest has anything to delete, and
# whether it uses a DeltaChannel (metadata is JSON text in a BLOB column).
SQLITE_SELECT_THREADS = """
SELECT c.thread_id, max(c.checkpoint_id) AS newest,
       count(*) > count(DISTINCT c.checkpoint_ns) AS prunable,
       max(CASE WHEN json_valid(CAST(c.metadata AS TEXT)) THEN
               json_type(CAST(c.metadata AS TEXT), '$.counters_since_delta_snapshot') IS NOT NULL
               OR json_type(CAST(c.metadata AS TEXT), '$.delta_writes_versioned') IS NOT NULL
           ELSE 0 END) AS uses_delta,
       (SELECT r.head_id FROM lghm_checkpoint_retention AS r WHERE r.thread_id = c.thread_id)
       AS marked
FROM checkpoints AS c
GROUP BY c.thread_id
"""
SQLITE_MARKS_TABLE = """
CREATE TABLE IF NOT EXISTS lghm_checkpoint_retention (
    thread_id TEXT PRIMARY KEY,
    head_id TEXT NOT NULL
) WITHOUT ROWID
"""
SQLITE_DELETE_THREAD = (
    "DELETE FROM checkpoints WHERE thread_id = ?",
    "DELETE FROM writes WHERE thread_id = ?",
    "DELETE FROM lghm_checkpoint_retention WHERE thread_id = ?",
)
SQLITE_THREAD_ROWS = """
SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata
FROM checkpoints WHERE thread_id = ?
"""
# Keys as JSON [[checkpoint_ns, checkpoint_id], ...] of one thread.
SQLITE_DELETE_KEPT_NOT = (
    """DELETE FROM writes WHERE thread_id = ? AND NOT EXISTS (
        SELECT 1 FROM json_each(?) AS k
        WHERE json_extract(k.value, '$[0]') = writes.checkpoint_ns
        AND json_extract(k.value, '$[1]') = writes.checkpoint_id)""",
    """DELETE FROM checkpoints WHERE thread_id = ? AND NOT EXISTS (
        SELECT 1 FROM json_each(?) AS k
        WHERE json_extract(k.value, '$[0]') = checkpoints.checkpoint_ns
        AND json_extract(k.value, '$[1]') = checkpoints.checkpoint_id)""",
)
SQLITE_CLEAR_DANGLING_PARENTS = """
UPDATE checkpoints SET parent_checkpoint_id = NULL
WHERE thread_id = ? AND parent_checkpoint_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM checkpoints AS p
    WHERE p.thread_id = checkpoints.thread_id AND p.checkpoint_ns = checkpoints.checkpoint_ns
    AND p.checkpoint_id = checkpoints.parent_checkpoint_id)
"""
SQLITE_MARK_PRUNED = """
INSERT INTO lghm_checkpoint_retention (thread_id, head_id)
SELECT thread_id, max(checkpoint_id) FROM checkpoints WHERE thread_id = ? GROUP BY thread_id
ON CONFLICT (thread_id) DO UPDATE SET head_id = excluded.head_id
"""


def checkpoint_id_time(checkpoint_id: str) -> float | None:
    """When a uuid6 checkpoint id was made (seconds since the epoch); None if it is not one.

    >>> checkpoint_id_time("1ef4f797-8335-6428-8001-8a1503f9b875") > 1.7e9
    True
    """
    try:
        u = uuid.UUID(checkpoint_id)
    except ValueError:
        return None
    if u.version != 6:
        return None
    high = u.int >> 64
    ticks = ((high >> 32) << 28) | (((high >> 16) & 0xFFFF) << 12) | (high & 0x0FFF)
    return (ticks - _UUID_EPOCH_OFFSET) / 1e7


def _kept(rows: list[Any], serde: SerializerProtocol) -> list[list[str]]:
    """(ns, id) to keep: each namespace's newest checkpoint, and on a DeltaChannel thread its
    ancestors back to the checkpoint that stores every delta channel it rebuilds."""
    by_key = {(r[0], r[1]): r for r in rows}
    heads: dict[str, str] = {}
    for ns, cid, *_ in rows:
        if cid > heads.get(ns, ""):
            heads[ns] = cid
    kept: list[list[str]] = []
    for ns, head in heads.items():
        kept.append([ns, head])
        _, _, parent, typ, blob, meta = by_key[(ns, head)]
        checkpoint = serde.loads_typed((typ, blob))
        counters = (json.loads(meta) if meta else {}).get("counters_since_delta_snapshot") or {}
        needs = (set(counters) & set(checkpoint.get("channel_versions", {}))) - set(
            checkpoint.get("channel_values", {})
        )
        seen = {head}
        while needs and parent and parent not in seen and (ns, parent) in by_key:
            seen.add(parent)
            kept.append([ns, parent])
            _, _, next_parent, typ, blob, _ = by_key[(ns, parent)]
            needs -= set(serde.loads_typed((typ, blob)).get("channel_values", {}))
            parent = next_parent
    return kept


def sweep_sqlite_saver(
    path: str | Path,
    ttl: CheckpointTTLConfig,
    *,
    now: float | None = None,
    dry_run: bool = False,
    serde: SerializerProtocol | None = None,
) -> RetentionReport:
    """Apply `ttl` once to the `SqliteSaver` tables in the file at `path` (its own connection).

    A thread's age is its newest checkpoint id's time (see the module); oldest first, at most
    ``sweep_limit`` threads. ``local_threads`` counts them (the file is the only tier).
    """
    policy = validate_ttl(ttl) or {}
    strategy = str(policy.get("strategy", "delete"))
    report = empty_report(strategy)
    minutes = policy.get("default_ttl")
    if not minutes:
        return report
    moment = time.time() if now is None else now
    cutoff = moment - float(minutes) * 60.0
    report["cutoff"] = dt.datetime.fromtimestamp(cutoff, dt.timezone.utc).isoformat()
    budget = int(policy.get("sweep_limit") or DEFAULT_SWEEP_LIMIT)
    serde = serde or JsonPlusSerializer()
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(SQLITE_MARKS_TABLE)
        expired: list[tuple[float, str, bool]] = []
        for thread_id, newest, prunable, uses_delta, marked in conn.execute(SQLITE_SELECT_THREADS):
            at = checkpoint_id_time(str(newest))
            if at is None or at >= cutoff:
                continue
            if strategy == "keep_latest" and (not prunable or (marked and newest <= marked)):
                continue
            expired.append((at, str(thread_id), bool(uses_delta)))
        expired.sort()
        for _, thread_id, uses_delta in expired[:budget]:
            if not dry_run:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if strategy == "delete":
                        for stmt in SQLITE_DELETE_THREAD:
                            conn.execute(stmt, (thread_id,))
                    else:
                        rows = conn.execute(SQLITE_THREAD_ROWS, (thread_id,)).fetchall()
                        keep = json.dumps(_kept(rows, serde))
                        for stmt in SQLITE_DELETE_KEPT_NOT:
                            conn.execute(stmt, (thread_id, keep))
                        conn.execute(SQLITE_CLEAR_DANGLING_PARENTS, (thread_id,))
                        conn.execute(SQLITE_MARK_PRUNED, (thread_id,))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            if strategy == "keep_latest" and uses_delta:
                report["delta_threads"] += 1
            report["threads"] += 1
            report["local_threads"] += 1
    finally:
        conn.close()
    return report
