"""The ``make demo`` story: an agent that remembers a user across processes and threads.

1. Session 1 (its own process, a new thread): the user tells the agent some facts; the agent
   runs its plan and saves what it learned as long-term memories.
2. Session 2 (another process, another new thread): the agent recalls those facts from the store
   before planning, and plans with them.
3. Where each piece of state lives (local SQLite, PostgreSQL), read from the databases themselves,
   and the memory status.

It runs on the configured backends (``MEMORY_TYPE``; by default the embedded PostgreSQL under
``MEMORY_DATA_DIR``), always with the scripted offline chat model and no network. It takes 30 to
60 s: each session's process loads the local embedding model (5 to 30 s, said on stderr); the
agent's own steps take milliseconds.

    python -m langgraph_hybrid_memory.samples.demo
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
from langchain_core.runnables import RunnableConfig
from psycopg import sql
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from langgraph_hybrid_memory._config import MemoryConfig
from langgraph_hybrid_memory._embedded import EmbeddedPostgres
from langgraph_hybrid_memory.samples import ScriptedChatModel, open_backends
from langgraph_hybrid_memory.samples._render import backend_label, render_run
from langgraph_hybrid_memory.samples._tools import memory_namespace
from langgraph_hybrid_memory.samples.plan_and_execute import build_plan_and_execute

__all__ = ["SESSION_1", "SESSION_2", "main", "run_session"]

# Spelled out: under `python -m` this module's __name__ is "__main__".
_MODULE = "langgraph_hybrid_memory.samples.demo"
USER = "ada"
SESSION_1 = (
    "My home city is Lisbon, my favourite cuisine is Portuguese and my daily budget is "
    "40 euros. What is 3 * 40?"
)
SESSION_2 = "Plan a day out for me."

# Columns that identify a checkpoint table and a store table, whoever wrote them (langgraph's
# savers and stores, or this package's), so the report reads the real databases rather than
# repeating what the code meant to do. Write tables lack parent_checkpoint_id.
_CHECKPOINT_COLUMNS = {"thread_id", "checkpoint_ns", "checkpoint_id", "parent_checkpoint_id"}
# langgraph's stores keep the namespace dot-joined in `prefix`; this package's keep it in
# `namespace` (a text[] in PostgreSQL, dot-joined text in the local SQLite file).
_STORE_COLUMNS = {"prefix", "key", "value"}
_OUR_STORE_COLUMNS = {"namespace", "key", "value"}

PG_COLUMNS = (
    "SELECT table_schema, table_name, array_agg(column_name::text) "
    "FROM information_schema.columns "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
    "GROUP BY 1, 2 ORDER BY 1, 2"
)
PG_COUNT_CHECKPOINTS = sql.SQL(
    "SELECT count(*) FILTER (WHERE checkpoint_ns = ''), "
    "count(*) FILTER (WHERE checkpoint_ns <> ''), "
    "count(DISTINCT checkpoint_ns) FILTER (WHERE checkpoint_ns <> '') "
    "FROM {table} WHERE thread_id = %s"
)
PG_COUNT_ITEMS = sql.SQL("SELECT count(*) FROM {table} WHERE prefix = %s")
PG_COUNT_OUR_ITEMS = sql.SQL("SELECT count(*) FROM {table} WHERE namespace = %s::text[]")
SQLITE_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
# SQLite has no placeholders for identifiers: {table} is a name read from sqlite_master, quoted
# by _sqlite_identifier.
SQLITE_COLUMNS = "SELECT name FROM pragma_table_info(?)"
SQLITE_COUNT_CHECKPOINTS = (
    "SELECT count(*) FILTER (WHERE checkpoint_ns = ''), "
    "count(*) FILTER (WHERE checkpoint_ns <> ''), "
    "count(DISTINCT checkpoint_ns) FILTER (WHERE checkpoint_ns <> '') "
    "FROM {table} WHERE thread_id = ?"
)
SQLITE_COUNT_ITEMS = "SELECT count(*) FROM {table} WHERE prefix = ?"
SQLITE_COUNT_OUR_ITEMS = "SELECT count(*) FROM {table} WHERE namespace = ?"

Row = tuple[str, str, str]


def _sqlite_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _checkpoint_rows(where: str, thread: str, counts: tuple[int, int, int]) -> list[Row]:
    root, sub, namespaces = counts
    rows: list[Row] = []
    if root:
        rows.append((f"thread {thread}, root graph", where, f"{root} checkpoints"))
    if sub:
        rows.append(
            (
                f"thread {thread}, executor subgraph",
                where,
                f"{sub} checkpoints in {namespaces} checkpoint_ns",
            )
        )
    return rows


def _pg_report(url: str, threads: list[str], user_id: str) -> list[Row]:
    rows: list[Row] = []
    prefix = ".".join(memory_namespace(user_id))
    with psycopg.connect(url, autocommit=True) as conn:
        for schema, table, columns in conn.execute(PG_COLUMNS).fetchall():
            name = sql.Identifier(schema, table)
            where = f"PostgreSQL {schema}.{table}"
            if _CHECKPOINT_COLUMNS <= set(columns):
                for thread in threads:
                    cur = conn.execute(PG_COUNT_CHECKPOINTS.format(table=name), (thread,))
                    rows += _checkpoint_rows(where, thread, cur.fetchone() or (0, 0, 0))
            elif _STORE_COLUMNS <= set(columns) or _OUR_STORE_COLUMNS <= set(columns):
                if "prefix" in columns:
                    cur = conn.execute(PG_COUNT_ITEMS.format(table=name), (prefix,))
                else:
                    namespace = list(memory_namespace(user_id))
                    cur = conn.execute(PG_COUNT_OUR_ITEMS.format(table=name), (namespace,))
                count = (cur.fetchone() or (0,))[0]
                if count:
                    rows.append((f"memories of user {user_id}", where, f"{count} items"))
    return rows


def _sqlite_report(path: Path, threads: list[str], user_id: str) -> list[Row]:
    if not path.exists():
        return []
    rows: list[Row] = []
    prefix = ".".join(memory_namespace(user_id))
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for (table,) in conn.execute(SQLITE_TABLES).fetchall():
            columns = {r[0] for r in conn.execute(SQLITE_COLUMNS, (table,))}
            quoted = _sqlite_identifier(table)
            where = f"local SQLite {path.name}:{table}"
            if _CHECKPOINT_COLUMNS <= columns:
                for thread in threads:
                    query = SQLITE_COUNT_CHECKPOINTS.format(table=quoted)
                    rows += _checkpoint_rows(
                        where, thread, conn.execute(query, (thread,)).fetchone()
                    )
            elif _STORE_COLUMNS <= columns or _OUR_STORE_COLUMNS <= columns:
                template = SQLITE_COUNT_ITEMS if "prefix" in columns else SQLITE_COUNT_OUR_ITEMS
                query = template.format(table=quoted)
                (count,) = conn.execute(query, (prefix,)).fetchone()
                if count:
                    rows.append((f"memories of user {user_id}", where, f"{count} items"))
    finally:
        conn.close()
    return rows


def run_session(config: MemoryConfig, user_id: str, thread_id: str, objective: str) -> int:
    """One session: run the agent on a new thread and print what it recalled, did and learned."""
    console = Console()
    with open_backends(config) as memory:
        graph = build_plan_and_execute(ScriptedChatModel(), sessions=memory.sessions).compile(
            checkpointer=memory.checkpointer, store=memory.store
        )
        thread: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        result = graph.invoke({"user_id": user_id, "objective": objective}, thread)
        render_run(console, result, store_label=backend_label(memory.store))
        console.print(_session_summary(memory.status()), highlight=False, soft_wrap=True)
    return 0


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _session_summary(status: dict[str, Any]) -> str:
    """This process's embedding counters and PostgreSQL reachability (they live per process, so
    each session says its own; the final report is another process)."""
    emb = status.get("embeddings") or {}
    parts = []
    if emb.get("model"):
        texts = _n(emb.get("texts_embedded", 0), "text")
        calls = _n(emb.get("calls", 0), "model call")
        hits = _n(emb.get("cache_hits", 0), "cache hit")
        parts.append(f"embeddings ({emb['model']}): {texts} embedded in {calls}, {hits}")
    reachable = (status.get("checkpointer_status") or {}).get("postgres_reachable")
    if reachable is not None:
        parts.append(f"PostgreSQL reachable: {'yes' if reachable else 'NO'}")
    return "this session: " + ("; ".join(parts) if parts else "no embeddings, no PostgreSQL")


def _spawn_session(user_id: str, thread_id: str, objective: str) -> None:
    command = [sys.executable, "-m", _MODULE, "session", "--user", user_id]
    subprocess.run([*command, "--thread", thread_id, objective], check=True)


def _status_table(status: dict[str, Any], memories: int) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 2))
    for key, value in _flatten(status):
        table.add_row(key, escape(str(value)))
    table.add_row(f"memories of {USER}", str(memories))
    return table


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            rows += _flatten(item, f"{name}.")
        else:
            rows.append((name, item))
    return rows


def _memory_status(config: MemoryConfig) -> tuple[dict[str, Any], int]:
    """The memory's own status report, and how many memories the demo user has."""
    with open_backends(config) as memory:
        count = len(memory.store.search(memory_namespace(USER), limit=1000))
        status = dict(memory.status())
    # The embedding counters count this reporting process only (it embeds nothing): each
    # session printed its own, so the report keeps just the model.
    if isinstance(status.get("embeddings"), dict):
        status["embeddings"] = {"model": status["embeddings"].get("model")}
    return status, count


