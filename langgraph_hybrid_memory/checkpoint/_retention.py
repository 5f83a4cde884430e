"""Checkpoint retention: which threads have outlived their TTL, and sweeping them on both tiers.

Semantics follow the LangGraph Agent Server's checkpointer ``ttl`` config (``ThreadTTLConfig`` of
langgraph-api): ``strategy`` ``"delete"`` removes a thread whole, ``"keep_latest"`` keeps each
namespace's latest checkpoint (with its writes and the blobs it references) and deletes the rest;
``default_ttl`` is in minutes and counts from the thread's last checkpoint; the sweeper runs every
``sweep_interval_minutes`` and handles at most ``sweep_limit`` threads per sweep.

The deletes themselves are `HybridSaver.delete_thread` / `HybridSaver.prune`, so they go through
the outbox in per-thread order and leave tombstones in PostgreSQL: a late flush of a checkpoint
written before the sweep never brings it back.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

import psycopg

from langgraph_hybrid_memory.checkpoint import base as b
from langgraph_hybrid_memory.errors import ConfigError

if TYPE_CHECKING:
    from langgraph_hybrid_memory.checkpoint import HybridSaver

__all__ = [
    "DEFAULT_SWEEP_LIMIT",
    "TTL_STRATEGIES",
    "CheckpointTTLConfig",
    "RetentionReport",
    "RetentionStatus",
    "RetentionTracker",
    "empty_report",
    "record_sweep",
    "sweep_checkpoints",
    "sweep_postgres_saver",
    "ttl_from_env",
    "validate_ttl",
]

logger = logging.getLogger("langgraph_hybrid_memory")

TTL_STRATEGIES = ("delete", "keep_latest")
DEFAULT_SWEEP_LIMIT = 10_000  # langgraph-api's default threads per sweep


class CheckpointTTLConfig(TypedDict, total=False):
    """A checkpointer retention policy, named as langgraph-api's ``ThreadTTLConfig``."""

    strategy: Literal["delete", "keep_latest"]
    """``"delete"`` (default): remove an expired thread whole. ``"keep_latest"``: keep each
    namespace's latest checkpoint and delete older ones with their writes."""
    default_ttl: float | None
    """Minutes since a thread's last checkpoint after which it is swept (None: never)."""
    sweep_interval_minutes: float | None
    """Minutes between background sweeps (None: no background sweeper)."""
    sweep_limit: int | None
    """Most threads handled per sweep (default 10,000)."""


class RetentionReport(TypedDict):
    """What one sweep did."""

    strategy: str
    cutoff: str | None
    """ISO time: threads whose last checkpoint is older were swept (None: no TTL set)."""
    threads: int
    local_threads: int
    postgres_threads: int
    """Threads found only in PostgreSQL (not in this machine's file) that were swept."""
    delta_threads: int
    """``keep_latest`` only: swept threads that use a DeltaChannel (each kept checkpoint kept
    its ancestors back to the snapshot its delta values are rebuilt from)."""
    skipped_delta: int
    """Expired threads left whole: always 0 now that DeltaChannel threads are pruned down to
    what reconstruction reads (kept so reports keep their shape)."""
    postgres_error: str | None


class RetentionStatus(TypedDict):
    """The retention policy and what its sweeps did, for ``status()`` (never a secret)."""

    strategy: str | None
    """None: no policy (no ``default_ttl``)."""
    default_ttl: float | None
    sweep_interval_minutes: float | None
    sweep_limit: int | None
    sweeper_running: bool
    sweeps: int
    """Sweeps run since start (dry runs not counted)."""
    last_sweep_at: float | None
    """When the last sweep finished (seconds since the epoch)."""
    last_threads: int
    """Threads swept (deleted or pruned) by the last sweep."""
    threads_swept: int
    """Threads swept since start."""
    delta_threads: int
    """Of those, DeltaChannel threads pruned back to their snapshot (``keep_latest``)."""
    skipped: int
    """Expired threads left whole since start (0 since DeltaChannel threads are pruned)."""
    last_error: str | None
    """The exception type of the last failed sweep, cleared by the next good one."""


