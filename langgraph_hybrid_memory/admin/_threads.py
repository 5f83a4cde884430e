"""`user_threads`: a user's threads (checkpoint metadata ``user_id``), with checkpoint counts per
tier and the latest root checkpoint's state. Read-only."""

from __future__ import annotations

import json
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from langgraph_hybrid_memory.admin._context import AdminContext, table_exists
from langgraph_hybrid_memory.admin._forget_pg import pg_present
from langgraph_hybrid_memory.admin._results import ThreadInfo
from langgraph_hybrid_memory.admin._validate import check_limit, check_user_id

__all__ = ["preview", "user_threads"]

PG_USER_THREAD_COUNTS = (
    "SELECT thread_id, count(*) AS n, "
    "max(checkpoint_id) FILTER (WHERE checkpoint_ns = '') AS head, "
    "max(checkpoint ->> 'ts') AS ts FROM checkpoints "
    "WHERE metadata ->> 'user_id' = %s GROUP BY thread_id"
)
LOCAL_USER_THREAD_COUNTS = (
    "SELECT thread_id, count(*), max(CASE WHEN checkpoint_ns = '' THEN checkpoint_id END), "
    "max(json_extract(checkpoint, '$.ts')) FROM lghm_checkpoints "
    "WHERE CAST(json_extract(metadata, '$.user_id') AS TEXT) = ? GROUP BY thread_id"
)
SQLITE_SAVER_USER_THREAD_COUNTS = (
    "SELECT thread_id, count(*), max(CASE WHEN checkpoint_ns = '' THEN checkpoint_id END), NULL "
    "FROM checkpoints WHERE CAST(json_extract(CAST(metadata AS TEXT), '$.user_id') AS TEXT) = ? "
    "GROUP BY thread_id"
)
PREVIEW_CHARS = 160


def preview(value: Any, width: int = PREVIEW_CHARS) -> str:
    """A short text of a channel value (a message list shows its last message).

    Examples:
        >>> preview({"a": 1})
        '{"a": 1}'
        >>> len(preview("x" * 500))
        160
    """
    if isinstance(value, list) and value and hasattr(value[-1], "content"):
        last = value[-1]
        text = f"{len(value)} messages; last ({getattr(last, 'type', '?')}): {last.content}"
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def user_threads(
    ctx: AdminContext,
    user: str,
    *,
    saver: BaseCheckpointSaver[Any] | None = None,
    limit: int = 100,
) -> list[ThreadInfo]:
    """The threads whose checkpoints say ``user_id == user``, newest first.

    Args:
        saver: the running checkpointer, to read each thread's latest state (channel values);
            without it only the PostgreSQL tier's state is decoded (by langgraph's
            ``PostgresSaver``) and local-only threads show ids and times.
        limit: at most this many threads.

    Raises:
        ConfigError: a bad user id or limit.
    """
    check_user_id(user)
    check_limit(limit)
    found: dict[str, dict[str, Any]] = {}

    def note(tier: str, thread: str, n: int, head: Any, ts: Any) -> None:
        entry = found.setdefault(thread, {"checkpoints": {}, "head": None, "ts": None})
        entry["checkpoints"][tier] = entry["checkpoints"].get(tier, 0) + int(n)
        if head is not None and (entry["head"] is None or str(head) > entry["head"]):
            entry["head"], entry["ts"], entry["tier"] = str(head), ts, tier

    if ctx.uses_local_file:
        with ctx.local_read() as conn:
            if conn is not None:
                for table, query in (
                    ("lghm_checkpoints", LOCAL_USER_THREAD_COUNTS),
                    ("checkpoints", SQLITE_SAVER_USER_THREAD_COUNTS),
                ):
                    if table_exists(conn, table):
                        for t, n, head, ts in conn.execute(query, (user,)):
                            note("local", t, n, head, ts)
    pg_state: dict[str, dict[str, Any]] = {}
    if ctx.uses_postgres:
        with ctx.pg() as pconn:
            if pg_present(pconn, "public.checkpoints"):
                for r in pconn.execute(PG_USER_THREAD_COUNTS, (user,)):
                    note("postgres", r["thread_id"], r["n"], r["head"], r["ts"])
                if saver is None:
                    pg_state = _pg_latest(pconn, [t for t, e in found.items() if e["head"]])
    ordered = sorted(found.items(), key=lambda kv: (str(kv[1]["head"] or ""), kv[0]), reverse=True)
    out: list[ThreadInfo] = []
    for thread, entry in ordered[:limit]:
        counts = {"local": 0, "postgres": 0} if ctx.cfg.memory_type == "hybrid" else {}
        counts.update(entry["checkpoints"])
        latest: dict[str, Any] | None = None
        if entry["head"] is not None:
            latest = {
                "checkpoint_id": entry["head"],
                "ts": entry["ts"],
                "tier": entry.get("tier"),
            }
            state = _saver_latest(saver, thread) if saver is not None else pg_state.get(thread)
            if state is not None:
                latest.update(state)
        out.append({"thread_id": thread, "checkpoints": counts, "latest": latest})
    return out


def _describe(tup: Any) -> dict[str, Any]:
    values = tup.checkpoint.get("channel_values", {}) or {}
    return {
        "checkpoint_id": tup.checkpoint["id"],
        "ts": tup.checkpoint.get("ts"),
        "step": (tup.metadata or {}).get("step"),
        "channels": {str(k): preview(v) for k, v in sorted(values.items())},
    }


def _saver_latest(saver: BaseCheckpointSaver[Any], thread: str) -> dict[str, Any] | None:
    tup = saver.get_tuple({"configurable": {"thread_id": thread, "checkpoint_ns": ""}})
    return None if tup is None else _describe(tup)


def _pg_latest(conn: Any, threads: list[str]) -> dict[str, dict[str, Any]]:
    from langgraph.checkpoint.postgres import PostgresSaver

    reader = PostgresSaver(conn)
    out: dict[str, dict[str, Any]] = {}
    for t in threads:
        tup = reader.get_tuple({"configurable": {"thread_id": t, "checkpoint_ns": ""}})
        if tup is not None:
            out[t] = _describe(tup)
    return out
