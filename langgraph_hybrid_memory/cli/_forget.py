"""`lghm forget`, `lghm prune`, `lghm sweep`: deleting on both tiers.

``forget --user ID`` erases one user: store items under ``("users", ID)`` (PostgreSQL and the local
store/cache tables), the checkpoints of the threads whose metadata says ``user_id == ID`` (both
tiers, with thread-wide tombstones in PostgreSQL so a pending flush from any machine cannot bring
them back), this file's pending and dead outbox entries for them, and the embedding-cache rows
whose text hash no other item references. Matching is exact, label by label: never ``LIKE``, so
``john``, ``john%`` and ``john_doe`` are three different users.

Deletes run as SQL on both tiers (the same statements `HybridSaver.delete_thread` and ``prune``
apply), PostgreSQL first in one transaction, then the local file in one transaction: if
PostgreSQL fails nothing was deleted, and a re-run finishes an interrupted one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Annotated, Any

import psycopg
import typer
from psycopg import Connection, sql
from psycopg.rows import DictRow

from langgraph_hybrid_memory._embedding_cache import text_hash
from langgraph_hybrid_memory._quality_schema import erase_user_local, erase_user_pg
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.checkpoint import base as cp
from langgraph_hybrid_memory.cli._admin import _safe
from langgraph_hybrid_memory.cli._context import (
    CliContext,
    config_or_fail,
    fail,
    get_context,
    print_json,
    print_table,
    table_exists,
)
from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.store._config import resolve_index
from langgraph_hybrid_memory.store._schema import DEFAULT_SCOPE_DEPTH
from langgraph_hybrid_memory.store._sqlfilter import scope_of
from langgraph_hybrid_memory.store._values import indexed_texts

JsonOption = Annotated[bool, typer.Option("--json", help="print the report as JSON")]

USERS = "users"

# --- PostgreSQL statements --------------------------------------------------------------------

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

# --- local statements -------------------------------------------------------------------------

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


# --- forget -----------------------------------------------------------------------------------


def _value_hashes(values: Iterable[Any]) -> set[str]:
    """Text hashes a store with the default index (whole value) would have embedded."""
    idx = resolve_index({"search_mode": "keyword"}, None)
    out: set[str] = set()
    for value in values:
        texts, _ = indexed_texts(idx, value, None)
        out.update(text_hash(t) for _, t in texts)
    return out


def _pg_present(conn: Connection[DictRow], name: str) -> bool:
    row = conn.execute(PG_TABLE_PRESENT, (name,)).fetchone()
    return bool(row and row["present"])


def _n(conn: Connection[DictRow], query: Any, params: Any) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row["n"]) if row else 0


class _Plan:
    """What `forget` found (counts) and needs to delete."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.threads: set[str] = set()
        self.user_hashes: set[str] = set()
        self.other_hashes: set[str] = set()
        self.report: dict[str, dict[str, int]] = {"postgres": {}, "local": {}}
        self.outbox_seqs: dict[str, list[int]] = {}
        self.sqlite_saver_threads: set[str] = set()
        self.pending_store_keys: set[tuple[tuple[str, ...], str]] = set()

    @property
    def orphan_hashes(self) -> list[str]:
        return sorted(self.user_hashes - self.other_hashes)