class RetentionTracker:
    """Counts what the sweeps of one saver did, for its ``status()``.

    >>> t = RetentionTracker()
    >>> t.record(empty_report("delete") | {"threads": 2})
    >>> s = t.status({"strategy": "delete", "default_ttl": 5.0}, running=False)
    >>> s["sweeps"], s["threads_swept"], s["strategy"]
    (1, 2, 'delete')
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sweeps = 0
        self._last_at: float | None = None
        self._last_threads = 0
        self._threads = 0
        self._delta = 0
        self._skipped = 0
        self._error: str | None = None

    def record(self, report: RetentionReport) -> None:
        with self._lock:
            self._sweeps += 1
            self._last_at = time.time()
            self._last_threads = report["threads"]
            self._threads += report["threads"]
            self._delta += report["delta_threads"]
            self._skipped += report["skipped_delta"]
            self._error = report["postgres_error"]

    def record_error(self, exc: BaseException) -> None:
        with self._lock:
            self._error = type(exc).__name__

    def status(self, ttl: CheckpointTTLConfig | None, *, running: bool) -> RetentionStatus:
        policy = ttl or {}
        on = bool(policy.get("default_ttl"))
        with self._lock:
            return RetentionStatus(
                strategy=str(policy.get("strategy", "delete")) if on else None,
                default_ttl=policy.get("default_ttl"),
                sweep_interval_minutes=policy.get("sweep_interval_minutes"),
                sweep_limit=policy.get("sweep_limit"),
                sweeper_running=running,
                sweeps=self._sweeps,
                last_sweep_at=self._last_at,
                last_threads=self._last_threads,
                threads_swept=self._threads,
                delta_threads=self._delta,
                skipped=self._skipped,
                last_error=self._error,
            )


def _positive(name: str, value: Any, *, integer: bool = False) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int if integer else (int, float))
        and math.isfinite(value)
        and value > 0
    )
    if not ok:
        kind = "a positive integer" if integer else "a positive number of minutes"
        raise ConfigError(f"ttl[{name!r}] must be {kind} or None, got {value!r}")


def validate_ttl(ttl: CheckpointTTLConfig | None) -> CheckpointTTLConfig | None:
    """A checked copy of `ttl` with defaults filled in (None stays None).

    Raises:
        ConfigError: unknown key, unknown strategy, or a value that is not positive.

    Examples:
        >>> validate_ttl({"default_ttl": 60})["strategy"], validate_ttl(None)
        ('delete', None)
    """
    if ttl is None:
        return None
    if not isinstance(ttl, dict):
        raise ConfigError(
            f"ttl must be a dict such as {{'strategy': 'keep_latest', 'default_ttl': 60}}, "
            f"got {ttl!r}"
        )
    unknown = set(ttl) - set(CheckpointTTLConfig.__annotations__)
    if unknown:
        raise ConfigError(
            f"unknown ttl key(s) {sorted(unknown)}; accepted: "
            f"{sorted(CheckpointTTLConfig.__annotations__)}"
        )
    strategy = ttl.get("strategy", "delete")
    if strategy not in TTL_STRATEGIES:
        raise ConfigError(f"ttl['strategy'] must be one of {TTL_STRATEGIES}, got {strategy!r}")
    out: CheckpointTTLConfig = {
        "strategy": strategy,
        "default_ttl": ttl.get("default_ttl"),
        "sweep_interval_minutes": ttl.get("sweep_interval_minutes"),
        "sweep_limit": ttl.get("sweep_limit", DEFAULT_SWEEP_LIMIT),
    }
    for name in ("default_ttl", "sweep_interval_minutes"):
        if out.get(name) is not None:
            _positive(name, out.get(name))
    if out.get("sweep_limit") is None:
        out["sweep_limit"] = DEFAULT_SWEEP_LIMIT
    _positive("sweep_limit", out.get("sweep_limit"), integer=True)
    return out


# Threads whose latest checkpoint (any namespace) is older than the cutoff, oldest first. For
# keep_latest only threads with something to delete: more checkpoints than namespaces, and not
# already pruned at their newest checkpoint (``lghm_checkpoint_retention``: a DeltaChannel
# thread keeps its chain back to a snapshot), so a swept thread is not picked on every sweep.
LOCAL_SELECT_EXPIRED = """
SELECT c.thread_id,
       max(json_type(c.metadata, '$.counters_since_delta_snapshot') IS NOT NULL
           OR json_type(c.metadata, '$.delta_writes_versioned') IS NOT NULL) AS uses_delta
