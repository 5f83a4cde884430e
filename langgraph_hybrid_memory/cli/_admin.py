"""`lghm setup`, `status`, `doctor`, `stats`, `search`, `recent`."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import psycopg
import typer
from langgraph.store.base import BaseStore
from psycopg import Connection, sql
from psycopg.rows import DictRow

from langgraph_hybrid_memory.cli._context import (
    CliContext,
    config_or_fail,
    fail,
    get_context,
    nothing_yet,
    print_json,
    print_table,
    table_exists,
)
from langgraph_hybrid_memory.cli._parts import (
    local_setup,
    local_status,
    pg_parts,
    pg_setup,
    pg_status,
)
from langgraph_hybrid_memory.errors import ConfigError, MemoryNotFoundError
from langgraph_hybrid_memory.store._schema import PGVECTOR_AVAILABLE, pgvector_missing_message

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for programs")]

SERVER_VERSION = "SHOW server_version"
INDEXES = """
SELECT n.nspname AS schema, c.relname AS name, i.indisvalid AS valid
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%s)
"""
LOCAL_OUTBOX = "SELECT count(*), min(created_at) FROM lghm_outbox"
LOCAL_DEAD = "SELECT count(*) FROM lghm_outbox_dead"
LOCAL_NAMESPACES = "SELECT namespace, count(*) FROM lghm_store GROUP BY namespace"
LOCAL_CHECKPOINTS = "SELECT count(*), count(DISTINCT thread_id) FROM lghm_checkpoints"
SQLITE_SAVER_CHECKPOINTS = "SELECT count(*), count(DISTINCT thread_id) FROM checkpoints"
LOCAL_TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' "
    "AND (name LIKE 'lghm%' OR name IN ('checkpoints', 'writes'))"
)
LOCAL_RECENT = (
    "SELECT namespace, key, value, updated_at FROM lghm_store "
    "WHERE (expires_at IS NULL OR expires_at > ?) {where} "
    "ORDER BY updated_at DESC, ns_sort, key LIMIT ?"
)
LOCAL_USER_RANGE = "AND (namespace = ? OR (namespace >= ? AND namespace < ?))"


def _pg_namespaces(schema: str) -> sql.Composed:
    return sql.SQL("SELECT namespace, count(*) AS n FROM {}.items GROUP BY namespace").format(
        sql.Identifier(schema)
    )


def _pg_recent(schema: str, by_user: bool) -> sql.Composed:
    where = sql.SQL("AND namespace[1] = 'users' AND namespace[2] = %s" if by_user else "")
    return sql.SQL(
        "SELECT namespace, key, value, updated_at FROM {}.items "
        "WHERE (expires_at IS NULL OR expires_at > now()) {} "
        "ORDER BY updated_at DESC, namespace, key LIMIT %s"
    ).format(sql.Identifier(schema), where)


PG_CHECKPOINTS = "SELECT count(*) AS n, count(DISTINCT thread_id) AS t FROM checkpoints"
PG_TABLE_SIZES = """
SELECT n.nspname AS schema, c.relname AS name, pg_total_relation_size(c.oid) AS bytes,
       c.reltuples::bigint AS rows_estimate
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND (n.nspname = %s OR (n.nspname = 'public' AND c.relname = ANY(%s)))
ORDER BY 1, 2
"""
EXACT_COUNT_BELOW = 100_000
PG_CHECKPOINT_TABLES = [
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "checkpoint_migrations",
    "lghm_checkpoint_tombstones",
    "lghm_checkpoint_migrations",
]


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
    cli = get_context(ctx)
    config_or_fail(cli)
    try:
        if not list_only:
            if cli.uses_postgres:
                with cli.pg() as conn:
                    pg_setup(conn, cli)
            if cli.uses_local_file:
                local_setup(cli)
        rows = _migration_rows(cli, create=not list_only)
        if list_only and cli.uses_local_file and not cli.uses_postgres:
            cli.require_local_file()
    except MemoryNotFoundError as exc:  # `--list` never creates the embedded server
        raise nothing_yet(exc, [], as_json) from None
    except (ConfigError, psycopg.OperationalError) as exc:
        raise fail(_safe(exc, cli)) from None
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


def _migration_rows(cli: CliContext, *, create: bool = True) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if cli.uses_postgres:
        with cli.pg(create=create) as conn:
            rows += pg_status(conn, cli)
    if cli.uses_local_file:
        with cli.local_read() as lconn:
            rows += local_status(lconn, str(cli.sqlite_path))
    return rows


def _safe(exc: BaseException, cli: CliContext) -> str:
    """An error message with the configured password removed."""
    from langgraph_hybrid_memory._outbox import redact

    text = redact(str(exc))
    url = cli.config.database_url if cli.config is not None else None
    if url:
        from urllib.parse import urlsplit

        password = urlsplit(url).password if "://" in url else None
        if password:
            text = text.replace(password, "***")
    return f"{type(exc).__name__}: {text}"


# --- status / doctor --------------------------------------------------------------------------


def _check(cli: CliContext) -> dict[str, Any]:
    cfg = cli.cfg
    report: dict[str, Any] = {
        "memory_type": cfg.memory_type,
        "data_dir": str(cfg.data_dir),
        "embeddings": cli.model_label(),
        "problems": [],
    }
    problems: list[str] = report["problems"]
    if cli.uses_postgres:
        pg: dict[str, Any] = {"url": cli.pg_label(), "reachable": False}
        report["postgres"] = pg
        try:
            with cli.pg(connect_timeout=5, create=False) as conn:
                pg["reachable"] = True
                pg.update(_pg_health(conn, cli, problems))
        except MemoryNotFoundError as exc:  # looking never creates the embedded server
            pg["exists"] = False
            problems.append(f"no memory yet: {exc}")
        except psycopg.OperationalError as exc:
            pg["error"] = _safe(exc, cli)
            problems.append("PostgreSQL is unreachable: check DATABASE_URL and the server")
    if cli.uses_local_file:
        report["local"] = _local_health(cli, problems)
    report["healthy"] = not problems
    return report


def _pg_health(conn: Connection[DictRow], cli: CliContext, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    row = conn.execute(SERVER_VERSION).fetchone()
    out["server_version"] = row["server_version"] if row else None
    row = conn.execute(PGVECTOR_AVAILABLE).fetchone()
    out["pgvector_version"] = row["installed"] if row else None
    blocked = False  # `lghm setup` cannot succeed here: do not send the user to it
    if out["pgvector_version"] is None and cli.model() is not None:
        if row is not None and row["creatable"]:
            problems.append("pgvector is not created in this database yet: run `lghm setup`")
        else:
            # `lghm setup` would fail: say why and that MEMORY_EMBEDDINGS=none works here.
            blocked = True
            problems.append(pgvector_missing_message(bool(row and row["available"])))
    migrations = pg_status(conn, cli)
    out["migrations"] = migrations
    for st in migrations:
        if st["pending"] and not blocked:
            problems.append(f"{st['part']}: migrations {st['pending']} pending: run `lghm setup`")
    schemas = sorted({p.schema for p in pg_parts(cli)})
    found = {(r["schema"], r["name"]): bool(r["valid"]) for r in conn.execute(INDEXES, (schemas,))}
    indexes = []
    for part in pg_parts(cli):
        for m in part.migrations:
            if m.index is None:
                continue
            valid = found.get((part.schema, m.index))
            state = "missing" if valid is None else ("valid" if valid else "INVALID")
            indexes.append({"schema": part.schema, "index": m.index, "state": state})
            if not valid and not blocked:
                problems.append(f"index {part.schema}.{m.index} is {state}: run `lghm setup`")
    out["indexes"] = indexes
    return out


def _local_health(cli: CliContext, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"path": str(cli.sqlite_path), "exists": cli.sqlite_path.exists()}
    with cli.local_read() as conn:
        out["migrations"] = local_status(conn, str(cli.sqlite_path))
        if conn is None:
            problems.append(f"local file {cli.sqlite_path} does not exist: run `lghm setup`")
            return out
        for m in out["migrations"]:
            if m["pending"]:
                problems.append(f"local {m['part']}: not set up: run `lghm setup`")
        if table_exists(conn, "lghm_outbox"):
            depth, oldest = conn.execute(LOCAL_OUTBOX).fetchone()
            out["outbox_depth"] = int(depth)
            out["outbox_oldest_age_seconds"] = (
                None if oldest is None else round(time.time() - float(oldest), 3)
            )
            dead = int(conn.execute(LOCAL_DEAD).fetchone()[0])
            out["dead_letters"] = dead
            if dead:
                problems.append(
                    f"{dead} outbox entries failed permanently (lghm_outbox_dead); inspect them"
                )
    return out


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Health at a glance: PostgreSQL, versions, migrations, indexes, outbox, embeddings.

    Exit code 0 when healthy, 1 when not. No secret is ever printed.
    """
    _status(ctx, as_json, verbose=False)


