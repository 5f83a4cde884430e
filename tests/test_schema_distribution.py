"""Every PostgreSQL table our migrations create can be distributed (Citus) by its natural key.

Citus requires a distributed table's primary key (and every unique constraint) to contain the
distribution column; we go further and require it to *lead* the key, so a per-user or per-thread
operation is one shard's index range. The key columns are read from the real database's catalog
(``pg_index``) after every part's ``setup``, not from the migration text, so a table added by a
later migration is checked too: an unknown table fails until it is listed here.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from langgraph_hybrid_memory import MemoryConfig, admin
from tests.support import FakeEmbeddings

# Store tables: distributed by `scope` (the namespace's user label, see docs/scaling.md).
# Checkpoint tables (langgraph's PostgresSaver format, plus our tombstones and leases): by
# `thread_id`.
DISTRIBUTION_KEY: dict[str, str] = {"scope": "store", "thread_id": "checkpoints"}

# Tables that are not distributed, each with the reason. Citus keeps them as reference tables
# (copied to every worker) or local to the coordinator.
EXCEPTIONS: dict[str, str] = {
    "store_settings": "reference table: a handful of rows the store reads at setup (dims, model)",
    "embedding_cache": "reference table keyed by (model, text_hash); no user in its key",
    "session_log": "distributed by session_id (a session is its own scope), which leads its key",
    "lghm_checkpoint_sweeps": "reference table: one row of retention sweep totals, no thread",
}

# Each part's migration-version table: a few rows, coordinator-local.
_VERSION_TABLE_SUFFIXES = ("_migrations",)

_PRIMARY_KEYS = """
SELECT c.relname,
       array_agg(a.attname::text ORDER BY k.ord) FILTER (WHERE a.attname IS NOT NULL) AS cols
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
LEFT JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%'
GROUP BY c.relname
ORDER BY c.relname
"""

_UNIQUE_NOT_PK = """
SELECT c.conrelid::regclass::text, c.conname
FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace
WHERE c.contype = 'u' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""


def _tables(url: str) -> dict[str, list[str] | None]:
    with psycopg.connect(url) as conn:
        return {name: cols for name, cols in conn.execute(_PRIMARY_KEYS).fetchall()}


def _is_version_table(name: str) -> bool:
    return name.endswith(_VERSION_TABLE_SUFFIXES)


def test_every_primary_key_leads_with_its_distribution_key(pg_url: str, tmp_path: Path) -> None:
    cfg = MemoryConfig(
        memory_type="hybrid", database_url=pg_url, data_dir=tmp_path, embeddings="none"
    )
    # Every PostgreSQL part: store (+ vectors, quality), checkpoints, tombstones, leases,
    # embedding cache, session log, HybridStore's tombstones.
    with admin.AdminContext(cfg, embeddings=FakeEmbeddings(dims=8)) as ctx:
        admin.setup(ctx)
    tables = _tables(pg_url)
    missing = sorted(set(EXCEPTIONS) - set(tables))
    assert not missing, f"EXCEPTIONS lists tables setup no longer creates: {missing}"
    # The setup must have created the tables this test is about (a vacuous pass is no pass).
    for expected in ("items", "vectors", "checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        assert expected in tables, f"setup did not create {expected}; found {sorted(tables)}"

    wrong: list[str] = []
    for name, cols in tables.items():
        if _is_version_table(name):
            continue
        if name in EXCEPTIONS:
            if name == "session_log":
                assert cols is not None and cols[0] == "session_id", cols
            continue
        if not cols:
            wrong.append(f"{name}: no primary key")
        elif cols[0] not in DISTRIBUTION_KEY:
            wrong.append(f"{name}: primary key {cols} leads with {cols[0]!r}")
    assert not wrong, (
        "tables whose primary key does not lead with scope/thread_id (fix the key, or list the "
        f"table in EXCEPTIONS with the reason): {wrong}"
    )


def test_no_unique_constraint_outside_the_distribution_key(pg_url: str, tmp_path: Path) -> None:
    """Citus refuses a unique constraint without the distribution column: we have none besides
    the primary keys checked above."""
    cfg = MemoryConfig(
        memory_type="hybrid", database_url=pg_url, data_dir=tmp_path, embeddings="none"
    )
    with admin.AdminContext(cfg, embeddings=FakeEmbeddings(dims=8)) as ctx:
        admin.setup(ctx)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(_UNIQUE_NOT_PK).fetchall() == []
