"""The checkpoint ``ttl`` policy beside the factory's langgraph savers (``MEMORY_TYPE=postgres``
and ``sqlite``): one sweep on demand, a background `SweeperThread`, and what the sweeps did for
``status()``.

`HybridSaver` runs its own policy; this is the same policy, sweeper and status beside a plain
`PostgresSaver`/`AsyncPostgresSaver` or `SqliteSaver`/`AsyncSqliteSaver`, which have none.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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
from langgraph_hybrid_memory.checkpoint._sqlite_retention import sweep_sqlite_saver
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["PostgresSaverRetention", "SaverRetention", "SqliteSaverRetention"]

SweepOnce = Callable[[Any, "float | None", bool], RetentionReport]
"""(policy, now, dry_run) -> what one sweep did."""


class SaverRetention:
    """Runs `sweep_once(policy, now, dry_run)` by `ttl`: on demand, and every
    ``sweep_interval_minutes`` in a `SweeperThread` (started at once when set; `close` stops
    it), counting what the sweeps did for `status`."""

    def __init__(self, sweep_once: SweepOnce, ttl: CheckpointTTLConfig | None) -> None:
        self.ttl = validate_ttl(ttl)
        self._sweep_once = sweep_once
        self._tracker = RetentionTracker()
        self._sweeper = SweeperThread(
            lambda: self.sweep_checkpoints()["threads"],
            name="lghm-checkpoint-retention",
            label="checkpoint retention",
        )
        policy = self.ttl or {}
        if policy.get("default_ttl") and policy.get("sweep_interval_minutes"):
            self.start_ttl_sweeper()

    def __repr__(self) -> str:  # what it sweeps may name a password: not shown
        return f"{type(self).__name__}(ttl={self.ttl!r})"

    def sweep_checkpoints(
        self, *, now: float | None = None, limit: int | None = None, dry_run: bool = False
    ) -> RetentionReport:
        """Apply the policy once (as `HybridSaver.sweep_checkpoints`, on this saver's tables)."""
        policy: Any = dict(self.ttl or {})
        if limit is not None:
            policy["sweep_limit"] = limit
        try:
            report = self._sweep_once(policy, now, dry_run)
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


class PostgresSaverRetention(SaverRetention):
    """The policy on langgraph's `PostgresSaver` tables at `conninfo` (`sweep_postgres_saver`).

    Each sweep opens one short connection of its own: the sweeper is a thread, and the saver's
    pool may be an asyncio one.
    """

    def __init__(self, conninfo: str, ttl: CheckpointTTLConfig | None) -> None:
        def once(policy: Any, now: float | None, dry_run: bool) -> RetentionReport:
            with get_connection(conninfo) as conn:
                return sweep_postgres_saver(conn, policy, now=now, dry_run=dry_run)

        super().__init__(once, ttl)


class SqliteSaverRetention(SaverRetention):
    """The policy on langgraph's `SqliteSaver` tables in the file at `path`
    (`sweep_sqlite_saver`, one short connection of its own per sweep)."""

    def __init__(
        self, path: str | Path, ttl: CheckpointTTLConfig | None, *, serde: Any = None
    ) -> None:
        def once(policy: Any, now: float | None, dry_run: bool) -> RetentionReport:
            return sweep_sqlite_saver(path, policy, now=now, dry_run=dry_run, serde=serde)

        super().__init__(once, ttl)
