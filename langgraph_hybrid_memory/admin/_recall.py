"""`search` and `recent`: what the agent would recall for a user, and the latest memories."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from langgraph.store.base import BaseStore, Item

from langgraph_hybrid_memory.admin._context import AdminContext, table_exists
from langgraph_hybrid_memory.admin._results import MemoryHit
from langgraph_hybrid_memory.admin._validate import check_limit, check_user_id
from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.store._schema import DEFAULT_SCHEMA

__all__ = ["SearchMode", "hit_of", "open_store", "recent", "search"]

SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "keyword")

LOCAL_RECENT = (
    "SELECT namespace, key, value, updated_at FROM lghm_store "
    "WHERE (expires_at IS NULL OR expires_at > ?) {where} "
    "ORDER BY updated_at DESC, ns_sort, key LIMIT ?"
)
LOCAL_USER_RANGE = "AND (namespace = ? OR (namespace >= ? AND namespace < ?))"


def _pg_recent(schema: str, by_user: bool) -> Any:
    from psycopg import sql

    where = sql.SQL("AND namespace[1] = 'users' AND namespace[2] = %s" if by_user else "")
    return sql.SQL(
        "SELECT namespace, key, value, updated_at FROM {}.items "
        "WHERE (expires_at IS NULL OR expires_at > now()) {} "
        "ORDER BY updated_at DESC, namespace, key LIMIT %s"
    ).format(sql.Identifier(schema), where)


def hit_of(item: Item) -> MemoryHit:
    """The JSON shape of a store item (a search result has a score)."""
    return {
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "score": getattr(item, "score", None),
        "updated_at": item.updated_at.isoformat(),
    }


@contextmanager
def open_store(ctx: AdminContext, *, mode: SearchMode | None = None) -> Iterator[BaseStore]:
    """The store the agent searches: PgVectorStore (postgres, hybrid) or LocalStore (sqlite),
    with the search mode `mode` (None: the store's default, hybrid with a model)."""
    if mode is not None and mode not in SEARCH_MODES:
        raise ConfigError(f"mode={mode!r} is not a search mode; use hybrid, vector or keyword")
    index = ctx.store_index()
    if mode is not None:
        if mode != "keyword" and "dims" not in index:
            raise ConfigError(
                f"mode={mode!r} needs an embedding model and none is configured "
                "(MEMORY_EMBEDDINGS=none); use mode='keyword'"
            )
        index = {**index, "search_mode": mode}
    if ctx.uses_postgres:
        from langgraph_hybrid_memory.store import PgVectorStore

        with ctx.pg(create=False) as conn:
            yield PgVectorStore(conn, index=index, schema=ctx.schema)  # type: ignore[arg-type]
    elif ctx.uses_local_file:
        from langgraph_hybrid_memory.localstore import LocalStore

        ctx.require_local_file()  # opening a LocalStore would create it
        local: Any = {"fields": ["$"], **index} if "dims" not in index else index
        local.pop("dims", None)
        store = LocalStore(ctx.sqlite_path, index=local)
        try:
            yield store
        finally:
            store.close()
    else:
        raise ConfigError("MEMORY_TYPE=memory keeps nothing between runs: nothing to inspect")


def search(
    ctx: AdminContext,
    user: str,
    query: str,
    *,
    limit: int = 5,
    mode: SearchMode | None = None,
    filter: dict[str, Any] | None = None,
) -> list[MemoryHit]:
    """What the agent would recall: the store's search under ``("users", user)``, best first.

    Raises:
        ConfigError: a bad user id, limit or mode, or a bad setting.
        MemoryNotFoundError: nothing has been stored where the settings point; nothing is
            created to look.
    """
    check_user_id(user)
    check_limit(limit)
    with open_store(ctx, mode=mode) as store:
        hits = store.search(("users", user), query=query, filter=filter, limit=limit)
        return [hit_of(h) for h in hits]


def recent(ctx: AdminContext, *, user: str | None = None, limit: int = 10) -> list[MemoryHit]:
    """The latest memories (newest first), of everyone or of one user (score None).

    Raises:
        ConfigError: a bad user id or limit, or a bad setting.
        MemoryNotFoundError: nothing has been stored where the settings point; nothing is
            created to look.
    """
    if user is not None:
        check_user_id(user)
    check_limit(limit)
    if ctx.uses_postgres:
        with ctx.pg(create=False) as conn:
            params: list[Any] = ([user] if user is not None else []) + [limit]
            schema = ctx.schema or DEFAULT_SCHEMA
            return [
                {
                    "namespace": list(r["namespace"]),
                    "key": r["key"],
                    "value": r["value"],
                    "score": None,
                    "updated_at": r["updated_at"].isoformat(),
                }
                for r in conn.execute(_pg_recent(schema, user is not None), params)
            ]
    ctx.require_local_file()
    with ctx.local_read() as lconn:
        if lconn is None or not table_exists(lconn, "lghm_store"):
            return []
        where = ""
        lparams: list[Any] = [time.time()]
        if user is not None:
            base = f"users.{user}"
            where, lparams = LOCAL_USER_RANGE, [*lparams, base, base + ".", base + "/"]
        query = LOCAL_RECENT.replace("{where}", where)
        return [
            {
                "namespace": ns.split("."),
                "key": key,
                "value": json.loads(value),
                "score": None,
                "updated_at": dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).isoformat(),
            }
            for ns, key, value, ts in lconn.execute(query, [*lparams, limit])
        ]
