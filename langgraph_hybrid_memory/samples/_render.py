"""Readable terminal output for the samples (rich), shared by the examples and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["backend_label", "render_pending", "render_run"]

_LABELS = {
    "PostgresSaver": "PostgreSQL",
    "AsyncPostgresSaver": "PostgreSQL",
    "PostgresStore": "PostgreSQL",
    "AsyncPostgresStore": "PostgreSQL",
    "SqliteSaver": "local SQLite",
    "AsyncSqliteSaver": "local SQLite",
    "SqliteStore": "local SQLite",
    "AsyncSqliteStore": "local SQLite",
    "PgVectorStore": "PostgreSQL",
    "AsyncPgVectorStore": "PostgreSQL",
    # The hybrid store answers from PostgreSQL (its local copy is only a cache).
    "HybridStore": "PostgreSQL",
    "AsyncHybridStore": "PostgreSQL",
    "HybridSaver": "local SQLite + PostgreSQL",
    "AsyncHybridSaver": "local SQLite + PostgreSQL",
    "LocalStore": "local SQLite",
    "InMemorySaver": "process memory",
    "InMemoryStore": "process memory",
}


def backend_label(backend: object) -> str:
    """Where a checkpointer or store keeps its data, in words ("PostgreSQL", "local SQLite")."""
    name = type(backend).__name__
    return _LABELS.get(name, name)


def render_run(console: Console, result: Mapping[str, Any], *, store_label: str) -> None:
    """Print what a plan-and-execute run recalled, planned, did, answered and learned."""
    memories = result.get("memories") or []
    if memories:
        console.print(f"[bold]recalled[/] {len(memories)} memories from {store_label}:")
        for memory in memories:
            console.print(f"  [green]•[/] {escape(memory)}")
    else:
        console.print(f"[bold]recalled[/] nothing from {store_label} (no memories yet)")
    steps = result.get("past_steps") or []
    if steps:
        table = Table("#", "step", "result", show_header=True, header_style="bold", expand=False)
        for i, step in enumerate(steps, 1):
            table.add_row(str(i), escape(step["step"]), escape(step["result"]))
        console.print(table)
    if result.get("response"):
        console.print(f"[bold]answer[/]\n{escape(result['response'])}")
    learned = result.get("learned") or []
    if learned:
        console.print(f"[bold]saved to long-term memory[/] ({store_label}): {', '.join(learned)}")


def render_pending(console: Console, pending: Mapping[str, Any], thread_id: str) -> None:
    """Print the approval a stopped thread waits for, and how to answer it."""
    calls = ", ".join(
        f"{c['name']}({', '.join(f'{k}={v!r}' for k, v in c['args'].items())})"
        for c in pending["tool_calls"]
    )
    console.print(f"[bold yellow]waiting for approval[/] on step {escape(pending['step'])!r}")
    console.print(f"  the agent wants to run: [bold]{escape(calls)}[/]")
    console.print(
        f"  the thread is checkpointed; answer from any process with "
        f"--thread {escape(thread_id)} --resume yes (or no)"
    )
