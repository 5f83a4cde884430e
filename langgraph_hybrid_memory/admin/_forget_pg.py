"""The PostgreSQL half of `forget_user`: find the user's rows, then delete them in one
transaction (with checkpoint and store tombstones, so a late flush cannot restore them)."""

from __future__ import annotations

import time
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import DictRow

from langgraph_hybrid_memory._quality_schema import erase_user_pg
from langgraph_hybrid_memory.admin._context import AdminContext
from langgraph_hybrid_memory.admin._forget_plan import USERS, Plan, value_hashes
from langgraph_hybrid_memory.checkpoint import base as cp
from langgraph_hybrid_memory.store._locks import LOCK_STORE_EXCLUSIVE, store_lock_params
from langgraph_hybrid_memory.store._schema import DEFAULT_SCOPE_DEPTH
from langgraph_hybrid_memory.store._sqlfilter import scope_of

__all__ = ["pg_apply", "pg_others", "pg_present", "pg_scan"]

PG_TABLE_PRESENT = "SELECT to_regclass(%s) IS NOT NULL AS present"
PG_HAS_COLUMN = (
    "SELECT 1 FROM information_schema.columns "
    "WHERE table_schema = %s AND table_name = %s AND column_name = %s"
)
PG_USER_THREADS = "SELECT DISTINCT thread_id FROM checkpoints WHERE metadata ->> 'user_id' = %s"
PG_COUNT_THREAD_ROWS = {
    "checkpoints": "SELECT count(*) AS n FROM checkpoints WHERE thread_id = ANY(%s)",
    "checkpoint_blobs": "SELECT count(*) AS n FROM checkpoint_blobs WHERE thread_id = ANY(%s)",
    "checkpoint_writes": "SELECT count(*) AS n FROM checkpoint_writes WHERE thread_id = ANY(%s)",
}
PG_DELETE_THREADS = (
    "DELETE FROM checkpoint_writes WHERE thread_id = ANY(%s)",
    "DELETE FROM checkpoint_blobs WHERE thread_id = ANY(%s)",
    "DELETE FROM checkpoints WHERE thread_id = ANY(%s)",
)
# keep_latest marks (thread id, checkpoint id): deleted with the thread, not reported.
PG_DELETE_RETENTION_MARKS = "DELETE FROM lghm_checkpoint_retention WHERE thread_id = ANY(%s)"
PG_DELETE_LEASES = "DELETE FROM lghm_thread_leases WHERE thread_id = ANY(%s)"
PG_THREAD_TOMBSTONE = cp.PG_UPSERT_TOMBSTONE  # (thread, '', '', at) = the whole thread
_USER_COND = "namespace[1] = %s AND namespace[2] = %s"


def _pg_sql(template: str, schema: str) -> sql.Composed:
    # The template's only identifier is the schema; everything else is a placeholder.
    return sql.SQL(template).format(s=sql.Identifier(schema))


PG_COUNT_ITEMS = "SELECT count(*) AS n FROM {s}.items WHERE " + _USER_COND
PG_COUNT_VECTORS = "SELECT count(*) AS n FROM {s}.vectors WHERE " + _USER_COND
PG_USER_HASHES = (
    "SELECT DISTINCT text_hash FROM {s}.vectors WHERE text_hash IS NOT NULL AND " + _USER_COND
)
# Vector rows written before the text_hash migration have NULL there: their items' values are
# hashed instead (as the default whole-value index embeds them).
PG_ANY_NULL_HASH = "SELECT EXISTS (SELECT 1 FROM {s}.vectors WHERE text_hash IS NULL) AS any"
_NULL_HASH_VECTORS = (
    " AND EXISTS (SELECT 1 FROM {s}.vectors v WHERE v.scope = i.scope "
    "AND v.namespace = i.namespace AND v.key = i.key AND v.text_hash IS NULL)"
)
_USER_COND_I = "i.namespace[1] = %s AND i.namespace[2] = %s"
PG_USER_NULL_HASH_VALUES = (
    "SELECT i.value FROM {s}.items i WHERE " + _USER_COND_I + _NULL_HASH_VECTORS
)
PG_OTHER_NULL_HASH_VALUES = (
    "SELECT i.value FROM {s}.items i WHERE (" + _USER_COND_I + ") IS NOT TRUE" + _NULL_HASH_VECTORS
)
PG_OTHER_HASHES = (
    "SELECT DISTINCT text_hash FROM {s}.vectors WHERE text_hash = ANY(%s) AND ("
    + _USER_COND
    + ") IS NOT TRUE"
)
PG_USER_VALUES = "SELECT value FROM {s}.items WHERE " + _USER_COND
# IS NOT TRUE: a one-label namespace has no namespace[2] (NULL) and is someone else's.
PG_OTHER_VALUES = "SELECT value FROM {s}.items WHERE (" + _USER_COND + ") IS NOT TRUE"
PG_DELETE_ITEMS = "DELETE FROM {s}.items WHERE " + _USER_COND
PG_USER_ITEM_KEYS = "SELECT scope, namespace, key FROM {s}.items WHERE " + _USER_COND
PG_SCOPE_DEPTH = "SELECT value FROM {s}.store_settings WHERE name = 'scope_depth'"
# HybridStore's tombstones (`hybridstore.base.TOMBSTONES_TABLE` in the store schema): a replayed
# put older than its key's tombstone is refused, so a pending flush from any machine cannot
# restore it.
PG_UPSERT_STORE_TOMBSTONES = (
    "INSERT INTO {s}.store_tombstones AS t (scope, namespace, key, deleted_at) "
    "SELECT q.scope, string_to_array(q.ns, '.')::text[], q.key, %s "
    "FROM unnest(%s::text[], %s::text[], %s::text[]) AS q(scope, ns, key) "
    "ON CONFLICT (scope, namespace, key) DO UPDATE "
    "SET deleted_at = greatest(t.deleted_at, excluded.deleted_at)"
)
PG_COUNT_CACHE = "SELECT count(*) AS n FROM {s}.embedding_cache WHERE text_hash = ANY(%s)"
PG_DELETE_CACHE = "DELETE FROM {s}.embedding_cache WHERE text_hash = ANY(%s)"


