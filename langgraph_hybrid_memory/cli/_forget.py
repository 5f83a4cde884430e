"""`lghm forget`, `lghm prune`, `lghm sweep`: renderers of `admin.forget_user`, `admin.prune`
and `admin.sweep` (deleting on both tiers)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from langgraph_hybrid_memory import admin
from langgraph_hybrid_memory.cli._admin import run
from langgraph_hybrid_memory.cli._context import fail, print_json, print_table

JsonOption = Annotated[bool, typer.Option("--json", help="print the report as JSON")]


def forget(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="the user id to erase (exact match)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only; delete nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Erase one user everywhere (both tiers) and print what was removed.

    Removes the memories under ('users', ID), the threads whose checkpoint metadata has
    user_id == ID (with tombstones, so a pending flush cannot restore them), this machine's
    outbox entries for them, and the embedding-cache rows only that user referenced. Ids match
    exactly: john, john% and john_doe are three users.
    """
    report = run(ctx, lambda cli: admin.forget_user(cli, user, dry_run=dry_run, argument="--user"))
    if as_json:
        print_json(report)
        return
    counts = report.get("would_remove", {}) if dry_run else report.get("removed", {})
    rows = [
        [tier, what, n] for tier, tier_counts in counts.items() for what, n in tier_counts.items()
    ]
    n = len(report["threads"])
    print_table(
        f"{'would remove' if dry_run else 'removed'} for user {user!r} "
        f"({n} thread{'' if n == 1 else 's'})",
        ["tier", "what", "rows"],
        rows,
        empty="nothing found",
    )


def prune(
    ctx: typer.Context,
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", min=1, help="keep the newest N per thread")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="only checkpoints older than e.g. 30d")
    ] = None,
    thread: Annotated[
        list[str] | None, typer.Option("--thread", help="only this thread (repeatable)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="delete (default: dry run)")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete old checkpoints on both tiers. A dry run unless --yes.

    --keep-last N keeps each thread's newest N checkpoints (per namespace); --older-than limits
    deletion to checkpoints written before that age (alone, it deletes every older one).
    On a thread with a DeltaChannel, the checkpoints that stay keep the ancestors their values
    are rebuilt from. PostgreSQL gets per-checkpoint tombstones so a late flush cannot restore
    them.
    """
    if keep_last is None and older_than is None:
        raise fail("say what to prune: --keep-last N and/or --older-than DURATION")
    if older_than is not None:
        try:
            admin.parse_duration(older_than)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--older-than") from None
    report = run(
        ctx,
        lambda cli: admin.prune(
            cli, keep_last=keep_last, older_than=older_than, threads=thread, apply=yes
        ),
    )
    _print_counts(dict(report), "prune", as_json)


def _print_counts(report: dict[str, Any], what: str, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    verb = "would delete" if report.get("dry_run") else "deleted"
    rows = [
        [tier, k, v]
        for tier, counts in report.items()
        if isinstance(counts, dict)
        for k, v in counts.items()
    ]
    print_table(f"{what}: {verb}", ["tier", "what", "count"], rows)
    if report.get("dry_run"):
        typer.echo("dry run: nothing was deleted; add --yes to apply")


def sweep(
    ctx: typer.Context,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="items deleted per transaction")
    ] = 1000,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete expired store items (TTL) in batches, on both tiers, and apply the checkpoint
    retention policy (MEMORY_CHECKPOINT_TTL_MINUTES and related variables)."""
    report = run(ctx, lambda cli: admin.sweep(cli, batch_size=batch_size, dry_run=dry_run))
    if as_json:
        print_json(report)
        return
    _print_counts(dict(report), "sweep", False)


def register(app: typer.Typer) -> None:
    app.command("forget")(forget)
    app.command("prune")(prune)
    app.command("sweep")(sweep)
