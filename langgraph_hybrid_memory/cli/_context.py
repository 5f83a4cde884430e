"""What every `lghm` command shares: the operations' context, errors and output.

The configuration is `MemoryConfig.from_env()`, the same environment `open_memory()` reads.
A program embedding the CLI (or a test) may pass a `CliContext` as click's ``obj`` to supply an
embedding model object instead of the ``MEMORY_EMBEDDINGS`` spec.
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from langgraph_hybrid_memory._config import MemoryConfig
from langgraph_hybrid_memory.admin import AdminContext
from langgraph_hybrid_memory.errors import ConfigError, MemoryNotFoundError

__all__ = ["CliContext", "get_context"]

err_console = Console(stderr=True)


class CliContext(AdminContext):
    """Settings of one CLI run: an `AdminContext` (config, embeddings, schema)."""


def get_context(ctx: typer.Context) -> CliContext:
    """The `CliContext` passed as ``obj`` (a fresh one from the environment otherwise)."""
    if not isinstance(ctx.obj, CliContext):
        ctx.obj = CliContext()
        ctx.call_on_close(ctx.obj.close)
    return ctx.obj


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error (never a secret: callers pass redacted text) and return the exit."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=code)


def nothing_yet(exc: MemoryNotFoundError, empty: Any, as_json: bool, code: int = 0) -> typer.Exit:
    """A read-only command found no memory: say so and where it looked; nothing was created."""
    err_console.print(f"no memory yet: {exc}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        print_json(empty)
    return typer.Exit(code=code)


def config_or_fail(cli: CliContext) -> MemoryConfig:
    try:
        return cli.cfg
    except ConfigError as exc:
        raise fail(str(exc)) from None


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, sort_keys=True, default=str))


def print_table(
    title: str, columns: list[str], rows: list[list[Any]], *, empty: str | None = None
) -> None:
    """A table; with no rows and an `empty` text, that one line instead of an empty table."""
    if not rows and empty is not None:
        typer.echo(f"{title}: {empty}")
        return
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="right" if _numeric(rows, i) else "left")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(width=120).print(table)


def _numeric(rows: list[list[Any]], i: int) -> bool:
    return bool(rows) and all(isinstance(r[i], (int, float)) for r in rows if r[i] is not None)
