"""`prune`: delete old checkpoints on both tiers (keep the newest N per thread and namespace,
and/or only those older than an age), with per-checkpoint tombstones in PostgreSQL so a late
flush cannot restore them.

On a thread written with a DeltaChannel, every checkpoint that stays also keeps the ancestors
its delta values are rebuilt from (`checkpoint.base.with_reconstruction_chains`, the rule the
savers' ``prune`` and the TTL sweeps follow), so the state it reads back is unchanged."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
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


PG_CHECKPOINT_HEADS = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id, checkpoint ->> 'ts' AS ts, "
    + cp.PG_USES_DELTA
    + " AS uses_delta FROM checkpoints"
    " WHERE (%s::text[] IS NULL OR thread_id = ANY(%s::text[]))"
)
LOCAL_CHECKPOINT_HEADS = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id, json_extract(checkpoint, '$.ts'), "
    + cp.LOCAL_USES_DELTA
    + " FROM lghm_checkpoints"
)

Lineage = Mapping[tuple[str, str], cp.DeltaNode]


def _ts(value: Any) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def plan_checkpoint_prune(
    rows: Iterable[tuple[str, str, str, Any, Any]],
    *,
    keep_last: int | None,
    cutoff: float | None,
    threads: set[str] | None,
    lineage_of: Callable[[str], Lineage] | None = None,
) -> list[tuple[str, str, str]]:
    """The checkpoints to delete: per (thread, namespace), those beyond the newest `keep_last`
    (checkpoint ids sort by time) and, with `cutoff`, written before it.

    `rows` are (thread, namespace, checkpoint id, ts, uses a DeltaChannel). For a DeltaChannel
    thread with something to delete, `lineage_of(thread)` (`checkpoint.base.delta_lineage`)
    is read and the checkpoints that stay keep their reconstruction chains.

    Raises:
        NotImplementedError: a DeltaChannel thread and no `lineage_of`.

    Examples:
        >>> rows = [("t", "", "c1", None, 0), ("t", "", "c2", None, 0), ("t", "", "c3", None, 0)]
        >>> plan_checkpoint_prune(rows, keep_last=1, cutoff=None, threads=None)
        [('t', '', 'c1'), ('t', '', 'c2')]
    """
    by_thread: dict[str, dict[str, list[tuple[str, float | None]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    delta: set[str] = set()
    for t, ns, cid, ts, uses_delta in rows:
        if threads is None or t in threads:
            by_thread[t][ns].append((cid, _ts(ts)))
            if uses_delta:
                delta.add(t)
    doomed = []
    for t, groups in by_thread.items():
        kept: dict[str, set[str]] = {}
        gone: list[tuple[str, str, str]] = []
        for ns, items in groups.items():
            items.sort(reverse=True)
            kept[ns] = {cid for cid, _ in items[: keep_last or 0]}
            for cid, ts in items[keep_last or 0 :]:
                if cutoff is None or (ts is not None and ts < cutoff):
                    gone.append((t, ns, cid))
                else:
                    kept[ns].add(cid)
        if gone and t in delta:
            if lineage_of is None:
                raise NotImplementedError(
                    f"thread {t!r} uses a DeltaChannel: pruning it needs its lineage"
                )
            kept = cp.with_reconstruction_chains(kept, lineage_of(t))
            gone = [g for g in gone if g[2] not in kept[g[1]]]
        doomed += gone
    return sorted(doomed)


def _pg_lineage(conn: Connection[DictRow]) -> Callable[[str], Lineage]:
    def read(thread_id: str) -> Lineage:
        return cp.delta_lineage_of_rows(conn.execute(cp.PG_SELECT_DELTA_LINEAGE, (thread_id,)))

    return read


def _local_lineage(conn: sqlite3.Connection) -> Callable[[str], Lineage]:
    def read(thread_id: str) -> Lineage:
        return cp.delta_lineage(conn.execute(cp.LOCAL_SELECT_DELTA_LINEAGE, (thread_id,)))

    return read


def prune(
    ctx: AdminContext,
    *,
    keep_last: int | None = None,
    older_than: float | str | None = None,
    threads: Iterable[str] | None = None,
    apply: bool = False,
) -> PruneReport:
    """Delete (with `apply`; otherwise count) old checkpoints on both tiers.

    A DeltaChannel thread's checkpoints that stay keep the ancestors their delta values are
    rebuilt from (the rule of `HybridSaver.prune`), so its state reads back the same.

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
        (r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"], r["ts"], r["uses_delta"])
        for r in conn.execute(PG_CHECKPOINT_HEADS, (ids, ids))
    ]
    doomed = plan_checkpoint_prune(
        rows, keep_last=keep_last, cutoff=cutoff, threads=threads, lineage_of=_pg_lineage(conn)
    )
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
            rows = [(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(LOCAL_CHECKPOINT_HEADS)]
            doomed = plan_checkpoint_prune(
                rows,
                keep_last=keep_last,
                cutoff=cutoff,
                threads=threads,
                lineage_of=_local_lineage(conn),
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
