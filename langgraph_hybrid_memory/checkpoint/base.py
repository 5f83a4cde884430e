"""I/O-free logic of the hybrid checkpointer: SQL of both tiers, row conversions, selection rules.

Both tiers use **one row format**, langgraph's `PostgresSaver` format (reference: checkpoint
tables of ``langgraph-checkpoint-postgres`` 3.2):

* ``checkpoints``: the checkpoint as JSON with primitive channel values (``None``, ``str``,
  ``int``, ``float``, ``bool``) inline and every other value moved to ``checkpoint_blobs``;
  metadata as JSON.
* ``checkpoint_blobs``: ``serde.dumps_typed(value)`` keyed by (thread, namespace, channel,
  version), written only for the channels in ``new_versions``, so an unchanged channel costs
  nothing on later steps.
* ``checkpoint_writes``: pending writes keyed by (thread, namespace, checkpoint, task, idx).

Locally the same rows live in ``lghm_checkpoints``, ``lghm_checkpoint_blobs`` and
``lghm_checkpoint_writes`` of the shared SQLite file (prefixed so that langgraph's own
`SqliteSaver`, whose ``checkpoints`` table has other columns, can share the file). Flushing and
hydrating therefore copy bytes; nothing is deserialised and serialised again, and a thread
written by either side reads back identically on the other.
"""

from __future__ import annotations

import fnmatch
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.postgres.base import MIGRATIONS as POSTGRES_SAVER_MIGRATIONS
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from langgraph.constants import TASKS

from langgraph_hybrid_memory._migrations import Migration

if TYPE_CHECKING:  # _retention imports this module
    from langgraph_hybrid_memory.checkpoint._retention import RetentionStatus

__all__ = [
    "CHECKPOINT_KINDS",
    "FlushMode",
    "HybridSaverStatus",
    "NamespaceSelector",
    "PruneStrategy",
    "plan_prune",
]

FlushMode = Literal["write_behind", "write_through"]
"""``write_behind``: `put` returns after the local commit; a background thread flushes.
``write_through``: `put` also waits for the PostgreSQL commit (see `HybridSaver`)."""

PruneStrategy = Literal["keep_latest", "delete"]
PRUNE_STRATEGIES = ("keep_latest", "delete")
READ_TIERS = Literal["local", "postgres"]

# Outbox kinds owned by the checkpointer; the stream of an entry is ``checkpoint:<thread_id>``.
KIND_PUT = "checkpoint.put"
KIND_WRITES = "checkpoint.writes"
KIND_DELETE_THREAD = "checkpoint.delete_thread"
KIND_DELETE_IDS = "checkpoint.delete_ids"
KIND_COPY_THREAD = "checkpoint.copy_thread"
KIND_PRUNE = "checkpoint.prune"
CHECKPOINT_KINDS = (
    KIND_PUT,
    KIND_WRITES,
    KIND_DELETE_THREAD,
    KIND_DELETE_IDS,
    KIND_COPY_THREAD,
    KIND_PRUNE,
)
LOG_AS = "checkpoint"
# Entries that concern many threads at once (delete_for_runs) use this stream.
GLOBAL_STREAM = "checkpoint:*"


def stream_of(thread_id: str) -> str:
    return f"checkpoint:{thread_id}"


class HybridSaverStatus(TypedDict):
    """What `HybridSaver.status` reports (never a secret)."""

    mode: FlushMode
    flush_namespaces: list[str]
    depth: int
    """Outbox entries waiting for PostgreSQL (every part sharing the local file)."""
    oldest_pending_age: float | None
    last_flush_at: float | None
    last_error: str | None
    postgres_reachable: bool | None
    last_read_tier: READ_TIERS | None
    """Which tier answered the last read: ``"local"``, or ``"postgres"`` (hydrated)."""
    write_through_degraded: bool
    """``write_through`` only: the last put could not reach PostgreSQL and waits in the outbox."""
    dead_letters: int
    retention: RetentionStatus
    """The ``ttl`` policy, its sweeper, and what the sweeps did (`sweep_checkpoints`)."""
    thread_conflicts: int
    """Threads whose offline work was fenced (another instance took them over meanwhile): the
    work is kept as a branch in the local file, see ``lghm_thread_conflicts``."""
    leases_held: int
    """Threads this instance holds the lease of right now."""


# --------------------------------------------------------------------------------------------
# Namespace selection
# --------------------------------------------------------------------------------------------


