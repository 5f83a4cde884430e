"""Operations on the memory as library calls: one implementation for the library, `lghm` and
the HTTP API (`lghm serve`), which only render these results.

Every operation takes an `AdminContext` (the configuration, by default the same environment
`open_memory()` reads) and returns a typed, JSON-shaped result. Each has an async twin (``a``
prefix) that runs it in a worker thread: an operation opens short-lived connections of its own
and must not block an event loop. A running `Memory` offers the common ones
(``memory.forget_user("ada")``).

==================  ====================================================================
operation           what it does
==================  ====================================================================
`status`            connectivity, versions, migrations, indexes, outbox, problems
`stats`             items per user/category/namespace, checkpoints, threads, table sizes
`search`            what the agent would recall for a user (hybrid, vector or keyword)
`recent`            the latest memories, of everyone or one user
`user_threads`      a user's threads, checkpoints per tier, latest state
`outbox_health`     outbox depth and age, dead letters, last error
`forget_user`       erase one user everywhere, with the report
`prune`             delete old checkpoints on both tiers
`sweep`             delete expired memories (TTL); apply the checkpoint retention policy
`dedup`             merge one user's duplicate memories (dry run unless ``apply=True``)
`query_stats`       query analytics and access counts per user
`setup`             run every part's migrations; `migrations` lists them
`migrate`           move threads and memories between backends (`export_to`, `import_from`)
`store_memory`      put, list and delete one user's memories through a running store
==================  ====================================================================

Examples:
    >>> import tempfile
    >>> from langgraph_hybrid_memory import MemoryConfig, open_memory
    >>> from langgraph_hybrid_memory.admin import AdminContext, forget_user, store_memory
    >>> cfg = MemoryConfig(memory_type="sqlite", data_dir=tempfile.mkdtemp(), embeddings="none")
    >>> with open_memory(cfg) as memory:
    ...     _ = store_memory(memory.store, "ada", "likes green tea", key="tea")
    ...     memory.forget_user("ada")["removed"]["local"]["items"]
    1
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph_hybrid_memory.admin._context import AdminContext
from langgraph_hybrid_memory.admin._endpoints import Endpoint, parse_endpoint
from langgraph_hybrid_memory.admin._forget import forget_user
from langgraph_hybrid_memory.admin._health import status
from langgraph_hybrid_memory.admin._memories import (
    StoredMemory,
    delete_memory,
    field_memories,
    memory_namespace,
    store_memory,
    user_memories,
)
from langgraph_hybrid_memory.admin._migrate import What, export_to, import_from, migrate
from langgraph_hybrid_memory.admin._outbox import outbox_health
from langgraph_hybrid_memory.admin._prune import parse_duration, prune
from langgraph_hybrid_memory.admin._quality import DedupReport, QueryStats, dedup, query_stats
from langgraph_hybrid_memory.admin._recall import SearchMode, recent, search
from langgraph_hybrid_memory.admin._results import (
    ForgetReport,
    MemoryHit,
    MigrationRow,
    OutboxHealth,
    PruneReport,
    StatsReport,
    StatusReport,
    SweepReport,
    TableSize,
    ThreadInfo,
    TierStats,
)
from langgraph_hybrid_memory.admin._setup import migrations, setup
from langgraph_hybrid_memory.admin._stats import stats
from langgraph_hybrid_memory.admin._sweep import sweep
from langgraph_hybrid_memory.admin._threads import user_threads
from langgraph_hybrid_memory.admin._validate import MAX_LIMIT, check_limit, check_user_id

__all__ = [
    "MAX_LIMIT",
    "AdminContext",
    "DedupReport",
    "Endpoint",
    "ForgetReport",
    "MemoryHit",
    "MigrationRow",
    "OutboxHealth",
    "PruneReport",
    "QueryStats",
    "SearchMode",
    "StatsReport",
    "StatusReport",
    "StoredMemory",
    "SweepReport",
    "TableSize",
    "ThreadInfo",
    "TierStats",
    "What",
    "adedup",
    "aforget_user",
    "amigrate",
    "aoutbox_health",
    "aprune",
    "aquery_stats",
    "arecent",
    "asearch",
    "asetup",
    "astats",
    "astatus",
    "asweep",
    "auser_threads",
    "check_limit",
    "check_user_id",
    "dedup",
    "delete_memory",
    "export_to",
    "field_memories",
    "forget_user",
    "import_from",
    "memory_namespace",
    "migrate",
    "migrations",
    "outbox_health",
    "parse_duration",
    "parse_endpoint",
    "prune",
    "query_stats",
    "recent",
    "search",
    "setup",
    "stats",
    "status",
    "store_memory",
    "sweep",
    "user_memories",
    "user_threads",
]


async def astatus(ctx: AdminContext) -> StatusReport:
    """`status` in a worker thread."""
    return await asyncio.to_thread(status, ctx)


async def astats(ctx: AdminContext) -> StatsReport:
    """`stats` in a worker thread."""
    return await asyncio.to_thread(stats, ctx)


async def asearch(ctx: AdminContext, user: str, query: str, **kwargs: Any) -> list[MemoryHit]:
    """`search` in a worker thread."""
    return await asyncio.to_thread(lambda: search(ctx, user, query, **kwargs))


async def arecent(ctx: AdminContext, **kwargs: Any) -> list[MemoryHit]:
    """`recent` in a worker thread."""
    return await asyncio.to_thread(lambda: recent(ctx, **kwargs))


async def auser_threads(ctx: AdminContext, user: str, **kwargs: Any) -> list[ThreadInfo]:
    """`user_threads` in a worker thread."""
    return await asyncio.to_thread(lambda: user_threads(ctx, user, **kwargs))


async def aoutbox_health(ctx: AdminContext, **kwargs: Any) -> OutboxHealth:
    """`outbox_health` in a worker thread."""
    return await asyncio.to_thread(lambda: outbox_health(ctx, **kwargs))


async def aforget_user(ctx: AdminContext, user: str, **kwargs: Any) -> ForgetReport:
    """`forget_user` in a worker thread."""
    return await asyncio.to_thread(lambda: forget_user(ctx, user, **kwargs))


async def aprune(ctx: AdminContext, **kwargs: Any) -> PruneReport:
    """`prune` in a worker thread."""
    return await asyncio.to_thread(lambda: prune(ctx, **kwargs))


async def asweep(ctx: AdminContext, **kwargs: Any) -> SweepReport:
    """`sweep` in a worker thread."""
    return await asyncio.to_thread(lambda: sweep(ctx, **kwargs))


async def asetup(ctx: AdminContext) -> list[MigrationRow]:
    """`setup` in a worker thread."""
    return await asyncio.to_thread(setup, ctx)


async def amigrate(ctx: AdminContext, source: str, target: str, **kwargs: Any) -> dict[str, Any]:
    """`migrate` in a worker thread."""
    return await asyncio.to_thread(lambda: migrate(ctx, source, target, **kwargs))


async def adedup(ctx: AdminContext, user: str, **kwargs: Any) -> DedupReport:
    """`dedup` in a worker thread."""
    return await asyncio.to_thread(lambda: dedup(ctx, user, **kwargs))


async def aquery_stats(ctx: AdminContext, **kwargs: Any) -> dict[str, QueryStats]:
    """`query_stats` in a worker thread."""
    return await asyncio.to_thread(lambda: query_stats(ctx, **kwargs))