def pg_present(conn: Connection[DictRow], name: str) -> bool:
    row = conn.execute(PG_TABLE_PRESENT, (name,)).fetchone()
    return bool(row and row["present"])


def _n(conn: Connection[DictRow], query: Any, params: Any) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row["n"]) if row else 0


def pg_scan(conn: Connection[DictRow], ctx: AdminContext, plan: Plan) -> dict[str, bool]:
    s, ids = ctx.schema, (USERS, plan.user)
    present = {
        "items": pg_present(conn, f"{s}.items"),
        "vectors": pg_present(conn, f"{s}.vectors"),
        "checkpoints": pg_present(conn, "public.checkpoints"),
        "cache": pg_present(conn, f"{s}.embedding_cache"),
        "tombstones": pg_present(conn, "public.lghm_checkpoint_tombstones"),
        "leases": pg_present(conn, "public.lghm_thread_leases"),
        "store_tombstones": pg_present(conn, f"{s}.store_tombstones"),
        "settings": pg_present(conn, f"{s}.store_settings"),
    }
    present["text_hash"] = present["vectors"] and (
        conn.execute(PG_HAS_COLUMN, (s, "vectors", "text_hash")).fetchone() is not None
    )
    present["null_hashes"] = present["vectors"] and (
        not present["text_hash"]
        or bool(conn.execute(_pg_sql(PG_ANY_NULL_HASH, s)).fetchone()["any"])  # type: ignore[index]
    )
    if present["checkpoints"]:
        plan.threads |= {r["thread_id"] for r in conn.execute(PG_USER_THREADS, (plan.user,))}
    if present["items"]:
        plan.report["postgres"]["items"] = _n(conn, _pg_sql(PG_COUNT_ITEMS, s), ids)
    if present["vectors"]:
        plan.report["postgres"]["vectors"] = _n(conn, _pg_sql(PG_COUNT_VECTORS, s), ids)
        if present["text_hash"]:
            plan.user_hashes |= {
                r["text_hash"] for r in conn.execute(_pg_sql(PG_USER_HASHES, s), ids)
            }
            if present["null_hashes"]:
                # Rows from before the text_hash migration: hash the values instead.
                plan.user_hashes |= value_hashes(
                    r["value"] for r in conn.execute(_pg_sql(PG_USER_NULL_HASH_VALUES, s), ids)
                )
        else:
            # Older vectors tables have no text_hash: hash the texts the store embedded.
            plan.user_hashes |= value_hashes(
                r["value"] for r in conn.execute(_pg_sql(PG_USER_VALUES, s), ids)
            )
    return present


