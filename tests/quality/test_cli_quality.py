"""`lghm dedup` in-process on each persistent MEMORY_TYPE (real PostgreSQL, real SQLite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from langgraph_hybrid_memory import HybridStore, LocalStore, PgVectorStore
from langgraph_hybrid_memory._pg import get_connection
from tests.cli.test_admin_cli import env_for, invoke
from tests.support import FakeEmbeddings

NS = ("users", "ann", "memories")


@pytest.mark.parametrize("memory_type", ["postgres", "sqlite", "hybrid"])
def test_dedup_dry_run_then_yes(memory_type: str, pg_url: str, tmp_path: Path) -> None:
    emb = FakeEmbeddings(dims=16)
    index = {"dims": 16, "embed": emb}
    env = env_for(pg_url, tmp_path, memory_type)
    values = [("k1", "likes tea"), ("k2", "likes tea"), ("k3", "owns a bike")]
    if memory_type == "postgres":
        conn = get_connection(pg_url)
        store = PgVectorStore(conn, index=index)  # type: ignore[arg-type]
        store.setup()
        for k, t in values:
            store.put(NS, k, {"text": t})
        conn.close()
    elif memory_type == "sqlite":
        with LocalStore(tmp_path / "memory.sqlite", index={"embed": emb}) as local:
            for k, t in values:
                local.put(NS, k, {"text": t})
    else:
        with HybridStore(tmp_path / "memory.sqlite", pg_url, index=index) as hy:  # type: ignore[arg-type]
            hy.setup()
            for k, t in values:
                hy.put(NS, k, {"text": t})
    dry = invoke(["dedup", "--user", "ann"], env, emb)
    assert dry.exit_code == 0, dry.output
    assert "3 memories, 2 distinct; would merge 1 duplicates" in dry.output
    assert "dry run: nothing changed" in dry.output
    done = invoke(["dedup", "--user", "ann", "--yes", "--json"], env, emb)
    assert done.exit_code == 0, done.output
    report = json.loads(done.output)
    assert (report["removed"], report["dry_run"], report["duplicates"][0]["key"]) == (
        1,
        False,
        "k1",
    )
    again = invoke(["dedup", "--user", "ann", "--json"], env, emb)
    assert json.loads(again.output)["duplicates"] == []
    bad = invoke(["dedup", "--user", "ann", "--threshold", "2"], env, emb)
    assert bad.exit_code == 2 and "threshold" in bad.output


@pytest.mark.parametrize("memory_type", ["postgres", "sqlite"])
def test_forget_erases_duplicates_access_and_query_log(
    memory_type: str, pg_url: str, tmp_path: Path
) -> None:
    emb = FakeEmbeddings(dims=16)
    extra = {"track_access": True, "query_log": {"enabled": True, "store_text": True}}
    env = env_for(pg_url, tmp_path, memory_type)
    for user in ("ann", "ann_b"):
        ns = ("users", user, "memories")
        if memory_type == "postgres":
            conn = get_connection(pg_url)
            store: Any = PgVectorStore(conn, index={"dims": 16, "embed": emb, **extra})  # type: ignore[arg-type]
            store.setup()
        else:
            conn = None
            store = LocalStore(tmp_path / "memory.sqlite", index={"embed": emb, **extra})  # type: ignore[arg-type]
        store.put(ns, "k1", {"text": "likes tea"})
        store.put(ns, "k2", {"text": "likes tea"})
        store.search(("users", user), query="tea")
        store.flush_usage()
        assert invoke(["dedup", "--user", user, "--yes"], env, emb).exit_code == 0
        if conn is not None:
            conn.close()
        else:
            store.close()
    out = invoke(["forget", "--user", "ann", "--json"], env, emb)
    assert out.exit_code == 0, out.output
    if memory_type == "postgres":
        with psycopg.connect(pg_url) as c:
            for table, col in (
                ("memory_duplicates", "namespace"),
                ("item_access", "namespace"),
                ("query_log", "namespace_prefix"),
            ):
                users = c.execute(f"SELECT DISTINCT {col}[2] FROM memory.{table}").fetchall()
                assert users == [("ann_b",)], table
    else:
        import sqlite3

        with sqlite3.connect(tmp_path / "memory.sqlite") as c:
            for table in ("lghm_memory_duplicates", "lghm_item_access", "lghm_query_log"):
                col = "namespace_prefix" if table == "lghm_query_log" else "namespace"
                rows = c.execute(f"SELECT DISTINCT {col} FROM {table}").fetchall()
                assert rows and all(r[0].startswith("users.ann_b") for r in rows), table
