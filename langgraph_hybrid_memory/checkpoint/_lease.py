"""One owner per thread: `HybridSaver`'s lease on a thread, held in PostgreSQL.

A lease row ``lghm_thread_leases(thread_id, holder, origin, epoch, expires_at, prev_holder)``:

* ``holder`` is one `HybridSaver` instance (host, pid, random suffix): two instances, in one
  process or two, on one local file or two, never hold a thread at once. The other one waits up
  to ``lease_wait`` seconds, then gets `ThreadBusyError` naming the thread and the holder.
* ``origin`` is the holder's local file (a random id kept in the file). ``epoch`` counts the
  moves of the thread between files: it grows by one whenever a holder on another file takes the
  lease, and only then, because instances on one file share one local copy.
* ``expires_at`` is PostgreSQL's clock plus ``lease_ttl``: a killed holder's lease lapses.

Cost: a lease is taken once per run (the run's first read or write of the thread, one round
trip that also answers whether PostgreSQL has the thread, which hydration used to ask
separately), then cached in memory as "held until X"; a background thread renews it every
``lease_ttl / 3`` seconds while the thread is in use and releases it once the thread has been
idle for ``lease_idle`` seconds with nothing left to flush. A step costs no round trip.

Fencing: every outbox entry carries the epoch it was written under; the flush transaction reads
the lease rows ``FOR SHARE`` and refuses entries whose epoch PostgreSQL has left behind (see
`is_fenced`). A file whose recorded epoch differs from the one it is granted re-hydrates the
thread from PostgreSQL before anything runs; its unsent older work becomes a conflict branch
(`keep_branch`), reported, never the latest state.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

from langgraph_hybrid_memory.checkpoint import base as b
from langgraph_hybrid_memory.errors import ThreadBusyError

if TYPE_CHECKING:
    from langgraph_hybrid_memory._outbox import OutboxEntry, Replicator
    from langgraph_hybrid_memory._sqlite import LocalDB

__all__ = [
    "LeaseGrant",
    "ThreadLeases",
    "is_fenced",
    "keep_branch",
]

logger = logging.getLogger("langgraph_hybrid_memory")

DEFAULT_LEASE_TTL = 30.0
DEFAULT_LEASE_WAIT = 15.0
DEFAULT_LEASE_IDLE = 5.0
# The in-memory "held until" stops this fraction of the TTL short of PostgreSQL's expiry: our
# clock starts before the request is sent, so this only adds margin for clock-rate drift.
_SAFE_FRACTION = 0.9
_POLL_FIRST, _POLL_MAX = 0.05, 0.25

# One round trip: take the lease when it is free, lapsed or already ours (the epoch grows only
# when the origin file changes), else report who holds it and for how long; in both cases say
# whether PostgreSQL has checkpoints of the thread (hydration's probe, answered here).
PG_ACQUIRE = """
WITH taken AS (
    INSERT INTO lghm_thread_leases AS l (thread_id, holder, origin, epoch, expires_at)
    VALUES (%(t)s, %(holder)s, %(origin)s, 1,
            clock_timestamp() + make_interval(secs => %(ttl)s))
    ON CONFLICT (thread_id) DO UPDATE SET
        prev_holder = l.holder,
        holder = EXCLUDED.holder,
        origin = EXCLUDED.origin,
        epoch = l.epoch + (l.origin IS DISTINCT FROM EXCLUDED.origin)::int,
        expires_at = EXCLUDED.expires_at
    WHERE l.holder = EXCLUDED.holder OR l.expires_at <= clock_timestamp()
        OR l.holder = %(dead)s
    RETURNING l.epoch, l.prev_holder, l.expires_at
)
SELECT true AS granted, t.epoch, t.prev_holder, t.expires_at, NULL::text AS holder,
       NULL::text AS origin, NULL::float8 AS remaining,
       EXISTS (SELECT 1 FROM checkpoints WHERE thread_id = %(t)s) AS pg_has_thread
FROM taken AS t
UNION ALL
SELECT false, l.epoch, NULL, l.expires_at, l.holder, l.origin,
       GREATEST(0, extract(epoch FROM l.expires_at - clock_timestamp()))::float8, false
