"""`dedup` and `query_stats`: memory quality on the configured memory (the library calls
`_dedup.dedup` and `_querystats.pg_usage_stats` / `local_usage_stats`, opened from settings)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.store.base import BaseStore

from langgraph_hybrid_memory._dedup import DedupReport
from langgraph_hybrid_memory._dedup import dedup as _dedup
from langgraph_hybrid_memory._quality import DEFAULT_THRESHOLD
from langgraph_hybrid_memory._querystats import QueryStats, local_usage_stats, pg_usage_stats
from langgraph_hybrid_memory.admin._context import AdminContext
from langgraph_hybrid_memory.admin._recall import open_store

__all__ = ["DedupReport", "QueryStats", "dedup", "query_stats"]


@contextmanager
def _dedup_store(ctx: AdminContext) -> Iterator[BaseStore]:
    """hybrid: a `HybridStore` (its deletes write tombstones); otherwise the agent's store."""
    if ctx.cfg.memory_type == "hybrid":
        from langgraph_hybrid_memory.hybridstore import HybridStore

        with HybridStore(ctx.sqlite_path, ctx.pg_url(), index=ctx.store_index()) as store:  # type: ignore[arg-type]
            yield store
        return
    with open_store(ctx) as store:
        yield store


def dedup(
    ctx: AdminContext,
    user: str,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    apply: bool = False,
) -> DedupReport:
    """Find (and with ``apply=True`` merge) one user's duplicate memories: each group's newest
    is kept, the others are deleted and recorded. The default is a dry run.

    Raises:
        ConfigError: a bad user id or threshold, or a bad setting.
        MemoryNotFoundError: nothing has been stored where the settings point (postgres,
            sqlite); nothing is created to look.
    """
    with _dedup_store(ctx) as store:
        return _dedup(store, user, threshold=threshold, apply=apply)


def query_stats(
    ctx: AdminContext, *, user: str | None = None, top: int = 5
) -> dict[str, QueryStats]:
    """Query analytics (latency, zero-result queries) and access counts per user, per tier
    (``postgres``; ``local`` in sqlite mode). Read-only.

    Raises:
        ConfigError: a bad setting.
        MemoryNotFoundError: no embedded cluster yet (nothing is created to look).
    """
    out: dict[str, QueryStats] = {}
    if ctx.uses_postgres:
        with ctx.pg(create=False) as conn:
            out["postgres"] = pg_usage_stats(conn, ctx.schema, user=user, top=top)
    if ctx.cfg.memory_type == "sqlite":
        with ctx.local_read() as lconn:
            if lconn is not None:
                out["local"] = local_usage_stats(lconn, user=user, top=top)
    return out