class NamespaceSelector:
    """Which ``checkpoint_ns`` values are flushed to PostgreSQL.

    Patterns are matched whole, with `fnmatch` globs: ``""`` is the root graph only, ``"*"`` is
    every namespace, ``"executor:*"`` is every call of the ``executor`` subgraph (nested
    namespaces below it included, since ``*`` also matches the ``|`` separator).

    Examples:
        >>> sel = NamespaceSelector([""])
        >>> sel.matches(""), sel.matches("child:1")
        (True, False)
        >>> NamespaceSelector(["executor:*"]).matches("executor:4f1|tool:9")
        True
        >>> NamespaceSelector(["*"]).matches("anything")
        True
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        if isinstance(patterns, str):
            raise TypeError(
                "flush_namespaces must be a list of patterns, e.g. [''] or ['', 'executor:*'], "
                f"not the string {patterns!r}"
            )
        self.patterns = list(patterns)
        for p in self.patterns:
            if not isinstance(p, str):
                raise TypeError(f"flush_namespaces patterns must be strings, got {p!r}")
        self._all = "*" in self.patterns
        self._exact = {p for p in self.patterns if not any(c in p for c in "*?[")}
        self._globs = [p for p in self.patterns if p not in self._exact]
        self._cache: dict[str, bool] = {}

    def matches(self, checkpoint_ns: str) -> bool:
        if self._all or checkpoint_ns in self._exact:
            return True
        if not self._globs:
            return False
        hit = self._cache.get(checkpoint_ns)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(checkpoint_ns, g) for g in self._globs)
            if len(self._cache) < 10_000:  # bounded: subgraph namespaces carry task ids
                self._cache[checkpoint_ns] = hit
        return hit


# --------------------------------------------------------------------------------------------
# Local (SQLite) schema and SQL
# --------------------------------------------------------------------------------------------

LOCAL_COMPONENT = "checkpoint"
LOCAL_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS lghm_local_schema ("
    "component TEXT NOT NULL, v INTEGER NOT NULL, PRIMARY KEY (component, v))"
)
LOCAL_SELECT_VERSIONS = "SELECT v FROM lghm_local_schema WHERE component = ?"
LOCAL_INSERT_VERSION = "INSERT OR IGNORE INTO lghm_local_schema (component, v) VALUES (?, ?)"
# Numbered local migrations (index = version); never edit a shipped one. Tables are WITHOUT
# ROWID: one b-tree per table instead of a rowid table plus a primary-key index, so each step
# writes fewer pages (measured in bench/bench_checkpoint.py).
LOCAL_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS lghm_checkpoints (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            checkpoint_id TEXT NOT NULL,
            parent_checkpoint_id TEXT,
            type TEXT,
            checkpoint TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS lghm_checkpoint_blobs (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            channel TEXT NOT NULL,
            version TEXT NOT NULL,
            type TEXT NOT NULL,
            blob BLOB,
            PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS lghm_checkpoint_writes (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            checkpoint_id TEXT NOT NULL,
            task_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            channel TEXT NOT NULL,
            type TEXT,
            blob BLOB NOT NULL,
            task_path TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
        ) WITHOUT ROWID""",
    ),
    # keep_latest marks: a thread pruned at this newest checkpoint id has nothing more to
    # delete until it gets a newer checkpoint (a DeltaChannel thread keeps several checkpoints
    # per namespace, so "more checkpoints than namespaces" cannot tell).
    (
        """CREATE TABLE IF NOT EXISTS lghm_checkpoint_retention (
            thread_id TEXT PRIMARY KEY,
            head_id TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
    # Version 2: per-thread leases (see `checkpoint._lease`). The file's random id (the lease's
    # "origin"), the lease epoch under which this file last owned each thread, and the conflict
    # branches: checkpoints written here under an epoch PostgreSQL had left behind, kept with
    # their blobs and writes (never deleted, never the latest state of the thread).
    (
        """CREATE TABLE IF NOT EXISTS lghm_local_identity (
            k TEXT PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS lghm_thread_epochs (
            thread_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS lghm_thread_conflicts (
            thread_id TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            pg_epoch INTEGER NOT NULL,
            holder TEXT NOT NULL,
            detected_at REAL NOT NULL,
            PRIMARY KEY (thread_id, epoch)
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS lghm_conflict_checkpoints (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            checkpoint_id TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            parent_checkpoint_id TEXT,
            type TEXT,
            checkpoint TEXT NOT NULL,
            metadata TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS lghm_conflict_blobs (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            channel TEXT NOT NULL,
            version TEXT NOT NULL,
            type TEXT NOT NULL,
            blob BLOB,
            PRIMARY KEY (thread_id, checkpoint_ns, channel, version)
        ) WITHOUT ROWID""",
        """CREATE TABLE IF NOT EXISTS lghm_conflict_writes (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL DEFAULT '',
            checkpoint_id TEXT NOT NULL,
            task_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            channel TEXT NOT NULL,
            type TEXT,
            blob BLOB NOT NULL,
            task_path TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
        ) WITHOUT ROWID""",
    ),
)

# Same conflict rules as PostgresSaver: a re-put checkpoint updates checkpoint and metadata only;
# a blob version is immutable.
LOCAL_UPSERT_CHECKPOINT = """
INSERT INTO lghm_checkpoints
    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
DO UPDATE SET checkpoint = excluded.checkpoint, metadata = excluded.metadata
"""
LOCAL_INSERT_BLOB = """
INSERT INTO lghm_checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""
LOCAL_UPSERT_WRITE = """
INSERT INTO lghm_checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
DO UPDATE SET channel = excluded.channel, type = excluded.type, blob = excluded.blob
"""
LOCAL_INSERT_WRITE = """
INSERT INTO lghm_checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
LOCAL_CHECKPOINT_COLUMNS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata"
)
LOCAL_THREAD_EXISTS = "SELECT 1 FROM lghm_checkpoints WHERE thread_id = ? LIMIT 1"
# Blobs and writes of many checkpoints in one query each (no N+1 when listing): the keys travel
# as one JSON array parameter, [[thread_id, checkpoint_ns, checkpoint_id], ...].
LOCAL_SELECT_BLOBS_FOR_KEYS = """
SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, b.channel, b.type, b.blob
FROM json_each(?) AS k
JOIN lghm_checkpoints AS c
    ON c.thread_id = json_extract(k.value, '$[0]')
    AND c.checkpoint_ns = json_extract(k.value, '$[1]')
    AND c.checkpoint_id = json_extract(k.value, '$[2]')
JOIN json_each(c.checkpoint, '$.channel_versions') AS v
JOIN lghm_checkpoint_blobs AS b
    ON b.thread_id = c.thread_id AND b.checkpoint_ns = c.checkpoint_ns
    AND b.channel = v.key AND b.version = CAST(v.value AS TEXT)
"""
LOCAL_SELECT_WRITES_FOR_KEYS = """
SELECT w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.task_id, w.channel, w.type, w.blob,
       w.task_path, w.idx
FROM json_each(?) AS k
JOIN lghm_checkpoint_writes AS w
    ON w.thread_id = json_extract(k.value, '$[0]')
    AND w.checkpoint_ns = json_extract(k.value, '$[1]')
    AND w.checkpoint_id = json_extract(k.value, '$[2]')
"""
# Pending sends of older checkpoints (format v < 4): the TASKS writes of their parents, in
# PostgresSaver's order (SELECT_PENDING_SENDS_SQL: task_path, task_id, idx; like it, any
# namespace). Keys are [thread_id, parent_checkpoint_id] pairs in one JSON parameter.
LOCAL_SELECT_PENDING_SENDS = """
SELECT w.thread_id, w.checkpoint_id, w.type, w.blob
FROM json_each(?) AS k
JOIN lghm_checkpoint_writes AS w
    ON w.thread_id = json_extract(k.value, '$[0]')
    AND w.checkpoint_id = json_extract(k.value, '$[1]')
WHERE w.channel = ?
ORDER BY w.thread_id, w.checkpoint_id, w.task_path, w.task_id, w.idx
"""
# Rows the flusher sends, read at flush time for a whole batch in one query per table (a row
# deleted locally meanwhile is simply not sent: its delete entry follows in the same stream).
# Keys travel as one JSON array parameter.
LOCAL_SELECT_CHECKPOINT_ROWS_FOR_KEYS = """
SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.checkpoint,
       c.metadata
FROM json_each(?) AS k
JOIN lghm_checkpoints AS c
    ON c.thread_id = json_extract(k.value, '$[0]')
    AND c.checkpoint_ns = json_extract(k.value, '$[1]')
    AND c.checkpoint_id = json_extract(k.value, '$[2]')
"""
LOCAL_SELECT_BLOB_ROWS_FOR_KEYS = """
SELECT b.thread_id, b.checkpoint_ns, b.channel, b.version, b.type, b.blob
FROM json_each(?) AS k
JOIN lghm_checkpoint_blobs AS b
    ON b.thread_id = json_extract(k.value, '$[0]')
    AND b.checkpoint_ns = json_extract(k.value, '$[1]')
    AND b.channel = json_extract(k.value, '$[2]')
    AND b.version = json_extract(k.value, '$[3]')
"""
LOCAL_SELECT_TASK_WRITES_FOR_KEYS = """
SELECT w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.task_id, w.task_path, w.idx, w.channel,
       w.type, w.blob
FROM json_each(?) AS k
JOIN lghm_checkpoint_writes AS w
    ON w.thread_id = json_extract(k.value, '$[0]')
    AND w.checkpoint_ns = json_extract(k.value, '$[1]')
    AND w.checkpoint_id = json_extract(k.value, '$[2]')
    AND w.task_id = json_extract(k.value, '$[3]')
"""
LOCAL_DELETE_THREAD = (
    "DELETE FROM lghm_checkpoints WHERE thread_id = ?",
    "DELETE FROM lghm_checkpoint_blobs WHERE thread_id = ?",
    "DELETE FROM lghm_checkpoint_writes WHERE thread_id = ?",
    "DELETE FROM lghm_checkpoint_retention WHERE thread_id = ?",
)
LOCAL_SELECT_FOR_RUNS = """
SELECT thread_id, checkpoint_ns, checkpoint_id FROM lghm_checkpoints
WHERE json_extract(metadata, '$.run_id') IN (SELECT value FROM json_each(?))
"""
# Whether a checkpoint was written by a graph with a DeltaChannel (its metadata carries the
# delta counters): such a thread's prune must keep what reconstruction reads (`plan_prune`).
LOCAL_USES_DELTA = (
    "(json_type(metadata, '$.counters_since_delta_snapshot') IS NOT NULL"
    " OR json_type(metadata, '$.delta_writes_versioned') IS NOT NULL)"
)
LOCAL_SELECT_THREAD_HEADS = (
    "SELECT checkpoint_ns, checkpoint_id, json_extract(metadata, '$.parents') AS parents, "
    + LOCAL_USES_DELTA
    + " AS uses_delta FROM lghm_checkpoints WHERE thread_id = ?"
)
# What DeltaChannel reconstruction reads, per checkpoint of a thread: its parent, its delta
# counters (channels with writes since their last snapshot), the channels it has a version of,
# and the channels it stores a value for (inline, or a non-empty blob at its version).
LOCAL_SELECT_DELTA_LINEAGE = """
SELECT c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id,
       json_extract(c.metadata, '$.counters_since_delta_snapshot') AS counters,
       (SELECT json_group_array(v.key) FROM json_each(c.checkpoint, '$.channel_versions') AS v)
       AS versioned,
       (SELECT json_group_array(s.k) FROM (
            SELECT i.key AS k FROM json_each(c.checkpoint, '$.channel_values') AS i
            UNION
            SELECT bl.channel FROM json_each(c.checkpoint, '$.channel_versions') AS v
            JOIN lghm_checkpoint_blobs AS bl
                ON bl.thread_id = c.thread_id AND bl.checkpoint_ns = c.checkpoint_ns
                AND bl.channel = v.key AND bl.version = CAST(v.value AS TEXT)
                AND bl.type <> 'empty'
       ) AS s) AS stored
FROM lghm_checkpoints AS c WHERE c.thread_id = ?
"""
LOCAL_MARK_PRUNED = """
INSERT INTO lghm_checkpoint_retention (thread_id, head_id)
SELECT thread_id, max(checkpoint_id) FROM lghm_checkpoints WHERE thread_id = ? GROUP BY thread_id
ON CONFLICT (thread_id) DO UPDATE SET head_id = excluded.head_id
"""
# Keys as JSON [[thread_id, checkpoint_ns, checkpoint_id], ...].
LOCAL_DELETE_CHECKPOINTS_BY_KEYS = """
DELETE FROM lghm_checkpoints WHERE (thread_id, checkpoint_ns, checkpoint_id) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(?))
"""
LOCAL_DELETE_WRITES_BY_KEYS = """
DELETE FROM lghm_checkpoint_writes WHERE (thread_id, checkpoint_ns, checkpoint_id) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(?))
"""
LOCAL_CLEAR_DANGLING_PARENTS = """
UPDATE lghm_checkpoints SET parent_checkpoint_id = NULL
WHERE thread_id = ? AND parent_checkpoint_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM lghm_checkpoints AS p
    WHERE p.thread_id = lghm_checkpoints.thread_id
    AND p.checkpoint_ns = lghm_checkpoints.checkpoint_ns
    AND p.checkpoint_id = lghm_checkpoints.parent_checkpoint_id)
"""
# Blobs no remaining checkpoint of the thread references.
LOCAL_DELETE_GARBAGE_BLOBS = """
DELETE FROM lghm_checkpoint_blobs WHERE thread_id = ? AND NOT EXISTS (
    SELECT 1 FROM lghm_checkpoints AS c, json_each(c.checkpoint, '$.channel_versions') AS v
    WHERE c.thread_id = lghm_checkpoint_blobs.thread_id
    AND c.checkpoint_ns = lghm_checkpoint_blobs.checkpoint_ns
    AND v.key = lghm_checkpoint_blobs.channel
    AND CAST(v.value AS TEXT) = lghm_checkpoint_blobs.version)
"""
LOCAL_COPY_THREAD = (
    """INSERT INTO lghm_checkpoints
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
    SELECT ?, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata
    FROM lghm_checkpoints WHERE thread_id = ? ON CONFLICT DO NOTHING""",
    """INSERT INTO lghm_checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT ?, checkpoint_ns, channel, version, type, blob
    FROM lghm_checkpoint_blobs WHERE thread_id = ? ON CONFLICT DO NOTHING""",
    """INSERT INTO lghm_checkpoint_writes
        (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
    SELECT ?, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob
    FROM lghm_checkpoint_writes WHERE thread_id = ? ON CONFLICT DO NOTHING""",
)
LOCAL_INSERT_HYDRATED_CHECKPOINT = """
INSERT INTO lghm_checkpoints
    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""
LOCAL_INSERT_HYDRATED_WRITE = """
INSERT INTO lghm_checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
"""


def prepare_local_select(
    config: RunnableConfig | None,
    *,
    filter: Mapping[str, Any] | None = None,
    before: RunnableConfig | None = None,
    limit: int | None = None,
    latest_only: bool = False,
) -> tuple[str, list[Any], dict[str, Any]]:
    """SQL for the checkpoint rows of `list`/`get_tuple`, newest first.

    Returns ``(sql, params, python_filter)``: metadata filter values that are scalars become SQL
    predicates; dict/list values (containment, as PostgreSQL's ``@>``) are left in
    ``python_filter`` for the caller, and then the SQL has no LIMIT (the caller applies it).
    """
    wheres: list[str] = []
    params: list[Any] = []
    if config:
        wheres.append("thread_id = ?")
        params.append(str(config["configurable"]["thread_id"]))
        ns = config["configurable"].get("checkpoint_ns")
        if ns is not None:
            wheres.append("checkpoint_ns = ?")
            params.append(ns)
        if checkpoint_id := get_checkpoint_id(config):
            wheres.append("checkpoint_id = ?")
            params.append(checkpoint_id)
    python_filter: dict[str, Any] = {}
    for key, value in (filter or {}).items():
        if isinstance(value, (dict, list)):
            python_filter[key] = value
            continue
        path = "$." + json.dumps(str(key))
        # json_type tells a stored null from a missing key (json_extract gives NULL for both).
        wheres.append("json_type(metadata, ?) IS NOT NULL AND json_extract(metadata, ?) IS ?")
        params.extend([path, path, _sqlite_json_scalar(value)])
    if before is not None and (before_id := get_checkpoint_id(before)):
        wheres.append("checkpoint_id < ?")
        params.append(before_id)
    sql = f"SELECT {LOCAL_CHECKPOINT_COLUMNS} FROM lghm_checkpoints"
    if wheres:
        sql += " WHERE " + " AND ".join(wheres)
    sql += " ORDER BY checkpoint_id DESC"
    if latest_only:
        sql += " LIMIT 1"
    elif limit is not None and not python_filter:
        sql += " LIMIT ?"
        params.append(int(limit))
    return sql, params, python_filter


def _sqlite_json_scalar(value: Any) -> Any:
    """How `json_extract` returns a JSON scalar: true/false as 1/0, null as NULL."""
    if isinstance(value, bool):
        return int(value)
    return value


def json_contains(container: Any, contained: Any) -> bool:
    """PostgreSQL ``@>`` semantics for the metadata values the SQL could not check."""
    if isinstance(contained, dict):
        return isinstance(container, dict) and all(
            k in container and json_contains(container[k], v) for k, v in contained.items()
        )
    if isinstance(contained, list):
        return isinstance(container, list) and all(
            any(json_contains(c, v) for c in container) for v in contained
        )
    return bool(container == contained and type(container) is type(contained))


# --------------------------------------------------------------------------------------------
# PostgreSQL schema and SQL
# --------------------------------------------------------------------------------------------

# PostgresSaver's own migration list, recorded in its own ``checkpoint_migrations`` table with the
# same version numbers, so PostgresSaver.setup() afterwards finds nothing to do (and ours finds
# nothing after it). Its ``CREATE INDEX CONCURRENTLY`` steps cannot run in a transaction.
_INDEX_NAME = {
    6: "checkpoints_thread_id_idx",
    7: "checkpoint_blobs_thread_id_idx",
    8: "checkpoint_writes_thread_id_idx",
}
POSTGRES_MIGRATIONS_TABLE = "checkpoint_migrations"
POSTGRES_MIGRATIONS: list[Migration] = [
    Migration(
        sql=cast(Any, sql),  # a literal from langgraph's package, not built from input
        transactional=v not in _INDEX_NAME,
        index=_INDEX_NAME.get(v),
        description=f"PostgresSaver migration {v}",
    )
    for v, sql in enumerate(POSTGRES_SAVER_MIGRATIONS)
]
# Our own additions, numbered separately so PostgresSaver's list can grow independently.
HYBRID_MIGRATIONS_TABLE = "lghm_checkpoint_migrations"
HYBRID_MIGRATIONS: list[Migration] = [
    Migration(
        sql="""CREATE TABLE IF NOT EXISTS lghm_checkpoint_tombstones (
            thread_id TEXT NOT NULL,
            checkpoint_ns TEXT NOT NULL,
            checkpoint_id TEXT NOT NULL,
            deleted_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
        )""",
        description="tombstones: deleted threads ('' , '') and checkpoints; a flush of data "
        "written locally before the delete is refused",
    ),
    Migration(
        sql="""CREATE TABLE IF NOT EXISTS lghm_checkpoint_retention (
            thread_id TEXT PRIMARY KEY,
            head_id TEXT NOT NULL,
            pruned_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )""",
        description="keep_latest marks: the newest checkpoint id a thread was pruned at, so a "
        "sweep does not pick it again until it has a newer checkpoint",
    ),
    Migration(
        sql="""CREATE TABLE IF NOT EXISTS lghm_checkpoint_sweeps (
            name TEXT PRIMARY KEY,
            strategy TEXT NOT NULL,
            last_sweep_at TIMESTAMPTZ NOT NULL,
            last_threads INTEGER NOT NULL,
            sweeps BIGINT NOT NULL,
            threads_swept BIGINT NOT NULL,
            delta_threads BIGINT NOT NULL,
            skipped BIGINT NOT NULL
        )""",
        description="retention: one row of totals, updated by every sweep (any process), for "
        "lghm status",
    ),
    Migration(
        sql="""CREATE TABLE IF NOT EXISTS lghm_thread_leases (
            thread_id TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            origin TEXT NOT NULL,
            epoch BIGINT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            prev_holder TEXT
        )""",
        description="per-thread leases: one holder (a HybridSaver) at a time; the epoch counts "
        "moves of the thread between local files and fences a stale file's flush",
    ),
]

PG_UPSERT_BLOB = """
INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
"""
PG_UPSERT_CHECKPOINT = """
INSERT INTO checkpoints
    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
VALUES (%s, %s, %s, %s, %s::jsonb, %s::jsonb)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
"""
PG_UPSERT_WRITE = """
INSERT INTO checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
DO UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob
"""
PG_SELECT_TOMBSTONES = """
SELECT thread_id, checkpoint_ns, checkpoint_id, deleted_at FROM lghm_checkpoint_tombstones
WHERE thread_id = ANY(%s)
"""
PG_UPSERT_TOMBSTONE = """
INSERT INTO lghm_checkpoint_tombstones (thread_id, checkpoint_ns, checkpoint_id, deleted_at)
VALUES (%s, %s, %s, %s)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
DO UPDATE SET deleted_at = GREATEST(lghm_checkpoint_tombstones.deleted_at, EXCLUDED.deleted_at)
"""
PG_DELETE_THREAD = (
    "DELETE FROM checkpoints WHERE thread_id = %s",
    "DELETE FROM checkpoint_blobs WHERE thread_id = %s",
    "DELETE FROM checkpoint_writes WHERE thread_id = %s",
    "DELETE FROM lghm_checkpoint_retention WHERE thread_id = %s",
)
PG_SELECT_FOR_RUNS = """
SELECT thread_id, checkpoint_ns, checkpoint_id FROM checkpoints
WHERE metadata ->> 'run_id' = ANY(%s)
"""
PG_USES_DELTA = (
    "(metadata ? 'counters_since_delta_snapshot' OR metadata ? 'delta_writes_versioned')"
)
"""`LOCAL_USES_DELTA` on PostgreSQL's ``checkpoints``."""
PG_SELECT_THREAD_HEADS = (
    "SELECT checkpoint_ns, checkpoint_id, metadata -> 'parents' AS parents, "
    + PG_USES_DELTA
    + " AS uses_delta FROM checkpoints WHERE thread_id = %s"
)
PG_SELECT_DELTA_LINEAGE = """
SELECT c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id,
       c.metadata -> 'counters_since_delta_snapshot' AS counters,
       ARRAY(SELECT jsonb_object_keys(c.checkpoint -> 'channel_versions')) AS versioned,
       ARRAY(
           SELECT jsonb_object_keys(c.checkpoint -> 'channel_values')
           UNION
           SELECT bl.channel FROM jsonb_each_text(c.checkpoint -> 'channel_versions') AS v
           JOIN checkpoint_blobs AS bl
               ON bl.thread_id = c.thread_id AND bl.checkpoint_ns = c.checkpoint_ns
               AND bl.channel = v.key AND bl.version = v.value AND bl.type <> 'empty'
       ) AS stored
FROM checkpoints AS c WHERE c.thread_id = %s
"""
PG_MARK_PRUNED = """
INSERT INTO lghm_checkpoint_retention (thread_id, head_id)
SELECT thread_id, max(checkpoint_id) FROM checkpoints WHERE thread_id = %s GROUP BY thread_id
ON CONFLICT (thread_id) DO UPDATE SET head_id = EXCLUDED.head_id, pruned_at = now()
"""
PG_DELETE_CHECKPOINTS = """
DELETE FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = ANY(%s)
"""
PG_DELETE_WRITES = """
DELETE FROM checkpoint_writes
WHERE thread_id = %s AND checkpoint_ns = %s AND checkpoint_id = ANY(%s)
"""
PG_CLEAR_DANGLING_PARENTS = """
UPDATE checkpoints AS c SET parent_checkpoint_id = NULL
WHERE c.thread_id = %s AND c.parent_checkpoint_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM checkpoints AS p
    WHERE p.thread_id = c.thread_id AND p.checkpoint_ns = c.checkpoint_ns
    AND p.checkpoint_id = c.parent_checkpoint_id)
"""
PG_DELETE_GARBAGE_BLOBS = """
DELETE FROM checkpoint_blobs AS b WHERE b.thread_id = %s AND NOT EXISTS (
    SELECT 1 FROM checkpoints AS c
    WHERE c.thread_id = b.thread_id AND c.checkpoint_ns = b.checkpoint_ns
    AND c.checkpoint -> 'channel_versions' ->> b.channel = b.version)
"""
PG_COPY_THREAD = (
    """INSERT INTO checkpoints
        (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)
    SELECT %(target)s, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint,
           metadata
    FROM checkpoints WHERE thread_id = %(source)s ON CONFLICT DO NOTHING""",
    """INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT %(target)s, checkpoint_ns, channel, version, type, blob
    FROM checkpoint_blobs WHERE thread_id = %(source)s ON CONFLICT DO NOTHING""",
    """INSERT INTO checkpoint_writes
        (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
    SELECT %(target)s, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob
    FROM checkpoint_writes WHERE thread_id = %(source)s ON CONFLICT DO NOTHING""",
)
PG_THREAD_EXISTS = "SELECT 1 FROM checkpoints WHERE thread_id = %s LIMIT 1"
# Hydration reads raw rows; checkpoint/metadata as text so they are copied, not re-encoded.
PG_HYDRATE_CHECKPOINTS = """
SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type,
       checkpoint::text AS checkpoint, metadata::text AS metadata
FROM checkpoints WHERE thread_id = %s
"""
PG_HYDRATE_BLOBS = """
SELECT thread_id, checkpoint_ns, channel, version, type, blob
FROM checkpoint_blobs WHERE thread_id = %s
"""
PG_HYDRATE_WRITES = """
SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob
FROM checkpoint_writes WHERE thread_id = %s
"""


# --------------------------------------------------------------------------------------------
# Row conversions
# --------------------------------------------------------------------------------------------


def split_checkpoint(checkpoint: Checkpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """PostgresSaver's rule: (checkpoint with primitives inline, values that go to blobs)."""
    copy = cast(dict[str, Any], checkpoint.copy())
    values = dict(checkpoint["channel_values"])
    blob_values: dict[str, Any] = {}
    for k, v in checkpoint["channel_values"].items():
        if isinstance(v, _DeltaSnapshot):
            blob_values[k] = values.pop(k)
            values[k] = True  # PostgresSaver's inline marker for a snapshot blob
        elif v is None or isinstance(v, (str, int, float, bool)):
            pass
        else:
            blob_values[k] = values.pop(k)
    copy["channel_values"] = values
    return copy, blob_values


def dump_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def metadata_json(config: RunnableConfig, metadata: CheckpointMetadata) -> str:
    return dump_json(get_serializable_checkpoint_metadata(config, metadata))


def writes_query_is_upsert(writes: Sequence[tuple[str, Any]]) -> bool:
    """PostgresSaver's rule: special channels only -> replace; otherwise first write wins."""
    return all(w[0] in WRITES_IDX_MAP for w in writes)


def write_idx(channel: str, position: int) -> int:
    return WRITES_IDX_MAP.get(channel, position)


def keys_json(keys: Iterable[tuple[str, str, str]]) -> str:
    return dump_json([list(k) for k in keys])


def next_version(current: str | int | None) -> str:
    """The one version rule of both tiers (langgraph's shipped savers): zero-padded so that
    versions compare correctly as strings.

    >>> next_version(None)[:32]
    '00000000000000000000000000000001'
    >>> next_version("00000000000000000000000000000041.0123")[:32]
    '00000000000000000000000000000042'
    """
    if current is None:
        current_v = 0
    elif isinstance(current, int):
        current_v = current
    else:
        current_v = int(current.split(".")[0])
    return f"{current_v + 1:032}.{random.random():016}"


def build_tuple(
    row: Sequence[Any],
    blobs: Mapping[str, Any],
    writes: list[tuple[str, str, Any]],
) -> CheckpointTuple:
    """A `CheckpointTuple` from a local checkpoint row plus its loaded blobs and writes."""
    thread_id, ns, checkpoint_id, parent_id, checkpoint_text, metadata_text = row[:6]
    checkpoint = json.loads(checkpoint_text)
    checkpoint["channel_values"] = {**(checkpoint.get("channel_values") or {}), **blobs}
    return CheckpointTuple(
        config={
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint_id,
            }
        },
        checkpoint=cast(Checkpoint, checkpoint),
        metadata=cast(CheckpointMetadata, json.loads(metadata_text)),
        parent_config=(
            {
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": parent_id,
                }
            }
            if parent_id
            else None
        ),
        pending_writes=writes,
    )


def needs_pending_sends(row: Sequence[Any]) -> bool:
    """Whether a local checkpoint row predates format 4 and has a parent, so its parent's
    TASKS writes belong in its ``channel_values`` (as `PostgresSaver` reads it)."""
    if not row[3]:
        return False
    version = json.loads(row[4]).get("v", 4)
    return isinstance(version, int) and version < 4


def migrate_pending_sends(checkpoint: Any, sends: list[Any], next_version: Any) -> None:
    """`PostgresSaver._migrate_pending_sends` on a loaded checkpoint: the parent's sends
    become the TASKS channel's value, at the checkpoint's highest version."""
    if not sends:
        return
    checkpoint["channel_values"][TASKS] = sends
    versions = checkpoint["channel_versions"]
    versions[TASKS] = max(versions.values()) if versions else next_version


def sort_writes(rows: Iterable[tuple[str, str, int, tuple[str, str, Any]]]) -> list[Any]:
    """rows of (task_path, task_id, idx, (task_id, channel, value)) in `writes_sort_key` order."""
    return [w for *_, w in sorted(rows, key=lambda r: writes_sort_key(r[0], r[1], r[2]))]


# --------------------------------------------------------------------------------------------
# Prune planning (shared by both tiers so they delete the same checkpoints)
# --------------------------------------------------------------------------------------------


class DeltaNode(TypedDict):
    """One checkpoint as DeltaChannel reconstruction sees it (from ``*_SELECT_DELTA_LINEAGE``)."""

    parent: str | None
    needs: frozenset[str]
    """Delta channels whose value here is rebuilt from ancestors: counted since their last
    snapshot, versioned, and not stored at this checkpoint."""
    stored: frozenset[str]
    """Channels with a value stored at this checkpoint (a snapshot ends the walk for them)."""


def _names(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, dict):
        return frozenset(str(k) for k in value)
    return frozenset(str(k) for k in value or ())


def delta_lineage(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, str], DeltaNode]:
    """`DeltaNode` by (checkpoint_ns, checkpoint_id) from lineage rows
    (ns, id, parent_id, counters, versioned channels, stored channels)."""
    out: dict[tuple[str, str], DeltaNode] = {}
    for ns, cid, parent, counters, versioned, stored in rows:
        have = _names(stored)
        out[(str(ns), str(cid))] = DeltaNode(
            parent=str(parent) if parent else None,
            needs=(_names(counters) & _names(versioned)) - have,
            stored=have,
        )
    return out


def delta_lineage_of_rows(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], DeltaNode]:
    """`delta_lineage` from ``PG_SELECT_DELTA_LINEAGE``'s dict rows."""
    return delta_lineage(
        (
            r["checkpoint_ns"],
            r["checkpoint_id"],
            r["parent_checkpoint_id"],
            r["counters"],
            r["versioned"],
            r["stored"],
        )
        for r in rows
    )