FROM lghm_thread_leases AS l
WHERE l.thread_id = %(t)s AND NOT EXISTS (SELECT 1 FROM taken)
"""
# Renew the given leases if still ours (a lapsed one nobody took is still ours: its epoch says
# nobody wrote meanwhile).
PG_RENEW = """
UPDATE lghm_thread_leases
SET expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
WHERE holder = %(holder)s AND thread_id = ANY(%(threads)s)
RETURNING thread_id, expires_at
"""
# Release only the leases exactly as we last took or renewed them: a release racing with a new
# acquire of the same thread by this instance must not end the new lease.
PG_RELEASE = """
UPDATE lghm_thread_leases AS l SET expires_at = clock_timestamp()
FROM unnest(%(threads)s::text[], %(expiries)s::timestamptz[]) AS r(thread_id, expires_at)
WHERE l.thread_id = r.thread_id AND l.expires_at = r.expires_at AND l.holder = %(holder)s
"""
# The flush transaction's fence: the epochs of the batch's threads, read FOR SHARE so a takeover
# (an UPDATE of the row) waits for the flush to commit, and a flush that starts after the
# takeover sees the new epoch. Locked in thread_id order, as every multi-row lock of ours.
PG_LOCK_LEASES = """
SELECT thread_id, epoch, origin, holder FROM lghm_thread_leases
WHERE thread_id = ANY(%s) ORDER BY thread_id FOR SHARE
"""

LOCAL_SELECT_FILE_ID = "SELECT v FROM lghm_local_identity WHERE k = 'file_id'"
LOCAL_INSERT_FILE_ID = "INSERT OR IGNORE INTO lghm_local_identity (k, v) VALUES ('file_id', ?)"
LOCAL_SELECT_EPOCH = "SELECT epoch FROM lghm_thread_epochs WHERE thread_id = ?"
LOCAL_RECORD_EPOCH = """
INSERT INTO lghm_thread_epochs (thread_id, epoch) VALUES (?, ?)
ON CONFLICT (thread_id) DO UPDATE SET epoch = excluded.epoch
"""
LOCAL_LATEST_IN_NS = (
    "SELECT max(checkpoint_id) FROM lghm_checkpoints WHERE thread_id = ? AND checkpoint_ns = ?"
)
LOCAL_INSERT_CONFLICT = """
INSERT OR IGNORE INTO lghm_thread_conflicts (thread_id, epoch, pg_epoch, holder, detected_at)
VALUES (?, ?, ?, ?, ?)
"""
LOCAL_COUNT_CONFLICTS = "SELECT count(*) FROM lghm_thread_conflicts"
LOCAL_COUNT_BRANCH = (
    "SELECT count(*) FROM lghm_conflict_checkpoints WHERE thread_id = ? AND epoch = ?"
)
# Branch rows copied by key (JSON arrays, as the flusher's reads); INSERT OR IGNORE makes a
# replayed refusal harmless.
LOCAL_KEEP_BRANCH_CHECKPOINTS = """
INSERT OR IGNORE INTO lghm_conflict_checkpoints
    (thread_id, checkpoint_ns, checkpoint_id, epoch, parent_checkpoint_id, type, checkpoint,
     metadata)
SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, ?, c.parent_checkpoint_id, c.type,
       c.checkpoint, c.metadata
FROM json_each(?) AS k
JOIN lghm_checkpoints AS c
    ON c.thread_id = json_extract(k.value, '$[0]')
    AND c.checkpoint_ns = json_extract(k.value, '$[1]')
    AND c.checkpoint_id = json_extract(k.value, '$[2]')
"""
# The branch's blobs: the same rows the flusher reads (`LOCAL_SELECT_BLOB_ROWS_FOR_KEYS`).
LOCAL_KEEP_BRANCH_BLOBS = (
    "INSERT OR IGNORE INTO lghm_conflict_blobs "
    "(thread_id, checkpoint_ns, channel, version, type, blob)" + b.LOCAL_SELECT_BLOB_ROWS_FOR_KEYS
)
LOCAL_KEEP_BRANCH_WRITES = """
INSERT OR IGNORE INTO lghm_conflict_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, blob, task_path)
SELECT w.thread_id, w.checkpoint_ns, w.checkpoint_id, w.task_id, w.idx, w.channel, w.type,
       w.blob, w.task_path
FROM json_each(?) AS k
JOIN lghm_checkpoint_writes AS w
    ON w.thread_id = json_extract(k.value, '$[0]')
    AND w.checkpoint_ns = json_extract(k.value, '$[1]')
    AND w.checkpoint_id = json_extract(k.value, '$[2]')
    AND w.task_id = json_extract(k.value, '$[3]')
