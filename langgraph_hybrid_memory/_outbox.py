"""The durable outbox and the replicator that drains it to PostgreSQL.

Every local-tier part that must reach PostgreSQL (the checkpointer now, the store later) records
what it owes PostgreSQL as an outbox entry in the shared local SQLite file, **inside its own local
write transaction**: the data row and its outbox row commit together or not at all, so nothing
that returned to the caller can be forgotten, even by a process killed with ``kill -9``.

Outbox (`Outbox`)
    Table ``lghm_outbox`` in the `LocalDB` file. Each entry has a ``seq`` (SQLite
    ``AUTOINCREMENT``: strictly increasing, never reused, even after deletes), a ``stream`` (the
    ordering key, e.g. ``"checkpoint:<thread_id>"``), a ``kind`` (which handler sends it), a JSON
    ``payload`` and its wall-clock ``created_at``.

    The outbox is **bounded** (``max_entries``). Back-pressure: a writer calls
    `Outbox.wait_for_room` *before* opening its local transaction; while the outbox is full it
    blocks (up to ``full_timeout`` seconds, default 30) and then raises `OutboxFullError`, having
    written nothing. Waiting happens outside the transaction on purpose: the flusher needs the
    local file to delete what it sent, so a writer that waited while holding the write lock would
    wait forever. `Outbox.append` itself never blocks; concurrent writers can overshoot the bound by
    at most one entry each.

Replicator (`Replicator`)
    One per (local file, PostgreSQL target) per process, shared by every part through
    `Replicator.acquire` (reference-counted). Parts register a handler for their kinds
    (`Replicator.register`). A background thread takes the oldest entries (up to ``batch_size``),
    cuts them into runs of consecutive entries that belong to one handler, and calls each handler
    inside **one PostgreSQL transaction** per batch, in ``seq`` order, so each stream is applied in
    the order it was written locally. Only after PostgreSQL committed are the entries deleted from
    the outbox; a crash in between replays them, so handlers must be idempotent (upserts,
    ``ON CONFLICT``). A failed batch is rolled back and retried with exponential backoff
    (``backoff_initial`` doubling up to ``backoff_max``); an entry that keeps failing with an error
    that is not a connection problem is isolated (batch of one) and, after ``max_attempts``, moved
    to ``lghm_outbox_dead`` with a ``*_flush_failed`` log event, so one poison entry cannot stall
    every stream. Entries of a kind no handler is registered for (a part not open in this process)
    stay in the outbox, and so do later entries of their stream.

`Replicator.flush` waits until everything appended before the call is in PostgreSQL;
`Replicator.close` drains (bounded by a timeout, after which entries stay durable for the next
start); `Replicator.status` reports depth, oldest pending age, last flush time and the last error
(secrets removed).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypedDict, cast

import psycopg
from psycopg import Connection, Cursor
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from langgraph_hybrid_memory._breaker import breaker_for, is_connection_error
from langgraph_hybrid_memory._outage import note_down, note_up, server_label
from langgraph_hybrid_memory._pg import borrow, make_pool
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.errors import ConfigError, FlushTimeoutError, OutboxFullError

__all__ = [
    "Handler",
    "Outbox",
    "OutboxEntry",
    "PostgresTarget",
    "Replicator",
    "ReplicatorStatus",
    "check_target",
    "describe_entry",
    "redact",
]

logger = logging.getLogger("langgraph_hybrid_memory")

PostgresTarget = (
    str | ConnectionPool[Connection[DictRow]] | Connection[DictRow] | AsyncConnectionPool[Any]
)
"""Where a replicator sends: a conninfo/URL, a pool, or one connection. An asyncio pool is
accepted too: the replicator is a thread, so it opens its own small sync pool with the same
conninfo and connection arguments."""

# Connection arguments the package sets itself (see `_pg.CONNECTION_KWARGS`); a user's pool
# may carry other values for them, which would break the replicator's SQL (e.g. a tuple row
# factory), so they are not copied from an asyncio pool.
_OWN_CONNECTION_KWARGS = frozenset({"autocommit", "row_factory", "prepare_threshold"})

DEFAULT_MAX_ENTRIES = 100_000
RESYNC_EVERY = 256
DEFAULT_FULL_TIMEOUT = 30.0
DEFAULT_BATCH_SIZE = 500
# The flusher wakes on every append; this interval only bounds how stale a missed wake-up can be.
DEFAULT_FLUSH_INTERVAL = 0.2
# After a wake-up the flusher lingers this long so that a burst of puts goes out as one batch:
# fewer PostgreSQL transactions and less GIL/lock contention with the graph (the benchmark's
# direct-socket HybridSaver/SqliteSaver ratio dropped with it), for a few ms of flush lag.
DEFAULT_FLUSH_LINGER = 0.01
DEFAULT_BACKOFF_INITIAL = 0.1
DEFAULT_BACKOFF_MAX = 30.0
DEFAULT_MAX_ATTEMPTS = 20
DEFAULT_CONNECT_TIMEOUT = 5.0
# While PostgreSQL is unreachable the flusher is the breaker's background probe (see
# `_breaker`): its retries back off to at most this, so the step path goes back to PostgreSQL
# within a few seconds of its return. A refused connection costs milliseconds.
MAX_PROBE_INTERVAL = 5.0
PROBE_SQL = "SELECT 1"
# How long `close` tries to drain the outbox. Short: what is left is durable in the local file
# and sent by the next start, so a long wait only delays a shutdown while PostgreSQL is down.
DEFAULT_CLOSE_TIMEOUT = 5.0

OUTBOX_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS lghm_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        stream TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS lghm_outbox_stream_idx ON lghm_outbox (stream, seq)",
    """CREATE TABLE IF NOT EXISTS lghm_outbox_dead (
        seq INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL,
        error TEXT NOT NULL,
        failed_at REAL NOT NULL
    )""",
)
INSERT_ENTRY_SQL = "INSERT INTO lghm_outbox (stream, kind, payload, created_at) VALUES (?, ?, ?, ?)"
SELECT_BATCH_SQL = (
    "SELECT seq, stream, kind, payload, created_at, attempts FROM lghm_outbox "
    "WHERE seq > ? ORDER BY seq LIMIT ?"
)
# seq is the primary key, so min/max are index lookups: cheap enough to run before every put.
# Entries leave the outbox oldest first, so max - min + 1 equals the depth (dead-lettering, the
# one exception, only makes it overestimate).
SELECT_SPAN_SQL = "SELECT min(seq), max(seq) FROM lghm_outbox"
COUNT_SQL = "SELECT count(*), min(created_at) FROM lghm_outbox"
COUNT_DEAD_SQL = "SELECT count(*) FROM lghm_outbox_dead"
SELECT_MAX_SEQ_SQL = "SELECT max(seq) FROM lghm_outbox"
SELECT_STREAM_SQL = (
    "SELECT seq, stream, kind, payload, created_at, attempts FROM lghm_outbox "
    "WHERE stream = ? ORDER BY seq"
)
SELECT_STREAM_PENDING_SQL = "SELECT 1 FROM lghm_outbox WHERE stream = ? LIMIT 1"
DELETE_ENTRIES_SQL = "DELETE FROM lghm_outbox WHERE seq IN (SELECT value FROM json_each(?))"
BUMP_ATTEMPTS_SQL = "UPDATE lghm_outbox SET attempts = attempts + 1 WHERE seq = ?"
DEAD_LETTER_SQL = (
    "INSERT OR REPLACE INTO lghm_outbox_dead "
    "(seq, stream, kind, payload, created_at, attempts, error, failed_at) "
    "SELECT seq, stream, kind, payload, created_at, attempts, ?, ? FROM lghm_outbox WHERE seq = ?"
)
DELETE_ONE_SQL = "DELETE FROM lghm_outbox WHERE seq = ?"
# PRAGMA takes no parameters: one constant statement per level (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA).
SET_SYNCHRONOUS_SQL = (
    "PRAGMA synchronous = OFF",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA synchronous = EXTRA",
)
# Pending entries of the given kinds up to a seq, except those stuck behind an entry of an
# unhandled kind in their stream (they cannot be sent by this process). The IN lists hold only
# "?" placeholders, one per kind.
SELECT_PENDING_UPTO_SQL = """
SELECT 1 FROM lghm_outbox AS o
WHERE o.seq <= ? AND o.kind IN ({kinds}) AND NOT EXISTS (
    SELECT 1 FROM lghm_outbox AS u
    WHERE u.stream = o.stream AND u.seq < o.seq AND u.kind NOT IN ({handled}))
