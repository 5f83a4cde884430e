"""Read replicas: read-your-writes routing and replica lag.

A store given a read replica (``DATABASE_READ_URL``) sends reads and searches there, but a
process must always read back what it wrote, and a streaming standby may be behind. So after
every plan that wrote on the primary, the store records the primary's WAL insert position
(``pg_current_wal_insert_lsn()``, read *after* the commit, so it is at or past the commit
record). While such a fence is pending, each read first asks the replica how far it has
replayed (``pg_last_wal_replay_lsn()``); until it has passed the fence the read goes to the
primary. Once passed, the fence is dropped and reads cost nothing extra.

The fence is per store instance (so per process): another process that did not write reads
from the replica and may see stale data, which is what a replica offers.

If the position cannot be read after a write (the connection died mid-plan), the fence becomes
`UNKNOWN`: reads go to the primary until a later plan on the primary records a position.
"""

from __future__ import annotations

import threading
from typing import Any, Final, TypedDict

__all__ = [
    "CURRENT_LSN",
    "PRIMARY_LSN",
    "REPLAY_LSN",
    "REPLICA_STATE",
    "UNKNOWN",
    "ReadYourWrites",
    "ReplicaLag",
    "lag_report",
    "parse_lsn",
]

# The position just after the last WAL record inserted: after our commit returned, that is at
# or past our commit record.
CURRENT_LSN = "SELECT pg_current_wal_insert_lsn()::text AS lsn"
# NULL on a server that is not a standby (then it has every write: it is the primary).
REPLAY_LSN = "SELECT pg_last_wal_replay_lsn()::text AS lsn"
# The replica's own view: replay position, last replayed commit's age, and pause state.
REPLICA_STATE = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replay_lsn,
       CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END AS pause_state,
       CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL
                 AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
            ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
       END AS lag_seconds
"""
PRIMARY_LSN = "SELECT pg_current_wal_lsn()::text AS lsn"

UNKNOWN: Final = -1


def parse_lsn(text: str) -> int:
    """``'16/B374D848'`` -> a byte position (PostgreSQL's ``pg_lsn``: two 32-bit hex halves)."""
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) | int(lo, 16)


class ReadYourWrites:
    """The WAL position this store's last write must reach on the replica before the replica
    may answer this store's reads. Thread-safe (a store is shared by threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fence: int | None = None

    @property
    def fence(self) -> int | None:
        return self._fence

    def wrote(self, lsn: int) -> None:
        """Record a write's position (the furthest one wins)."""
        with self._lock:
            if self._fence is None or self._fence == UNKNOWN or lsn > self._fence:
                self._fence = lsn

    def wrote_unknown(self) -> None:
        """A write whose position could not be read: the primary answers until one is known."""
        with self._lock:
            self._fence = UNKNOWN

    def replica_ok(self, replay_lsn: str | None) -> bool:
        """True if a replica that replayed up to `replay_lsn` has every write of ours; drops
        the fence then. `None` (a server not in recovery, e.g. promoted) has everything."""
        with self._lock:
            fence = self._fence
            if fence is None:
                return True
            if fence == UNKNOWN:
                return False
            if replay_lsn is None or parse_lsn(replay_lsn) >= fence:
                self._fence = None
                return True
            return False


class ReplicaLag(TypedDict):
    """How far the read replica is behind the primary."""

    in_recovery: bool
    """False if the "replica" is not a standby (promoted, or the primary itself)."""
    lag_bytes: int | None
    """WAL bytes the primary has written that the replica has not replayed."""
    lag_seconds: float | None
    """Age of the last replayed commit while the replica has WAL to replay (0 when caught up)."""
    replay_paused: bool


def lag_report(primary: dict[str, Any] | None, replica: dict[str, Any]) -> ReplicaLag:
    """Build the lag from a `PRIMARY_LSN` row (None if the primary is unreachable) and a
    `REPLICA_STATE` row."""
    lag_bytes: int | None = None
    if primary is not None and primary["lsn"] and replica["replay_lsn"]:
        lag_bytes = max(0, parse_lsn(primary["lsn"]) - parse_lsn(replica["replay_lsn"]))
    in_recovery = bool(replica["in_recovery"])
    return {
        "in_recovery": in_recovery,
        "lag_bytes": lag_bytes if in_recovery else 0,
        "lag_seconds": (
            None if replica["lag_seconds"] is None else round(float(replica["lag_seconds"]), 3)
        )
        if in_recovery
        else 0.0,
        "replay_paused": replica["pause_state"] in ("paused", "pause requested"),
    }
