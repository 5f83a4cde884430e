"""One entry point for PostgreSQL connections and pools.

All PostgreSQL I/O in the package gets its connections here, so every connection has the same
settings:

* ``autocommit=True``: `setup()` runs ``CREATE INDEX CONCURRENTLY``, which cannot run inside a
  transaction; code that needs a transaction opens one explicitly (``conn.transaction()``).
* ``prepare_threshold=None``: no server-side prepared statements, so PgBouncer / Supavisor in
  transaction mode work (langgraph issues #6705, #2755).
* ``row_factory=dict_row``.

Pools health-check a connection before lending it (``check=``) and recycle idle and old ones
(``max_idle``, ``max_lifetime``), which is what cures "SSL connection has been closed
unexpectedly" after cloud idle timeouts (langgraph issues #5675, #3716).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection, Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

__all__ = [
    "CONNECTION_KWARGS",
    "aget_connection",
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


def get_connection(conninfo: str, **kwargs: Any) -> Connection[DictRow]:
    """Open one connection with the package's settings (`kwargs` override them)."""
    return Connection.connect(conninfo, **{**CONNECTION_KWARGS, **kwargs})


async def aget_connection(conninfo: str, **kwargs: Any) -> AsyncConnection[DictRow]:
    """Async twin of `get_connection`."""
    return await AsyncConnection.connect(conninfo, **{**CONNECTION_KWARGS, **kwargs})


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

    `timeout` is how long borrowing a connection may wait (psycopg_pool's default, 30 s); a
    part that falls back to a local tier when PostgreSQL is down passes a shorter one.
    """
    return ConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max(min_size, max_size),
        kwargs={**CONNECTION_KWARGS, **kwargs},
        configure=configure,
        check=ConnectionPool.check_connection,
        max_idle=POOL_MAX_IDLE_SECONDS,
        max_lifetime=POOL_MAX_LIFETIME_SECONDS,
        name=name,
        open=open,
        timeout=timeout,
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
    return AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max(min_size, max_size),
        kwargs={**CONNECTION_KWARGS, **kwargs},
        configure=configure,
        check=AsyncConnectionPool.check_connection,
        max_idle=POOL_MAX_IDLE_SECONDS,
        max_lifetime=POOL_MAX_LIFETIME_SECONDS,
        name=name,
        open=False,
    )
