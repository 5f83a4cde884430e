"""`SessionLog` / `AsyncSessionLog`: the last interactions of a session, with a TTL.

A drop-in for the Redis session memory that agents keep next to their long-term store: each
session (a string id) holds its interactions ``(query, answer, time)``, newest last; an
interaction older than ``ttl_hours`` (``MEMORY_TTL_HOURS``, default 24) is expired and pruned
when the session is read, and a session keeps at most ``max_context_length``
(``MEMORY_MAX_CONTEXT_LENGTH``, default 50) interactions: adding one more drops the oldest.

Backends: PostgreSQL (table ``session_log`` in the ``memory`` schema, numbered migrations in
``session_log_migrations``; ``postgres`` and ``hybrid`` mode), the local SQLite file (table
``lghm_session_log``; ``sqlite`` mode) and process memory (``memory`` mode: gone on exit, as
everything else in that mode). `open_memory()` builds the one matching ``MEMORY_TYPE`` as
``Memory.sessions``.

Examples:
    >>> log = SessionLog.in_memory(max_context_length=2)
    >>> for n in range(3):
    ...     log.add_to_memory("s1", f"q{n}", f"a{n}")
    >>> [i["query"] for i in log.get_context("s1")]
    ['q1', 'q2']
    >>> log.get_session_stats("s1")["interactions"]
    2
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Literal, TypedDict

from psycopg import sql
from psycopg_pool import ConnectionPool

from langgraph_hybrid_memory._migrations import Migration, run_migrations
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_CONTEXT_LENGTH",
    "DEFAULT_TTL_HOURS",
    "PG_SESSION_MIGRATIONS",
    "AsyncSessionLog",
    "Interaction",
    "SessionLog",
]

DEFAULT_TTL_HOURS = 24.0
DEFAULT_MAX_CONTEXT_LENGTH = 50
MIGRATIONS_TABLE = "session_log_migrations"
Backend = Literal["postgres", "sqlite", "memory"]

PG_SESSION_MIGRATIONS: list[Migration] = [
    Migration(
        # session_id leads the key: it is the distribution key (docs/scaling.md).
        "CREATE TABLE IF NOT EXISTS session_log ("
        "session_id text NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY, "
        "query text NOT NULL, answer text NOT NULL, "
        "created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (session_id, seq))",
        description="session interaction log (SessionLog)",
    ),
    Migration(
        "CREATE INDEX IF NOT EXISTS session_log_created_idx ON session_log (created_at)",
        description="session log: expiry sweeps by time",
    ),
]

SQLITE_CREATE = (
    "CREATE TABLE IF NOT EXISTS lghm_session_log ("
    "session_id TEXT NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "query TEXT NOT NULL, answer TEXT NOT NULL, created_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS lghm_session_log_session ON lghm_session_log (session_id, seq)",
    "CREATE INDEX IF NOT EXISTS lghm_session_log_created ON lghm_session_log (created_at)",
)


class Interaction(TypedDict):
    """One exchange of a session."""

    query: str
    answer: str
    timestamp: str
    """ISO 8601, UTC."""


def _check_session(session_id: Any) -> str:
    if not isinstance(session_id, str) or not session_id or "\x00" in session_id:
        raise ConfigError(
            f"session_id must be a non-empty string without NUL characters, got {session_id!r}"
        )
    return session_id


def _check_text(value: Any, name: str) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise ConfigError(f"{name} must be a string without NUL characters, got {value!r}")
    return value


def _check_limit(limit: Any, name: str = "limit") -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ConfigError(f"{name} must be a non-negative integer, got {limit!r}")
    return limit


def _check_hours(hours: Any, name: str) -> float:
    if (
        isinstance(hours, bool)
        or not isinstance(hours, int | float)
        or not math.isfinite(hours)
        or hours <= 0
    ):
        raise ConfigError(f"{name} must be a positive number of hours, got {hours!r}")
    return float(hours)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


class SessionLog:
    """The last interactions of each session, with a TTL and a cap (see the module docstring).

    Build it with `SessionLog.postgres(pool)`, `SessionLog.sqlite(db_or_path)` or
    `SessionLog.in_memory()`, or take ``Memory.sessions`` from `open_memory()`. Thread-safe.

    Warning:
        Expiry is per interaction (its age), not per session: a session used every hour keeps
        its last day of interactions, up to ``max_context_length``.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        pool: ConnectionPool[Any] | None = None,
        db: LocalDB | None = None,
        schema: str = "memory",
        ttl_hours: float = DEFAULT_TTL_HOURS,
        max_context_length: int = DEFAULT_MAX_CONTEXT_LENGTH,
    ) -> None:
        self.ttl_hours = _check_hours(ttl_hours, "ttl_hours (MEMORY_TTL_HOURS)")
        cap = _check_limit(max_context_length, "max_context_length (MEMORY_MAX_CONTEXT_LENGTH)")
        if cap < 1:
            raise ConfigError("max_context_length (MEMORY_MAX_CONTEXT_LENGTH) must be at least 1")
        self.max_context_length = cap
        self.backend: Backend = backend
        if backend == "postgres" and pool is None:
            raise ConfigError("SessionLog('postgres') needs pool=")
        if backend == "sqlite" and db is None:
            raise ConfigError("SessionLog('sqlite') needs db=")
        self._pool = pool
        self._db = db
        self._schema = schema
        self._t = sql.Identifier(schema, "session_log")
        self._mem: dict[str, list[tuple[int, str, str, float]]] = {}
        self._seq = 0
        self._lock = threading.Lock()
        self._ready = False

    @classmethod
    def postgres(cls, pool: ConnectionPool[Any], **kw: Any) -> SessionLog:
        """On PostgreSQL (table ``session_log``), through a psycopg pool."""
        return cls("postgres", pool=pool, **kw)

    @classmethod
    def sqlite(cls, db: LocalDB | str, **kw: Any) -> SessionLog:
        """In the local SQLite file (table ``lghm_session_log``)."""
        return cls("sqlite", db=db if isinstance(db, LocalDB) else LocalDB.open(db), **kw)

    @classmethod
    def in_memory(cls, **kw: Any) -> SessionLog:
        """In this process only."""
        return cls("memory", **kw)

    # -- setup -------------------------------------------------------------------------------

    def setup(self) -> None:
        """Create the table (numbered migrations on PostgreSQL); idempotent."""
        with self._lock:
            if self._ready:
                return
            if self.backend == "postgres":
                assert self._pool is not None
                with self._pool.connection() as conn:
                    run_migrations(
                        conn, PG_SESSION_MIGRATIONS, schema=self._schema, table=MIGRATIONS_TABLE
                    )
            elif self.backend == "sqlite":
                assert self._db is not None
                with self._db.transaction() as conn:
                    for stmt in SQLITE_CREATE:
                        conn.execute(stmt)
            self._ready = True

    def _cutoff(self, hours: float | None = None) -> float:
        return time.time() - 3600.0 * (self.ttl_hours if hours is None else hours)

    def _pg(self, query: sql.Composable, params: Sequence[Any]) -> list[dict[str, Any]]:
        self.setup()
        assert self._pool is not None
        with self._pool.connection() as conn:
            cur = conn.execute(query, params)
            return list(cur.fetchall()) if cur.description else []

    # -- the interface -----------------------------------------------------------------------

    def add_to_memory(self, session_id: str, query: str, answer: str) -> None:
        """Append one interaction; the session keeps its newest ``max_context_length``."""
        sid = _check_session(session_id)
        q, a = _check_text(query, "query"), _check_text(answer, "answer")
        now = time.time()
        if self.backend == "postgres":
            # One statement: insert, then trim the session to its cap (the CTE's insert is
            # not visible to the DELETE's snapshot, hence the cap - 1 kept before it).
            self._pg(
                sql.SQL(
                    "WITH ins AS (INSERT INTO {t} (session_id, query, answer) "
                    "VALUES (%s, %s, %s) RETURNING seq) "
                    "DELETE FROM {t} WHERE session_id = %s AND seq <= ("
                    "SELECT seq FROM {t} WHERE session_id = %s "
                    "ORDER BY seq DESC OFFSET %s LIMIT 1)"
                ).format(t=self._t),
                (sid, q, a, sid, sid, self.max_context_length - 1),
            )
        elif self.backend == "sqlite":
            self.setup()
            assert self._db is not None
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT INTO lghm_session_log (session_id, query, answer, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (sid, q, a, now),
                )
                conn.execute(
                    "DELETE FROM lghm_session_log WHERE session_id = ? AND seq <= ("
                    "SELECT seq FROM lghm_session_log WHERE session_id = ? "
                    "ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (sid, sid, self.max_context_length),
                )
        else:
            with self._lock:
                self._seq += 1
                rows = self._mem.setdefault(sid, [])
                rows.append((self._seq, q, a, now))
                del rows[: max(0, len(rows) - self.max_context_length)]

    def get_context(self, session_id: str, limit: int = 5) -> list[Interaction]:
        """The session's last `limit` live interactions, newest last; expired ones are pruned."""
        sid = _check_session(session_id)
        n = _check_limit(limit)
        self._prune(sid)
        if n == 0:
            return []
        if self.backend == "postgres":
            rows = self._pg(
                sql.SQL(
                    "SELECT query, answer, extract(epoch FROM created_at)::float8 AS t FROM {t} "
                    "WHERE session_id = %s ORDER BY seq DESC LIMIT %s"
                ).format(t=self._t),
                (sid, n),
            )
            found = [(r["query"], r["answer"], r["t"]) for r in rows]
        elif self.backend == "sqlite":
            assert self._db is not None
            with self._db.read() as conn:
                found = conn.execute(
                    "SELECT query, answer, created_at FROM lghm_session_log "
                    "WHERE session_id = ? ORDER BY seq DESC LIMIT ?",
                    (sid, n),
                ).fetchall()
        else:
            with self._lock:
                found = [(q, a, t) for _, q, a, t in reversed(self._mem.get(sid, []))][:n]
        return [Interaction(query=q, answer=a, timestamp=_iso(t)) for q, a, t in reversed(found)]

    def _prune(self, session_id: str | None, hours: float | None = None) -> int:
        cutoff = self._cutoff(hours)
        if self.backend == "postgres":
            where: sql.Composable = sql.SQL("created_at < to_timestamp(%s)")
            params: list[Any] = [cutoff]
            if session_id is not None:
                where = sql.SQL("session_id = %s AND ") + where
                params.insert(0, session_id)
            rows = self._pg(
                sql.SQL(
                    "WITH d AS (DELETE FROM {t} WHERE {w} RETURNING 1) SELECT count(*) AS n FROM d"
                ).format(t=self._t, w=where),
                params,
            )
            return int(rows[0]["n"])
        if self.backend == "sqlite":
            self.setup()
            assert self._db is not None
            with self._db.transaction() as conn:
                if session_id is None:
                    cur = conn.execute(
                        "DELETE FROM lghm_session_log WHERE created_at < ?", (cutoff,)
                    )
                else:
                    cur = conn.execute(
                        "DELETE FROM lghm_session_log WHERE session_id = ? AND created_at < ?",
                        (session_id, cutoff),
                    )
                return cur.rowcount
        with self._lock:
            removed = 0
            for sid in [session_id] if session_id is not None else list(self._mem):
                held = self._mem.get(sid, [])
                keep = [r for r in held if r[3] >= cutoff]
                removed += len(held) - len(keep)
                if keep:
                    self._mem[sid] = keep
                else:
                    self._mem.pop(sid, None)
            return removed

    def clear_memory(self, session_id: str) -> int:
        """Delete every interaction of the session; return how many there were."""
        sid = _check_session(session_id)
        if self.backend == "postgres":
            rows = self._pg(
                sql.SQL(
                    "WITH d AS (DELETE FROM {t} WHERE session_id = %s RETURNING 1) "
                    "SELECT count(*) AS n FROM d"
                ).format(t=self._t),
                (sid,),
            )
            return int(rows[0]["n"])
        if self.backend == "sqlite":
            self.setup()
            assert self._db is not None
            with self._db.transaction() as conn:
                return conn.execute(
                    "DELETE FROM lghm_session_log WHERE session_id = ?", (sid,)
                ).rowcount
        with self._lock:
            return len(self._mem.pop(sid, []))

    def cleanup_expired_sessions(self, max_age_hours: float = DEFAULT_TTL_HOURS) -> int:
        """Delete every interaction older than `max_age_hours`, all sessions; return the count."""
        return self._prune(None, _check_hours(max_age_hours, "max_age_hours"))

    def health_check(self) -> dict[str, Any]:
        """``{"ok": bool, "backend": ..., "error": str | None}``; never raises, never a secret."""
        try:
            if self.backend == "postgres":
                self._pg(sql.SQL("SELECT 1 FROM {t} LIMIT 1").format(t=self._t), ())
            elif self.backend == "sqlite":
                self.setup()
                assert self._db is not None
                with self._db.read() as conn:
                    conn.execute("SELECT 1 FROM lghm_session_log LIMIT 1").fetchall()
        except Exception as exc:
            return {"ok": False, "backend": self.backend, "error": type(exc).__name__}
        return {"ok": True, "backend": self.backend, "error": None}

    def get_session_stats(self, session_id: str) -> dict[str, Any]:
        """Live interactions of the session, first and last time, and when the last expires."""
        sid = _check_session(session_id)
        self._prune(sid)
        if self.backend == "postgres":
            rows = self._pg(
                sql.SQL(
                    "SELECT count(*) AS n, extract(epoch FROM min(created_at))::float8 AS lo, "
                    "extract(epoch FROM max(created_at))::float8 AS hi FROM {t} "
                    "WHERE session_id = %s"
                ).format(t=self._t),
                (sid,),
            )
            n, lo, hi = rows[0]["n"], rows[0]["lo"], rows[0]["hi"]
        elif self.backend == "sqlite":
            assert self._db is not None
            with self._db.read() as conn:
                n, lo, hi = conn.execute(
                    "SELECT count(*), min(created_at), max(created_at) FROM lghm_session_log "
                    "WHERE session_id = ?",
                    (sid,),
                ).fetchone()
        else:
            with self._lock:
                times = [r[3] for r in self._mem.get(sid, [])]
            n, lo, hi = len(times), min(times, default=None), max(times, default=None)
        return {
            "session_id": sid,
            "interactions": int(n),
            "first_at": _iso(lo) if lo is not None else None,
            "last_at": _iso(hi) if hi is not None else None,
            "expires_at": _iso(hi + 3600.0 * self.ttl_hours) if hi is not None else None,
            "max_context_length": self.max_context_length,
            "ttl_hours": self.ttl_hours,
            "backend": self.backend,
        }