def _pg_scan(conn: Connection[DictRow], cli: CliContext, plan: _Plan) -> dict[str, bool]:
    s, ids = cli.schema, (USERS, plan.user)
    present = {
        "items": _pg_present(conn, f"{s}.items"),
        "vectors": _pg_present(conn, f"{s}.vectors"),
        "checkpoints": _pg_present(conn, "public.checkpoints"),
        "cache": _pg_present(conn, f"{s}.embedding_cache"),
        "tombstones": _pg_present(conn, "public.lghm_checkpoint_tombstones"),
        "store_tombstones": _pg_present(conn, f"{s}.store_tombstones"),
        "settings": _pg_present(conn, f"{s}.store_settings"),
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
                plan.user_hashes |= _value_hashes(
                    r["value"] for r in conn.execute(_pg_sql(PG_USER_NULL_HASH_VALUES, s), ids)
                )
        else:
            # Older vectors tables have no text_hash: hash the texts the store embedded.
            plan.user_hashes |= _value_hashes(
                r["value"] for r in conn.execute(_pg_sql(PG_USER_VALUES, s), ids)
            )
    return present


def _pg_others(
    conn: Connection[DictRow], cli: CliContext, plan: _Plan, present: dict[str, bool]
) -> None:
    if not plan.user_hashes or not present["vectors"]:
        return
    s, ids = cli.schema, (USERS, plan.user)
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
            plan.other_hashes |= _value_hashes(r["value"] for r in cur) & plan.user_hashes


def _pg_apply(
    conn: Connection[DictRow], cli: CliContext, plan: _Plan, present: dict[str, bool], dry: bool
) -> None:
    s, ids, rep = cli.schema, (USERS, plan.user), plan.report["postgres"]
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
        # Duplicates merged by dedup (they hold the user's memories), access counts, query log.
        rep.update(erase_user_pg(conn, s, plan.user, dry_run=False))
        if present["checkpoints"]:
            for stmt in PG_DELETE_THREADS:
                conn.execute(stmt, (threads,))
        if present["tombstones"]:
            for t in threads:
                conn.execute(PG_THREAD_TOMBSTONE, (t, "", "", now))
            rep["tombstones_written"] = len(threads) if present["tombstones"] else 0
        if present["store_tombstones"]:
            keys = _store_tombstone_keys(conn, cli, plan, present)
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
    conn: Connection[DictRow], cli: CliContext, plan: _Plan, present: dict[str, bool]
) -> list[tuple[str, str, str]]:
    """(scope, dotted namespace, key) of every item to tombstone: the user's rows in PostgreSQL
    and the keys of this machine's pending puts for the user."""
    depth = DEFAULT_SCOPE_DEPTH
    if present["settings"]:
        row = conn.execute(_pg_sql(PG_SCOPE_DEPTH, cli.schema)).fetchone()
        if row is not None:
            depth = int(row["value"])
    keys: set[tuple[str, str, str]] = set()
    if present["items"]:
        for r in conn.execute(_pg_sql(PG_USER_ITEM_KEYS, cli.schema), (USERS, plan.user)):
            keys.add((r["scope"], ".".join(r["namespace"]), r["key"]))
    for ns, key in plan.pending_store_keys:
        keys.add((scope_of(ns, depth), ".".join(ns), key))
    return sorted(keys)


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


def _user_store_key(
    plan: _Plan, kind: str, payload_text: str
) -> tuple[tuple[str, ...], str] | None:
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


def _outbox_matches(plan: _Plan, stream: str, kind: str, payload_text: str) -> bool:
    """Whether an outbox entry carries this user's data."""
    if stream in {cp.stream_of(t) for t in plan.threads}:
        return True
    return _user_store_key(plan, kind, payload_text) is not None


def _local_scan(conn: sqlite3.Connection, plan: _Plan) -> None:
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


def _local_others(conn: sqlite3.Connection, plan: _Plan) -> None:
    if plan.user_hashes and table_exists(conn, "lghm_store_vectors"):
        rows = conn.execute(
            LOCAL_OTHER_HASHES, (json.dumps(sorted(plan.user_hashes)), *_local_range(plan.user))
        )
        plan.other_hashes |= {r[0] for r in rows}


def _local_apply(conn: sqlite3.Connection, plan: _Plan, dry: bool) -> None:
    rep, rng = plan.report["local"], _local_range(plan.user)
    threads = json.dumps(sorted(plan.threads))
    saver_threads = json.dumps(sorted(plan.sqlite_saver_threads | plan.threads))
    counts: dict[str, tuple[str, str]] = {}
    if table_exists(conn, "lghm_checkpoints"):
        rep["threads"] = len(plan.threads)
        for table in LOCAL_THREAD_TABLES:
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
    rep.update(erase_user_local(conn, rng, dry_run=dry))
    if dry:
        return
    for table, param in counts.values():
        conn.execute(
            _thread_sql(LOCAL_DELETE_THREAD_ROWS, table),
            (param,),
        )
    for table, seqs in plan.outbox_seqs.items():
        conn.execute(_thread_sql(LOCAL_DELETE_OUTBOX, table), (json.dumps(seqs),))
    if table_exists(conn, "lghm_store"):
        conn.execute(LOCAL_DELETE_VECTORS, rng)
        conn.execute(LOCAL_DELETE_FTS, rng)
        conn.execute(LOCAL_DELETE_ITEMS, rng)
    if has_cache:
        conn.execute(LOCAL_DELETE_CACHE, (orphans,))


