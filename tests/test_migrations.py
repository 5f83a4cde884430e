"""Numbered migrations under an advisory lock (invariant 6)."""

from __future__ import annotations

import threading

import psycopg
import pytest

from langgraph_hybrid_memory import ConfigError
from langgraph_hybrid_memory._migrations import (
    Migration,
    amigration_status,
    arun_migrations,
    migration_status,
    run_migrations,
)
from langgraph_hybrid_memory._pg import aget_connection, get_connection

MIGRATIONS = [
    Migration("CREATE TABLE items (id int PRIMARY KEY, body text)"),
    Migration("ALTER TABLE items ADD COLUMN n int"),
    Migration(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_n_idx ON items (n)",
        transactional=False,
        index="items_n_idx",
    ),
]


def _tables(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
    return {r[0] for r in rows}


def test_applies_in_order_once_in_own_schema(pg_url: str) -> None:
    with get_connection(pg_url) as conn:
        assert run_migrations(conn, MIGRATIONS, schema="mem", table="m") == [0, 1, 2]
        assert run_migrations(conn, MIGRATIONS, schema="mem", table="m") == []
        status = migration_status(conn, MIGRATIONS, schema="mem", table="m")
    assert status.applied == [0, 1, 2] and status.up_to_date
    assert _tables(pg_url, "mem") == {"items", "m"}
    assert _tables(pg_url, "public") == set()


def test_status_is_read_only(pg_url: str) -> None:
    with get_connection(pg_url) as conn:
        status = migration_status(conn, MIGRATIONS, schema="mem", table="m")
        assert status.pending == [0, 1, 2] and not status.up_to_date
        schema = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'mem'").fetchone()
    assert schema is None


def test_concurrent_setup_from_many_connections(pg_url: str) -> None:
    errors: list[BaseException] = []
    results: list[list[int]] = []

    def setup() -> None:
        try:
            with get_connection(pg_url) as conn:
                results.append(run_migrations(conn, MIGRATIONS, schema="mem", table="m"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=setup) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results, key=len)[-1] == [0, 1, 2]
    assert sum(len(r) for r in results) == 3  # each version applied exactly once


def test_failed_migration_rolls_back_with_its_version(pg_url: str) -> None:
    broken = [*MIGRATIONS[:2], Migration("ALTER TABLE items ADD COLUMN oops nosuchtype")]
    with get_connection(pg_url) as conn:
        with pytest.raises(psycopg.errors.UndefinedObject):
            run_migrations(conn, broken, schema="mem", table="m")
        status = migration_status(conn, broken, schema="mem", table="m")
        assert status.applied == [0, 1] and status.pending == [2]
        # The lock was released: a fixed list applies the rest.
        assert run_migrations(conn, MIGRATIONS, schema="mem", table="m") == [2]


def test_half_migrated_database_with_invalid_index_recovers(pg_url: str) -> None:
    with get_connection(pg_url) as conn:
        run_migrations(conn, MIGRATIONS[:2], schema="mem", table="m")
        conn.execute("SET search_path TO mem")
        conn.execute("INSERT INTO items VALUES (1, 'a', 1), (2, 'b', 1)")
        # An interrupted CREATE INDEX CONCURRENTLY leaves an INVALID index behind: simulate it
        # with a unique index that fails on duplicates.
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY items_n_idx ON items (n)")
        conn.execute("RESET search_path")
        assert run_migrations(conn, MIGRATIONS, schema="mem", table="m") == [2]
        row = conn.execute(
            "SELECT i.indisvalid, i.indisunique FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'items_n_idx'"
        ).fetchone()
    assert row == {"indisvalid": True, "indisunique": False}


def test_requires_autocommit(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn, pytest.raises(ConfigError, match="autocommit=True"):
        run_migrations(conn, MIGRATIONS, schema="mem", table="m")
    assert _tables(pg_url, "mem") == set()


async def test_async_twin(pg_url: str) -> None:
    conn = await aget_connection(pg_url)
    async with conn:
        assert await arun_migrations(conn, MIGRATIONS, schema="mem", table="m") == [0, 1, 2]
        assert await arun_migrations(conn, MIGRATIONS, schema="mem", table="m") == []
        status = await amigration_status(conn, MIGRATIONS, schema="mem", table="m")
    assert status.up_to_date
