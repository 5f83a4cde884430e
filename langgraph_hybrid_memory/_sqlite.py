"""The local SQLite file: one connection per file per process, shared by every local part.

The checkpointer's local tier, the local store, the embedding cache and the outbox all live in the
same file (``MemoryConfig.sqlite_path``). SQLite allows one writer at a time; several connections
to one file in one process only add "database is locked" errors, so every part asks `LocalDB.open`
for the file's shared `LocalDB` and serialises its use through `LocalDB.lock`.

Settings (each one cures a reported failure of langgraph's SQLite packages):

* WAL journal: readers never block the writer; other processes can read while we write.
* ``busy_timeout`` 5 s: another process holding the write lock makes us wait, not fail.
* ``synchronous=FULL`` by default: a commit that returned survives a power cut, not only a killed
  process ("every write that returned is durable"); ``NORMAL`` is faster and still safe against
  a killed process.
* ``isolation_level=None`` (autocommit) with explicit ``BEGIN IMMEDIATE`` transactions, so a
  transaction takes the write lock at its start instead of failing half-way through.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Literal

__all__ = ["LocalDB", "Synchronous"]

Synchronous = Literal["FULL", "NORMAL"]
BUSY_TIMEOUT_MS = 5000


class LocalDB:
    """A shared, thread-safe handle on one local SQLite file.

    Use `LocalDB.open(path)` to get the process-wide handle for a file (reference-counted; each
    `open` is matched by a `close`). `transaction()` runs a write transaction, `read()` lends the
    connection for reads; both hold `lock`, a re-entrant lock, so a part may nest them.

    Examples:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "memory.sqlite"
        >>> db = LocalDB.open(path)
        >>> with db.transaction() as conn:
        ...     _ = conn.execute("CREATE TABLE t (x INTEGER)")
        ...     _ = conn.execute("INSERT INTO t VALUES (1)")
        >>> with db.read() as conn:
        ...     conn.execute("SELECT x FROM t").fetchall()
        [(1,)]
        >>> LocalDB.open(path) is db
        True
        >>> db.close(); db.close()
    """

    _open: ClassVar[dict[Path, LocalDB]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "FULL") -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._refs = 0

    @classmethod
    def open(cls, path: str | Path, *, synchronous: Synchronous = "FULL") -> LocalDB:
        """Return this process's shared handle for `path`, opening it on first use.

        ``":memory:"`` is a private in-memory database per call, as `sqlite3.connect` makes
        it (never a file named ``:memory:`` shared by every later caller).
        """
        if str(path) == ":memory:":
            private = cls(":memory:", synchronous=synchronous)
            private._refs = 1
            return private
        key = Path(path).expanduser().resolve()
        with cls._registry_lock:
            db = cls._open.get(key)
            if db is None:
                db = cls(key, synchronous=synchronous)
                cls._open[key] = db
            db._refs += 1
            return db

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error.

        Nested calls join the outer transaction.
        """
        with self.lock:
            if self.conn.in_transaction:
                yield self.conn
                return
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Lend the connection for reads, holding the lock."""
        with self.lock:
            yield self.conn

    def close(self) -> None:
        """Release one reference; the connection closes when the last user closes it."""
        with self._registry_lock:
            self._refs -= 1
            if self._refs > 0:
                return
            for key, db in list(self._open.items()):
                if db is self:
                    del self._open[key]
        with self.lock:
            self.conn.close()

    def __repr__(self) -> str:
        return f"LocalDB({str(self.path)!r}, refs={self._refs})"
