"""One entry point for PostgreSQL connections and pools.

All PostgreSQL I/O in the package gets its connections here, so every connection has the same
settings:

* ``autocommit=True``: `setup()` runs ``CREATE INDEX CONCURRENTLY``, which cannot run inside a
  transaction; code that needs a transaction opens one explicitly (``conn.transaction()``).
* ``prepare_threshold=None``: no server-side prepared statements, so PgBouncer / Supavisor in
  transaction mode work (langgraph issues #6705, #2755).
* ``row_factory=dict_row``.

Pools recycle idle and old connections (``max_idle``, ``max_lifetime``), which is what cures "SSL
connection has been closed unexpectedly" after cloud idle timeouts (langgraph issues #5675,
#3716), and check a connection before lending it with `check_if_idle` / `acheck_if_idle`: a
round trip (an empty query) only for a connection that has not been lent for more
than `IDLE_CHECK_SECONDS`, or whose socket has something to read (a server that terminated or
restarted sends a last message and closes). A connection in steady use is lent with no extra
round trip; one that died in between anyway (a silent network drop within the threshold) fails
its first statement, and the stores retry that once on a fresh connection
(`store._common.is_dead_connection`).

Reconnecting after an outage: psycopg_pool retries a failed connection attempt with a backoff
that doubles from 1 s for up to ``reconnect_timeout`` (5 minutes by default), and a client
that asks for a connection meanwhile waits for the next scheduled attempt: after an outage of
half a minute the first operation after the restart waited about 28 s. Our pools give up a
failed attempt after `POOL_RECONNECT_TIMEOUT_SECONDS` instead; the next borrow starts a fresh
attempt at once, and a pool that gave up while clients were still waiting starts one for them
(`_retry_for_waiting_clients`), so a restarted server is used on the first operation.

`borrow` is the fail-fast borrow of the hybrid tier's step path: it returns a connection as
`ConnectionPool.connection` does, but raises as soon as one of the pool's connection attempts
failed while it waited, instead of waiting out the pool timeout (see `_breaker`).
"""

from __future__ import annotations

import itertools
import select
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection, Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from langgraph_hybrid_memory._outage import POOL_NAME_PREFIX, install_pool_log_filter
from langgraph_hybrid_memory._secrets import scrub_connect_error

__all__ = [
    "CONNECTION_KWARGS",
    "IDLE_CHECK_SECONDS",
    "POOL_RECONNECT_TIMEOUT_SECONDS",
    "acheck_if_idle",
    "aget_connection",
    "borrow",
    "check_if_idle",
    "get_connection",
    "make_async_pool",
    "make_pool",
]

CONNECTION_KWARGS: dict[str, Any] = {
    "autocommit": True,
    "prepare_threshold": None,
    "row_factory": dict_row,
}

# Recycle idle connections well before typical load-balancer idle timeouts (often 350 s or more).
POOL_MAX_IDLE_SECONDS = 300.0
POOL_MAX_LIFETIME_SECONDS = 1800.0

POOL_RECONNECT_TIMEOUT_SECONDS = 1.0
"""How long a pool keeps retrying one failed connection attempt (psycopg_pool's
``reconnect_timeout``) before giving up; the next borrow retries at once. Measured
(`bench/bench_outage.py`): with psycopg_pool's default (300 s) the first operation after a
restart that followed a failed one waited on the backoff (28 s seen; a 3 s pool timeout simply
failed), with 1 s it took one connection (about 10 ms)."""

# How often the fail-fast borrow looks at the pool's connection errors while it waits.
BORROW_POLL_SECONDS = 0.05

IDLE_CHECK_SECONDS = 5.0
"""A pooled connection not lent for longer than this is pinged before it is lent again.

Below it a round trip per borrow would double the cost of a one-statement write; connections
are lost to idle timeouts of minutes (NAT, load balancers), to restarts and failovers (which
the socket check sees) or to network drops, rare enough that the stores' retry-once covers
the few seconds in between."""

# When each connection was last lent (monotonic seconds). Weak keys: a closed and dropped
# connection leaves no entry. The time is that of the borrow, not of the return, so a
# connection's idle time is overestimated by how long it was used: it is pinged a little more
# often than needed, never less, and no ``reset=`` callback (a worker hop per return) is needed.
_last_lent: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _needs_ping(conn: Connection[Any] | AsyncConnection[Any]) -> bool:
    now = time.monotonic()
    last = _last_lent.get(conn)
    _last_lent[conn] = now
    if last is None or now - last > IDLE_CHECK_SECONDS:
        return True
    if conn.closed or conn.broken:
        return True
    try:
        # An idle connection has nothing to read, unless the server said goodbye (a FATAL
        # error from pg_terminate_backend or a shutdown, then EOF) or sent a notice: then ping.
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def check_if_idle(conn: Connection[Any]) -> None:
    """Pool ``check=``: ping `conn` only if it was idle over `IDLE_CHECK_SECONDS` or its
    socket is readable; raise if the ping fails (the pool then discards it)."""
    if _needs_ping(conn):
        try:
            ConnectionPool.check_connection(conn)
        except BaseException:
            _last_lent.pop(conn, None)
            raise


async def acheck_if_idle(conn: AsyncConnection[Any]) -> None:
    """Async twin of `check_if_idle`."""
    if _needs_ping(conn):
        try:
            await AsyncConnectionPool.check_connection(conn)
        except BaseException:
            _last_lent.pop(conn, None)
            raise


