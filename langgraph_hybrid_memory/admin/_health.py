"""`status`: connectivity, versions, migrations, indexes, outbox and dead letters; the problems
found, each with how to fix it. Read-only."""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg import Connection
from psycopg.rows import DictRow

from langgraph_hybrid_memory.admin._context import AdminContext, safe_error, table_exists
from langgraph_hybrid_memory.admin._parts import local_status, pg_parts, pg_status
from langgraph_hybrid_memory.admin._replica_health import replica_health
from langgraph_hybrid_memory.admin._results import StatusReport
from langgraph_hybrid_memory.admin._retention_health import retention_health
from langgraph_hybrid_memory.errors import MemoryNotFoundError
from langgraph_hybrid_memory.store._schema import PGVECTOR_AVAILABLE, pgvector_missing_message

__all__ = ["status"]

SERVER_VERSION = "SHOW server_version"
INDEXES = """
SELECT n.nspname AS schema, c.relname AS name, i.indisvalid AS valid
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%s)
"""
LOCAL_OUTBOX = "SELECT count(*), min(created_at) FROM lghm_outbox"
LOCAL_DEAD = "SELECT count(*) FROM lghm_outbox_dead"
LOCAL_CONFLICTS = "SELECT count(*) FROM lghm_thread_conflicts"


def status(ctx: AdminContext) -> StatusReport:
    """Health of the configured memory; ``healthy`` is False when ``problems`` is not empty.

    Never contains a secret (the URL is redacted, errors have passwords removed). Read-only:
    a missing embedded cluster is reported (``postgres.exists`` False), never created.

    Raises:
        ConfigError: a bad setting.
    """
    cfg = ctx.cfg
    problems: list[str] = []
    report: StatusReport = {
        "memory_type": cfg.memory_type,
        "data_dir": str(cfg.data_dir),
        "embeddings": ctx.model_label(),
        "problems": problems,
    }
    report["retention"] = retention_health(ctx, None)
    if ctx.uses_postgres:
        pg: dict[str, Any] = {"url": ctx.pg_label(), "reachable": False}
        report["postgres"] = pg
        try:
            with ctx.pg(connect_timeout=5, create=False) as conn:
                pg["reachable"] = True
                pg.update(_pg_health(conn, ctx, problems))
                report["retention"] = retention_health(ctx, conn)
        except MemoryNotFoundError as exc:  # looking never creates the embedded server
            pg["exists"] = False
            problems.append(f"no memory yet: {exc}")
        except psycopg.OperationalError as exc:
            pg["error"] = safe_error(exc, ctx)
            problems.append("PostgreSQL is unreachable: check DATABASE_URL and the server")
        replica = replica_health(ctx, problems)
        if replica is not None:
            report["replica"] = replica
    if ctx.uses_local_file:
        report["local"] = _local_health(ctx, problems)
    report["healthy"] = not problems
    return report


def _pg_health(conn: Connection[DictRow], ctx: AdminContext, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    row = conn.execute(SERVER_VERSION).fetchone()
    out["server_version"] = row["server_version"] if row else None
    row = conn.execute(PGVECTOR_AVAILABLE).fetchone()
    out["pgvector_version"] = row["installed"] if row else None
    blocked = False  # `lghm setup` cannot succeed here: do not send the user to it
    if out["pgvector_version"] is None and ctx.model() is not None:
        if row is not None and row["creatable"]:
            problems.append("pgvector is not created in this database yet: run `lghm setup`")
        else:
            # `lghm setup` would fail: say why and that MEMORY_EMBEDDINGS=none works here.
            blocked = True
            problems.append(pgvector_missing_message(bool(row and row["available"])))
    migrations = pg_status(conn, ctx)
    out["migrations"] = migrations
    for st in migrations:
        if st["pending"] and not blocked:
            problems.append(f"{st['part']}: migrations {st['pending']} pending: run `lghm setup`")
    schemas = sorted({p.schema for p in pg_parts(ctx)})
    found = {(r["schema"], r["name"]): bool(r["valid"]) for r in conn.execute(INDEXES, (schemas,))}
    indexes = []
    for part in pg_parts(ctx):
        for m in part.migrations:
            if m.index is None:
                continue
            valid = found.get((part.schema, m.index))
            state = "missing" if valid is None else ("valid" if valid else "INVALID")
            indexes.append({"schema": part.schema, "index": m.index, "state": state})
            if not valid and not blocked:
                problems.append(f"index {part.schema}.{m.index} is {state}: run `lghm setup`")
    out["indexes"] = indexes
    return out


def _local_health(ctx: AdminContext, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"path": str(ctx.sqlite_path), "exists": ctx.sqlite_path.exists()}
    with ctx.local_read() as conn:
        out["migrations"] = local_status(conn, str(ctx.sqlite_path))
        if conn is None:
            problems.append(f"local file {ctx.sqlite_path} does not exist: run `lghm setup`")
            return out
        for m in out["migrations"]:
            if m["pending"]:
                problems.append(f"local {m['part']}: not set up: run `lghm setup`")
        if table_exists(conn, "lghm_outbox"):
            depth, oldest = conn.execute(LOCAL_OUTBOX).fetchone()
            out["outbox_depth"] = int(depth)
            out["outbox_oldest_age_seconds"] = (
                None if oldest is None else round(time.time() - float(oldest), 3)
            )
            dead = int(conn.execute(LOCAL_DEAD).fetchone()[0])
            out["dead_letters"] = dead
        if table_exists(conn, "lghm_thread_conflicts"):
            # Not unhealthy: the work is kept and PostgreSQL's state is consistent; worth a look.
            out["thread_conflicts"] = int(conn.execute(LOCAL_CONFLICTS).fetchone()[0])
            if dead:
                problems.append(
                    f"{dead} outbox entries failed permanently (lghm_outbox_dead); inspect them"
                )
    return out