def forget_user(cli: CliContext, user: str, *, dry_run: bool) -> dict[str, Any]:
    """Erase (or with `dry_run`, count) everything of `user`; returns the report."""
    if not user or "." in user:
        raise ConfigError(
            f"--user {user!r} is not a user id: it must be non-empty and contain no '.' "
            "(namespace labels cannot)"
        )
    plan = _Plan(user)
    local_exists = cli.uses_local_file and cli.sqlite_path.exists()
    db = LocalDB.open(cli.sqlite_path) if local_exists else None
    try:
        present: dict[str, bool] = {}
        conn_cm = cli.pg() if cli.uses_postgres else None
        pg_conn = conn_cm.__enter__() if conn_cm is not None else None
        try:
            # Read everything first: the threads and hashes of both tiers decide both deletes.
            if pg_conn is not None:
                present = _pg_scan(pg_conn, cli, plan)
            if db is not None:
                with db.read() as lconn:
                    _local_scan(lconn, plan)
                    _local_others(lconn, plan)
            if pg_conn is not None:
                _pg_others(pg_conn, cli, plan, present)
                _pg_apply(pg_conn, cli, plan, present, dry_run)
        finally:
            if conn_cm is not None:
                conn_cm.__exit__(None, None, None)
        if db is not None:
            if dry_run:
                with db.read() as lconn:
                    _local_apply(lconn, plan, True)
            else:
                with db.transaction() as lconn:
                    _local_apply(lconn, plan, False)
    finally:
        if db is not None:
            db.close()
    return {
        "user": user,
        "dry_run": dry_run,
        "threads": sorted(plan.threads | plan.sqlite_saver_threads),
        "removed" if not dry_run else "would_remove": {
            tier: counts for tier, counts in plan.report.items() if counts
        },
    }