def pg_others(
    conn: Connection[DictRow], ctx: AdminContext, plan: Plan, present: dict[str, bool]
) -> None:
    if not plan.user_hashes or not present["vectors"]:
        return
    s, ids = ctx.schema, (USERS, plan.user)
    if present["text_hash"]:
        plan.other_hashes |= {
            r["text_hash"]
            for r in conn.execute(_pg_sql(PG_OTHER_HASHES, s), (sorted(plan.user_hashes), *ids))
        }
    if present["null_hashes"]:
        # Items whose vectors have no text_hash (no column, or rows from before it): hash their
        # values. A server-side cursor (in a read transaction) streams them instead of loading
        # all.
        query = PG_OTHER_NULL_HASH_VALUES if present["text_hash"] else PG_OTHER_VALUES
        with conn.transaction(), conn.cursor(name="lghm_forget_scan") as cur:
            cur.execute(_pg_sql(query, s), ids)
            plan.other_hashes |= value_hashes(r["value"] for r in cur) & plan.user_hashes


def pg_apply(
    conn: Connection[DictRow], ctx: AdminContext, plan: Plan, present: dict[str, bool], dry: bool
) -> None:
    s, ids, rep = ctx.schema, (USERS, plan.user), plan.report["postgres"]
    threads = sorted(plan.threads)
    if present["checkpoints"]:
        rep["threads"] = len(threads)
        for table, query in PG_COUNT_THREAD_ROWS.items():
            rep[table] = _n(conn, query, (threads,))
    orphans = plan.orphan_hashes
    if present["cache"]:
        rep["embedding_cache"] = _n(conn, _pg_sql(PG_COUNT_CACHE, s), (orphans,))
    if dry:
        rep.update(erase_user_pg(conn, s, plan.user, dry_run=True))
        return
    now = time.time()
    with conn.transaction():
        if present["items"]:
            # First, the store lock exclusive (`store._locks`): no batch write holds a key or
            # row lock of the store meanwhile, so deleting the user's rows (one lock each,
            # in scan order) cannot close a cycle with a concurrent write of the same keys.
            # Before it, the tables (items, then vectors) in ROW EXCLUSIVE mode: every writer
            # of the store (a batch write's statement, bulk_put's index rebuild) holds its table
            # locks before it waits for the store lock, so all take the two in one order.
            tables = [sql.Identifier(s, "items")]
            if present["vectors"]:
                tables.append(sql.Identifier(s, "vectors"))
            conn.execute(
                sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(sql.SQL(", ").join(tables))
            )
            conn.execute(LOCK_STORE_EXCLUSIVE, store_lock_params(s))
        # Duplicates merged by dedup (they hold the user's memories), access counts, query log.
        rep.update(erase_user_pg(conn, s, plan.user, dry_run=False))
        if present["checkpoints"]:
            for stmt in PG_DELETE_THREADS:
                conn.execute(stmt, (threads,))
        if pg_present(conn, "public.lghm_checkpoint_retention"):
            conn.execute(PG_DELETE_RETENTION_MARKS, (threads,))
        if present["leases"]:
            # The thread ids name the user; a holder re-takes a fresh lease (epoch 1).
            conn.execute(PG_DELETE_LEASES, (threads,))
        if present["tombstones"]:
            for t in threads:
                conn.execute(PG_THREAD_TOMBSTONE, (t, "", "", now))
            rep["tombstones_written"] = len(threads) if present["tombstones"] else 0
        if present["store_tombstones"]:
            keys = _store_tombstone_keys(conn, ctx, plan, present)
            conn.execute(
                _pg_sql(PG_UPSERT_STORE_TOMBSTONES, s),
                (now, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
            )
            rep["store_tombstones_written"] = len(keys)
        if present["items"]:
            conn.execute(_pg_sql(PG_DELETE_ITEMS, s), ids)
        if present["cache"]:
            conn.execute(_pg_sql(PG_DELETE_CACHE, s), (orphans,))


def _store_tombstone_keys(
    conn: Connection[DictRow], ctx: AdminContext, plan: Plan, present: dict[str, bool]
) -> list[tuple[str, str, str]]:
    """(scope, dotted namespace, key) of every item to tombstone: the user's rows in PostgreSQL
    and the keys of this machine's pending puts for the user."""
    depth = DEFAULT_SCOPE_DEPTH
    if present["settings"]:
        row = conn.execute(_pg_sql(PG_SCOPE_DEPTH, ctx.schema)).fetchone()
        if row is not None:
            depth = int(row["value"])
    keys: set[tuple[str, str, str]] = set()
    if present["items"]:
        for r in conn.execute(_pg_sql(PG_USER_ITEM_KEYS, ctx.schema), (USERS, plan.user)):
            keys.add((r["scope"], ".".join(r["namespace"]), r["key"]))
    for ns, key in plan.pending_store_keys:
        keys.add((scope_of(ns, depth), ".".join(ns), key))
    return sorted(keys)
