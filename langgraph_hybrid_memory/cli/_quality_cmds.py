"""`lghm dedup` and the ``--queries`` part of `lghm stats`: thin renderers of the library calls
`_dedup.dedup` and `_querylog.query_stats`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
import typer
from langgraph.store.base import BaseStore

from langgraph_hybrid_memory._dedup import dedup as dedup_call
from langgraph_hybrid_memory._dedup import report_rows
from langgraph_hybrid_memory._quality import DEFAULT_THRESHOLD
from langgraph_hybrid_memory.cli._context import (
    CliContext,
    config_or_fail,
    fail,
    get_context,
    print_json,
    print_table,
)
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["dedup", "register"]


@contextmanager
def _store(cli: CliContext) -> Iterator[BaseStore]:
    """hybrid: a `HybridStore` (its deletes write tombstones); otherwise the agent's store."""
    if cli.cfg.memory_type == "hybrid":
        from langgraph_hybrid_memory.hybridstore import HybridStore

        with HybridStore(cli.sqlite_path, cli.pg_url(), index=cli.store_index()) as store:  # type: ignore[arg-type]
            yield store
        return
    from langgraph_hybrid_memory.cli._admin import open_store

    with open_store(cli) as store:
        yield store


def dedup(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="the user id (namespace ('users', ID))")],
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="cosine similarity from which two memories are one"),
    ] = DEFAULT_THRESHOLD,
    yes: Annotated[bool, typer.Option("--yes", help="merge (default: dry run)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for programs")] = False,
) -> None:
    """Merge one user's duplicate memories: keep the newest, record the others (dry run unless
    --yes)."""
    cli = get_context(ctx)
    config_or_fail(cli)
    try:
        with _store(cli) as store:
            report = dedup_call(store, user, threshold=threshold, apply=yes)
    except (psycopg.Error, ConfigError) as exc:
        from langgraph_hybrid_memory.cli._admin import _safe

        raise fail(_safe(exc, cli)) from None
    rows = report_rows(report)
    if as_json:
        out: dict[str, Any] = {
            "user": report.user_id,
            "threshold": report.threshold,
            "dry_run": report.dry_run,
            "scanned": report.scanned,
            "distinct": report.groups,
            "removed": report.removed,
            "recorded": report.recorded,
            "duplicates": rows,
        }
        print_json(out)
        return
    verb = "would merge" if report.dry_run else "merged"
    typer.echo(
        f"user {report.user_id!r}: {report.scanned} memories, {report.groups} distinct; "
        f"{verb} {len(rows)} duplicates (threshold {report.threshold})"
    )
    if rows:
        print_table(
            "duplicates (the newest of each group is kept)",
            ["namespace", "key", "kept", "method", "similarity"],
            [
                [
                    ".".join(r["namespace"]),
                    r["key"],
                    r["original_key"],
                    r["method"],
                    r["similarity"],
                ]
                for r in rows
            ],
        )
    if report.dry_run and rows:
        typer.echo("dry run: nothing changed; run again with --yes to merge")


def render_usage(cli: CliContext, as_json: bool) -> None:
    """``lghm stats --queries``: `pg_usage_stats` / `local_usage_stats` per tier, rendered."""
    from dataclasses import asdict

    from langgraph_hybrid_memory._querystats import local_usage_stats, pg_usage_stats
    from langgraph_hybrid_memory.cli._admin import _safe

    out: dict[str, Any] = {}
    try:
        if cli.uses_postgres:
            with cli.pg() as conn:
                out["postgres"] = pg_usage_stats(conn, cli.schema)
        if cli.cfg.memory_type == "sqlite":
            with cli.local_read() as lconn:
                if lconn is not None:
                    out["local"] = local_usage_stats(lconn)
    except (psycopg.Error, ConfigError) as exc:
        raise fail(_safe(exc, cli)) from None
    if as_json:
        print_json({tier: asdict(s) for tier, s in out.items()})
        return
    for tier, s in out.items():
        print_table(
            f"{tier}: queries per user",
            ["user", "queries", "p50 ms", "p95 ms", "zero results"],
            [[u.user, u.queries, u.p50_ms, u.p95_ms, u.zero_results] for u in s.users],
        )
        slow = [
            [u.user, round(q.latency_ms, 2), q.result_count, q.mode, q.query or "(text not kept)"]
            for u in s.users
            for q in u.slowest
        ]
        print_table(f"{tier}: slowest queries", ["user", "ms", "results", "mode", "query"], slow)
        zero = [
            [u.user, q.mode, q.query or "(text not kept)"]
            for u in s.users
            for q in u.zero_result_queries
        ]
        print_table(f"{tier}: zero-result queries", ["user", "mode", "query"], zero)
        print_table(
            f"{tier}: accesses per user",
            ["user", "items accessed", "accesses", "most accessed"],
            [
                [a.user, a.accessed_items, a.accesses, ", ".join(f"{k} ({n})" for _, k, n in a.top)]
                for a in s.access
            ],
        )


def register(app: typer.Typer) -> None:
    app.command("dedup")(dedup)
