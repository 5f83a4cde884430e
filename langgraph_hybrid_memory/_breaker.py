"""A circuit breaker per PostgreSQL server, shared by the hybrid tier's remote calls.

In hybrid mode a graph step may reach PostgreSQL three ways: the saver's hydration probe of a
thread with no local copy, a write-through flush, and the store's reads and write-through. Each
has a local answer when PostgreSQL is down (nothing to hydrate, the entry waits in the outbox,
the cache answers), so none of them should wait for a connection that cannot come. Before this
module each part kept its own "down since" clock and the first call after an outage began still
waited the pool timeout (5 s) before falling back.

The breaker is **open** after a connection failure reported by any part (the factory's start
check, a step's remote call, the replicator's flush): remote calls on the step path then skip
PostgreSQL at once. It closes when a call succeeds; while it is open the replicator's retry loop
is the background probe (it retries even with nothing to send, see `Replicator._run`). As a
safety net an open breaker lets one caller through every `HALF_OPEN_AFTER` seconds, so a
process with no running flusher (a replicator built with ``start=False``) still recovers.

Only connection problems trip it (`is_connection_error`): a bad statement says nothing about
reachability.
"""

from __future__ import annotations

import threading
import time

import psycopg

__all__ = ["HALF_OPEN_AFTER", "Breaker", "breaker_for", "is_connection_error"]

HALF_OPEN_AFTER = 30.0
"""Seconds after which an open breaker lets one call through even without a probe."""


def is_connection_error(exc: BaseException) -> bool:
    """Whether `exc` says PostgreSQL could not be reached (not that a statement failed).

    ``PoolTimeout`` is an ``OperationalError`` too; a statement-level ``OperationalError``
    (e.g. a lock timeout) carries a SQLSTATE, a connection failure does not (or is class 08).
    """
    if not isinstance(exc, psycopg.OperationalError):
        return False
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(("08", "57P"))


class Breaker:
    """Open (skip PostgreSQL) after a connection failure, closed after a success.

    Examples:
        >>> br = Breaker("postgresql://app@db/x")
        >>> br.allows()
        True
        >>> br.trip("OperationalError: connection refused")
        True
        >>> br.allows(), br.is_open
        (False, True)
        >>> br.reset()
        True
        >>> br.allows()
        True
    """

    def __init__(self, server: str, *, half_open_after: float = HALF_OPEN_AFTER) -> None:
        self.server = server
        self.half_open_after = half_open_after
        self._lock = threading.Lock()
        self._opened_at: float | None = None
        self._last_try: float = 0.0
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def allows(self) -> bool:
        """Whether a step-path call may try PostgreSQL now (never blocks)."""
        with self._lock:
            if self._opened_at is None:
                return True
            now = time.monotonic()
            if now - self._last_try >= self.half_open_after:
                self._last_try = now  # one caller through; the others keep skipping
                return True
            return False

    def trip(self, error: str | None = None) -> bool:
        """Open the breaker; True if it was closed (an outage starts)."""
        with self._lock:
            first = self._opened_at is None
            if first:
                self._opened_at = time.monotonic()
            self._last_try = time.monotonic()
            if error is not None:
                self.last_error = error
            return first

    def reset(self) -> bool:
        """Close the breaker (PostgreSQL answered); True if it was open."""
        with self._lock:
            was_open = self._opened_at is not None
            self._opened_at = None
            return was_open

    def open_for(self) -> float | None:
        """Seconds since the breaker opened, or None when closed."""
        with self._lock:
            return None if self._opened_at is None else time.monotonic() - self._opened_at


_registry_lock = threading.Lock()
_breakers: dict[str, Breaker] = {}


def breaker_for(server: str) -> Breaker:
    """This process's breaker for `server` (a redacted conninfo, `_outage.server_label`)."""
    with _registry_lock:
        breaker = _breakers.get(server)
        if breaker is None:
            breaker = _breakers[server] = Breaker(server)
        return breaker
