"""Factories for LangGraph's Agent Server (``langgraph dev`` / ``langgraph up``, langgraph-api).

Name them in ``langgraph.json`` and the server runs this package's checkpointer and store instead
of its own, configured by the same environment as `open_memory()` (``MEMORY_TYPE``,
``DATABASE_URL``, ``MEMORY_DATA_DIR``, ``MEMORY_EMBEDDINGS``, ...)::

    {
      "dependencies": ["."],
      "graphs": {"agent": "./graph.py:graph"},
      "checkpointer": {"backend": "custom", "path": "langgraph_hybrid_memory.server.checkpointer"},
      "store": {"path": "langgraph_hybrid_memory.server.store"}
    }

langgraph-api (0.16) loads each ``path`` (``module.attr``, or ``./file.py:attr``), calls the
function and enters the async context manager it returns, once per server process, and leaves it
on shutdown. Both factories share one `aopen_memory()` per event loop, so the checkpointer and the
store use one PostgreSQL pool, one local file and one replicator (with ``MEMORY_TYPE=hybrid``:
`AsyncHybridSaver` and `AsyncHybridStore`); it is closed when the last of the two is left.

Warning:
    The store and checkpointer named here replace the server's own; the server's thread and run
    bookkeeping (``langgraph dev``: the in-memory runtime) is not affected. A store's ``index``
    and ``ttl`` keys in ``langgraph.json`` are ignored by the server for custom stores: the
    embeddings come from ``MEMORY_EMBEDDINGS``.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from langgraph_hybrid_memory._config import MemoryConfig
from langgraph_hybrid_memory._factory import Memory, aopen_memory

__all__ = ["checkpointer", "memory", "store"]


@dataclass
class _Shared:
    context: AbstractAsyncContextManager[Memory]
    memory: Memory
    users: int = 0


_Key = tuple[asyncio.AbstractEventLoop, MemoryConfig]
# One open memory per (event loop, settings): async pools and connections belong to the loop that
# made them. Each loop has its own lock (an asyncio.Lock is bound to one loop).
_shared: dict[_Key, _Shared] = {}
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def memory(config: MemoryConfig | None = None) -> AsyncIterator[Memory]:
    """The `Memory` that `checkpointer` and `store` share: opened by the first user, closed when
    the last one leaves.

    Args:
        config: the settings; `MemoryConfig.from_env()` when None (what the server uses).

    Examples:
        >>> import asyncio
        >>> from langgraph_hybrid_memory import MemoryConfig
        >>> cfg = MemoryConfig(memory_type="memory", embeddings="none")
        >>> async def main():
        ...     async with memory(cfg) as one, memory(cfg) as two:
        ...         return one is two, type(one.checkpointer).__name__
        >>> asyncio.run(main())
        (True, 'InMemorySaver')
    """
    cfg = MemoryConfig.from_env() if config is None else config
    loop = asyncio.get_running_loop()
    key = (loop, cfg)
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        shared = _shared.get(key)
        if shared is None:
            context = aopen_memory(cfg)
            shared = _Shared(context, await context.__aenter__())
            _shared[key] = shared
        shared.users += 1
    try:
        yield shared.memory
    finally:
        async with lock:
            shared.users -= 1
            last = shared.users == 0
            if last:
                del _shared[key]
                await shared.context.__aexit__(None, None, None)


@asynccontextmanager
async def checkpointer() -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """The checkpointer of `aopen_memory()`, for ``"checkpointer": {"backend": "custom",
    "path": "langgraph_hybrid_memory.server.checkpointer"}``."""
    async with memory() as mem:
        yield mem.checkpointer


@asynccontextmanager
async def store() -> AsyncIterator[BaseStore]:
    """The store of `aopen_memory()`, for ``"store": {"path":
    "langgraph_hybrid_memory.server.store"}``."""
    async with memory() as mem:
        yield mem.store