def reconstruction_chain(
    lineage: Mapping[tuple[str, str], DeltaNode], ns: str, checkpoint_id: str
) -> set[str]:
    """The ancestors `get_delta_channel_history` reads to rebuild `checkpoint_id`'s delta
    channels: parent by parent until each channel it needs has a stored value (its snapshot),
    or the chain ends. Their checkpoints and writes must outlive a prune of the thread.

    >>> node = lambda parent, needs=(), stored=(): DeltaNode(
    ...     parent=parent, needs=frozenset(needs), stored=frozenset(stored))
    >>> lin = {("", "1"): node(None, stored=["log"]), ("", "2"): node("1", ["log"]),
    ...        ("", "3"): node("2", ["log"]), ("", "4"): node("3", ["log"])}
    >>> sorted(reconstruction_chain(lin, "", "4"))
    ['1', '2', '3']
    """
    node = lineage.get((ns, checkpoint_id))
    if node is None:
        return set()
    remaining = set(node["needs"])
    chain: set[str] = set()
    parent = node["parent"]
    while remaining and parent is not None and parent not in chain:
        ancestor = lineage.get((ns, parent))
        if ancestor is None:  # the chain is already cut here: the walk stops here too
            break
        chain.add(parent)
        remaining -= ancestor["stored"]
        parent = ancestor["parent"]
    return chain