LIMIT 1
"""

_SECRET_PATTERNS = (
    re.compile(r"(password\s*=\s*)(\S+)", re.IGNORECASE),
    re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)"),
)


def check_target(target: Any) -> None:
    """Refuse a PostgreSQL target the replicator cannot use, before anything is created."""
    if isinstance(target, psycopg.AsyncConnection):
        raise ConfigError(
            "an AsyncConnection cannot serve the local tier's flusher (a thread), and its "
            "password cannot be read back to open another; pass the postgresql:// URL or "
            "an AsyncConnectionPool (or a sync ConnectionPool / Connection)"
        )
    if isinstance(target, AsyncConnectionPool) and not (
        isinstance(target.conninfo, str) and isinstance(target.kwargs, dict | None)
    ):
        raise ConfigError(
            "an AsyncConnectionPool whose conninfo or kwargs is a function cannot be mirrored "
            "by the local tier's flusher (a thread); pass the postgresql:// URL or a sync "
            "ConnectionPool"
        )
    if not isinstance(target, str | ConnectionPool | Connection | AsyncConnectionPool):
        raise ConfigError(
            "the PostgreSQL target must be a postgresql:// URL, a psycopg ConnectionPool or "
            f"Connection, or an AsyncConnectionPool; got {type(target).__name__}"
        )


def redact(text: str) -> str:
    """Remove passwords from a connection string or an error message.

    >>> redact("postgresql://me:s3cret@db:5432/x failed")
    'postgresql://me:***@db:5432/x failed'
    >>> redact("host=db password=s3cret user=me")
    'host=db password=*** user=me'
    """
    text = _SECRET_PATTERNS[0].sub(r"\1***", text)
    return _SECRET_PATTERNS[1].sub(r"\1***\3", text)


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row, as a handler sees it."""

    seq: int
    stream: str
    kind: str
    payload: dict[str, Any]
    created_at: float
    """Wall-clock time (``time.time()``) of the local write: handlers compare it to tombstones."""
    attempts: int = 0


