"""The local half of `forget_user`: the local store and cache, HybridSaver's (and langgraph's
SqliteSaver's) checkpoint tables, the outbox and dead letters, the local embedding cache."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from langgraph_hybrid_memory._quality_schema import erase_user_local
from langgraph_hybrid_memory.admin._context import table_exists
from langgraph_hybrid_memory.admin._forget_plan import USERS, Plan
from langgraph_hybrid_memory.checkpoint import base as cp

__all__ = ["local_apply", "local_others", "local_scan"]

_LOCAL_NS = "(namespace = ? OR (namespace >= ? AND namespace < ?))"
LOCAL_USER_THREADS = (
    "SELECT DISTINCT thread_id FROM lghm_checkpoints "
    "WHERE CAST(json_extract(metadata, '$.user_id') AS TEXT) = ?"
)
# langgraph's own SqliteSaver tables (MEMORY_TYPE=sqlite) keep metadata as a JSON blob.
SQLITE_SAVER_USER_THREADS = (
    "SELECT DISTINCT thread_id FROM checkpoints "
    "WHERE CAST(json_extract(CAST(metadata AS TEXT), '$.user_id') AS TEXT) = ?"
)
LOCAL_COUNT_ITEMS = "SELECT count(*) FROM lghm_store WHERE " + _LOCAL_NS
LOCAL_USER_VECTORS = (
    "SELECT v.text_hash FROM lghm_store_vectors AS v JOIN lghm_store AS s ON s.id = v.item_id "
    "WHERE " + _LOCAL_NS.replace("namespace", "s.namespace")
)
LOCAL_OTHER_HASHES = (
    "SELECT DISTINCT v.text_hash FROM lghm_store_vectors AS v JOIN lghm_store AS s "
    "ON s.id = v.item_id WHERE v.text_hash IN (SELECT value FROM json_each(?)) AND NOT "
    + _LOCAL_NS.replace("namespace", "s.namespace")
)
LOCAL_DELETE_VECTORS = (
    "DELETE FROM lghm_store_vectors WHERE item_id IN (SELECT id FROM lghm_store WHERE "
    + _LOCAL_NS
    + ")"
)
LOCAL_DELETE_FTS = (
    "DELETE FROM lghm_store_fts WHERE rowid IN (SELECT id FROM lghm_store WHERE " + _LOCAL_NS + ")"
)
LOCAL_DELETE_ITEMS = "DELETE FROM lghm_store WHERE " + _LOCAL_NS
LOCAL_THREAD_TABLES = ("lghm_checkpoints", "lghm_checkpoint_blobs", "lghm_checkpoint_writes")
# keep_latest marks (thread id, checkpoint id): not counted in the report, deleted with the thread.
LOCAL_RETENTION_MARKS = "lghm_checkpoint_retention"
# The lease's local records and the conflict branches of the same threads (checkpoint/_lease.py).
LOCAL_LEASE_TABLES = (
    "lghm_thread_epochs",
    "lghm_thread_conflicts",
    "lghm_conflict_checkpoints",
    "lghm_conflict_blobs",
    "lghm_conflict_writes",
)
SQLITE_SAVER_TABLES = ("checkpoints", "writes")
LOCAL_COUNT_THREAD_ROWS = (
    "SELECT count(*) FROM {table} WHERE thread_id IN (SELECT value FROM json_each(?))"
)
LOCAL_DELETE_THREAD_ROWS = "DELETE FROM {table} WHERE thread_id IN (SELECT value FROM json_each(?))"
LOCAL_OUTBOX_ROWS = "SELECT seq, stream, kind, payload FROM {table}"
LOCAL_DELETE_OUTBOX = "DELETE FROM {table} WHERE seq IN (SELECT value FROM json_each(?))"
LOCAL_COUNT_CACHE = (
    "SELECT count(*) FROM lghm_embedding_cache WHERE text_hash IN (SELECT value FROM json_each(?))"
)
LOCAL_DELETE_CACHE = (
    "DELETE FROM lghm_embedding_cache WHERE text_hash IN (SELECT value FROM json_each(?))"
)


def _local_range(user: str) -> tuple[str, str, str]:
    """``lghm_store.namespace`` joins labels with ``.``: the user's namespace and everything
    under it, whole labels only (``users.john`` never matches ``users.john_doe``)."""
    base = f"{USERS}.{user}"
    return base, base + ".", base + "/"


def _thread_sql(template: str, table: str) -> str:
    # Table names come from the fixed tuples above, never from input.
    return template.replace("{table}", table)


def _payload_namespace(payload: Any) -> list[str] | None:
    if not isinstance(payload, dict):
        return None
    for key in ("namespace", "ns"):
        ns = payload.get(key)
        if isinstance(ns, list) and all(isinstance(x, str) for x in ns):
            return ns
        if isinstance(ns, str):
            return ns.split(".")
    return None


def _user_store_key(plan: Plan, kind: str, payload_text: str) -> tuple[tuple[str, ...], str] | None:
    """(namespace, key) of a store outbox entry (HybridStore: ``{"ns": [...], "key": ...}``)
    when it is this user's, else None."""
    if not kind.startswith("store."):
        return None
    try:
        payload = json.loads(payload_text)
    except ValueError:
        return None
    ns = _payload_namespace(payload)
    if ns is None or ns[:2] != [USERS, plan.user]:
        return None
    return tuple(ns), str(payload.get("key", ""))


