"""The public API is pinned: adding or removing a name is a deliberate change to this list."""

from __future__ import annotations

import langgraph_hybrid_memory

EXPECTED_PUBLIC_API = [
    "MEMORY_TYPES",
    "AsyncHybridSaver",
    "AsyncHybridStore",
    "CachedEmbeddings",
    "CheckpointTTLConfig",
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
    "MemoryNotFoundError",
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
    "ThreadBusyError",
    "WriteConflictError",
    "__version__",
    "aopen_memory",
    "open_memory",
    "resolve_embeddings",
    # issue 14: memory quality and the session log
    "AsyncSessionLog",
    "CollapseConfig",
    "RankingConfig",
    "SessionLog",
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


def test_server_module_api_is_pinned() -> None:
    # `langgraph.json` names these by path: renaming one breaks users' deployments.
    from langgraph_hybrid_memory import server

    assert sorted(server.__all__) == ["checkpointer", "memory", "store"]