def doctor(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Like `status`, and lists every problem found with how to fix it (exit 1 if any)."""
    _status(ctx, as_json, verbose=True)


def _status(ctx: typer.Context, as_json: bool, *, verbose: bool) -> None:
    cli = get_context(ctx)
    config_or_fail(cli)
    try:
        report = _check(cli)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json(report)
    else:
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
        rows.append(["healthy", "yes" if report["healthy"] else "NO"])
        print_table("lghm status", ["check", "value"], rows)
        if verbose or not report["healthy"]:
            for problem in report["problems"]:
                typer.echo(f"problem: {problem}")
    raise typer.Exit(0 if report["healthy"] else 1)


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
    cli = get_context(ctx)
    config_or_fail(cli)
    if queries:
        from langgraph_hybrid_memory.cli._quality_cmds import render_usage

        render_usage(cli, as_json)
        return
    out: dict[str, Any] = {}
    try:
        if cli.uses_postgres:
            with cli.pg(create=False) as conn:
                out["postgres"] = _pg_stats(conn, cli.schema)
        if cli.uses_local_file:
            if not cli.uses_postgres:
                cli.require_local_file()
            out["local"] = _local_stats(cli)
    except MemoryNotFoundError as exc:
        raise nothing_yet(exc, {}, as_json) from None
    except (psycopg.OperationalError, ConfigError) as exc:
        raise fail(_safe(exc, cli)) from None
    if as_json:
        print_json(out)
        return
    for tier, s in out.items():
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


def _tally(namespaces: list[tuple[tuple[str, ...], int]]) -> dict[str, dict[str, int]]:
    users: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    nss: Counter[str] = Counter()
    for ns, n in namespaces:
        nss[".".join(ns)] += n
        if ns:
            cats[ns[-1]] += n
        if len(ns) >= 2 and ns[0] == "users":
            users[ns[1]] += n
    return {"users": dict(users), "categories": dict(cats), "namespaces": dict(nss)}


def _pg_stats(conn: Connection[DictRow], schema: str) -> dict[str, Any]:
    present = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL AS items, to_regclass('public.checkpoints') "
        "IS NOT NULL AS cps",
        (f"{schema}.items",),
    ).fetchone()
    assert present is not None
    namespaces = (
        [(tuple(r["namespace"]), int(r["n"])) for r in conn.execute(_pg_namespaces(schema))]
        if present["items"]
        else []
    )
    out: dict[str, Any] = _tally(namespaces)
    out["items"] = sum(n for _, n in namespaces)
    cp = conn.execute(PG_CHECKPOINTS).fetchone() if present["cps"] else None
    out["checkpoints"] = int(cp["n"]) if cp else 0
    out["threads"] = int(cp["t"]) if cp else 0
    out["tables"] = []
    for r in conn.execute(PG_TABLE_SIZES, (schema, PG_CHECKPOINT_TABLES)).fetchall():
        rows = int(r["rows_estimate"])
        if rows < EXACT_COUNT_BELOW:
            # Small or never analyzed (the estimate is then 0 or -1): count exactly; big tables
            # keep the planner's estimate so `stats` stays cheap.
            count = sql.SQL("SELECT count(*) AS n FROM {}").format(
                sql.Identifier(r["schema"], r["name"])
            )
            found = conn.execute(count).fetchone()
            rows = int(found["n"]) if found else 0
        out["tables"].append(
            {"table": f"{r['schema']}.{r['name']}", "rows": rows, "bytes": int(r["bytes"])}
        )
    return out


def _local_stats(cli: CliContext) -> dict[str, Any]:
    with cli.local_read() as conn:
        if conn is None:
            return {**_tally([]), "items": 0, "checkpoints": 0, "threads": 0, "tables": []}
        namespaces: list[tuple[tuple[str, ...], int]] = []
        if table_exists(conn, "lghm_store"):
            namespaces = [
                (tuple(ns.split(".")), int(n)) for ns, n in conn.execute(LOCAL_NAMESPACES)
            ]
        out: dict[str, Any] = _tally(namespaces)
        out["items"] = sum(n for _, n in namespaces)
        out["checkpoints"] = out["threads"] = 0
        # HybridSaver's local tier, or langgraph's SqliteSaver (MEMORY_TYPE=sqlite).
        for table, query in (
            ("lghm_checkpoints", LOCAL_CHECKPOINTS),
            ("checkpoints", SQLITE_SAVER_CHECKPOINTS),
        ):
            if table_exists(conn, table):
                n, t = conn.execute(query).fetchone()
                out["checkpoints"] += int(n)
                out["threads"] += int(t)
        tables = []
        for (name,) in conn.execute(LOCAL_TABLES).fetchall():
            # Names come from sqlite_master; quoting keeps odd names harmless.
            quoted = '"' + name.replace('"', '""') + '"'
            rows = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]
            tables.append({"table": name, "rows": int(rows)})
        out["tables"] = sorted(tables, key=lambda t: t["table"])
        out["file_bytes"] = cli.sqlite_path.stat().st_size
        return out


# --- search / recent --------------------------------------------------------------------------


@contextmanager
def open_store(cli: CliContext) -> Iterator[BaseStore]:
    """The store the agent uses: PgVectorStore (postgres, hybrid) or LocalStore (sqlite)."""
    if cli.uses_postgres:
        from langgraph_hybrid_memory.store import PgVectorStore

        with cli.pg(create=False) as conn:
            yield PgVectorStore(conn, index=cli.store_index(), schema=cli.schema)  # type: ignore[arg-type]
    elif cli.uses_local_file:
        from langgraph_hybrid_memory.localstore import LocalStore

        cli.require_local_file()  # opening a LocalStore would create it

        model = cli.model()
        index: Any = (
            {"fields": ["$"], "search_mode": "keyword"} if model is None else {"embed": model}
        )
        store = LocalStore(cli.sqlite_path, index=index)
        try:
            yield store
        finally:
            store.close()
    else:
        raise ConfigError("MEMORY_TYPE=memory keeps nothing between runs: nothing to inspect")


def search(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="the user id (namespace ('users', USER))")],
    query: Annotated[str, typer.Argument(help="what the agent would ask")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="how many results")] = 5,
    as_json: JsonOption = False,
) -> None:
    """What the agent would recall: the store's search under ('users', USER)."""
    cli = get_context(ctx)
    config_or_fail(cli)
    try:
        with open_store(cli) as store:
            hits = store.search(("users", user), query=query, limit=limit)
    except MemoryNotFoundError as exc:
        raise nothing_yet(exc, [], as_json) from None
    except (psycopg.Error, ConfigError) as exc:
        raise fail(_safe(exc, cli)) from None
    rows: list[dict[str, Any]] = [
        {
            "namespace": list(h.namespace),
            "key": h.key,
            "value": h.value,
            "score": h.score,
            "updated_at": h.updated_at.isoformat(),
        }
        for h in hits
    ]
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
    cli = get_context(ctx)
    config_or_fail(cli)
    try:
        rows = _recent_rows(cli, user, limit)
    except MemoryNotFoundError as exc:
        raise nothing_yet(exc, [], as_json) from None
    except (psycopg.Error, ConfigError, sqlite3.Error) as exc:
        raise fail(_safe(exc, cli)) from None
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
    )


