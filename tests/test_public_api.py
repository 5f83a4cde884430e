"""The public API is pinned: adding or removing a name is a deliberate change to this list."""

from __future__ import annotations

import langgraph_hybrid_memory

EXPECTED_PUBLIC_API = [
    "MEMORY_TYPES",
    "AsyncHybridSaver",
    "AsyncHybridStore",
    "CachedEmbeddings",
    "AsyncPgVectorStore",
    "ConfigError",
    "DimensionMismatchError",
    "EmbeddedPostgres",
    "EmbeddedPostgresError",
    "FlushMode",
    "FlushTimeoutError",
    "HybridSaver",
    "HybridSaverStatus",
    "HybridStore",
    "LocalStore",
    "Memory",
    "MemoryConfig",
    "MemoryType",
    "MissingExtraError",
    "OutboxFullError",
    "HNSWIndexConfig",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidNamespaceError",
    "InvalidValueError",
    "ValueTooLargeError",
    "PgVectorIndexConfig",
    "PgVectorMissingError",
    "PgVectorStore",
    "PgVectorTTLConfig",
    "PostgresUnavailableError",
    "__version__",
    "aopen_memory",
    "open_memory",
    "resolve_embeddings",
]


def test_public_api_is_pinned() -> None:
    assert sorted(langgraph_hybrid_memory.__all__) == sorted(EXPECTED_PUBLIC_API)


def test_every_public_name_is_importable() -> None:
    # Order is kept by ruff (RUF022); here we check each name really exists.
    for name in langgraph_hybrid_memory.__all__:
        assert hasattr(langgraph_hybrid_memory, name), name


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("langgraph_hybrid_memory").joinpath("py.typed").is_file()
