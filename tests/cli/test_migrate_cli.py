"""`lghm migrate / export / import`, run in-process, on real SQLite files and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.sqlite import SqliteStore
from typer.testing import CliRunner

from langgraph_hybrid_memory._transfer import list_thread_ids
from langgraph_hybrid_memory.cli import app
from tests.transfer.test_transfer import _fill_store, _run_threads, _snapshot

runner = CliRunner()


@pytest.fixture
def langgraph_sqlite_file(tmp_path: Path) -> Path:
    """A file written by langgraph's own SqliteSaver and SqliteStore."""
    path = tmp_path / "langgraph.sqlite"
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    saver = SqliteSaver(conn)
    saver.setup()
    _run_threads(saver)
    store = SqliteStore(conn)
    store.setup()
    _fill_store(store)
    conn.close()
    return path


def test_help_for_every_command() -> None:
    for command in ("migrate", "export", "import"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_dry_run_counts_and_changes_nothing(langgraph_sqlite_file: Path, pg_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "migrate",
            "--from",
            f"sqlite:{langgraph_sqlite_file}",
            "--to",
            f"postgres:{pg_url}",
            "--dry-run",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert counts["threads"] == 3 and counts["items"] == 1207 and counts["checkpoints"] > 10
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('public.checkpoints')").fetchone() == (None,)


def test_migrate_sqlite_to_postgres_reads_back_through_plain_postgres_saver(
    langgraph_sqlite_file: Path, pg_url: str
) -> None:
    args = [
        "migrate",
        "--from",
        f"sqlite:{langgraph_sqlite_file}",
        "--to",
        f"postgres:{pg_url}",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["threads"] == 3 and report["items"] == 1207 and report["verified"] is True
    conn = sqlite3.connect(langgraph_sqlite_file, check_same_thread=False)
    source = SqliteSaver(conn)
    with PostgresSaver.from_conn_string(pg_url) as plain:
        assert list_thread_ids(plain) == list_thread_ids(source)
        for thread in list_thread_ids(source):
            assert _snapshot(plain, thread) == _snapshot(source, thread)
    conn.close()
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert json.loads(again.stdout)["threads_skipped"] == 3


def test_export_then_import_round_trip(langgraph_sqlite_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "dump.jsonl"
    exported = runner.invoke(
        app, ["export", "--from", f"sqlite:{langgraph_sqlite_file}", str(out), "--json"]
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["verified"] is True
    target = tmp_path / "copy.sqlite"
    imported = runner.invoke(app, ["import", str(out), "--to", f"sqlite:{target}", "--json"])
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["items"] == 1207
    a = sqlite3.connect(langgraph_sqlite_file, check_same_thread=False)
    b = sqlite3.connect(target, check_same_thread=False)
    for thread in list_thread_ids(SqliteSaver(a)):
        assert _snapshot(SqliteSaver(b), thread) == _snapshot(SqliteSaver(a), thread)
    a.close()
    b.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "mysql://x", "--to", "a.jsonl"], "--from 'mysql://x' is not understood"),
        (["--from", "sqlite:/nonexistent/x.db", "--to", "b.jsonl"], "does not exist"),
        (["--from", "a.jsonl", "--to", "b.jsonl"], "both JSONL files"),
        (
            ["--from", "sqlite:x", "--to", "y.jsonl", "--what", "everything"],
            "threads, items or all",
        ),
    ],
)
def test_bad_endpoints_are_named(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["migrate", *args])
    assert result.exit_code == 2
    assert message in result.output