FROM lghm_checkpoints AS c
GROUP BY c.thread_id
HAVING max(julianday(json_extract(c.checkpoint, '$.ts'))) < julianday(?)
   AND (? = 'delete' OR (
        count(*) > count(DISTINCT c.checkpoint_ns)
        AND max(c.checkpoint_id) > coalesce(
            (SELECT r.head_id FROM lghm_checkpoint_retention AS r WHERE r.thread_id = c.thread_id),
            '')))
ORDER BY max(julianday(json_extract(c.checkpoint, '$.ts')))
LIMIT ?
"""
PG_SELECT_EXPIRED = """
SELECT c.thread_id,
       bool_or(c.metadata ? 'counters_since_delta_snapshot'
               OR c.metadata ? 'delta_writes_versioned') AS uses_delta
FROM checkpoints AS c
GROUP BY c.thread_id
HAVING max((c.checkpoint ->> 'ts')::timestamptz) < %s::timestamptz
   AND (%s = 'delete' OR (
        count(*) > count(DISTINCT c.checkpoint_ns)
        AND max(c.checkpoint_id) > coalesce(
            (SELECT r.head_id FROM lghm_checkpoint_retention AS r WHERE r.thread_id = c.thread_id),
            '')))
ORDER BY max((c.checkpoint ->> 'ts')::timestamptz)
LIMIT %s
"""


# The totals every sweep adds to, whichever process ran it (one row: both savers sweep the same
# tables), so `lghm status` can say when the tables were last swept.
SWEEPS_ROW = "checkpoints"
PG_RECORD_SWEEP = """
INSERT INTO lghm_checkpoint_sweeps AS s
    (name, strategy, last_sweep_at, last_threads, sweeps, threads_swept, delta_threads, skipped)
VALUES (%(name)s, %(strategy)s, now(), %(threads)s, 1, %(threads)s, %(delta)s, %(skipped)s)
ON CONFLICT (name) DO UPDATE SET
    strategy = EXCLUDED.strategy, last_sweep_at = now(), last_threads = EXCLUDED.last_threads,
    sweeps = s.sweeps + 1, threads_swept = s.threads_swept + EXCLUDED.threads_swept,
    delta_threads = s.delta_threads + EXCLUDED.delta_threads, skipped = s.skipped + EXCLUDED.skipped
"""
PG_SELECT_SWEEPS = """
SELECT strategy, extract(epoch FROM last_sweep_at)::float8 AS last_sweep_at, last_threads,
       sweeps, threads_swept, delta_threads, skipped
FROM lghm_checkpoint_sweeps WHERE name = %s
"""


def record_sweep(conn: Any, report: RetentionReport) -> None:
    """Add one sweep's counts to ``lghm_checkpoint_sweeps`` (`conn`: autocommit psycopg)."""
    conn.execute(
        PG_RECORD_SWEEP,
        {
            "name": SWEEPS_ROW,
            "strategy": report["strategy"],
            "threads": report["threads"],
            "delta": report["delta_threads"],
            "skipped": report["skipped_delta"],
        },
    )


def empty_report(strategy: str) -> RetentionReport:
    """A sweep's report before it has swept anything (also what a sweep without a TTL returns)."""
    return RetentionReport(
        strategy=strategy,
        cutoff=None,
        threads=0,
        local_threads=0,
        postgres_threads=0,
        delta_threads=0,
        skipped_delta=0,
        postgres_error=None,
    )