Handler = Callable[[Cursor[DictRow], Sequence[OutboxEntry]], Mapping[str, int] | None]
"""Sends entries to PostgreSQL with the given cursor, inside the replicator's transaction.

Called with a run of consecutive entries (in ``seq`` order) whose kinds it registered for. It must
be idempotent. It may return counts (e.g. ``{"checkpoints": 3}``) for the flush log event.
"""


def describe_entry(entry: OutboxEntry) -> str:
    """Which data an outbox entry carries, for a log line: namespace and key of a store write,
    thread (and checkpoint) of a checkpoint write.

    Examples:
        >>> describe_entry(OutboxEntry(1, "s", "put", {"ns": ["users", "u1"], "key": "k"}, 0.0))
        "namespace ('users', 'u1'), key 'k'"
        >>> describe_entry(OutboxEntry(2, "c", "checkpoint", {"t": "th", "id": "c1"}, 0.0))
        "thread 'th', checkpoint 'c1'"
    """
    p = entry.payload
    if "ns" in p and "key" in p and "t" not in p:
        return f"namespace {tuple(p['ns'])!r}, key {p['key']!r}"
    parts = []
    if "t" in p:
        parts.append(f"thread {p['t']!r}")
    if "id" in p:
        parts.append(f"checkpoint {p['id']!r}")
    return ", ".join(parts) or f"entry {entry.seq}"