class AsyncSessionLog:
    """`SessionLog` for async code: the same methods, awaitable, each run in a worker thread
    (as `AsyncHybridStore`), so the event loop never waits on the database or the disk.

    Examples:
        >>> import asyncio
        >>> log = AsyncSessionLog(SessionLog.in_memory())
        >>> async def main():
        ...     await log.add_to_memory("s1", "hi", "hello")
        ...     return await log.get_context("s1")
        >>> [i["answer"] for i in asyncio.run(main())]
        ['hello']
    """

    def __init__(self, log: SessionLog) -> None:
        self.sync = log

    async def setup(self) -> None:
        await asyncio.to_thread(self.sync.setup)

    async def add_to_memory(self, session_id: str, query: str, answer: str) -> None:
        await asyncio.to_thread(self.sync.add_to_memory, session_id, query, answer)

    async def get_context(self, session_id: str, limit: int = 5) -> list[Interaction]:
        return await asyncio.to_thread(self.sync.get_context, session_id, limit)

    async def clear_memory(self, session_id: str) -> int:
        return await asyncio.to_thread(self.sync.clear_memory, session_id)

    async def cleanup_expired_sessions(self, max_age_hours: float = DEFAULT_TTL_HOURS) -> int:
        return await asyncio.to_thread(self.sync.cleanup_expired_sessions, max_age_hours)

    async def health_check(self) -> dict[str, Any]:
        return await asyncio.to_thread(self.sync.health_check)

    async def get_session_stats(self, session_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.sync.get_session_stats, session_id)
