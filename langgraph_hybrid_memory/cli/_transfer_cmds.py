"""`lghm migrate`, `lghm export`, `lghm import`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from langgraph_hybrid_memory._transfer import (
    TransferReport,
    copy_items,
    copy_threads,
    export_jsonl,
    import_jsonl,
    iter_items,
    list_thread_ids,
)
from langgraph_hybrid_memory.cli._context import CliContext, get_context
from langgraph_hybrid_memory.cli._endpoints import Endpoint, open_backends, parse_endpoint
from langgraph_hybrid_memory.errors import ConfigError, MissingExtraError

console = Console(stderr=True)

WhatOption = Annotated[str, typer.Option("--what", help="threads, items or all", show_default=True)]
JsonOption = Annotated[bool, typer.Option("--json", help="print the report as JSON")]


def _parse_what(what: str) -> tuple[bool, bool]:
    if what not in ("threads", "items", "all"):
        raise typer.BadParameter("use threads, items or all", param_hint="--what")
    return what in ("threads", "all"), what in ("items", "all")


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Any]:
    if not enabled:
        yield lambda n: None
        return
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


def _source_counts(backends: Any, threads: bool, items: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    if threads and backends.saver is not None:
        ids = list_thread_ids(backends.saver)
        counts["threads"] = len(ids)
        counts["checkpoints"] = sum(1 for _ in backends.saver.list(None))
    if items and backends.store is not None:
        counts["items"] = sum(1 for _ in iter_items(backends.store))
    return counts


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
        threads, items = _parse_what(what)
        report = _migrate(
            src, dst, threads=threads, items=items, dry_run=dry_run, show=not as_json, cli=cli
        )
    except (ConfigError, MissingExtraError) as exc:
        raise _fail(str(exc)) from None
    _print_report(
        f"{'would move' if dry_run else 'moved'}: {src.describe()} -> {dst.describe()}",
        report,
        as_json,
    )
    if report.get("verified") is False:
        raise typer.Exit(code=1)


def _migrate(
    src: Endpoint,
    dst: Endpoint,
    *,
    threads: bool,
    items: bool,
    dry_run: bool,
    show: bool,
    cli: CliContext,
) -> dict[str, Any]:
    if src.kind == "jsonl":
        if dst.kind == "jsonl":
            raise ConfigError("--from and --to are both JSONL files; copy the file instead")
        if not Path(src.location).exists():
            raise ConfigError(f"source file {src.location!r} does not exist")
        if dry_run:
            return _count_jsonl(Path(src.location), threads, items)
        with (
            open_backends(dst, create=True, cli=cli) as target,
            _progress(show, "importing") as tick,
        ):
            report = import_jsonl(
                src.location,
                saver=target.saver if threads else None,
                store=target.store if items else None,
                progress=tick,
            )
        return {**report.as_dict(), "verified": True}
    with open_backends(src, create=False, cli=cli) as source:
        expected = _source_counts(source, threads, items)
        if dry_run:
            return expected
        if dst.kind == "jsonl":
            with _progress(show, "exporting") as tick:
                report = export_jsonl(
                    dst.location,
                    saver=source.saver if threads else None,
                    store=source.store if items else None,
                    progress=tick,
                )
            return {**report.as_dict(), "verified": _matches(expected, report)}
        with open_backends(dst, create=True, cli=cli) as target:
            total = TransferReport()
            if threads and source.saver is not None and target.saver is not None:
                with _progress(show, "threads") as tick:
                    total = copy_threads(source.saver, target.saver, progress=tick)
            if items and source.store is not None and target.store is not None:
                with _progress(show, "memories") as tick:
                    moved = copy_items(source.store, target.store, progress=tick)
                total.items, total.namespaces = moved.items, moved.namespaces
            after = _source_counts(target, threads, items)
            verified = all(after.get(k, 0) >= v for k, v in expected.items())
            return {**total.as_dict(), "verified": verified}


def _matches(expected: dict[str, int], report: TransferReport) -> bool:
    got = report.as_dict()
    return all(got.get(k) == v for k, v in expected.items())


def _count_jsonl(path: Path, threads: bool, items: bool) -> dict[str, int]:
    counts = {"threads": 0, "checkpoints": 0, "items": 0}
    thread_ids: set[str] = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if '"kind": "checkpoint"' in line and threads:
                counts["checkpoints"] += 1
                thread_ids.add(json.loads(line)["thread_id"])
            elif '"kind": "item"' in line and items:
                counts["items"] += 1
    counts["threads"] = len(thread_ids)
    return counts


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
