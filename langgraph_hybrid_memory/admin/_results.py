"""The typed results of the operations (plain JSON-shaped dicts, so `--json` and the HTTP API
print them as they are).

Reports are ``TypedDict(total=False)`` where a part may add keys (status grows as parts report
more); a key that is present always has the documented type.
"""

from __future__ import annotations

from typing import Any

# typing_extensions: pydantic (the HTTP API) needs it for TypedDicts before Python 3.12.
from typing_extensions import TypedDict

__all__ = [
    "ForgetReport",
    "MemoryHit",
    "MigrationRow",
    "OutboxHealth",
    "PruneReport",
    "StatsReport",
    "StatusReport",
    "SweepReport",
    "TableSize",
    "ThreadInfo",
    "TierStats",
]


class MigrationRow(TypedDict):
    """Applied and pending migration versions of one part."""

    tier: str
    """``postgres`` or ``local``."""
    part: str
    """``store``, ``checkpoints``, ``tombstones``, ``embedding cache``, ..."""
    table: str
    """The part's version table (``schema.table`` or ``file:table``)."""
    applied: list[int]
    pending: list[int]


class StatusReport(TypedDict, total=False):
    """Health at a glance (`status`); parts may add keys."""

    memory_type: str
    data_dir: str
    """The absolute data directory (embedded PostgreSQL, local file, caches)."""
    embeddings: str
    """The configured model (not loaded to answer)."""
    postgres: dict[str, Any]
    """``url`` (redacted), ``reachable``, ``server_version``, ``pgvector_version``,
    ``migrations`` (`MigrationRow` list), ``indexes``, ``error``; ``exists`` False when the
    embedded cluster has not been created yet (looking never creates it)."""
    replica: dict[str, Any]
    """With ``DATABASE_READ_URL``: ``url`` (redacted), ``reachable``, ``in_recovery``,
    ``lag_bytes``, ``lag_seconds``, ``replay_paused`` (`ReplicaLag`), ``error``."""
    local: dict[str, Any]
    """``path``, ``exists``, ``migrations``, ``outbox_depth``, ``outbox_oldest_age_seconds``,
    ``dead_letters``."""
    retention: dict[str, Any]
    """Checkpoint retention: ``policy`` (the ``MEMORY_CHECKPOINT_TTL_*`` settings, None when
    off) and ``last_sweep`` (``strategy``, ``last_sweep_at``, ``last_threads``, ``sweeps``,
    ``threads_swept``, ``delta_threads``, ``skipped`` over every process; None before any)."""
    problems: list[str]
    """Each problem found, with how to fix it."""
    healthy: bool


class TableSize(TypedDict, total=False):
    table: str
    rows: int
    bytes: int
    """On disk (PostgreSQL: with indexes and TOAST; local tables: not measured per table)."""


class TierStats(TypedDict, total=False):
    """Counts of one tier (`stats`)."""

    users: dict[str, int]
    categories: dict[str, int]
    namespaces: dict[str, int]
    items: int
    checkpoints: int
    threads: int
    tables: list[TableSize]
    file_bytes: int


class StatsReport(TypedDict, total=False):
    postgres: TierStats
    local: TierStats


class MemoryHit(TypedDict):
    """One memory found by `search` or listed by `recent` / `user_memories`."""

    namespace: list[str]
    key: str
    value: dict[str, Any]
    score: float | None
    updated_at: str


class ForgetReport(TypedDict, total=False):
    """What `forget_user` removed (``removed``) or would remove (``would_remove``, dry run):
    rows per tier and table."""

    user: str
    dry_run: bool
    threads: list[str]
    removed: dict[str, dict[str, int]]
    would_remove: dict[str, dict[str, int]]


class PruneReport(TypedDict, total=False):
    dry_run: bool
    postgres: dict[str, int]
    """``checkpoints`` and ``threads`` affected."""
    local: dict[str, int]


class SweepReport(TypedDict, total=False):
    dry_run: bool
    postgres: dict[str, int]
    """``expired_items``."""
    local: dict[str, int]
    checkpoints: dict[str, int]
    """Checkpoint retention (``MEMORY_CHECKPOINT_TTL_*``): ``threads`` swept (or, dry run, to
    sweep), ``local_threads``, ``postgres_threads``, ``delta_threads``, ``skipped_delta``."""


class ThreadInfo(TypedDict):
    """One thread of a user (`user_threads`)."""

    thread_id: str
    checkpoints: dict[str, int]
    """Checkpoints per tier (``local``, ``postgres``)."""
    latest: dict[str, Any] | None
    """The newest root checkpoint: ``checkpoint_id``, ``ts``, ``step``, ``tier`` and
    ``channels`` (channel names with a short preview of each value)."""


class OutboxHealth(TypedDict):
    """The local outbox (`outbox_health`)."""

    depth: int
    oldest_age_seconds: float | None
    dead_letters: int
    last_error: str | None
    """The newest dead letter's error (redacted), or None."""
    dead: list[dict[str, Any]]
    """The newest dead letters: ``seq``, ``stream``, ``kind``, ``attempts``, ``error``,
    ``failed_at``."""