"""


def holder_is_dead(holder: str) -> bool:
    """Whether `holder` (see `new_holder_id`) names a process of this host that has exited.

    Only a positive answer counts: another host, an unparsable name, a live (or reused) pid or
    a pid we may not signal all say "alive", and the caller waits for the lease as usual.

    Examples:
        >>> holder_is_dead(new_holder_id())
        False
        >>> holder_is_dead("some-other-host:1:abcd")
        False
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def new_holder_id() -> str:
    """A readable, unique holder name: where it runs and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def file_id_of(db: LocalDB) -> str:
    """This local file's random id (created once), the ``origin`` of its leases."""
    with db.transaction() as conn:
        conn.execute(LOCAL_INSERT_FILE_ID, (uuid.uuid4().hex,))
        return str(conn.execute(LOCAL_SELECT_FILE_ID).fetchone()[0])


def is_fenced(entry_epoch: Any, pg_epoch: int | None, pg_origin: str | None, file_id: str) -> bool:
    """Whether an entry written under `entry_epoch` must be refused by PostgreSQL's lease row.

    Entries without an epoch (written with ``lease=False`` or before leases existed) and threads
    with no lease row are not fenced. Epoch 0 is "written offline before this file ever held a
    lease on the thread": it passes only if the first lease ever taken (epoch 1) is this file's.

    >>> is_fenced(2, 2, "a", "a"), is_fenced(1, 2, "b", "a"), is_fenced(None, 5, "b", "a")
    (False, True, False)
    >>> is_fenced(0, 1, "a", "a"), is_fenced(0, 1, "b", "a")
    (False, True)
    """
    if entry_epoch is None or pg_epoch is None:
        return False
    e = int(entry_epoch)
    if e == 0 and pg_epoch == 1 and pg_origin == file_id:
        return False
    return pg_epoch > e


def keep_branch(
    conn: sqlite3.Connection,
    thread_id: str,
    entries: Sequence[OutboxEntry],
    *,
    epoch: int,
    pg_epoch: int,
    holder: str,
    local_file: Any,
) -> int:
    """Keep the rows of fenced entries as a conflict branch (inside the caller's local
    transaction), record the conflict once, log ``thread_conflict`` the first time; return the
    number of checkpoints on the branch."""
    ckpt_keys: list[list[str]] = []
    blob_keys: list[list[str]] = []
    write_keys: list[list[str]] = []
    for e in entries:
        p = e.payload
        if e.kind == b.KIND_PUT:
            ckpt_keys.append([p["t"], p["ns"], p["id"]])
            blob_keys.extend([p["t"], p["ns"], ch, v] for ch, v in p.get("blobs", []))
        elif e.kind == b.KIND_WRITES:
            write_keys.append([p["t"], p["ns"], p["id"], p["task"]])
    if ckpt_keys:
        conn.execute(LOCAL_KEEP_BRANCH_CHECKPOINTS, (epoch, b.dump_json(ckpt_keys)))
    if blob_keys:
        conn.execute(LOCAL_KEEP_BRANCH_BLOBS, (b.dump_json(blob_keys),))
    if write_keys:
        conn.execute(LOCAL_KEEP_BRANCH_WRITES, (b.dump_json(write_keys),))
    new = conn.execute(
        LOCAL_INSERT_CONFLICT, (thread_id, epoch, pg_epoch, holder, time.time())
    ).rowcount
    count = int(conn.execute(LOCAL_COUNT_BRANCH, (thread_id, epoch)).fetchone()[0])
    if new:
        logger.warning(
            "thread %r was taken over by %s (lease epoch %d) while this instance worked on it "
            "under epoch %d (offline): %d checkpoint(s) of that work are kept as a branch in "
            "the local file %s (table lghm_conflict_checkpoints), not sent to PostgreSQL; the "
            "thread continues from PostgreSQL's latest state. `lghm status` counts conflicts",
            thread_id,
            holder,
            pg_epoch,
            epoch,
            count,
            local_file,
            extra={
                "event": "thread_conflict",
                "thread_id": thread_id,
                "holder": holder,
                "epoch": epoch,
                "pg_epoch": pg_epoch,
                "checkpoints": count,
            },
        )
    return count