def _recent_rows(cli: CliContext, user: str | None, limit: int) -> list[dict[str, Any]]:
    import datetime as dt
    import json

    if cli.uses_postgres:
        with cli.pg(create=False) as conn:
            params: list[Any] = ([user] if user is not None else []) + [limit]
            return [
                {
                    "namespace": list(r["namespace"]),
                    "key": r["key"],
                    "value": r["value"],
                    "updated_at": r["updated_at"].isoformat(),
                }
                for r in conn.execute(_pg_recent(cli.schema, user is not None), params)
            ]
    cli.require_local_file()
    with cli.local_read() as lconn:
        if lconn is None or not table_exists(lconn, "lghm_store"):
            return []
        where = ""
        lparams: list[Any] = [time.time()]
        if user is not None:
            base = f"users.{user}"
            where, lparams = LOCAL_USER_RANGE, [*lparams, base, base + ".", base + "/"]
        query = LOCAL_RECENT.replace("{where}", where)
        return [
            {
                "namespace": ns.split("."),
                "key": key,
                "value": json.loads(value),
                "updated_at": dt.datetime.fromtimestamp(float(ts), dt.UTC).isoformat(),
            }
            for ns, key, value, ts in lconn.execute(query, [*lparams, limit])
        ]


def register(app: typer.Typer) -> None:
    app.command("setup")(setup)
    app.command("status")(status)
    app.command("doctor")(doctor)
    app.command("stats")(stats)
    app.command("search")(search)
    app.command("recent")(recent)
