"""`lghm setup`, `status`, `doctor`, `stats`, `search`, `recent`: renderers of
`langgraph_hybrid_memory.admin`."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import psycopg
import typer

from langgraph_hybrid_memory import admin
from langgraph_hybrid_memory.cli._context import (
    CliContext,
    config_or_fail,
    fail,
    get_context,
    nothing_yet,
    print_json,
    print_table,
)
from langgraph_hybrid_memory.errors import ConfigError, MemoryNotFoundError, PgVectorMissingError

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for programs")]
T = TypeVar("T")


@contextmanager
def failing_cleanly(cli: CliContext) -> Iterator[None]:
    """Errors of an operation as one line and exit code 2 (passwords removed)."""
    try:
        yield
    except PgVectorMissingError as exc:  # named: the fix (MEMORY_EMBEDDINGS=none) is in its text
        raise fail(cli.describe_error(exc)) from None
    except ConfigError as exc:
        raise fail(str(exc)) from None
    except (psycopg.Error, sqlite3.Error) as exc:
        raise fail(cli.describe_error(exc)) from None


def run(
    ctx: typer.Context,
    op: Callable[[CliContext], T],
    *,
    empty: Any = None,
    as_json: bool = False,
) -> T:
    """Run one operation on the command's context.

    With `empty` (read-only commands), a memory that does not exist yet is not an error: the
    command says so and where it looked (and prints `empty` with ``--json``), exit code 0.
    """
    cli = get_context(ctx)
    config_or_fail(cli)
    try:
        with failing_cleanly(cli):
            return op(cli)
    except MemoryNotFoundError as exc:
        if empty is None:
            raise fail(str(exc)) from None
        raise nothing_yet(exc, empty, as_json) from None


# --- setup ------------------------------------------------------------------------------------


def setup(
    ctx: typer.Context,
    list_only: Annotated[
        bool, typer.Option("--list", help="show applied/pending migrations; change nothing")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create or migrate every table: store, checkpoints, tombstones, embedding cache, local file.

    Idempotent and safe to run from several machines at once (advisory locks).
    """
    # `--list` never creates the embedded server or the local file.
    rows = run(ctx, admin.migrations if list_only else admin.setup, empty=[], as_json=as_json)
    if as_json:
        print_json(rows)
        return
    print_table(
        "migrations" if list_only else "migrations (after setup)",
        ["tier", "part", "table", "applied", "pending"],
        [
            [r["tier"], r["part"], r["table"], _versions(r["applied"]), _versions(r["pending"])]
            for r in rows
        ],
    )


def _versions(vs: list[int]) -> str:
    return ",".join(map(str, vs)) if vs else "-"


# --- status / doctor --------------------------------------------------------------------------


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Health at a glance: PostgreSQL, versions, migrations, indexes, outbox, embeddings.

    Exit code 0 when healthy, 1 when not. No secret is ever printed.
    """
    _status(ctx, as_json, verbose=False)


def doctor(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Like `status`, and lists every problem found with how to fix it (exit 1 if any)."""
    _status(ctx, as_json, verbose=True)


def _status(ctx: typer.Context, as_json: bool, *, verbose: bool) -> None:
    report = run(ctx, admin.status)
    if as_json:
        print_json(report)
    else:
        print_table("lghm doctor" if verbose else "lghm status", ["check", "value"], _rows(report))
        if verbose or not report["healthy"]:
            for problem in report["problems"]:
                typer.echo(f"problem: {problem}")
        if verbose and not report["problems"]:
            typer.echo("no problems found")
    raise typer.Exit(0 if report["healthy"] else 1)


def _retention_rows(retention: dict[str, Any] | None) -> list[list[Any]]:
    if retention is None:
        return []
    policy = retention["policy"]
    if policy is None:
        return [["checkpoint retention", "off (MEMORY_CHECKPOINT_TTL_MINUTES)"]]
    interval = policy.get("sweep_interval_minutes")
    every = f"swept every {interval:g} min" if interval else "no background sweeper"
    rows: list[list[Any]] = [
        [
            "checkpoint retention",
            f"{policy['strategy']} after {policy['default_ttl']:g} min, {every}, "
            f"{policy.get('sweep_limit')} threads per sweep",
        ]
    ]
    last = retention["last_sweep"]
    if last is None:
        return [*rows, ["last checkpoint sweep", "never"]]
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(last["last_sweep_at"]))
    return [
        *rows,
        ["last checkpoint sweep", f"{when} ({last['last_threads']} threads)"],
        [
            "checkpoint sweeps",
            f"{last['sweeps']} sweeps, {last['threads_swept']} threads swept "
            f"({last['delta_threads']} DeltaChannel), {last['skipped']} skipped",
        ],
    ]


