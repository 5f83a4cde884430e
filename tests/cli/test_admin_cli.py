"""`lghm setup / status / doctor / stats / search / recent / sweep`, in-process, on a real
PostgreSQL and real SQLite files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.cli import CliContext, app
from langgraph_hybrid_memory.localstore import LocalStore
from langgraph_hybrid_memory.store import PgVectorStore
from tests.support import FakeEmbeddings

runner = CliRunner()
SECRET = "S3cretPa55word"


def env_for(pg_url: str, data_dir: Path, memory_type: str = "hybrid") -> dict[str, str]:
    return {
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(data_dir),
        "MEMORY_TYPE": memory_type,
        "MEMORY_EMBEDDINGS": "none",
        "OPENAI_API_KEY": "",
    }


def invoke(args: list[str], env: dict[str, str], emb: Any = None) -> Any:
    return runner.invoke(app, args, env=env, obj=CliContext(embeddings=emb))


def with_password(url: str) -> str:
    params = conninfo_to_dict(url)
    params["password"] = SECRET
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


def test_help_for_every_command() -> None:
    for command in (
        "setup",
        "status",
        "doctor",
        "stats",
        "search",
        "recent",
        "forget",
        "prune",
        "sweep",
        "dedup",
    ):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_setup_list_creates_nothing_then_setup_creates_everything(
    pg_url: str, tmp_path: Path
) -> None:
    env = env_for(pg_url, tmp_path / "data")
    emb = FakeEmbeddings(dims=16)
    listed = invoke(["setup", "--list", "--json"], env, emb)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert {r["part"] for r in rows if r["tier"] == "postgres"} == {
        "store",
        "store vectors",
        "checkpoints",
        "tombstones",
        "embedding cache",
        "store tombstones",
        "memory quality",
        "session log",
    }
    assert all(r["pending"] and not r["applied"] for r in rows)
    with psycopg.connect(pg_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', "
            "'information_schema')"
        ).fetchone()
        ext = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone()
    assert "memory" not in schemas and tables == (0,) and ext == (0,)
    assert not (tmp_path / "data").exists()

    done = invoke(["setup", "--json"], env, emb)
    assert done.exit_code == 0, done.output
    assert [r for r in json.loads(done.stdout) if r["pending"]] == []
    with psycopg.connect(pg_url) as conn:
        for table in (
            "memory.items",
            "memory.vectors",
            "memory.embedding_cache",
            "memory.memory_duplicates",
            "memory.item_access",
            "memory.query_log",
            "memory.session_log",
            "public.checkpoints",
            "public.checkpoint_writes",
            "public.lghm_checkpoint_tombstones",
            "memory.store_tombstones",
        ):
            assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,), table
    local = sqlite3.connect(tmp_path / "data" / "memory.sqlite")
    names = {r[0] for r in local.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    local.close()
    assert {"lghm_store", "lghm_checkpoints", "lghm_outbox", "lghm_embedding_cache"} <= names
    again = invoke(["setup", "--list"], env, emb)
    assert again.exit_code == 0 and "pending" in again.stdout


def test_status_healthy_after_setup_and_never_prints_the_password(
    pg_url: str, tmp_path: Path
) -> None:
    env = env_for(with_password(pg_url), tmp_path)
    before = invoke(["status", "--json"], env)
    assert before.exit_code == 1
    report = json.loads(before.stdout)
    assert not report["healthy"] and any("lghm setup" in p for p in report["problems"])
    assert invoke(["setup"], env).exit_code == 0
    for command in (["status"], ["status", "--json"], ["doctor"], ["doctor", "--json"]):
        result = invoke(command, env)
        assert result.exit_code == 0, result.output
        assert SECRET not in result.output
    report = json.loads(invoke(["status", "--json"], env).stdout)
    pg = report["postgres"]
    assert pg["reachable"] and pg["server_version"].startswith("18")
    assert pg["pgvector_version"] is None  # keyword-only config: no vectors, no extension
    assert report["embeddings"] == "none"
    assert {i["state"] for i in pg["indexes"]} == {"valid"}
    assert report["local"]["outbox_depth"] == 0 and report["local"]["dead_letters"] == 0


def test_status_unreachable_is_unhealthy_without_secret(tmp_path: Path) -> None:
    url = f"postgresql://admin:{SECRET}@127.0.0.1:1/nowhere"
    result = invoke(["status", "--json"], env_for(url, tmp_path, "postgres"))
    assert result.exit_code == 1
    assert SECRET not in result.output
    report = json.loads(result.stdout)
    assert report["postgres"]["reachable"] is False and "***" in report["postgres"]["url"]


def test_status_reports_outbox_lag_and_dead_letters(pg_url: str, tmp_path: Path) -> None:
    env = env_for(pg_url, tmp_path)
    assert invoke(["setup"], env).exit_code == 0
    db = LocalDB.open(tmp_path / "memory.sqlite")
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO lghm_outbox (stream, kind, payload, created_at) VALUES (?, ?, ?, ?)",
            ("checkpoint:t", "checkpoint.put", "{}", 1000.0),
        )
        conn.execute(
            "INSERT INTO lghm_outbox_dead (seq, stream, kind, payload, created_at, attempts, "
            "error, failed_at) VALUES (99, 's', 'k', '{}', 1.0, 20, 'boom', 2.0)"
        )
    db.close()
    result = invoke(["doctor", "--json"], env)
    assert result.exit_code == 1
    local = json.loads(result.stdout)["local"]
    assert local["outbox_depth"] == 1 and local["dead_letters"] == 1
    assert local["outbox_oldest_age_seconds"] > 1e9  # created at t=1000 s of the epoch


def _fill(pg_url: str, sqlite_file: Path, emb: FakeEmbeddings) -> None:
    with PgVectorStore.from_conn_string(pg_url, index={"dims": emb.dims, "embed": emb}) as pg:
        pg.setup()
        pg.put(("users", "alice", "memories"), "m1", {"text": "alice likes green tea"})
        pg.put(("users", "alice", "prefs"), "p1", {"text": "alice prefers short answers"})
        pg.put(("users", "bob", "memories"), "m1", {"text": "bob drives an old car"})
        pg.put(("docs",), "d1", {"text": "manual"})
        pg.put(("users", "bob", "memories"), "gone", {"text": "old"}, ttl=0.0001)
    store = LocalStore(sqlite_file, index={"embed": emb})
    store.setup()
    store.put(("users", "carol", "memories"), "m1", {"text": "carol plays chess"})
    store.put(("users", "carol", "memories"), "gone", {"text": "old"}, ttl=0.0001)
    store.close()


def test_stats_search_recent_sweep(pg_url: str, tmp_path: Path) -> None:
    import time

    emb = FakeEmbeddings(dims=16)
    env = env_for(pg_url, tmp_path)
    assert invoke(["setup"], env, emb).exit_code == 0
    _fill(pg_url, tmp_path / "memory.sqlite", emb)
    time.sleep(0.02)  # let the two tiny TTLs (6 ms) pass: not a timing assertion

    stats = invoke(["stats", "--json"], env, emb)
    assert stats.exit_code == 0, stats.output
    s = json.loads(stats.stdout)
    assert s["postgres"]["users"] == {"alice": 2, "bob": 2}
    assert s["postgres"]["categories"] == {"memories": 3, "prefs": 1, "docs": 1}
    assert s["postgres"]["namespaces"]["users.alice.prefs"] == 1
    assert s["local"]["users"] == {"carol": 2}
    tables = {t["table"]: t for t in s["postgres"]["tables"]}
    assert tables["memory.items"]["rows"] == 5 and tables["memory.items"]["bytes"] > 0
    assert invoke(["stats"], env, emb).exit_code == 0

    found = invoke(["search", "alice", "green tea", "--json"], env, emb)
    assert found.exit_code == 0, found.output
    hits = json.loads(found.stdout)
    assert hits[0]["key"] == "m1" and hits[0]["namespace"] == ["users", "alice", "memories"]
    assert all(h["namespace"][:2] == ["users", "alice"] for h in hits)
    assert "green tea" in invoke(["search", "alice", "green tea"], env, emb).stdout

    recent = json.loads(invoke(["recent", "--user", "bob", "--json"], env, emb).stdout)
    assert [r["key"] for r in recent] == ["m1"]  # the expired item is not shown
    everyone = json.loads(invoke(["recent", "--limit", "2", "--json"], env, emb).stdout)
    assert len(everyone) == 2

    dry = json.loads(invoke(["sweep", "--dry-run", "--json"], env, emb).stdout)
    assert dry["postgres"]["expired_items"] == 1 and dry["local"]["expired_items"] == 1
    swept = json.loads(invoke(["sweep", "--batch-size", "1", "--json"], env, emb).stdout)
    assert swept["postgres"]["expired_items"] == 1 and swept["local"]["expired_items"] == 1
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM memory.items").fetchone() == (4,)


def test_sqlite_memory_type_reads_the_local_file(tmp_path: Path) -> None:
    emb = FakeEmbeddings(dims=16)
    env = env_for("postgresql://unused@127.0.0.1:1/x", tmp_path, "sqlite")
    assert invoke(["setup"], env, emb).exit_code == 0
    conn = sqlite3.connect(tmp_path / "memory.sqlite")
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {"checkpoints", "writes", "lghm_store"} <= names  # SqliteSaver's tables too
    store = LocalStore(tmp_path / "memory.sqlite", index={"embed": emb})
    store.put(("users", "dana", "memories"), "m1", {"text": "dana runs marathons"})
    store.close()
    hits = json.loads(invoke(["search", "dana", "running", "--json"], env, emb).stdout)
    assert [h["key"] for h in hits] == ["m1"]
    assert invoke(["status"], env, emb).exit_code == 0


@pytest.mark.parametrize("command", [["prune"], ["prune", "--older-than", "soon"]])
def test_prune_needs_a_rule(command: list[str], tmp_path: Path) -> None:
    result = invoke(command, env_for("postgresql://u@127.0.0.1:1/x", tmp_path, "sqlite"))
    assert result.exit_code == 2
