"""The checkpoint ``ttl`` policy for the factory's langgraph savers (``MEMORY_TYPE=postgres``):
one sweep on demand, a background `SweeperThread`, and what the sweeps did for ``status()``.

`HybridSaver` runs its own policy; this is the same policy, the same sweeper and the same status
beside a plain `PostgresSaver` / `AsyncPostgresSaver`, which have no retention of their own.
"""

from __future__ import annotations

from typing import Any

from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory._sweeper import SweeperThread
from langgraph_hybrid_memory.checkpoint._retention import (
    CheckpointTTLConfig,
    RetentionReport,
    RetentionStatus,
    RetentionTracker,
    sweep_postgres_saver,
    validate_ttl,
)
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["PostgresSaverRetention"]


class PostgresSaverRetention:
    """Sweeps langgraph's `PostgresSaver` tables at `conninfo` by `ttl` (`sweep_postgres_saver`).

    Each sweep opens one short connection of its own: the sweeper is a thread, and the saver's
    pool may be an asyncio one. With ``default_ttl`` and ``sweep_interval_minutes`` set, the
    background sweeper starts at once; `close` stops it.

    Args:
        conninfo: the database of the checkpoint tables.
        ttl: the policy (`CheckpointTTLConfig`); None keeps everything.
    """

    def __init__(self, conninfo: str, ttl: CheckpointTTLConfig | None) -> None:
        self.ttl = validate_ttl(ttl)
        self._conninfo = conninfo
        self._tracker = RetentionTracker()
        self._sweeper = SweeperThread(
            lambda: self.sweep_checkpoints()["threads"],
            name="lghm-checkpoint-retention",
            label="checkpoint retention",
        )
        policy = self.ttl or {}
        if policy.get("default_ttl") and policy.get("sweep_interval_minutes"):
            self.start_ttl_sweeper()

    def __repr__(self) -> str:  # the conninfo may hold a password
        return f"PostgresSaverRetention(ttl={self.ttl!r})"

    def sweep_checkpoints(
        self, *, now: float | None = None, limit: int | None = None, dry_run: bool = False
    ) -> RetentionReport:
        """Apply the policy once (as `HybridSaver.sweep_checkpoints`, on PostgreSQL only)."""
        policy: Any = dict(self.ttl or {})
        if limit is not None:
            policy["sweep_limit"] = limit
        try:
            with get_connection(self._conninfo) as conn:
                report = sweep_postgres_saver(conn, policy, now=now, dry_run=dry_run)
        except Exception as exc:
            self._tracker.record_error(exc)
            raise
        if not dry_run and report["cutoff"] is not None:
            self._tracker.record(report)
        return report

    def start_ttl_sweeper(self) -> Any:
        """Start the background sweeper (idempotent); a future that completes when it stops.

        Raises:
            ConfigError: no ``ttl`` with ``default_ttl`` and ``sweep_interval_minutes``.
        """
        policy = self.ttl or {}
        interval = policy.get("sweep_interval_minutes")
        if not policy.get("default_ttl") or not interval:
            raise ConfigError(
                "start_ttl_sweeper needs ttl={'default_ttl': MINUTES, "
                "'sweep_interval_minutes': MINUTES}"
            )
        return self._sweeper.start(float(interval))

    def close(self, timeout: float | None = 5.0) -> bool:
        """Stop the sweeper; True if it stopped within `timeout` seconds."""
        return self._sweeper.stop(timeout)

    def status(self) -> RetentionStatus:
        return self._tracker.status(self.ttl, running=self._sweeper.running)