def get_connection(conninfo: str, **kwargs: Any) -> Connection[DictRow]:
    """Open one connection with the package's settings (`kwargs` override them).

    Raises:
        PostgresUnavailableError: the connection failed; the error holds no password (see
            `_secrets`), unlike psycopg's, whose ``pgconn`` does.
    """
    try:
        return Connection.connect(conninfo, **{**CONNECTION_KWARGS, **kwargs})
    except psycopg.OperationalError as exc:
        scrubbed = scrub_connect_error(exc, conninfo, kwargs.get("password"))
    # Outside the `except`: raising inside it would keep psycopg's error as `__context__`.
    raise scrubbed


async def aget_connection(conninfo: str, **kwargs: Any) -> AsyncConnection[DictRow]:
    """Async twin of `get_connection`."""
    try:
        return await AsyncConnection.connect(conninfo, **{**CONNECTION_KWARGS, **kwargs})
    except psycopg.OperationalError as exc:
        scrubbed = scrub_connect_error(exc, conninfo, kwargs.get("password"))
    raise scrubbed


def _retry_for_waiting_clients(pool: ConnectionPool[Any]) -> None:
    """Pool ``reconnect_failed=``: the pool gave up an attempt; if clients still wait for a
    connection, start a new attempt for them (``check()`` grows an empty pool), so a server
    that is back before their timeout serves them. No client waiting: nothing is retried until
    the next borrow, so a long outage costs no connection attempts."""
    if pool.get_stats().get("requests_waiting", 0) and not pool.closed:
        pool.check()


async def _aretry_for_waiting_clients(pool: AsyncConnectionPool[Any]) -> None:
    """Async twin of `_retry_for_waiting_clients`."""
    if pool.get_stats().get("requests_waiting", 0) and not pool.closed:
        await pool.check()


@contextmanager
def borrow(
    pool: ConnectionPool[Connection[DictRow]], timeout: float
) -> Iterator[Connection[DictRow]]:
    """A connection of `pool`, failing fast when PostgreSQL refuses connections.

    Waits for a connection in short slices; as soon as the pool recorded a failed connection
    attempt since the call began, raises `PoolTimeout` (an ``OperationalError``) instead of
    waiting out `timeout`. A refused connection is answered in milliseconds; waiting the pool
    timeout for it is what made a hybrid step take 5 s while PostgreSQL was down.

    Raises:
        PoolTimeout: no connection within `timeout`, or a connection attempt failed meanwhile.
    """
    deadline = time.monotonic() + timeout
    errors = pool.get_stats().get("connections_errors", 0)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PoolTimeout(f"couldn't get a connection after {timeout:.2f} sec")
        try:
            conn = pool.getconn(timeout=min(BORROW_POLL_SECONDS, left))
            break
        except PoolTimeout:
            # `!=`, not `>`: someone may have reset the counters with pop_stats().
            if pool.get_stats().get("connections_errors", 0) != errors:
                raise PoolTimeout(
                    f"PostgreSQL refused a new connection for pool {pool.name!r}; not waiting "
                    f"the {timeout:.1f} s pool timeout"
                ) from None
    try:
        with conn:
            yield conn
    finally:
        pool.putconn(conn)


_pool_numbers = itertools.count(1)


def _pool_name(name: str | None) -> str:
    if name is not None and name.startswith(POOL_NAME_PREFIX):
        return name
    return f"{POOL_NAME_PREFIX}-{name or next(_pool_numbers)}"


def make_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int = 20,
    configure: Callable[[Connection[DictRow]], None] | None = None,
    name: str | None = None,
    open: bool = True,
    timeout: float = 30.0,
    **kwargs: Any,
) -> ConnectionPool[Connection[DictRow]]:
    """Build a health-checked pool whose connections have the package's settings.

    A borrow costs no round trip unless the connection was idle (see `check_if_idle`). The
    pool is named ``lghm*`` (`name`, or a numbered one), so its per-attempt connection
    warnings go to DEBUG (see `_outage`): an outage is reported once, by the package.

    `timeout` is how long borrowing a connection may wait (psycopg_pool's default, 30 s); a
    part that falls back to a local tier when PostgreSQL is down passes a shorter one.
    """
    install_pool_log_filter()
    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max(min_size, max_size),
        kwargs={**CONNECTION_KWARGS, **kwargs},
        configure=configure,
        check=check_if_idle,
        max_idle=POOL_MAX_IDLE_SECONDS,
        max_lifetime=POOL_MAX_LIFETIME_SECONDS,
        name=_pool_name(name),
        open=open,
        timeout=timeout,
        reconnect_timeout=POOL_RECONNECT_TIMEOUT_SECONDS,
        reconnect_failed=_retry_for_waiting_clients,
    )


def make_async_pool(
    conninfo: str,
    *,
    min_size: int = 1,
    max_size: int = 20,
    configure: Callable[[AsyncConnection[DictRow]], Awaitable[None]] | None = None,
    name: str | None = None,
    **kwargs: Any,
) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
    """Async twin of `make_pool`. The pool is returned closed: ``await pool.open()`` it."""
    install_pool_log_filter()
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max(min_size, max_size),
        kwargs={**CONNECTION_KWARGS, **kwargs},
        configure=configure,
        check=acheck_if_idle,
        max_idle=POOL_MAX_IDLE_SECONDS,
        max_lifetime=POOL_MAX_LIFETIME_SECONDS,
        name=_pool_name(name),
        open=False,
        reconnect_timeout=POOL_RECONNECT_TIMEOUT_SECONDS,
        reconnect_failed=_aretry_for_waiting_clients,
    )