def count_conflicts(db: LocalDB) -> int:
    with db.read() as conn:
        try:
            return int(conn.execute(LOCAL_COUNT_CONFLICTS).fetchone()[0])
        except sqlite3.OperationalError:  # a file from before leases: none
            return 0


@dataclass(frozen=True)
class LeaseGrant:
    """A lease just taken (or re-taken)."""

    epoch: int
    prev_holder: str | None
    """Who held it before this acquire (None: nobody ever, or the row is new)."""
    pg_has_thread: bool


@dataclass
class _Held:
    epoch: int
    until: float  # time.monotonic() deadline, short of PostgreSQL's expiry
    expires_at: Any  # PostgreSQL's expiry, as last set by us (for the conditional release)
    last_used: float


class ThreadLeases:
    """The leases one `HybridSaver` instance holds, cached in memory and renewed in the
    background.

    `held_epoch` is the per-step check (no I/O). `acquire` takes a lease (one round trip; waits
    up to `wait` seconds while another holder has it, polling). A daemon thread renews held
    leases that were used within `idle` seconds and releases the others once their thread has
    nothing pending in the outbox.
    """

    def __init__(
        self,
        db: LocalDB,
        replicator: Replicator,
        *,
        ttl: float = DEFAULT_LEASE_TTL,
        wait: float = DEFAULT_LEASE_WAIT,
        idle: float = DEFAULT_LEASE_IDLE,
        holder: str | None = None,
    ) -> None:
        self.db = db
        self.replicator = replicator
        self.ttl = float(ttl)
        self.wait = float(wait)
        self.idle = float(idle)
        self.holder = holder or new_holder_id()
        self.file_id = file_id_of(db)
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the per-step check ------------------------------------------------------------------

    def held_epoch(self, thread_id: str) -> int | None:
        """The epoch of a live lease on `thread_id` (and mark it used), else None."""
        now = time.monotonic()
        with self._lock:
            h = self._held.get(thread_id)
            if h is None or h.until <= now:
                return None
            h.last_used = now
            return h.epoch

    def last_epoch(self, thread_id: str) -> int:
        """The epoch to stamp offline work with: the lease last held here (even lapsed), else
        the file's record, else 0 (never held)."""
        with self._lock:
            h = self._held.get(thread_id)
            if h is not None:
                return h.epoch
        recorded = self.recorded(thread_id)
        return 0 if recorded is None else recorded

    def count(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for h in self._held.values() if h.until > now)

    # -- taking a lease ----------------------------------------------------------------------

    def acquire(self, thread_id: str) -> LeaseGrant:
        """Take the lease, waiting up to `wait` seconds while another instance holds it.

        Raises:
            ThreadBusyError: still held by another instance after `wait` seconds.
            psycopg.OperationalError: PostgreSQL unreachable (the caller goes offline).
        """
        deadline = time.monotonic() + self.wait
        poll = _POLL_FIRST
        dead: str | None = None
        while True:
            sent = time.monotonic()
            with self.replicator.connection() as conn:
                row = conn.execute(
                    PG_ACQUIRE,
                    {
                        "t": thread_id,
                        "holder": self.holder,
                        "origin": self.file_id,
                        "ttl": self.ttl,
                        "dead": dead,
                    },
                ).fetchone()
            if row is not None and row["granted"]:
                with self._lock:
                    self._held[thread_id] = _Held(
                        epoch=int(row["epoch"]),
                        until=sent + self.ttl * _SAFE_FRACTION,
                        expires_at=row["expires_at"],
                        last_used=time.monotonic(),
                    )
                self._start_renewer()
                return LeaseGrant(
                    epoch=int(row["epoch"]),
                    prev_holder=row["prev_holder"],
                    pg_has_thread=bool(row["pg_has_thread"]),
                )
            # Held by another instance (or the row vanished between the two halves: retry).
            holder = "" if row is None else str(row["holder"])
            remaining = 0.0 if row is None else float(row["remaining"])
            if (
                row is not None
                and holder != dead
                and row["origin"] == self.file_id
                and holder_is_dead(holder)
            ):
                # Our own file's previous process (killed, or closed while PostgreSQL was
                # down): nobody else can hold this file's copy, so take over at once rather
                # than wait out its lease.
                dead = holder
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise ThreadBusyError(
                    f"thread {thread_id!r} is held by {holder} (its lease runs for another "
                    f"{remaining:.1f}s unless released); waited {self.wait:g}s. Nothing was "
                    "written. Raise lease_wait (MEMORY_LEASE_WAIT) to wait longer, or run the "
                    "thread where its lease is held",
                    thread_id=thread_id,
                    holder=holder,
                )
            time.sleep(max(0.0, min(poll, left, remaining + 0.01)))
            poll = min(poll * 2, _POLL_MAX)

    def recorded(self, thread_id: str) -> int | None:
        """The epoch under which this file last owned `thread_id`, or None."""
        with self.db.read() as conn:
            row = conn.execute(LOCAL_SELECT_EPOCH, (thread_id,)).fetchone()
        return None if row is None else int(row[0])

    @staticmethod
    def record(conn: sqlite3.Connection, thread_id: str, epoch: int) -> None:
        conn.execute(LOCAL_RECORD_EPOCH, (thread_id, epoch))

    def forget(self, thread_id: str) -> None:
        """Drop a cached lease (it was refused or lost); the next use acquires again."""
        with self._lock:
            self._held.pop(thread_id, None)

    # -- renewing and releasing --------------------------------------------------------------

    def release(self, thread_ids: Iterable[str] | None = None) -> None:
        """Release leases now (all when `thread_ids` is None); errors are left to the TTL."""
        with self._lock:
            ids = list(self._held) if thread_ids is None else [str(t) for t in thread_ids]
            gone = {t: self._held.pop(t) for t in ids if t in self._held}
        self._send_release(gone)

    def _send_release(self, gone: dict[str, _Held]) -> None:
        if not gone:
            return
        try:
            with self.replicator.connection() as conn:
                conn.execute(
                    PG_RELEASE,
                    {
                        "threads": list(gone),
                        "expiries": [h.expires_at for h in gone.values()],
                        "holder": self.holder,
                    },
                )
        except (psycopg.Error, OSError) as exc:  # unreachable: the leases lapse by their TTL
            logger.debug("lease release failed: %s", exc, extra={"event": "lease_release_failed"})
        except Exception as exc:  # a pool timeout
            logger.debug("lease release failed: %s", exc, extra={"event": "lease_release_failed"})

    def _start_renewer(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="lghm-lease-renewer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        tick = max(0.05, min(self.ttl / 3, self.idle / 2, 1.0))
        while not self._stop.wait(tick):
            try:
                self._tick()
            except Exception as exc:  # never let the renewer die: leases lapse safely
                logger.debug("lease renewal failed: %s", exc, extra={"event": "lease_renew_failed"})

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [
                t for t, h in self._held.items() if now - h.last_used > self.idle and h.until > now
            ]
            lapsed = [t for t, h in self._held.items() if h.until <= now]
        # Lapsed (e.g. PostgreSQL was unreachable): not renewed; the next use acquires again
        # and finds out whether the thread moved meanwhile.
        with self._lock:
            for t in lapsed:
                self._held.pop(t, None)
        # An idle thread is released once everything written under its lease is in PostgreSQL:
        # releasing earlier would hand the next holder a PostgreSQL copy without that work.
        release = [t for t in idle if not self.replicator.outbox.has_pending(b.stream_of(t))]
        with self._lock:
            gone = {t: self._held.pop(t) for t in release if t in self._held}
            due = [
                t
                for t, h in self._held.items()
                if h.until - now < self.ttl * (_SAFE_FRACTION - 1 / 3) and h.until > now
            ]
        self._send_release(gone)
        if not due or self.replicator.looks_unreachable():
            return
        sent = time.monotonic()
        with self.replicator.connection() as conn:
            rows = conn.execute(
                PG_RENEW, {"ttl": self.ttl, "holder": self.holder, "threads": due}
            ).fetchall()
        renewed = {r["thread_id"]: r["expires_at"] for r in rows}
        with self._lock:
            for t in due:
                h = self._held.get(t)
                if h is None:
                    continue
                if t in renewed:
                    h.until = sent + self.ttl * _SAFE_FRACTION
                    h.expires_at = renewed[t]
                else:  # taken by another instance after it lapsed
                    self._held.pop(t, None)

    def close(self, *, still_pending: Callable[[str], bool] | None = None) -> None:
        """Stop renewing and release the leases held (best effort), except those of threads
        `still_pending` says have work not yet in PostgreSQL: those lapse by their TTL."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._lock:
            held = list(self._held)
        self.release([t for t in held if still_pending is None or not still_pending(t)])
        with self._lock:
            self._held.clear()
