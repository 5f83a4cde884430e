"""One readable log line when PostgreSQL goes away, one when it is back, the rest at DEBUG.

Every part that talks to PostgreSQL in hybrid mode (the factory's start check, the store, the
saver's hydration, the replicator's flushes, the LISTEN thread) notices an outage on its own;
each used to log its own warning, per attempt, as a bare event name. They now all report here:
the first report of an outage for a server logs one WARNING that says what keeps working, what
is queued and how to check; later reports go to DEBUG; the first success after it logs one INFO
with what was sent. The structured fields stay in ``extra=`` (``event``, ``error``, ...).

psycopg_pool also logs a WARNING per failed connection attempt; for the pools this package
makes (named ``lghm*``) `install_pool_log_filter` turns those into DEBUG lines of our logger.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["install_pool_log_filter", "is_down", "note_down", "note_up", "server_label"]

logger = logging.getLogger("langgraph_hybrid_memory")

POOL_NAME_PREFIX = "lghm"

_lock = threading.Lock()
_down_since: dict[str, float] = {}


def server_label(conninfo: str | None) -> str:
    """Which server a report is about: its conninfo without the password."""
    if not conninfo:
        return "PostgreSQL"
    from langgraph_hybrid_memory._config import redact_conninfo

    return redact_conninfo(conninfo)


def is_down(server: str) -> bool:
    with _lock:
        return server in _down_since


def note_down(
    server: str,
    error: str,
    *,
    source: str,
    event: str,
    local_file: Path | str | None = None,
    **fields: Any,
) -> bool:
    """Report that `server` could not be reached; True if this started an outage (warned)."""
    with _lock:
        first = server not in _down_since
        if first:
            _down_since[server] = time.monotonic()
    extra = {"event": event, "source": source, "error": error, "server": server, **fields}
    if first:
        where = f" {local_file}" if local_file else ""
        logger.warning(
            "PostgreSQL at %s is unreachable (%s). Checkpoints and memories keep working on the "
            "local file%s; changes to PostgreSQL-backed namespaces are queued in its outbox and "
            "sent when PostgreSQL is back (nothing is lost). Check with: lghm status",
            server,
            error,
            where,
            extra=extra,
        )
    else:
        logger.debug(
            "%s: PostgreSQL at %s still unreachable (%s)", event, server, error, extra=extra
        )
    return first


def note_up(server: str, *, sent: int = 0, left: int | None = None, source: str) -> bool:
    """Report that `server` answered; True if this ended an outage (logged once at INFO)."""
    with _lock:
        since = _down_since.pop(server, None)
    if since is None:
        return False
    down_for = time.monotonic() - since
    queued = "" if left is None else f", {left} still queued"
    logger.info(
        "PostgreSQL at %s is reachable again after %.0f s; %d queued change(s) sent%s",
        server,
        down_for,
        sent,
        queued,
        extra={
            "event": "postgres_reachable_again",
            "source": source,
            "server": server,
            "down_seconds": round(down_for, 3),
            "sent": sent,
            "left": left,
        },
    )
    return True


class _OurPoolsQuiet(logging.Filter):
    """Drop psycopg_pool's per-attempt connection warnings for our pools; keep them at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or len(record.args or ()) < 1:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        if not args or not isinstance(args[0], str) or not args[0].startswith(POOL_NAME_PREFIX):
            return True
        if not str(record.msg).startswith(("error connecting in", "reconnection attempt")):
            return True
        logger.debug("pool: " + record.getMessage(), extra={"event": "pool_connect_failed"})
        return False


_installed = False


def install_pool_log_filter() -> None:
    """Install `_OurPoolsQuiet` on the ``psycopg.pool`` logger (once per process)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    logging.getLogger("psycopg.pool").addFilter(_OurPoolsQuiet())
