"""`lghm migrate`, `lghm export`, `lghm import`: renderers of `admin.migrate`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from langgraph_hybrid_memory import admin
from langgraph_hybrid_memory.admin import Endpoint, parse_endpoint
from langgraph_hybrid_memory.cli._context import get_context
from langgraph_hybrid_memory.errors import ConfigError, MissingExtraError

console = Console(stderr=True)

WhatOption = Annotated[str, typer.Option("--what", help="threads, items or all", show_default=True)]
JsonOption = Annotated[bool, typer.Option("--json", help="print the report as JSON")]


def _parse_what(what: str) -> admin.What:
    if what in ("threads", "items", "all"):
        return cast(admin.What, what)
    raise typer.BadParameter("use threads, items or all", param_hint="--what")


@contextmanager
def _progress(label: str) -> Iterator[Any]:
    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


def _print_report(title: str, report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report, sort_keys=True))
        return
    table = Table(title=title)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in report.items():
        table.add_row(key, str(value))
    Console().print(table)


def _title(src: Endpoint, dst: Endpoint, dry_run: bool) -> str:
    if dry_run:
        return f"would move: {src.describe()} -> {dst.describe()}"
    if dst.kind == "jsonl":
        return f"exported: {src.describe()} -> {dst.describe()}"
    if src.kind == "jsonl":
        return f"imported: {src.describe()} -> {dst.describe()}"
    return f"moved: {src.describe()} -> {dst.describe()}"


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=2)


_ENDPOINTS = "sqlite:PATH, postgres:URL, jsonl:PATH, lghm:, local:PATH or chroma:DIR (source)"


def migrate(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help=_ENDPOINTS)],
    target: Annotated[str, typer.Option("--to", help=_ENDPOINTS)],
    what: WhatOption = "all",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only count what would move")] = False,
    as_json: JsonOption = False,
) -> None:
    """Move threads (with their whole history) and memories between backends.

    Idempotent: an interrupted run is simply run again, and nothing is duplicated. Counts are
    verified at the end. Memories copied into lghm: or local: are embedded with the configured
    model (MEMORY_EMBEDDINGS), whatever model the source used.
    """
    cli = get_context(ctx)
    try:
        src, dst = parse_endpoint(source, option="--from"), parse_endpoint(target, option="--to")
        progress = None if as_json else _progress
        report = admin.migrate(
            cli, src, dst, what=_parse_what(what), dry_run=dry_run, progress=progress
        )
    except (ConfigError, MissingExtraError) as exc:
        raise _fail(str(exc)) from None
    _print_report(_title(src, dst, dry_run), report, as_json)
    if report.get("verified") is False:
        raise typer.Exit(code=1)


def export(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="sqlite:PATH or postgres:URL")],
    out: Annotated[Path, typer.Argument(help="the JSONL file to write")],
    what: WhatOption = "all",
    as_json: JsonOption = False,
) -> None:
    """Export threads (full history) and memories to a JSON Lines file."""
    migrate(ctx, source=source, target=f"jsonl:{out}", what=what, dry_run=False, as_json=as_json)


def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="a JSONL file written by `lghm export`")],
    target: Annotated[str, typer.Option("--to", help="sqlite:PATH or postgres:URL")],
    what: WhatOption = "all",
    as_json: JsonOption = False,
) -> None:
    """Import a JSON Lines export (idempotent: importing twice changes nothing)."""
    migrate(ctx, source=f"jsonl:{file}", target=target, what=what, dry_run=False, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.command("export")(export)
    app.command("import")(import_)
