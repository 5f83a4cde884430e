"""`lghm dedup` and the ``--queries`` part of `lghm stats`: thin renderers of `admin.dedup`
and `admin.query_stats`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from langgraph_hybrid_memory import admin
from langgraph_hybrid_memory._dedup import report_rows
from langgraph_hybrid_memory._quality import DEFAULT_THRESHOLD
from langgraph_hybrid_memory.cli._context import print_json, print_table

__all__ = ["dedup", "register", "render_usage"]


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
    from langgraph_hybrid_memory.cli._admin import run

    report = run(ctx, lambda cli: admin.dedup(cli, user, threshold=threshold, apply=yes))
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


def render_usage(out: dict[str, admin.QueryStats], as_json: bool) -> None:
    """``lghm stats --queries``: `admin.query_stats` per tier, rendered."""
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
