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
    "InvalidValueError",
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


def test_admin_and_api_modules_are_pinned() -> None:
    # The operations layer and the HTTP API are public modules with their own pinned names.
    from langgraph_hybrid_memory import admin, api

    assert sorted(admin.__all__) == sorted(EXPECTED_ADMIN_API)
    assert sorted(api.__all__) == sorted(EXPECTED_HTTP_API)
    for module in (admin, api):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


EXPECTED_ADMIN_API = [
    "MAX_LIMIT",
    "AdminContext",
    "Endpoint",
    "ForgetReport",
    "MemoryHit",
    "MigrationRow",
    "OutboxHealth",
    "PruneReport",
    "SearchMode",
    "StatsReport",
    "StatusReport",
    "StoredMemory",
    "SweepReport",
    "TableSize",
    "ThreadInfo",
    "TierStats",
    "What",
    "aforget_user",
    "amigrate",
    "aoutbox_health",
    "aprune",
    "arecent",
    "asearch",
    "asetup",
    "astats",
    "astatus",
    "asweep",
    "auser_threads",
    "check_limit",
    "check_user_id",
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
EXPECTED_HTTP_API = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Principal",
    "create_app",
    "identify",
    "issue_user_token",
    "require_server_extra",
    "serve",
]
