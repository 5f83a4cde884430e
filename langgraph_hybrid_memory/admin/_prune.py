"""`prune`: delete old checkpoints on both tiers (keep the newest N per thread and namespace,
and/or only those older than an age), with per-checkpoint tombstones in PostgreSQL so a late
flush cannot restore them."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from psycopg import Connection
from psycopg.rows import DictRow

from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.admin._context import AdminContext, table_exists
from langgraph_hybrid_memory.admin._forget_pg import pg_present
from langgraph_hybrid_memory.admin._results import PruneReport
from langgraph_hybrid_memory.checkpoint import base as cp
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["parse_duration", "plan_checkpoint_prune", "prune"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``45s``, ``2w``.

    Examples:
        >>> parse_duration("30d")
        2592000.0
        >>> parse_duration("1.5h")
        5400.0
    """
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(
            f"--older-than {text!r} is not a duration; use a number and a unit: "
            "45s, 90m, 12h, 30d, 2w"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


PG_CHECKPOINT_HEADS = """
SELECT thread_id, checkpoint_ns, checkpoint_id, checkpoint ->> 'ts' AS ts FROM checkpoints
WHERE (%s::text[] IS NULL OR thread_id = ANY(%s::text[]))
"""
LOCAL_CHECKPOINT_HEADS = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id, json_extract(checkpoint, '$.ts') "
    "FROM lghm_checkpoints"
)


def _ts(value: Any) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def plan_checkpoint_prune(
    rows: Iterable[tuple[str, str, str, Any]],
    *,
    keep_last: int | None,
    cutoff: float | None,
    threads: set[str] | None,
) -> list[tuple[str, str, str]]:
    """The checkpoints to delete: per (thread, namespace), those beyond the newest `keep_last`
    (checkpoint ids sort by time) and, with `cutoff`, written before it.

    Examples:
        >>> rows = [("t", "", "c1", None), ("t", "", "c2", None), ("t", "", "c3", None)]
        >>> plan_checkpoint_prune(rows, keep_last=1, cutoff=None, threads=None)
        [('t', '', 'c1'), ('t', '', 'c2')]
    """
    groups: dict[tuple[str, str], list[tuple[str, float | None]]] = defaultdict(list)
    for t, ns, cid, ts in rows:
        if threads is None or t in threads:
            groups[(t, ns)].append((cid, _ts(ts)))
    doomed = []
    for (t, ns), items in groups.items():
        items.sort(reverse=True)
        for cid, ts in items[keep_last or 0 :]:
            if cutoff is None or (ts is not None and ts < cutoff):
                doomed.append((t, ns, cid))
    return sorted(doomed)


def prune(
    ctx: AdminContext,
    *,
    keep_last: int | None = None,
    older_than: float | str | None = None,
    threads: Iterable[str] | None = None,
    apply: bool = False,
) -> PruneReport:
    """Delete (with `apply`; otherwise count) old checkpoints on both tiers.

    Args:
        keep_last: keep each thread's newest N checkpoints (per checkpoint namespace).
        older_than: only checkpoints older than this: seconds, or a duration such as ``"30d"``
            (alone, it deletes every older one).
        threads: only these threads.
        apply: delete; False (the default) is a dry run.

    Raises:
        ConfigError: neither `keep_last` nor `older_than`, or a bad value.
    """
    if keep_last is None and older_than is None:
        raise ConfigError("say what to prune: --keep-last N and/or --older-than DURATION")
    if keep_last is not None and (isinstance(keep_last, bool) or keep_last < 1):
        raise ConfigError(f"keep_last={keep_last!r}; use an integer of at least 1")
    age = parse_duration(older_than) if isinstance(older_than, str) else older_than
    cutoff = None if age is None else time.time() - age
    wanted = set(threads) if threads else None
    report: PruneReport = {"dry_run": not apply}
    if ctx.uses_postgres:
        with ctx.pg() as conn:
            report["postgres"] = _prune_pg(conn, keep_last, cutoff, wanted, apply=apply)
    if ctx.uses_local_file and ctx.sqlite_path.exists():
        report["local"] = _prune_local(ctx, keep_last, cutoff, wanted, apply=apply)
    return report


def _prune_pg(
    conn: Connection[DictRow],
    keep_last: int | None,
    cutoff: float | None,
    threads: set[str] | None,
    *,
    apply: bool,
) -> dict[str, int]:
    if not pg_present(conn, "public.checkpoints"):
        return {"checkpoints": 0, "threads": 0}
    ids = sorted(threads) if threads is not None else None
    rows = [
        (r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"], r["ts"])
        for r in conn.execute(PG_CHECKPOINT_HEADS, (ids, ids))
    ]
    doomed = plan_checkpoint_prune(rows, keep_last=keep_last, cutoff=cutoff, threads=threads)
    out = {"checkpoints": len(doomed), "threads": len({d[0] for d in doomed})}
    if not apply or not doomed:
        return out
    tombstones = pg_present(conn, "public.lghm_checkpoint_tombstones")
    now = time.time()
    by_thread: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for t, ns, cid in doomed:
        by_thread[t].append((ns, cid))
    with conn.transaction():
        for t, pairs in sorted(by_thread.items()):
            for ns, cids in sorted(cp.group_by_ns(pairs).items()):
                conn.execute(cp.PG_DELETE_WRITES, (t, ns, cids))
                conn.execute(cp.PG_DELETE_CHECKPOINTS, (t, ns, cids))
                if tombstones:
                    for cid in cids:
                        conn.execute(cp.PG_UPSERT_TOMBSTONE, (t, ns, cid, now))
            conn.execute(cp.PG_CLEAR_DANGLING_PARENTS, (t,))
            conn.execute(cp.PG_DELETE_GARBAGE_BLOBS, (t,))
    return out


def _prune_local(
    ctx: AdminContext,
    keep_last: int | None,
    cutoff: float | None,
    threads: set[str] | None,
    *,
    apply: bool,
) -> dict[str, int]:
    db = LocalDB.open(ctx.sqlite_path)
    try:
        with db.read() as conn:
            if not table_exists(conn, "lghm_checkpoints"):
                return {"checkpoints": 0, "threads": 0}
            rows = [tuple(r) for r in conn.execute(LOCAL_CHECKPOINT_HEADS)]
        doomed = plan_checkpoint_prune(
            rows,
            keep_last=keep_last,
            cutoff=cutoff,
            threads=threads,
        )
        out = {"checkpoints": len(doomed), "threads": len({d[0] for d in doomed})}
        if apply and doomed:
            with db.transaction() as conn:
                keys = cp.keys_json(doomed)
                conn.execute(cp.LOCAL_DELETE_WRITES_BY_KEYS, (keys,))
                conn.execute(cp.LOCAL_DELETE_CHECKPOINTS_BY_KEYS, (keys,))
                for t in sorted({d[0] for d in doomed}):
                    conn.execute(cp.LOCAL_CLEAR_DANGLING_PARENTS, (t,))
                    conn.execute(cp.LOCAL_DELETE_GARBAGE_BLOBS, (t,))
        return out
    finally:
        db.close()
