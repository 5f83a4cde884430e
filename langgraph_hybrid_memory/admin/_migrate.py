"""`migrate`, `export_to`, `import_from`: move threads (full history) and memories between
backends and JSON Lines files; idempotent, with counts verified at the end."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Literal

from langgraph_hybrid_memory._transfer import (
    TransferReport,
    copy_items,
    copy_threads,
    export_jsonl,
    import_jsonl,
    iter_items,
    list_thread_ids,
)
from langgraph_hybrid_memory.admin._context import AdminContext
from langgraph_hybrid_memory.admin._endpoints import Endpoint, open_backends, parse_endpoint
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["Progress", "What", "export_to", "import_from", "migrate"]

What = Literal["threads", "items", "all"]
Tick = Callable[[int], None]
Progress = Callable[[str], AbstractContextManager[Tick]]
"""``progress(label)`` is a context manager yielding ``tick(n)``, called as work is done."""


@contextmanager
def _no_progress(label: str) -> Iterator[Tick]:
    yield lambda n: None


def _parse_what(what: str) -> tuple[bool, bool]:
    if what not in ("threads", "items", "all"):
        raise ConfigError(f"--what {what!r}: use threads, items or all")
    return what in ("threads", "all"), what in ("items", "all")


def migrate(
    ctx: AdminContext,
    source: str | Endpoint,
    target: str | Endpoint,
    *,
    what: What = "all",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Move threads and/or memories from `source` to `target` (``sqlite:PATH``,
    ``postgres:URL``, ``lghm:``, ``local:PATH``, ``jsonl:PATH``, source ``chroma:DIR``).

    Returns the counts moved (with `dry_run`: the counts that would move) and ``verified``:
    whether the target holds at least what the source had.

    Raises:
        ConfigError: a bad endpoint or `what`.
        MissingExtraError: an endpoint needs an extra that is not installed.
    """
    src = source if isinstance(source, Endpoint) else parse_endpoint(source, option="--from")
    dst = target if isinstance(target, Endpoint) else parse_endpoint(target, option="--to")
    threads, items = _parse_what(what)
    show = progress if progress is not None else _no_progress
    if src.kind == "jsonl":
        if dst.kind == "jsonl":
            raise ConfigError("--from and --to are both JSONL files; copy the file instead")
        if not Path(src.location).exists():
            raise ConfigError(f"source file {src.location!r} does not exist")
        if dry_run:
            return dict(_count_jsonl(Path(src.location), threads, items))
        with open_backends(dst, create=True, cli=ctx) as backends, show("importing") as tick:
            report = import_jsonl(
                src.location,
                saver=backends.saver if threads else None,
                store=backends.store if items else None,
                progress=tick,
            )
        return {**report.as_dict(), "verified": True}
    with open_backends(src, create=False, cli=ctx) as origin:
        expected = _source_counts(origin, threads, items)
        if dry_run:
            return dict(expected)
        if dst.kind == "jsonl":
            with show("exporting") as tick:
                report = export_jsonl(
                    dst.location,
                    saver=origin.saver if threads else None,
                    store=origin.store if items else None,
                    progress=tick,
                )
            return {**report.as_dict(), "verified": _matches(expected, report)}
        with open_backends(dst, create=True, cli=ctx) as dest:
            total = TransferReport()
            if threads and origin.saver is not None and dest.saver is not None:
                with show("threads") as tick:
                    total = copy_threads(origin.saver, dest.saver, progress=tick)
            if items and origin.store is not None and dest.store is not None:
                with show("memories") as tick:
                    moved = copy_items(origin.store, dest.store, progress=tick)
                total.items, total.namespaces = moved.items, moved.namespaces
            after = _source_counts(dest, threads, items)
            verified = all(after.get(k, 0) >= v for k, v in expected.items())
            return {**total.as_dict(), "verified": verified}


def export_to(
    ctx: AdminContext,
    source: str | Endpoint,
    path: str | Path,
    *,
    what: What = "all",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Export threads (full history) and memories of `source` to the JSON Lines file `path`."""
    return migrate(ctx, source, f"jsonl:{path}", what=what, progress=progress)


def import_from(
    ctx: AdminContext,
    path: str | Path,
    target: str | Endpoint,
    *,
    what: What = "all",
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Import a JSON Lines export into `target` (idempotent: importing twice changes nothing)."""
    return migrate(ctx, f"jsonl:{path}", target, what=what, progress=progress)


def _source_counts(backends: Any, threads: bool, items: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    if threads and backends.saver is not None:
        ids = list_thread_ids(backends.saver)
        counts["threads"] = len(ids)
        counts["checkpoints"] = sum(1 for _ in backends.saver.list(None))
    if items and backends.store is not None:
        counts["items"] = sum(1 for _ in iter_items(backends.store))
    return counts


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