def run_story(config: MemoryConfig, console: Console) -> int:
    if config.memory_type == "memory":
        console.print(
            "[red]MEMORY_TYPE=memory keeps nothing between processes; the demo needs hybrid, "
            "postgres or sqlite.[/]"
        )
        return 2
    console.print(
        Panel.fit(
            "[bold]langgraph-hybrid-memory demo[/]\n"
            "Two sessions in two processes on two threads; the second recalls what the first "
            "learned.",
        )
    )
    run_id = uuid.uuid4().hex[:6]
    threads = [f"demo-{run_id}-1", f"demo-{run_id}-2"]
    with ExitStack() as stack:
        pg_url: str | None = None
        if config.memory_type in ("hybrid", "postgres"):
            if config.uses_embedded_postgres:
                console.print(
                    f"starting the embedded PostgreSQL + pgvector in {config.embedded_pgdata} "
                    "(set DATABASE_URL to use your own server)"
                )
                # Held for the whole story, so the sessions' processes join a running server.
                pg_url = stack.enter_context(EmbeddedPostgres(config.embedded_pgdata)).url
            else:
                pg_url = config.database_url
        for number, (thread, objective) in enumerate(
            zip(threads, (SESSION_1, SESSION_2), strict=True), 1
        ):
            console.rule(f"session {number}: new process, new thread {thread}")
            console.print(f"[bold]{USER}:[/] {objective}")
            sys.stdout.flush()
            _spawn_session(USER, thread, objective)

        console.rule("where the state lives")
        rows = _sqlite_report(config.sqlite_path, threads, USER)
        if pg_url is not None:
            rows += _pg_report(pg_url, threads, USER)
        table = Table("state", "where", "what")
        for row in rows:
            table.add_row(*row)
        console.print(table)

        console.rule("memory status")
        status, memories = _memory_status(config)
        console.print(_status_table(status, memories))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The langgraph-hybrid-memory demo.")
    sub = parser.add_subparsers(dest="command")
    session = sub.add_parser("session", help="run one session (used by the demo's processes)")
    session.add_argument("objective")
    session.add_argument("--user", default=USER)
    session.add_argument("--thread", required=True)
    args = parser.parse_args(argv)
    config = MemoryConfig.from_env()
    if args.command == "session":
        return run_session(config, str(args.user), str(args.thread), str(args.objective))
    return run_story(config, Console())


if __name__ == "__main__":
    raise SystemExit(main())
