"""Numbered schema migrations, applied once, under an advisory lock.

Each part that owns PostgreSQL tables keeps an ordered list of `Migration`s; its index is the
version. `run_migrations` applies the missing versions:

* under a session advisory lock, so many processes may call `setup()` at once (pods starting
  together raced on langgraph's migration tables);
* each transactional migration together with its version row in one transaction, so a crash leaves
  either both or neither;
* a non-transactional migration (``CREATE INDEX CONCURRENTLY`` cannot run in a transaction) must
  be idempotent; if it names an index (`Migration.index`) that an earlier interrupted run left
  INVALID, that index is dropped first, because ``IF NOT EXISTS`` would otherwise keep the broken
  one;
* with ``search_path`` set to the target schema (then ``public``, where extensions such as
  pgvector usually live), so migration SQL may use unqualified names.

Never edit a shipped migration: append a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, Connection, sql
from psycopg.abc import Query

from langgraph_hybrid_memory.errors import ConfigError

__all__ = [
    "Migration",
    "MigrationStatus",
    "amigration_status",
    "arun_migrations",
    "migration_lock_key",
    "migration_status",
    "run_migrations",
]


@dataclass(frozen=True)
class Migration:
    """One schema change. `sql` may use unqualified names: it runs with the target schema first on
    the ``search_path``."""

    sql: Query
    transactional: bool = True
    index: str | None = None
    """For a non-transactional ``CREATE INDEX CONCURRENTLY``: the index name, dropped first if an
    interrupted earlier run left it invalid."""
    description: str = ""


@dataclass(frozen=True)
class MigrationStatus:
    """Which versions are applied and which are pending (read-only check)."""

    applied: list[int]
    pending: list[int]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def migration_lock_key(schema: str, table: str) -> int:
    """A stable signed 64-bit advisory-lock key for one migrations table."""
    digest = hashlib.blake2b(f"lghm:{schema}.{table}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# Waiters poll with pg_try_advisory_lock instead of blocking in pg_advisory_lock: a session blocked
# in that call is an open transaction, and CREATE INDEX CONCURRENTLY in the lock holder waits for
# every open transaction to finish: the two would deadlock (seen in tests with 6 concurrent setups).
_TRY_LOCK = "SELECT pg_try_advisory_lock(%s) AS locked"
_LOCK_POLL_SECONDS = (0.02, 0.5)  # first and largest pause between tries
LOCK_TIMEOUT_SECONDS = 600.0
_UNLOCK = "SELECT pg_advisory_unlock(%s)"
_SCHEMA_EXISTS = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
_TABLE_EXISTS = "SELECT to_regclass(%s) IS NOT NULL AS present"
_INVALID_INDEX = (
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = %s AND NOT i.indisvalid"
)


def _create_schema(schema: str) -> sql.Composed:
    return sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))


def _create_table(schema: str, table: str) -> sql.Composed:
    return sql.SQL("CREATE TABLE IF NOT EXISTS {}.{} (v INTEGER PRIMARY KEY)").format(
        sql.Identifier(schema), sql.Identifier(table)
    )


def _select_versions(schema: str, table: str) -> sql.Composed:
    return sql.SQL("SELECT v FROM {}.{} ORDER BY v").format(
        sql.Identifier(schema), sql.Identifier(table)
    )


def _insert_version(schema: str, table: str) -> sql.Composed:
    return sql.SQL("INSERT INTO {}.{} (v) VALUES (%s) ON CONFLICT (v) DO NOTHING").format(
        sql.Identifier(schema), sql.Identifier(table)
    )


def _set_search_path(schema: str, *, local: bool) -> sql.Composed:
    return sql.SQL("SET {} search_path TO {}, public").format(
        sql.SQL("LOCAL" if local else "SESSION"), sql.Identifier(schema)
    )


def _drop_index(schema: str, index: str) -> sql.Composed:
    return sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}.{}").format(
        sql.Identifier(schema), sql.Identifier(index)
    )


def _qualified(schema: str, table: str) -> str:
    return sql.Identifier(schema, table).as_string(None)


def _require_autocommit(conn: Connection[Any] | AsyncConnection[Any]) -> None:
    if not conn.autocommit:
        raise ConfigError(
            "setup() needs a connection with autocommit=True (CREATE INDEX CONCURRENTLY cannot run "
            "in a transaction); open it with psycopg.connect(url, autocommit=True) or use "
            "from_conn_string()"
        )


def run_migrations(
    conn: Connection[Any],
    migrations: Sequence[Migration],
    *,
    schema: str,
    table: str,
    lock_key: int | None = None,
) -> list[int]:
    """Apply the versions of `migrations` missing from `schema.table`; return those applied.

    Safe to call from many processes at once and again on a half-migrated database.

    Raises:
        ConfigError: `conn` is not in autocommit mode.
    """
    _require_autocommit(conn)
    key = migration_lock_key(schema, table) if lock_key is None else lock_key
    pause, deadline = _LOCK_POLL_SECONDS[0], time.monotonic() + LOCK_TIMEOUT_SECONDS
    while not _locked(conn.execute(_TRY_LOCK, (key,)).fetchone()):
        _check_deadline(deadline, schema, table)
        time.sleep(pause)
        pause = min(pause * 2, _LOCK_POLL_SECONDS[1])
    try:
        if conn.execute(_SCHEMA_EXISTS, (schema,)).fetchone() is None:
            conn.execute(_create_schema(schema))
        conn.execute(_create_table(schema, table))
        applied = {_version(row) for row in conn.execute(_select_versions(schema, table))}
        done: list[int] = []
        for version, migration in enumerate(migrations):
            if version in applied:
                continue
            if migration.transactional:
                with conn.transaction():
                    conn.execute(_set_search_path(schema, local=True))
                    conn.execute(migration.sql)
                    conn.execute(_insert_version(schema, table), (version,))
            else:
                if (
                    migration.index
                    and conn.execute(_INVALID_INDEX, (schema, migration.index)).fetchone()
                ):
                    conn.execute(_drop_index(schema, migration.index))
                conn.execute(_set_search_path(schema, local=False))
                try:
                    conn.execute(migration.sql)
                finally:
                    conn.execute("RESET search_path")
                conn.execute(_insert_version(schema, table), (version,))
            done.append(version)
        return done
    finally:
        conn.execute(_UNLOCK, (key,))


async def arun_migrations(
    conn: AsyncConnection[Any],
    migrations: Sequence[Migration],
    *,
    schema: str,
    table: str,
    lock_key: int | None = None,
) -> list[int]:
    """Async twin of `run_migrations`."""
    _require_autocommit(conn)
    key = migration_lock_key(schema, table) if lock_key is None else lock_key
    pause, deadline = _LOCK_POLL_SECONDS[0], time.monotonic() + LOCK_TIMEOUT_SECONDS
    while not _locked(await (await conn.execute(_TRY_LOCK, (key,))).fetchone()):
        _check_deadline(deadline, schema, table)
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LOCK_POLL_SECONDS[1])
    try:
        if await (await conn.execute(_SCHEMA_EXISTS, (schema,))).fetchone() is None:
            await conn.execute(_create_schema(schema))
        await conn.execute(_create_table(schema, table))
        cur = await conn.execute(_select_versions(schema, table))
        applied = {_version(row) for row in await cur.fetchall()}
        done: list[int] = []
        for version, migration in enumerate(migrations):
            if version in applied:
                continue
            if migration.transactional:
                async with conn.transaction():
                    await conn.execute(_set_search_path(schema, local=True))
                    await conn.execute(migration.sql)
                    await conn.execute(_insert_version(schema, table), (version,))
            else:
                if (
                    migration.index
                    and await (
                        await conn.execute(_INVALID_INDEX, (schema, migration.index))
                    ).fetchone()
                ):
                    await conn.execute(_drop_index(schema, migration.index))
                await conn.execute(_set_search_path(schema, local=False))
                try:
                    await conn.execute(migration.sql)
                finally:
                    await conn.execute("RESET search_path")
                await conn.execute(_insert_version(schema, table), (version,))
            done.append(version)
        return done
    finally:
        await conn.execute(_UNLOCK, (key,))


def migration_status(
    conn: Connection[Any], migrations: Sequence[Migration], *, schema: str, table: str
) -> MigrationStatus:
    """Applied and pending versions. Read-only: creates nothing, takes no lock."""
    row = conn.execute(_TABLE_EXISTS, (_qualified(schema, table),)).fetchone()
    applied: set[int] = set()
    if row is not None and _present(row):
        applied = {_version(r) for r in conn.execute(_select_versions(schema, table))}
    return _status(applied, len(migrations))


async def amigration_status(
    conn: AsyncConnection[Any], migrations: Sequence[Migration], *, schema: str, table: str
) -> MigrationStatus:
    """Async twin of `migration_status`."""
    row = await (await conn.execute(_TABLE_EXISTS, (_qualified(schema, table),))).fetchone()
    applied: set[int] = set()
    if row is not None and _present(row):
        cur = await conn.execute(_select_versions(schema, table))
        applied = {_version(r) for r in await cur.fetchall()}
    return _status(applied, len(migrations))


def _status(applied: set[int], count: int) -> MigrationStatus:
    return MigrationStatus(
        applied=sorted(v for v in applied if v < count),
        pending=[v for v in range(count) if v not in applied],
    )


def _locked(row: Any) -> bool:
    return bool(row["locked"] if isinstance(row, dict) else row[0])


def _check_deadline(deadline: float, schema: str, table: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(
            f"waited {LOCK_TIMEOUT_SECONDS:.0f}s for the migration lock of {schema}.{table}; "
            "another process is running setup() (or died holding its connection)"
        )


def _version(row: Any) -> int:
    # Works with tuple rows and dict rows alike.
    return int(row["v"] if isinstance(row, dict) else row[0])


def _present(row: Any) -> bool:
    return bool(row["present"] if isinstance(row, dict) else row[0])
