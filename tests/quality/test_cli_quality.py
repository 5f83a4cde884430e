"""`lghm dedup` in-process on each persistent MEMORY_TYPE (real PostgreSQL, real SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

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