def _rows(report: admin.StatusReport) -> list[list[Any]]:
    rows: list[list[Any]] = [
        ["memory type", report["memory_type"]],
        ["data directory", report["data_dir"]],
        ["embeddings", report["embeddings"]],
    ]
    pg = report.get("postgres")
    if pg is not None:
        rows += [["postgres", pg["url"]]]
        rows += [["reachable", pg["reachable"]] if pg.get("exists", True) else ["exists", "no"]]
        if pg["reachable"]:
            rows += [
                ["server version", pg["server_version"]],
                ["pgvector", pg["pgvector_version"] or "not installed"],
            ]
            for m in pg["migrations"]:
                rows.append([f"migrations: {m['part']}", _mig_state(m)])
            for i in pg["indexes"]:
                rows.append([f"index {i['index']}", i["state"]])
    replica = report.get("replica")
    if replica is not None:
        rows += [["read replica", replica["url"]], ["replica reachable", replica["reachable"]]]
        if replica["reachable"]:
            rows += [
                ["replica lag (bytes)", _or_dash(replica["lag_bytes"])],
                ["replica lag (s)", _or_dash(replica["lag_seconds"])],
                ["replica replay paused", "yes" if replica["replay_paused"] else "no"],
            ]
    rows += _retention_rows(report.get("retention"))
    local = report.get("local")
    if local is not None:
        rows.append(["local file", local["path"] if local["exists"] else "missing"])
        for m in local["migrations"]:
            rows.append([f"local: {m['part']}", _mig_state(m)])
        if "outbox_depth" in local:
            rows += [
                ["outbox depth", local["outbox_depth"]],
                ["outbox oldest pending (s)", local["outbox_oldest_age_seconds"] or "-"],
                ["dead letters", local["dead_letters"]],
            ]
        if "thread_conflicts" in local:
            rows.append(["thread conflicts (branches kept)", local["thread_conflicts"]])
    rows.append(["healthy", "yes" if report["healthy"] else "NO"])
    return rows


def _or_dash(value: Any) -> Any:
    return "-" if value is None else value


def _mig_state(m: dict[str, Any]) -> str:
    if m["pending"]:
        return f"{len(m['pending'])} pending"
    return f"up to date ({len(m['applied'])})"


# --- stats ------------------------------------------------------------------------------------


def stats(
    ctx: typer.Context,
    as_json: JsonOption = False,
    queries: Annotated[
        bool,
        typer.Option(
            "--queries", help="query analytics and access counts per user (index query_log)"
        ),
    ] = False,
) -> None:
    """Items per user, namespace and category; checkpoints and threads per tier; table sizes."""
    if queries:
        from langgraph_hybrid_memory.cli._quality_cmds import render_usage

        render_usage(run(ctx, admin.query_stats, empty={}, as_json=as_json), as_json)
        return
    out = run(ctx, admin.stats, empty={}, as_json=as_json)
    if as_json:
        print_json(out)
        return
    for tier, s in out.items():
        assert isinstance(s, dict)
        for label, key in (
            ("user", "users"),
            ("category", "categories"),
            ("namespace", "namespaces"),
        ):
            print_table(f"{tier}: items per {label}", [label, "items"], _pairs(s[key]))
        print_table(
            f"{tier}: checkpoints", ["checkpoints", "threads"], [[s["checkpoints"], s["threads"]]]
        )
        if s.get("tables"):
            print_table(
                f"{tier}: tables",
                ["table", "rows", "bytes"],
                [[t["table"], t["rows"], t.get("bytes")] for t in s["tables"]],
            )


def _pairs(d: dict[str, int]) -> list[list[Any]]:
    return [[k, v] for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))]


# --- search / recent --------------------------------------------------------------------------


def search(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="the user id (namespace ('users', USER))")],
    query: Annotated[str, typer.Argument(help="what the agent would ask")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="how many results")] = 5,
    as_json: JsonOption = False,
) -> None:
    """What the agent would recall: the store's search under ('users', USER)."""
    rows = run(
        ctx, lambda cli: admin.search(cli, user, query, limit=limit), empty=[], as_json=as_json
    )
    if as_json:
        print_json(rows)
        return
    print_table(
        f"recall for {user!r}: {query!r}",
        ["score", "namespace", "key", "value"],
        [
            [
                None if r["score"] is None else round(r["score"], 4),
                ".".join(r["namespace"]),
                r["key"],
                _short(r["value"]),
            ]
            for r in rows
        ],
        empty=f"no memories of {user!r} match",
    )


def _short(value: Any, width: int = 60) -> str:
    import json

    text = (
        value.get("text")
        if isinstance(value, dict) and isinstance(value.get("text"), str)
        else None
    )
    text = text if text is not None else json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 1] + "…"


def recent(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="only this user's memories")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="how many")] = 10,
    as_json: JsonOption = False,
) -> None:
    """The latest memories (newest first), of everyone or of one user."""
    rows = run(
        ctx, lambda cli: admin.recent(cli, user=user, limit=limit), empty=[], as_json=as_json
    )
    if as_json:
        print_json(rows)
        return
    print_table(
        "recent memories" + (f" of {user!r}" if user else ""),
        ["updated", "namespace", "key", "value"],
        [
            [r["updated_at"][:19], ".".join(r["namespace"]), r["key"], _short(r["value"])]
            for r in rows
        ],
        empty="no memories yet",
    )


def register(app: typer.Typer) -> None:
    app.command("setup")(setup)
    app.command("status")(status)
    app.command("doctor")(doctor)
    app.command("stats")(stats)
    app.command("search")(search)
    app.command("recent")(recent)
