"""Small helpers shared by the sync and async store classes (no SQL, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import psycopg
from langchain_core.embeddings import Embeddings

from langgraph_hybrid_memory._embeddings import resolve_embeddings
from langgraph_hybrid_memory.errors import ConfigError

DEFAULT_SWEEP_INTERVAL_MINUTES = 5.0


class PoolConfig(TypedDict, total=False):
    """Pool settings for ``from_conn_string`` (health checks and recycling are always on)."""

    min_size: int
    """Connections kept open (default 1)."""
    max_size: int
    """Most connections at once (default 20)."""
    kwargs: dict[str, Any]
    """Extra connection arguments (e.g. ``{"connect_timeout": 5}``)."""


def resolve_embeddings_spec(embed: Any) -> Embeddings:
    """LangChain `Embeddings` for an index's ``embed``: an `Embeddings`, a sync or async
    callable, ``"local"`` or ``"openai:<model>"`` (the package's `resolve_embeddings`)."""
    embeddings = resolve_embeddings(embed)
    if embeddings is None:
        raise ConfigError(
            f"index['embed']={embed!r} gives no embedding model; for keyword search without one, "
            "leave out 'dims' and 'embed' and set search_mode='keyword'"
        )
    return embeddings


def sweep_interval_minutes(ttl_config: Mapping[str, Any], explicit: float | None) -> float:
    interval = explicit if explicit is not None else ttl_config.get("sweep_interval_minutes")
    if interval is None:
        return DEFAULT_SWEEP_INTERVAL_MINUTES
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        raise ConfigError(f"sweep_interval_minutes must be a positive number, got {interval!r}")
    return float(interval)


def is_dead_connection(exc: BaseException, used: Sequence[Any], conn: Any) -> bool:
    """Whether `exc` came from a connection that died (worth one retry on a fresh one).

    Only a pool can hand out a fresh connection; a single connection stays dead.
    """
    from psycopg_pool import AsyncConnectionPool, ConnectionPool

    if not isinstance(conn, (ConnectionPool, AsyncConnectionPool)):
        return False
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return any(c.closed or c.broken for c in used)


def pool_args(pool_config: PoolConfig | None) -> dict[str, Any]:
    """Keyword arguments for `_pg.make_pool` from a `PoolConfig`."""
    pc: dict[str, Any] = dict(pool_config or {})
    unknown = sorted(set(pc) - {"min_size", "max_size", "kwargs"})
    if unknown:
        raise ConfigError(
            f"unknown pool_config key(s) {unknown}; accepted: min_size, max_size, kwargs"
        )
    out: dict[str, Any] = dict(pc.get("kwargs") or {})
    for name in ("min_size", "max_size"):
        if name in pc:
            out[name] = pc[name]
    return out
