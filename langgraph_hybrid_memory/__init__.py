"""langgraph-hybrid-memory: long- and short-term memory for LangGraph agents.

Pass its checkpointer and store to ``graph.compile(checkpointer=..., store=...)``. The public API is
exactly `__all__`; everything in a module whose name starts with ``_`` is private.
"""

from langgraph_hybrid_memory._config import MEMORY_TYPES, MemoryConfig, MemoryType
from langgraph_hybrid_memory._embedded import EmbeddedPostgres
from langgraph_hybrid_memory._embeddings import CachedEmbeddings, resolve_embeddings
from langgraph_hybrid_memory._factory import Memory, aopen_memory, open_memory
from langgraph_hybrid_memory.checkpoint import FlushMode, HybridSaver, HybridSaverStatus
from langgraph_hybrid_memory.checkpoint.aio import AsyncHybridSaver
from langgraph_hybrid_memory.errors import (
    ConfigError,
    EmbeddedPostgresError,
    FlushTimeoutError,
    MissingExtraError,
    OutboxFullError,
    PostgresUnavailableError,
)
from langgraph_hybrid_memory.localstore import LocalStore

__version__ = "0.1.0"

__all__ = [
    "MEMORY_TYPES",
    "AsyncHybridSaver",
    "CachedEmbeddings",
    "ConfigError",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "FlushMode",
    "FlushTimeoutError",
    "HybridSaver",
    "HybridSaverStatus",
    "LocalStore",
    "Memory",
    "MemoryConfig",
    "MemoryType",
    "MissingExtraError",
    "OutboxFullError",
    "PostgresUnavailableError",
    "__version__",
    "aopen_memory",
    "open_memory",
    "resolve_embeddings",
]