class Outbox:
    """The bounded, durable outbox table in a `LocalDB` file.

    Examples:
        >>> import tempfile, pathlib
        >>> db = LocalDB.open(pathlib.Path(tempfile.mkdtemp()) / "m.sqlite")
        >>> box = Outbox(db, max_entries=10)
        >>> box.setup()
        >>> box.wait_for_room()
        >>> with db.transaction() as conn:
        ...     # ... write the data row with `conn` here, then in the same transaction:
        ...     seq = box.append(conn, "thread-1", "example.kind", {"k": 1})
        >>> [(e.stream, e.kind, e.payload) for e in box.peek(10)]
        [('thread-1', 'example.kind', {'k': 1})]
        >>> box.depth()
        1
        >>> db.close()
    """

    def __init__(
        self,
        db: LocalDB,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        full_timeout: float = DEFAULT_FULL_TIMEOUT,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.db = db
        self.max_entries = max_entries
        self.full_timeout = full_timeout
        self._room = threading.Condition()
        # In-memory depth estimate, so the check before every write costs no query. It counts
        # this process's appends and is re-read from the file after each delete and at least
        # every RESYNC_EVERY appends (other processes may append to the same file).
        self._estimate: int | None = None
        self._since_sync = 0
        self._estimate_lock = threading.Lock()

    def setup(self) -> None:
        """Create the outbox tables (idempotent)."""
        with self.db.transaction() as conn:
            for stmt in OUTBOX_SCHEMA:
                conn.execute(stmt)

    def append(
        self, conn: sqlite3.Connection, stream: str, kind: str, payload: Mapping[str, Any]
    ) -> int:
        """Add an entry inside the caller's open `LocalDB.transaction`; return its seq.

        Raises:
            RuntimeError: `conn` has no open transaction (the entry would not commit atomically
                with the data it describes).
        """
        if not conn.in_transaction:
            raise RuntimeError(
                "Outbox.append must run inside LocalDB.transaction(), so the entry commits "
                "together with the data it describes"
            )
        cur = conn.execute(
            INSERT_ENTRY_SQL,
            (stream, kind, json.dumps(payload, separators=(",", ":")), time.time()),
        )
        with self._estimate_lock:
            # Counted before the commit: a rollback leaves the estimate one high until the
            # next resync, which errs on the safe side.
            if self._estimate is not None:
                self._estimate += 1
            self._since_sync += 1
        return int(cur.lastrowid or 0)

    def approximate_depth(self) -> int:
        """Depth from the seq span (index lookups only; see `SELECT_SPAN_SQL`)."""
        with self.db.read() as conn:
            lo, hi = conn.execute(SELECT_SPAN_SQL).fetchone()
        depth = 0 if lo is None else int(hi) - int(lo) + 1
        with self._estimate_lock:
            self._estimate = depth
            self._since_sync = 0
        return depth

    def _has_room_estimated(self) -> bool:
        with self._estimate_lock:
            return (
                self._estimate is not None
                and self._estimate < self.max_entries
                and self._since_sync < RESYNC_EVERY
            )

    def wait_for_room(self, timeout: float | None = None) -> None:
        """Block while the outbox is full; call it *before* opening the local transaction.

        Raises:
            OutboxFullError: still full after `timeout` (default ``full_timeout``) seconds.
        """
        if self._has_room_estimated() or self.approximate_depth() < self.max_entries:
            return
        limit = self.full_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while (depth := self.approximate_depth()) >= self.max_entries:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OutboxFullError(
                    f"the outbox holds {depth} entries (max_entries={self.max_entries}) and did "
                    f"not drain within {limit:.1f}s: PostgreSQL is unreachable or too slow. "
                    "Nothing was written. Restore PostgreSQL, or raise max_entries / full_timeout"
                )
            with self._room:
                # Notified by the replicator after each delete; the poll covers other processes.
                self._room.wait(min(remaining, 0.05))

    def notify_room(self) -> None:
        with self._room:
            self._room.notify_all()

    def peek(self, limit: int, *, after: int = 0) -> list[OutboxEntry]:
        """The oldest entries (seq > `after`), in seq order."""
        with self.db.read() as conn:
            rows = conn.execute(SELECT_BATCH_SQL, (after, limit)).fetchall()
        return [_entry_of(r) for r in rows]

    def delete(self, seqs: Sequence[int]) -> None:
        """Remove sent entries (after PostgreSQL committed them)."""
        if not seqs:
            return
        with self.db.lock:
            # Deleting sent entries needs no fsync of its own: if a power cut undid it, the
            # entries would be sent again, which is harmless. Under WAL the next FULL commit
            # (a graph step) syncs it anyway. Saves one disk sync per batch, which the benchmark
            # showed competing with the graph's own commits.
            previous = self.db.conn.execute("PRAGMA synchronous").fetchone()[0]
            self.db.conn.execute("PRAGMA synchronous = NORMAL")
            try:
                with self.db.transaction() as conn:
                    conn.execute(DELETE_ENTRIES_SQL, (json.dumps(list(seqs)),))
            finally:
                self.db.conn.execute(SET_SYNCHRONOUS_SQL[int(previous)])
        self.approximate_depth()  # resync the estimate
        self.notify_room()

    def depth(self) -> int:
        with self.db.read() as conn:
            return int(conn.execute(COUNT_SQL).fetchone()[0])

    def dead_count(self) -> int:
        """Entries in ``lghm_outbox_dead``: acknowledged writes that will not reach PostgreSQL."""
        with self.db.read() as conn:
            try:
                return int(conn.execute(COUNT_DEAD_SQL).fetchone()[0])
            except sqlite3.OperationalError:  # before setup() made the table: none yet
                return 0

    def oldest_created_at(self) -> float | None:
        with self.db.read() as conn:
            value = conn.execute(COUNT_SQL).fetchone()[1]
        return None if value is None else float(value)

    def max_seq(self) -> int:
        with self.db.read() as conn:
            value = conn.execute(SELECT_MAX_SEQ_SQL).fetchone()[0]
        return 0 if value is None else int(value)

    def has_pending(self, stream: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(SELECT_STREAM_PENDING_SQL, (stream,)).fetchone() is not None

    def has_pending_upto(
        self, seq: int, kinds: Sequence[str], handled: Sequence[str] | None = None
    ) -> bool:
        """Whether an entry of `kinds` with seq <= `seq` is pending and sendable (not behind an
        entry of a kind outside `handled`, default `kinds`, in its stream)."""
        if not kinds:
            return False
        handled = list(kinds) if handled is None else list(handled)
        query = SELECT_PENDING_UPTO_SQL.format(
            kinds=",".join("?" * len(kinds)), handled=",".join("?" * len(handled))
        )
        with self.db.read() as conn:
            return conn.execute(query, (seq, *kinds, *handled)).fetchone() is not None

    def stream_entries(self, conn: sqlite3.Connection, stream: str) -> list[OutboxEntry]:
        """The pending entries of one stream, oldest first, read on the caller's connection
        (e.g. inside its `LocalDB.transaction`)."""
        rows = conn.execute(SELECT_STREAM_SQL, (stream,)).fetchall()
        return [_entry_of(r) for r in rows]

    def discard(self, conn: sqlite3.Connection, seqs: Sequence[int]) -> None:
        """Remove entries inside the caller's transaction: their data was kept elsewhere (a
        fenced thread's branch) and must not be sent."""
        if seqs:
            conn.execute(DELETE_ENTRIES_SQL, (json.dumps(list(seqs)),))

    def record_failure(self, seq: int) -> None:
        with self.db.transaction() as conn:
            conn.execute(BUMP_ATTEMPTS_SQL, (seq,))

    def dead_letter(self, seq: int, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(DEAD_LETTER_SQL, (error, time.time(), seq))
            conn.execute(DELETE_ONE_SQL, (seq,))
        self.notify_room()


class ReplicatorStatus(TypedDict):
    """A snapshot of a replicator's state; never contains a secret."""

    depth: int
    """Entries waiting in the outbox (all kinds)."""
    oldest_pending_age: float | None
    """Seconds since the oldest waiting entry was written locally, or None when empty."""
    last_flush_at: float | None
    """Wall-clock time of the last successful PostgreSQL commit, or None."""
    last_error: str | None
    """The last flush error (type and message, passwords removed), cleared by a success."""
    last_error_at: float | None
    postgres_reachable: bool | None
    """False after a failed connection attempt, True after a success, None before any."""
    flushed_entries: int
    dead_letters: int
    """Entries in this file's ``lghm_outbox_dead`` (any run): writes that will not reach
    PostgreSQL until someone acts; any makes the memory unhealthy."""


@dataclass
class _Registration:
    handler: Handler
    log_as: str
    prepare: Callable[[Connection[DictRow]], None] | None = None
    stream_key: str = "streams"
    stream_prefix: str = ""
    transaction: bool = True

    def label(self, entries: Sequence[OutboxEntry]) -> dict[str, list[str]]:
        """The entries' streams for a log event, e.g. ``{"thread_ids": ["t1"]}``."""
        streams = sorted({e.stream for e in entries})
        return {self.stream_key: [s.removeprefix(self.stream_prefix) for s in streams]}


@dataclass
class _Stats:
    last_flush_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    reachable: bool | None = None
    flushed_entries: int = 0
    dead_letters: int = 0
    failures_in_a_row: int = 0
    isolate: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Replicator:
    """Drains one local file's outbox to one PostgreSQL target, in a background thread.

    Get it with `Replicator.acquire` (one shared instance per file and target per process) and
    give it back with `release`; the last release closes it (draining first).

    Examples:
        A server is needed, so this is not run here::

            db = LocalDB.open("memory.sqlite")
            rep = Replicator.acquire(db, "postgresql://...")
            rep.register(["example.put"], handler, log_as="example")
            rep.flush(timeout=10)
            rep.release()
    """

    _instances: ClassVar[dict[tuple[Path, str], Replicator]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        db: LocalDB,
        target: PostgresTarget,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        full_timeout: float = DEFAULT_FULL_TIMEOUT,
        batch_size: int = DEFAULT_BATCH_SIZE,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_linger: float = DEFAULT_FLUSH_LINGER,
        backoff_initial: float = DEFAULT_BACKOFF_INITIAL,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        pool_max_size: int = 4,
        start: bool = True,
    ) -> None:
        check_target(target)
        self.db = db
        self.server = server_label(_conninfo_of(target))
        """Which PostgreSQL this sends to, without the password (for the outage log lines)."""
        self.breaker = breaker_for(self.server)
        """Open while this server is known unreachable: step-path calls skip it (`_breaker`)."""
        self.outbox = Outbox(db, max_entries=max_entries, full_timeout=full_timeout)
        self.outbox.setup()
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.flush_linger = flush_linger
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self.connect_timeout = connect_timeout
        self._owns_pool = isinstance(target, str)
        self._pool: ConnectionPool[Connection[DictRow]] | None = None
        self._conn: Connection[DictRow] | None = None
        if isinstance(target, str):
            self._pool = make_pool(
                target,
                min_size=1,
                max_size=pool_max_size,
                name="lghm-replicator",
                connect_timeout=max(1, round(connect_timeout)),
            )
        elif isinstance(target, AsyncConnectionPool):
            # The flusher is a thread: it cannot borrow from an asyncio pool, so it opens its own
            # small sync pool with the same conninfo and connection arguments.
            self._owns_pool = True
            kwargs: dict[str, Any] = {"connect_timeout": max(1, round(connect_timeout))}
            for key, value in cast(dict[str, Any], target.kwargs or {}).items():
                if key not in _OWN_CONNECTION_KWARGS:
                    kwargs[key] = value  # the user's connect_timeout, password... win
            self._pool = make_pool(
                cast(str, target.conninfo),  # check_target refused a function
                min_size=1,
                max_size=pool_max_size,
                name="lghm-replicator",
                **kwargs,
            )
        elif isinstance(target, ConnectionPool):
            self._pool = target
        elif isinstance(target, Connection):
            self._conn = target
        else:
            self._conn = target
        self._conn_lock = threading.Lock()
        self._handlers: dict[str, _Registration] = {}
        self._flush_lock = threading.Lock()
        self._stats = _Stats()
        self._stats_lock = threading.Lock()
        self._wake = threading.Event()
        # Cuts a failure backoff short: set by close() and by flush(), whose caller is waiting
        # for PostgreSQL now (so a restarted server is used at once, not after the backoff).
        self._nudge = threading.Event()
        self._stopping = threading.Event()
        self._flushed = threading.Condition()
        # put -> PostgreSQL commit delay of recently flushed entries (seconds), for benchmarks
        # and monitoring; bounded.
        self._lags: deque[float] = deque(maxlen=100_000)
        self._refs = 0
        self._key: tuple[Path, str] | None = None
        self._thread: threading.Thread | None = None
        if start:
            self.start()

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def acquire(cls, db: LocalDB, target: PostgresTarget, **options: Any) -> Replicator:
        """This process's replicator for (`db`'s file, `target`), created on first use.

        `options` (see `__init__`) apply only when it is created.
        """
        target_key = target if isinstance(target, str) else f"object:{id(target)}"
        key = (db.path.expanduser().resolve(), target_key)
        with cls._registry_lock:
            rep = cls._instances.get(key)
            if rep is None or rep._stopping.is_set():
                rep = cls(db, target, **options)
                rep._key = key
                cls._instances[key] = rep
            rep._refs += 1
            return rep

    def release(self, *, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> int | None:
        """Give back one `acquire`; the last one closes (drains) the replicator and returns
        `close`'s count of entries left; the others return None."""
        with self._registry_lock:
            self._refs -= 1
            if self._refs > 0:
                return None
            if self._key is not None and self._instances.get(self._key) is self:
                del self._instances[self._key]
        return self.close(timeout=timeout)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="lghm-replicator", daemon=True)
        self._thread.start()

    def close(self, *, timeout: float = DEFAULT_CLOSE_TIMEOUT) -> int:
        """Drain for up to `timeout` seconds in all, stop the flusher, close owned connections,
        and return how many outbox entries are left.

        Entries still pending (PostgreSQL unreachable) stay durable in the outbox and are sent by
        the next replicator on this file; one warning says how many.
        """
        if self._stopping.is_set():
            return 0
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            self.flush(timeout=timeout)
            drained = True
        except FlushTimeoutError:
            drained = False
        self._stopping.set()
        self._wake.set()
        self._nudge.set()
        # The whole close stays within `timeout`: a flusher stuck in a connection attempt is
        # not waited for beyond it (it is a daemon thread and stops at its next check).
        if self._thread is not None:
            self._thread.join(timeout=max(deadline - time.monotonic(), 0.1))
        if self._owns_pool and self._pool is not None:
            self._pool.close(timeout=max(deadline - time.monotonic(), 0.1))
        left = 0 if drained else self.outbox.depth()
        if left:
            status = self.status()
            logger.warning(
                "closing with %d change(s) not yet in PostgreSQL (%s); they are kept in the "
                "local file %s and sent on the next start",
                left,
                status["last_error"] or "unreachable",
                self.db.path,
                extra={
                    "event": "outbox_not_drained_at_close",
                    "entries_left": left,
                    "close_timeout": timeout,
                },
            )
        return left

    # -- registration ----------------------------------------------------------------------

    def register(
        self,
        kinds: Sequence[str],
        handler: Handler,
        *,
        log_as: str,
        prepare: Callable[[Connection[DictRow]], None] | None = None,
        stream_key: str = "streams",
        stream_prefix: str = "",
        transaction: bool = True,
    ) -> None:
        """Route `kinds` to `handler`; flush log events are named ``f"{log_as}_flushed"`` and
        ``f"{log_as}_flush_failed"``. Re-registering a kind replaces its handler.

        `prepare`, if given, runs on the (autocommit) connection before each batch's transaction
        that includes these kinds, e.g. to apply migrations once PostgreSQL is reachable. Log
        events list the entries' streams under `stream_key`, without `stream_prefix`.

        ``transaction=False`` says the handler needs no transaction around it: each of its
        statements is atomic on its own, and replaying a batch whose first statements already
        committed gives the same result (idempotent, in order). A batch whose runs all say so
        runs on the autocommit connection, without ``BEGIN``/``COMMIT``: two round trips fewer
        (a one-statement handler then costs one).
        """
        reg = _Registration(handler, log_as, prepare, stream_key, stream_prefix, transaction)
        for kind in kinds:
            self._handlers[kind] = reg
        self.wake()

    def unregister(self, kinds: Sequence[str]) -> None:
        for kind in kinds:
            self._handlers.pop(kind, None)

    def wake(self) -> None:
        """Tell the flusher there is work (cheap; call after committing an append)."""
        self._wake.set()

    # -- PostgreSQL connections ------------------------------------------------------------

    @contextmanager
    def connection(self) -> Iterator[Connection[DictRow]]:
        """A PostgreSQL connection of the target (also used by parts for direct reads).

        From a pool it fails fast (`_pg.borrow`): a refused connection raises at once rather
        than after ``connect_timeout``; every caller has a local answer or retries later.
        """
        if self._pool is not None:
            with borrow(self._pool, self.connect_timeout) as conn:
                yield conn
        else:
            assert self._conn is not None
            # One connection cannot run two transactions at once.
            with self._conn_lock:
                yield self._conn

    def looks_unreachable(self) -> bool:
        """True while the server's breaker is open: step-path calls skip PostgreSQL (it lets
        one call through now and then, see `_breaker.Breaker.allows`)."""
        return not self.breaker.allows()

    def note_reachability(self, ok: bool, error: BaseException | None = None) -> None:
        """Record a remote call's outcome: a success closes the breaker, a connection failure
        (or ``ok=False`` with no error: the factory's start check) opens it."""
        with self._stats_lock:
            if ok or error is None or is_connection_error(error):
                self._stats.reachable = ok
            if error is not None:
                self._stats.last_error = _describe(error)
                self._stats.last_error_at = time.time()
        if ok:
            self.breaker.reset()
        elif error is None or is_connection_error(error):
            self.breaker.trip(None if error is None else _describe(error))

    def _probe(self) -> bool:
        """The breaker's background probe: one trivial query; True if PostgreSQL answered."""
        try:
            with self.connection() as conn:
                conn.execute(PROBE_SQL)
        except Exception as exc:
            self.note_reachability(False, exc)
            return False
        self.note_reachability(True)
        note_up(self.server, sent=0, left=self.outbox.depth(), source="replicator")
        return True

    # -- flushing --------------------------------------------------------------------------

    def flush(self, timeout: float | None = None, *, kinds: Sequence[str] | None = None) -> None:
        """Return once every entry (of `kinds`, default: all registered kinds) appended before
        this call is committed in PostgreSQL.

        Raises:
            FlushTimeoutError: not done within `timeout` seconds (`None`: wait forever); the
                message carries `status()`'s last error.
        """
        kinds = list(self._handlers) if kinds is None else list(kinds)
        target = self.outbox.max_seq()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.outbox.has_pending_upto(target, kinds, list(self._handlers)):
            if self._stopping.is_set() or self._thread is None:
                # No flusher running (closing): do the work in this thread.
                self._flush_once(raise_errors=False)
            else:
                self._wake.set()
                self._nudge.set()
            with self._flushed:
                wait = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
                if wait <= 0:
                    status = self.status()
                    raise FlushTimeoutError(
                        f"{status['depth']} outbox entries still pending after {timeout}s; "
                        f"last error: {status['last_error'] or 'none'}"
                    )
                self._flushed.wait(wait)

    def flush_now(self, upto: int) -> bool:
        """Send pending entries up to seq `upto` from the calling thread (write-through).

        Returns True when they are in PostgreSQL; False when the attempt failed (the entries stay
        in the outbox for the background flusher, and the error is in `status()`).
        """
        kinds = list(self._handlers)
        if self.looks_unreachable():
            # Known down: do not make every write wait for a connection timeout; the background
            # flusher keeps retrying with backoff.
            self.wake()
            return False
        for _ in range(100):
            if not self.outbox.has_pending_upto(upto, kinds):
                return True
            if self._flush_once(raise_errors=False) is None:
                return not self.outbox.has_pending_upto(upto, kinds)
        return not self.outbox.has_pending_upto(upto, kinds)

    def _run(self) -> None:
        backoff = self.backoff_initial
        while not self._stopping.is_set():
            if self._wake.wait(self.flush_interval) and self.flush_linger > 0:
                self._stopping.wait(self.flush_linger)
            self._wake.clear()
            while not self._stopping.is_set():
                sent = self._flush_once(raise_errors=False)
                if sent == 0 and self.breaker.is_open and not self._probe():
                    sent = None  # nothing to send, but PostgreSQL is still down: keep probing
                if sent is None:  # failed: back off, but wake early on close or a flush()
                    self._nudge.wait(backoff)
                    self._nudge.clear()
                    cap = self.backoff_max
                    if self.breaker.is_open:
                        cap = min(cap, MAX_PROBE_INTERVAL)
                    backoff = min(backoff * 2, cap)
                    continue
                backoff = self.backoff_initial
                if sent == 0:
                    break

    def _flush_once(self, *, raise_errors: bool) -> int | None:
        """Send one batch. Returns the number of entries sent, or None if the attempt failed."""
        with self._flush_lock:
            limit = 1 if self._stats.isolate else self.batch_size
            entries = self._sendable(self.outbox.peek(max(limit, 1) * 2))[:limit]
            if not entries:
                return 0
            runs = _runs(entries, self._handlers)
            counts: dict[str, dict[str, int]] = {}
            try:
                with self.connection() as conn:
                    self.note_reachability(True)
                    for reg in {id(r): r for r, _ in runs}.values():
                        if reg.prepare is not None:
                            reg.prepare(conn)
                    # A transaction unless every handler of the batch can do without one
                    # (see `register`), and always if the connection does not autocommit.
                    tx: AbstractContextManager[Any] = (
                        conn.transaction()
                        if not conn.autocommit or any(r.transaction for r, _ in runs)
                        else nullcontext()
                    )
                    with tx, conn.cursor() as cur:
                        for reg, run in runs:
                            result = reg.handler(cur, run) or {}
                            agg = counts.setdefault(reg.log_as, {})
                            for k, v in result.items():
                                agg[k] = agg.get(k, 0) + int(v)
            except Exception as exc:
                self._on_failure(entries, runs, exc)
                if raise_errors:
                    raise
                return None
            now = time.time()
            self.outbox.delete([e.seq for e in entries])
            self._lags.extend(now - e.created_at for e in entries)
            with self._stats_lock:
                self._stats.last_flush_at = now
                self._stats.last_error = None
                self._stats.flushed_entries += len(entries)
                self._stats.failures_in_a_row = 0
                self._stats.isolate = False
            for reg, run in runs:
                _log_flushed(reg, run, counts.get(reg.log_as, {}), now)
        note_up(self.server, sent=len(entries), left=self.outbox.depth(), source="replicator")
        with self._flushed:
            self._flushed.notify_all()
        return len(entries)

    def _sendable(self, entries: list[OutboxEntry]) -> list[OutboxEntry]:
        """Entries with a handler, stopping each stream at its first unhandled entry."""
        blocked: set[str] = set()
        out: list[OutboxEntry] = []
        for entry in entries:
            if entry.stream in blocked:
                continue
            if entry.kind not in self._handlers:
                blocked.add(entry.stream)
                continue
            out.append(entry)
        return out

    def _on_failure(
        self,
        entries: Sequence[OutboxEntry],
        runs: Sequence[tuple[_Registration, Sequence[OutboxEntry]]],
        exc: BaseException,
    ) -> None:
        connection_problem = isinstance(exc, psycopg.OperationalError) or _is_pool_timeout(exc)
        description = _describe(exc)
        with self._stats_lock:
            self._stats.last_error = description
            self._stats.last_error_at = time.time()
            self._stats.failures_in_a_row += 1
            if connection_problem:
                self._stats.reachable = False
        if connection_problem and is_connection_error(exc):
            self.breaker.trip(description)
        for reg, run in runs:
            if connection_problem:
                # One readable warning per outage (see `_outage`); each retry at DEBUG.
                note_down(
                    self.server,
                    description,
                    source="replicator",
                    event=f"{reg.log_as}_flush_failed",
                    local_file=self.db.path,
                    entries=len(run),
                    **reg.label(run),
                )
                continue
            logger.warning(
                f"{reg.log_as}_flush_failed",
                extra={
                    "event": f"{reg.log_as}_flush_failed",
                    **reg.label(run),
                    "entries": len(run),
                    "error": description,
                },
            )
        if connection_problem:
            return
        # Not a connection problem: a bad entry or a bug. Isolate entries one at a time, and
        # move one that keeps failing aside so the streams behind it keep flowing.
        if len(entries) > 1:
            with self._stats_lock:
                self._stats.isolate = True
            return
        entry = entries[0]
        self.outbox.record_failure(entry.seq)
        if entry.attempts + 1 >= self.max_attempts:
            self.outbox.dead_letter(entry.seq, description)
            with self._stats_lock:
                self._stats.dead_letters += 1
                self._stats.isolate = False
            # An acknowledged write that will never reach PostgreSQL: say which one, in words a
            # default logging setup shows, and where to look (`lghm status` exits 1 meanwhile).
            logger.error(
                "a %s write to PostgreSQL failed %d times and was moved to lghm_outbox_dead "
                "(%s): %s; it stays in the local file, `lghm status` reports it",
                entry.kind,
                entry.attempts + 1,
                describe_entry(entry),
                description,
                extra={
                    "event": "outbox_entry_dead_lettered",
                    "stream": entry.stream,
                    "kind": entry.kind,
                    "seq": entry.seq,
                    "error": description,
                },
            )

    def flush_lags(self) -> list[float]:
        """Seconds from the local write to the PostgreSQL commit, per recently flushed entry."""
        return list(self._lags)

    def status(self) -> ReplicatorStatus:
        depth = self.outbox.depth()
        oldest = self.outbox.oldest_created_at()
        with self._stats_lock:
            s = self._stats
            return ReplicatorStatus(
                depth=depth,
                oldest_pending_age=None if oldest is None else max(0.0, time.time() - oldest),
                last_flush_at=s.last_flush_at,
                last_error=s.last_error,
                last_error_at=s.last_error_at,
                postgres_reachable=s.reachable,
                flushed_entries=s.flushed_entries,
                dead_letters=self.outbox.dead_count(),
            )


def _runs(
    entries: Sequence[OutboxEntry], handlers: Mapping[str, _Registration]
) -> list[tuple[_Registration, list[OutboxEntry]]]:
    """Cut entries (seq order) into maximal runs that go to the same handler."""
    runs: list[tuple[_Registration, list[OutboxEntry]]] = []
    for entry in entries:
        reg = handlers[entry.kind]
        if runs and runs[-1][0] is reg:
            runs[-1][1].append(entry)
        else:
            runs.append((reg, [entry]))
    return runs


def _log_flushed(
    reg: _Registration, run: Sequence[OutboxEntry], counts: Mapping[str, int], now: float
) -> None:
    lag = max(now - e.created_at for e in run)
    # DEBUG: one line per batch is a flood at INFO; the outage's end is announced by `_outage`.
    logger.debug(
        f"{reg.log_as}_flushed",
        extra={
            "event": f"{reg.log_as}_flushed",
            **reg.label(run),
            "entries": len(run),
            "max_lag_seconds": round(lag, 4),
            **counts,
        },
    )


def _is_pool_timeout(exc: BaseException) -> bool:
    from psycopg_pool import PoolTimeout

    return isinstance(exc, PoolTimeout)


def _describe(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return redact(f"{type(exc).__name__}: {message}")[:500]


def _conninfo_of(target: Any) -> str | None:
    """The conninfo of a replicator target (a URL, a pool or a connection), for its label."""
    if isinstance(target, str):
        return target
    conninfo = getattr(target, "conninfo", None)
    if isinstance(conninfo, str):
        return conninfo
    info = getattr(target, "info", None)
    dsn = getattr(info, "dsn", None)  # a connection's parameters, without the password
    return dsn if isinstance(dsn, str) else None


def _entry_of(row: Any) -> OutboxEntry:
    """An `OutboxEntry` from a row of `SELECT_BATCH_SQL` / `SELECT_STREAM_SQL` (same columns)."""
    return OutboxEntry(
        seq=int(row[0]),
        stream=row[1],
        kind=row[2],
        payload=json.loads(row[3]),
        created_at=float(row[4]),
        attempts=int(row[5]),
    )