def sweep_checkpoints(
    saver: HybridSaver,
    *,
    now: float | None = None,
    limit: int | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Apply `saver.ttl` once: sweep threads whose last checkpoint is older than ``default_ttl``.

    Threads in the local file are judged there (it is ahead of PostgreSQL for them); threads
    only in PostgreSQL (written by another machine) are judged there, when it is reachable.

    Args:
        now: the time to judge against (seconds since the epoch; default the current time).
        limit: most threads this sweep (default the policy's ``sweep_limit``).
        dry_run: count the threads that would be swept; delete nothing.
    """
    ttl = saver.ttl or {}
    strategy = str(ttl.get("strategy", "delete"))
    report = empty_report(strategy)
    minutes = ttl.get("default_ttl")
    if not minutes:
        return report
    budget = int(limit if limit is not None else ttl.get("sweep_limit") or DEFAULT_SWEEP_LIMIT)
    moment = time.time() if now is None else now
    cutoff = dt.datetime.fromtimestamp(moment - float(minutes) * 60.0, dt.timezone.utc)
    report["cutoff"] = cutoff.isoformat()
    with saver.db.read() as conn:
        local = [
            (str(r[0]), bool(r[1]))
            for r in conn.execute(LOCAL_SELECT_EXPIRED, (cutoff.isoformat(), strategy, budget))
        ]
    remote: list[tuple[str, bool]] = []
    if len(local) < budget and not saver.replicator.looks_unreachable():
        try:
            with saver.replicator.connection() as pg:
                saver._prepare_remote(pg)
                rows = pg.execute(PG_SELECT_EXPIRED, (cutoff, strategy, budget)).fetchall()
            seen = {t for t, _ in local}
            with saver.db.read() as conn:
                for r in rows:
                    t = str(r["thread_id"])
                    # A thread in the local file is judged by the local file (its newest
                    # checkpoints may not be flushed yet); so is one with pending entries.
                    if t in seen or conn.execute(b.LOCAL_THREAD_EXISTS, (t,)).fetchone():
                        continue
                    if saver.outbox.has_pending(b.stream_of(t)):
                        continue
                    remote.append((t, bool(r["uses_delta"])))
        except psycopg.Error as exc:
            report["postgres_error"] = f"{type(exc).__name__}"
            saver.replicator.note_reachability(False, exc)
    for tier, threads in (("local", local), ("postgres", remote)):
        for thread_id, uses_delta in threads:
            if report["threads"] >= budget:
                break
            if dry_run:
                pass
            elif strategy == "delete":
                saver.delete_thread(thread_id)
            else:
                saver.prune([thread_id], strategy="keep_latest", keep_last=1)
            if strategy == "keep_latest" and uses_delta:
                report["delta_threads"] += 1
            report["threads"] += 1
            report[f"{tier}_threads"] += 1  # type: ignore[literal-required]
    if (
        not dry_run
        and report["postgres_error"] is None
        and not saver.replicator.looks_unreachable()
    ):
        try:
            with saver.replicator.connection() as pg:
                saver._prepare_remote(pg)
                record_sweep(pg, report)
        except psycopg.Error as exc:  # the sweep stands; only its record in PostgreSQL waits
            report["postgres_error"] = f"{type(exc).__name__}"
            saver.replicator.note_reachability(False, exc)
    if report["threads"] and not dry_run:
        logger.info(
            "checkpoint_retention_swept",
            extra={"event": "checkpoint_retention_swept", **report},
        )
    return report


ENV_TTL = "MEMORY_CHECKPOINT_TTL_MINUTES"
ENV_STRATEGY = "MEMORY_CHECKPOINT_TTL_STRATEGY"
ENV_INTERVAL = "MEMORY_CHECKPOINT_SWEEP_INTERVAL_MINUTES"
ENV_LIMIT = "MEMORY_CHECKPOINT_SWEEP_LIMIT"
DEFAULT_SWEEP_INTERVAL_MINUTES = 5.0


def ttl_from_env(env: Mapping[str, str]) -> CheckpointTTLConfig | None:
    """The checkpointer policy from ``MEMORY_CHECKPOINT_*`` variables (None if no TTL is set).

    With ``MEMORY_CHECKPOINT_TTL_MINUTES`` set, the strategy defaults to ``delete``, the sweep
    interval to 5 minutes and the limit to 10,000 threads.

    Raises:
        ConfigError: a bad value, or a sweep setting without ``MEMORY_CHECKPOINT_TTL_MINUTES``;
            the message names the variable and the accepted values.

    Examples:
        >>> ttl_from_env({"MEMORY_CHECKPOINT_TTL_MINUTES": "90"})["sweep_interval_minutes"]
        5.0
        >>> ttl_from_env({}) is None
        True
    """
    raw = {k: env.get(k, "").strip() for k in (ENV_TTL, ENV_STRATEGY, ENV_INTERVAL, ENV_LIMIT)}
    if not raw[ENV_TTL]:
        extra = [k for k in (ENV_STRATEGY, ENV_INTERVAL, ENV_LIMIT) if raw[k]]
        if extra:
            raise ConfigError(
                f"{', '.join(extra)} set without {ENV_TTL}; set {ENV_TTL} to a positive number "
                "of minutes (or unset them)"
            )
        return None

    def number(name: str, kind: type[int] | type[float], accepted: str) -> Any:
        try:
            value = kind(raw[name])
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{name}={raw[name]!r} is not valid; use {accepted}")
        return value

    strategy = (raw[ENV_STRATEGY] or "delete").lower()
    if strategy not in TTL_STRATEGIES:
        raise ConfigError(f"{ENV_STRATEGY}={raw[ENV_STRATEGY]!r}; use one of {TTL_STRATEGIES}")
    ttl: dict[str, Any] = {
        "strategy": strategy,
        "default_ttl": number(ENV_TTL, float, "a positive number of minutes"),
        "sweep_interval_minutes": (
            number(ENV_INTERVAL, float, "a positive number of minutes")
            if raw[ENV_INTERVAL]
            else DEFAULT_SWEEP_INTERVAL_MINUTES
        ),
        "sweep_limit": (
            number(ENV_LIMIT, int, "a positive integer (threads per sweep)")
            if raw[ENV_LIMIT]
            else DEFAULT_SWEEP_LIMIT
        ),
    }
    return validate_ttl(cast(CheckpointTTLConfig, ttl))


def sweep_postgres_saver(
    conn: Any,
    ttl: CheckpointTTLConfig,
    *,
    now: float | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """The same policy for ``MEMORY_TYPE=postgres``: langgraph's `PostgresSaver` tables, swept
    with its own ``delete_thread`` / ``prune``; a DeltaChannel thread (which its ``prune``
    refuses) is pruned as `HybridSaver.prune` does, keeping what reconstruction reads.

    `conn` is a psycopg connection (autocommit, ``dict_row``) to the database of the tables;
    our checkpoint migrations (the ``lghm_checkpoint_retention`` marks) are applied first.
    """
    from langgraph.checkpoint.postgres import PostgresSaver

    from langgraph_hybrid_memory._migrations import run_migrations
    from langgraph_hybrid_memory.checkpoint import prune_postgres_thread

    run_migrations(conn, b.HYBRID_MIGRATIONS, schema="public", table=b.HYBRID_MIGRATIONS_TABLE)
    policy = validate_ttl(ttl) or {}
    strategy = str(policy.get("strategy", "delete"))
    report = empty_report(strategy)
    minutes = policy.get("default_ttl")
    if not minutes:
        return report
    moment = time.time() if now is None else now
    cutoff = dt.datetime.fromtimestamp(moment - float(minutes) * 60.0, dt.timezone.utc)
    report["cutoff"] = cutoff.isoformat()
    budget = int(policy.get("sweep_limit") or DEFAULT_SWEEP_LIMIT)
    rows = conn.execute(PG_SELECT_EXPIRED, (cutoff, strategy, budget)).fetchall()
    saver = PostgresSaver(conn)
    for r in rows:
        thread_id = str(r["thread_id"])
        if dry_run:
            pass
        elif strategy == "delete":
            saver.delete_thread(thread_id)
            conn.execute(b.PG_DELETE_THREAD[-1], (thread_id,))  # its keep_latest mark
        elif r["uses_delta"]:
            with conn.transaction(), conn.cursor() as cur:
                prune_postgres_thread(cur, thread_id, keep_last=1)
        else:
            saver.prune([thread_id], strategy="keep_latest")
            conn.execute(b.PG_MARK_PRUNED, (thread_id,))
        if strategy == "keep_latest" and r["uses_delta"]:
            report["delta_threads"] += 1
        report["threads"] += 1
        report["postgres_threads"] += 1
    if not dry_run:
        record_sweep(conn, report)
    return report
