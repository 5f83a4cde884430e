"""langgraph-hybrid-memory: long- and short-term memory for LangGraph agents.

Pass its checkpointer and store to ``graph.compile(checkpointer=..., store=...)``. The public API is
exactly `__all__`; everything in a module whose name starts with ``_`` is private.
"""

from langgraph_hybrid_memory._config import MEMORY_TYPES, MemoryConfig, MemoryType
from langgraph_hybrid_memory._embedded import EmbeddedPostgres
from langgraph_hybrid_memory._embeddings import CachedEmbeddings, resolve_embeddings
from langgraph_hybrid_memory._factory import Memory, aopen_memory, open_memory
from langgraph_hybrid_memory._quality import CollapseConfig, RankingConfig
from langgraph_hybrid_memory._session import AsyncSessionLog, SessionLog
from langgraph_hybrid_memory.checkpoint import (
    CheckpointTTLConfig,
    FlushMode,
    HybridSaver,
    HybridSaverStatus,
)
from langgraph_hybrid_memory.checkpoint.aio import AsyncHybridSaver
from langgraph_hybrid_memory.errors import (
    ConfigError,
    DimensionMismatchError,
    EmbeddedPostgresError,
    FlushTimeoutError,
    InvalidInputError,
    InvalidKeyError,
    InvalidNamespaceError,
    InvalidValueError,
    MemoryNotFoundError,
    MissingExtraError,
    OutboxFullError,
    PgVectorMissingError,
    PostgresUnavailableError,
    ThreadBusyError,
    ValueTooLargeError,
    WriteConflictError,
)
from langgraph_hybrid_memory.hybridstore import HybridStore
from langgraph_hybrid_memory.hybridstore.aio import AsyncHybridStore
from langgraph_hybrid_memory.localstore import LocalStore
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
    "AsyncHybridSaver",
    "AsyncHybridStore",
    "AsyncPgVectorStore",
    "AsyncSessionLog",
    "CachedEmbeddings",
    "CheckpointTTLConfig",
    "CollapseConfig",
    "ConfigError",
    "DimensionMismatchError",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "FlushMode",
    "FlushTimeoutError",
    "HNSWIndexConfig",
    "HybridSaver",
    "HybridSaverStatus",
    "HybridStore",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidNamespaceError",
    "InvalidValueError",
    "LocalStore",
    "Memory",
    "MemoryConfig",
    "MemoryNotFoundError",
    "MemoryType",
    "MissingExtraError",
    "OutboxFullError",
    "PgVectorIndexConfig",
    "PgVectorMissingError",
    "PgVectorStore",
    "PgVectorTTLConfig",
    "PostgresUnavailableError",
    "RankingConfig",
    "SessionLog",
    "ThreadBusyError",
    "ValueTooLargeError",
    "WriteConflictError",
    "__version__",
    "aopen_memory",
    "open_memory",
    "resolve_embeddings",
]