def with_reconstruction_chains(
    kept: Mapping[str, set[str]], lineage: Mapping[tuple[str, str], DeltaNode]
) -> dict[str, set[str]]:
    """`kept` (checkpoint ids by namespace) plus each one's `reconstruction_chain`.

    The one rule every prune of a DeltaChannel thread follows (`plan_prune` for the savers'
    ``prune`` and the TTL sweeps, `admin.plan_checkpoint_prune` for ``lghm prune``): whatever
    decides which checkpoints stay, the ancestors their delta values are rebuilt from stay too,
    so each kept checkpoint's state reads back the same.

    >>> node = lambda parent, needs=(), stored=(): DeltaNode(
    ...     parent=parent, needs=frozenset(needs), stored=frozenset(stored))
    >>> lin = {("", "1"): node(None, stored=["log"]), ("", "2"): node("1", ["log"]),
    ...        ("", "3"): node("2", ["log"])}
    >>> sorted(with_reconstruction_chains({"": {"3"}}, lin)[""])
    ['1', '2', '3']
    """
    return {
        ns: set(ids).union(*(reconstruction_chain(lineage, ns, cid) for cid in ids))
        for ns, ids in kept.items()
    }


def plan_prune(
    heads: Sequence[tuple[str, str, Any, bool]],
    *,
    keep_last: int,
    lineage: Mapping[tuple[str, str], DeltaNode] | None = None,
) -> list[tuple[str, str]]:
    """Which (checkpoint_ns, checkpoint_id) of one thread to delete.

    `heads` rows are (checkpoint_ns, checkpoint_id, metadata parents, uses_delta). Per namespace
    the `keep_last` newest checkpoints stay. As in `PostgresSaver.prune`, a subgraph *call*'s
    namespace (one with a ``:``) goes entirely once the root checkpoint its latest checkpoint
    started from exists and is not kept.

    A thread that uses a DeltaChannel needs its `lineage` (`delta_lineage`): each kept
    checkpoint also keeps its `reconstruction_chain`, the ancestors back to the last snapshot
    its delta values are rebuilt from, so its state reads back the same.

    Raises:
        NotImplementedError: the thread uses a DeltaChannel and no `lineage` was given.

    >>> plan_prune([("", "1", None, False), ("", "2", None, False), ("", "3", None, False)],
    ...            keep_last=2)
    [('', '1')]
    """
    uses_delta = any(delta for *_, delta in heads)
    if uses_delta and lineage is None:
        raise NotImplementedError(
            "keep_latest on a DeltaChannel thread needs its lineage (the checkpoints back to "
            "the last snapshot its latest values are rebuilt from)"
        )
    by_ns: dict[str, list[tuple[str, Any]]] = {}
    for ns, cid, parents, _ in heads:
        by_ns.setdefault(ns, []).append((cid, parents))
    kept: dict[str, set[str]] = {}
    for ns, rows in by_ns.items():
        rows.sort(key=lambda r: r[0], reverse=True)
        kept[ns] = {cid for cid, _ in rows[:keep_last]}
    if uses_delta and lineage is not None:
        kept = with_reconstruction_chains(kept, lineage)
    root_ids = {cid for cid, _ in by_ns.get("", [])}
    doomed: list[tuple[str, str]] = []
    for ns, rows in by_ns.items():
        drop_all = False
        if ":" in ns and rows:
            parents = rows[0][1]
            if isinstance(parents, str):
                parents = json.loads(parents)
            root = parents.get("") if isinstance(parents, dict) else None
            drop_all = root is not None and root in root_ids and root not in kept.get("", set())
        for cid, _ in rows:
            if drop_all or cid not in kept[ns]:
                doomed.append((ns, cid))
    doomed.sort()
    return doomed