def _outbox_matches(plan: Plan, stream: str, kind: str, payload_text: str) -> bool:
    """Whether an outbox entry carries this user's data."""
    if stream in {cp.stream_of(t) for t in plan.threads}:
        return True
    return _user_store_key(plan, kind, payload_text) is not None


def local_scan(conn: sqlite3.Connection, plan: Plan) -> None:
    rng = _local_range(plan.user)
    if table_exists(conn, "lghm_checkpoints"):
        plan.threads |= {r[0] for r in conn.execute(LOCAL_USER_THREADS, (plan.user,))}
    if table_exists(conn, "checkpoints") and table_exists(conn, "writes"):
        plan.sqlite_saver_threads = {
            r[0] for r in conn.execute(SQLITE_SAVER_USER_THREADS, (plan.user,))
        }
    if table_exists(conn, "lghm_outbox"):
        for _seq, _stream, kind, payload in conn.execute(
            _thread_sql(LOCAL_OUTBOX_ROWS, "lghm_outbox")
        ):
            key = _user_store_key(plan, kind, payload)
            if key is not None:
                plan.pending_store_keys.add(key)
    if table_exists(conn, "lghm_store"):
        plan.report["local"]["items"] = int(conn.execute(LOCAL_COUNT_ITEMS, rng).fetchone()[0])
        hashes = [r[0] for r in conn.execute(LOCAL_USER_VECTORS, rng)]
        plan.report["local"]["vectors"] = len(hashes)
        plan.user_hashes |= set(hashes)


def local_others(conn: sqlite3.Connection, plan: Plan) -> None:
    if plan.user_hashes and table_exists(conn, "lghm_store_vectors"):
        rows = conn.execute(
            LOCAL_OTHER_HASHES, (json.dumps(sorted(plan.user_hashes)), *_local_range(plan.user))
        )
        plan.other_hashes |= {r[0] for r in rows}


def local_apply(conn: sqlite3.Connection, plan: Plan, dry: bool) -> None:
    rep, rng = plan.report["local"], _local_range(plan.user)
    threads = json.dumps(sorted(plan.threads))
    saver_threads = json.dumps(sorted(plan.sqlite_saver_threads | plan.threads))
    counts: dict[str, tuple[str, str]] = {}
    if table_exists(conn, "lghm_checkpoints"):
        rep["threads"] = len(plan.threads)
        for table in LOCAL_THREAD_TABLES:
            counts[table] = (table, threads)
        for table in LOCAL_LEASE_TABLES:
            if table_exists(conn, table):
                counts[table] = (table, threads)
    if plan.sqlite_saver_threads or (
        table_exists(conn, "checkpoints") and table_exists(conn, "writes")
    ):
        for table in SQLITE_SAVER_TABLES:
            counts[f"sqlite_saver_{table}"] = (table, saver_threads)
    for label, (table, param) in counts.items():
        rep[label] = int(
            conn.execute(
                _thread_sql(LOCAL_COUNT_THREAD_ROWS, table),
                (param,),
            ).fetchone()[0]
        )
    for table in ("lghm_outbox", "lghm_outbox_dead"):
        if table_exists(conn, table):
            seqs = [
                int(seq)
                for seq, stream, kind, payload in conn.execute(
                    _thread_sql(LOCAL_OUTBOX_ROWS, table)
                )
                if _outbox_matches(plan, stream, kind, payload)
            ]
            plan.outbox_seqs[table] = seqs
            rep[table] = len(seqs)
    orphans = json.dumps(plan.orphan_hashes)
    has_cache = table_exists(conn, "lghm_embedding_cache")
    if has_cache:
        rep["embedding_cache"] = int(conn.execute(LOCAL_COUNT_CACHE, (orphans,)).fetchone()[0])
    # Duplicates merged by dedup, access counts, query log.
    rep.update(erase_user_local(conn, rng, dry_run=dry))
    if dry:
        return
    for table, param in counts.values():
        conn.execute(
            _thread_sql(LOCAL_DELETE_THREAD_ROWS, table),
            (param,),
        )
    if table_exists(conn, LOCAL_RETENTION_MARKS):
        conn.execute(_thread_sql(LOCAL_DELETE_THREAD_ROWS, LOCAL_RETENTION_MARKS), (threads,))
    for table, seqs in plan.outbox_seqs.items():
        conn.execute(_thread_sql(LOCAL_DELETE_OUTBOX, table), (json.dumps(seqs),))
    if table_exists(conn, "lghm_store"):
        conn.execute(LOCAL_DELETE_VECTORS, rng)
        conn.execute(LOCAL_DELETE_FTS, rng)
        conn.execute(LOCAL_DELETE_ITEMS, rng)
    if has_cache:
        conn.execute(LOCAL_DELETE_CACHE, (orphans,))
