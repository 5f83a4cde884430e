"""langgraph-hybrid-memory: long- and short-term memory for LangGraph agents.

Pass its checkpointer and store to ``graph.compile(checkpointer=..., store=...)``. The public API is
exactly `__all__`; everything in a module whose name starts with ``_`` is private.
"""

from langgraph_hybrid_memory._config import MEMORY_TYPES, MemoryConfig, MemoryType
from langgraph_hybrid_memory._embedded import EmbeddedPostgres
from langgraph_hybrid_memory.errors import (
    ConfigError,
    DimensionMismatchError,
    EmbeddedPostgresError,
    InvalidValueError,
    MissingExtraError,
    PgVectorMissingError,
    PostgresUnavailableError,
)
from langgraph_hybrid_memory.store import (
    HNSWIndexConfig,
    PgVectorIndexConfig,
    PgVectorStore,
    PgVectorTTLConfig,
)
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

__version__ = "0.1.0"

__all__ = [
    "MEMORY_TYPES",
    "AsyncPgVectorStore",
    "ConfigError",
    "DimensionMismatchError",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "HNSWIndexConfig",
    "InvalidValueError",
    "MemoryConfig",
    "MemoryType",
    "MissingExtraError",
    "PgVectorIndexConfig",
    "PgVectorMissingError",
    "PgVectorStore",
    "PgVectorTTLConfig",
    "PostgresUnavailableError",
    "__version__",
]