def group_by_ns(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ns, cid in keys:
        out.setdefault(ns, []).append(cid)
    return out


def validate_prune_args(thread_ids: Sequence[str], strategy: str, keep_last: int) -> list[str]:
    if isinstance(thread_ids, str):
        raise TypeError("thread_ids must be a sequence of thread IDs, not a str")
    if strategy not in PRUNE_STRATEGIES:
        raise ValueError(
            f"Unknown prune strategy: {strategy!r}; use 'keep_latest' (with keep_last=N to keep "
            "the N newest per namespace) or 'delete'"
        )
    if not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 1:
        raise ValueError(f"keep_last must be an integer >= 1, got {keep_last!r}")
    return [str(t) for t in thread_ids]


class BaseHybridSaver(BaseCheckpointSaver[str]):
    """Shared, I/O-free part of `HybridSaver` and `AsyncHybridSaver`."""

    def get_next_version(self, current: str | None, channel: None) -> str:
        """langgraph's zero-padded string rule, the same on both tiers (see `next_version`)."""
        return next_version(current)


def new_versions_payload(
    new_versions: ChannelVersions, blob_values: Mapping[str, Any]
) -> list[list[str]]:
    """Which blob rows a put created: [channel, version] pairs (as in PostgresSaver.put)."""
    return [[k, str(v)] for k, v in new_versions.items() if k in blob_values]