def forget(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="the user id to erase (exact match)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only; delete nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Erase one user everywhere (both tiers) and print what was removed.

    Removes the memories under ('users', ID), the threads whose checkpoint metadata has
    user_id == ID (with tombstones, so a pending flush cannot restore them), this machine's
    outbox entries for them, and the embedding-cache rows only that user referenced. Ids match
    exactly: john, john% and john_doe are three users.
    """
    cli = get_context(ctx)
    config_or_fail(cli)
    try:
        report = forget_user(cli, user, dry_run=dry_run)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except (psycopg.Error, sqlite3.Error) as exc:
        raise fail(_safe(exc, cli)) from None
    if as_json:
        print_json(report)
        return
    key = "would_remove" if dry_run else "removed"
    rows = [[tier, what, n] for tier, counts in report[key].items() for what, n in counts.items()]
    print_table(
        f"{'would remove' if dry_run else 'removed'} for user {user!r} "
        f"({len(report['threads'])} threads)",
        ["tier", "what", "rows"],
        rows,
    )


# --- prune ------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in ``30d``, ``12h``, ``90m``, ``45s``, ``2w``.

    Examples:
        >>> parse_duration("30d")
        2592000.0
        >>> parse_duration("1.5h")
        5400.0
    """
    match = _DURATION.match(text)
    if match is None:
        raise typer.BadParameter(
            f"{text!r} is not a duration; use a number and a unit: 45s, 90m, 12h, 30d, 2w",
            param_hint="--older-than",
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


PG_CHECKPOINT_HEADS = """
SELECT thread_id, checkpoint_ns, checkpoint_id, checkpoint ->> 'ts' AS ts FROM checkpoints
WHERE (%s::text[] IS NULL OR thread_id = ANY(%s::text[]))
"""
LOCAL_CHECKPOINT_HEADS = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id, json_extract(checkpoint, '$.ts') "
    "FROM lghm_checkpoints"
)


def _ts(value: Any) -> float | None:
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def plan_checkpoint_prune(
    rows: Iterable[tuple[str, str, str, Any]],
    *,
    keep_last: int | None,
    cutoff: float | None,
    threads: set[str] | None,
) -> list[tuple[str, str, str]]:
    """The checkpoints to delete: per (thread, namespace), those beyond the newest `keep_last`
    (checkpoint ids sort by time) and, with `cutoff`, written before it.

    Examples:
        >>> rows = [("t", "", "c1", None), ("t", "", "c2", None), ("t", "", "c3", None)]
        >>> plan_checkpoint_prune(rows, keep_last=1, cutoff=None, threads=None)
        [('t', '', 'c1'), ('t', '', 'c2')]
    """
    groups: dict[tuple[str, str], list[tuple[str, float | None]]] = defaultdict(list)
    for t, ns, cid, ts in rows:
        if threads is None or t in threads:
            groups[(t, ns)].append((cid, _ts(ts)))
    doomed = []
    for (t, ns), items in groups.items():
        items.sort(reverse=True)
        for cid, ts in items[keep_last or 0 :]:
            if cutoff is None or (ts is not None and ts < cutoff):
                doomed.append((t, ns, cid))
    return sorted(doomed)


def prune(
    ctx: typer.Context,
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", min=1, help="keep the newest N per thread")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="only checkpoints older than e.g. 30d")
    ] = None,
    thread: Annotated[
        list[str] | None, typer.Option("--thread", help="only this thread (repeatable)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="delete (default: dry run)")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete old checkpoints on both tiers. A dry run unless --yes.

    --keep-last N keeps each thread's newest N checkpoints (per namespace); --older-than limits
    deletion to checkpoints written before that age (alone, it deletes every older one).
    PostgreSQL gets per-checkpoint tombstones so a late flush cannot restore them.
    """
    cli = get_context(ctx)
    config_or_fail(cli)
    if keep_last is None and older_than is None:
        raise fail("say what to prune: --keep-last N and/or --older-than DURATION")
    cutoff = None if older_than is None else time.time() - parse_duration(older_than)
    threads = set(thread) if thread else None
    report: dict[str, Any] = {"dry_run": not yes}
    try:
        if cli.uses_postgres:
            with cli.pg() as conn:
                report["postgres"] = _prune_pg(conn, keep_last, cutoff, threads, apply=yes)
        if cli.uses_local_file and cli.sqlite_path.exists():
            report["local"] = _prune_local(cli, keep_last, cutoff, threads, apply=yes)
    except (psycopg.Error, sqlite3.Error) as exc:
        raise fail(_safe(exc, cli)) from None
    _print_counts(report, "prune", as_json)


def _print_counts(report: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    verb = "would delete" if report.get("dry_run") else "deleted"
    rows = [
        [tier, k, v]
        for tier, counts in report.items()
        if isinstance(counts, dict)
        for k, v in counts.items()
    ]
    print_table(f"{what}: {verb}", ["tier", "what", "count"], rows)
    if report.get("dry_run"):
        typer.echo("dry run: nothing was deleted; add --yes to apply")


def _prune_pg(
    conn: Connection[DictRow],
    keep_last: int | None,
    cutoff: float | None,
    threads: set[str] | None,
    *,
    apply: bool,
) -> dict[str, int]:
    if not _pg_present(conn, "public.checkpoints"):
        return {"checkpoints": 0, "threads": 0}
    ids = sorted(threads) if threads is not None else None
    rows = [
        (r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"], r["ts"])
        for r in conn.execute(PG_CHECKPOINT_HEADS, (ids, ids))
    ]
    doomed = plan_checkpoint_prune(rows, keep_last=keep_last, cutoff=cutoff, threads=threads)
    out = {"checkpoints": len(doomed), "threads": len({d[0] for d in doomed})}
    if not apply or not doomed:
        return out
    tombstones = _pg_present(conn, "public.lghm_checkpoint_tombstones")
    now = time.time()
    by_thread: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for t, ns, cid in doomed:
        by_thread[t].append((ns, cid))
    with conn.transaction():
        for t, pairs in sorted(by_thread.items()):
            for ns, cids in sorted(cp.group_by_ns(pairs).items()):
                conn.execute(cp.PG_DELETE_WRITES, (t, ns, cids))
                conn.execute(cp.PG_DELETE_CHECKPOINTS, (t, ns, cids))
                if tombstones:
                    for cid in cids:
                        conn.execute(cp.PG_UPSERT_TOMBSTONE, (t, ns, cid, now))
            conn.execute(cp.PG_CLEAR_DANGLING_PARENTS, (t,))
            conn.execute(cp.PG_DELETE_GARBAGE_BLOBS, (t,))
    return out


def _prune_local(
    cli: CliContext,
    keep_last: int | None,
    cutoff: float | None,
    threads: set[str] | None,
    *,
    apply: bool,
) -> dict[str, int]:
    db = LocalDB.open(cli.sqlite_path)
    try:
        with db.read() as conn:
            if not table_exists(conn, "lghm_checkpoints"):
                return {"checkpoints": 0, "threads": 0}
            rows = [tuple(r) for r in conn.execute(LOCAL_CHECKPOINT_HEADS)]
        doomed = plan_checkpoint_prune(
            rows,
            keep_last=keep_last,
            cutoff=cutoff,
            threads=threads,
        )
        out = {"checkpoints": len(doomed), "threads": len({d[0] for d in doomed})}
        if apply and doomed:
            with db.transaction() as conn:
                keys = cp.keys_json(doomed)
                conn.execute(cp.LOCAL_DELETE_WRITES_BY_KEYS, (keys,))
                conn.execute(cp.LOCAL_DELETE_CHECKPOINTS_BY_KEYS, (keys,))
                for t in sorted({d[0] for d in doomed}):
                    conn.execute(cp.LOCAL_CLEAR_DANGLING_PARENTS, (t,))
                    conn.execute(cp.LOCAL_DELETE_GARBAGE_BLOBS, (t,))
        return out
    finally:
        db.close()


# --- sweep ------------------------------------------------------------------------------------

PG_COUNT_EXPIRED = (
    "SELECT count(*) AS n FROM {s}.items WHERE expires_at IS NOT NULL AND expires_at <= now()"
)
LOCAL_COUNT_EXPIRED = (
    "SELECT count(*) FROM lghm_store WHERE expires_at IS NOT NULL AND expires_at <= ?"
)


def sweep(
    ctx: typer.Context,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="items deleted per transaction")
    ] = 1000,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete expired store items (TTL) in batches, on both tiers."""
    cli = get_context(ctx)
    config_or_fail(cli)
    report: dict[str, Any] = {"dry_run": dry_run}
    try:
        if cli.uses_postgres:
            with cli.pg() as conn:
                if _pg_present(conn, f"{cli.schema}.items"):
                    if dry_run:
                        n = _n(conn, _pg_sql(PG_COUNT_EXPIRED, cli.schema), ())
                    else:
                        from langgraph_hybrid_memory.store import PgVectorStore

                        n = PgVectorStore(conn, schema=cli.schema).sweep_ttl(batch_size)
                    report["postgres"] = {"expired_items": n}
        if cli.uses_local_file and cli.sqlite_path.exists():
            report["local"] = {"expired_items": _sweep_local(cli, batch_size, dry_run)}
    except (psycopg.Error, sqlite3.Error) as exc:
        raise fail(_safe(exc, cli)) from None
    if as_json:
        print_json(report)
        return
    _print_counts(report, "sweep", False)


def _sweep_local(cli: CliContext, batch_size: int, dry_run: bool) -> int:
    from langgraph_hybrid_memory.localstore import LocalStore

    db = LocalDB.open(cli.sqlite_path)
    try:
        with db.read() as conn:
            if not table_exists(conn, "lghm_store"):
                return 0
            if dry_run:
                return int(conn.execute(LOCAL_COUNT_EXPIRED, (time.time(),)).fetchone()[0])
        store = LocalStore(db, sweep_batch_size=batch_size)
        try:
            return store.sweep_ttl()
        finally:
            store.close()
    finally:
        db.close()


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)
    app.command("prune")(prune)
    app.command("sweep")(sweep)
