"""Done-when of the CLI issue: a thread and memories written by langgraph's own SqliteSaver and
SqliteStore move into PostgreSQL with `lghm migrate --to lghm:` and read back through this package
(PgVectorStore search, HybridSaver get_tuple) and through a plain PostgresSaver; memories are
re-embedded with the target's model."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.sqlite import SqliteStore
from typer.testing import CliRunner

from langgraph_hybrid_memory._transfer import list_thread_ids
from langgraph_hybrid_memory.checkpoint import HybridSaver
from langgraph_hybrid_memory.cli import CliContext, app
from langgraph_hybrid_memory.localstore import LocalStore
from langgraph_hybrid_memory.store import PgVectorStore
from tests.support import FakeEmbeddings
from tests.transfer.test_transfer import _run_threads, _snapshot

runner = CliRunner()

MEMORIES = {
    ("users", "ann", "memories"): {
        "tea": {"text": "ann likes green tea"},
        "bike": {"text": "ann cycles to work every day"},
    },
    ("users", "ben", "memories"): {"chess": {"text": "ben plays chess on sundays"}},
}


def _langgraph_file(path: Path) -> Path:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    saver = SqliteSaver(conn)
    saver.setup()
    _run_threads(saver, n=2)
    # No vector index: this Python's sqlite3 cannot load sqlite-vec (SqliteStore needs it for
    # one); the target embeds every item with its own model either way.
    store = SqliteStore(conn)
    store.setup()
    for ns, items in MEMORIES.items():
        for key, value in items.items():
            store.put(ns, key, value)
    conn.close()
    return path


def _env(pg_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path / "data"),
        "MEMORY_TYPE": "hybrid",
        "MEMORY_EMBEDDINGS": "none",
    }


def test_langgraph_sqlite_file_moves_into_lghm_postgres(pg_url: str, tmp_path: Path) -> None:
    source_file = _langgraph_file(tmp_path / "lg.sqlite")
    target_model = FakeEmbeddings(dims=16)
    args = ["migrate", "--from", f"sqlite:{source_file}", "--to", "lghm:", "--json"]
    result = runner.invoke(
        app, args, env=_env(pg_url, tmp_path), obj=CliContext(embeddings=target_model)
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["threads"] == 2 and report["items"] == 3 and report["verified"] is True

    # Memories: PgVectorStore search through the package, embedded by the target's model.
    with PgVectorStore.from_conn_string(pg_url, index={"dims": 16, "embed": target_model}) as store:
        hits = store.search(("users", "ann"), query="green tea", limit=2)
        assert hits[0].key == "tea" and hits[0].value == {"text": "ann likes green tea"}
        assert {h.namespace[:2] for h in hits} == {("users", "ann")}
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT key, embedding::text FROM memory.vectors WHERE namespace[2] = 'ann'"
        ).fetchall()
    assert len(rows) == 2
    with psycopg.connect(pg_url) as conn:
        cached = conn.execute("SELECT count(*), min(dims) FROM memory.embedding_cache").fetchone()
    assert cached == (3, 16)  # the target's embeddings are cached as open_memory() would
    values = MEMORIES[("users", "ann", "memories")]
    for key, text in rows:
        stored = np.array(json.loads(text))
        expected = target_model.embed_documents(
            [json.dumps(values[key], sort_keys=True, ensure_ascii=False)]
        )[0]
        assert stored.shape == (16,)
        assert np.allclose(stored, expected, atol=1e-6)

    # Threads: a plain PostgresSaver and the package's HybridSaver read the same history.
    src_conn = sqlite3.connect(source_file, check_same_thread=False)
    source = SqliteSaver(src_conn)
    with PostgresSaver.from_conn_string(pg_url) as plain:
        assert list_thread_ids(plain) == list_thread_ids(source) == ["thread-0", "thread-1"]
        for thread in list_thread_ids(source):
            assert _snapshot(plain, thread) == _snapshot(source, thread)
    with HybridSaver(tmp_path / "fresh.sqlite", pg_url) as hybrid:
        for thread in list_thread_ids(source):
            cfg: Any = {"configurable": {"thread_id": thread}}
            got, want = hybrid.get_tuple(cfg), source.get_tuple(cfg)
            assert got is not None and want is not None
            assert got.checkpoint["channel_values"] == want.checkpoint["channel_values"]
            assert (
                got.config["configurable"]["checkpoint_id"]
                == (want.config["configurable"]["checkpoint_id"])
            )
            assert _snapshot(hybrid, thread) == _snapshot(source, thread)
    src_conn.close()

    # Run again (an interrupted migration is resumed this way): nothing is duplicated.
    again = runner.invoke(
        app, args, env=_env(pg_url, tmp_path), obj=CliContext(embeddings=target_model)
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["threads_skipped"] == 2
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM memory.items").fetchone() == (3,)


def test_lghm_to_local_tier_and_dry_run(pg_url: str, tmp_path: Path) -> None:
    source_file = _langgraph_file(tmp_path / "lg.sqlite")
    model = FakeEmbeddings(dims=16)
    env = _env(pg_url, tmp_path)
    first = runner.invoke(
        app,
        ["migrate", "--from", f"sqlite:{source_file}", "--to", "lghm:", "--json"],
        env=env,
        obj=CliContext(embeddings=model),
    )
    assert first.exit_code == 0, first.output
    dry = runner.invoke(
        app,
        [
            "migrate",
            "--from",
            "lghm:",
            "--to",
            f"local:{tmp_path / 'l.sqlite'}",
            "--dry-run",
            "--json",
        ],
        env=env,
        obj=CliContext(embeddings=model),
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == {
        "threads": 2,
        "checkpoints": json.loads(dry.stdout)["checkpoints"],
        "items": 3,
    }
    assert not (tmp_path / "l.sqlite").exists()
    moved = runner.invoke(
        app,
        [
            "migrate",
            "--from",
            "lghm:",
            "--to",
            f"local:{tmp_path / 'l.sqlite'}",
            "--what",
            "items",
            "--json",
        ],
        env=env,
        obj=CliContext(embeddings=model),
    )
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["items"] == 3
    with LocalStore(tmp_path / "l.sqlite", index={"embed": model}) as local:
        hits = local.search(("users", "ben"), query="chess")
        assert [h.key for h in hits] == ["chess"]


def test_migrate_re_embeds_with_the_target_model(pg_url: str, tmp_path: Path) -> None:
    source_file = _langgraph_file(tmp_path / "lg.sqlite")
    env = _env(pg_url, tmp_path)
    model_a, model_b = FakeEmbeddings(dims=16), FakeEmbeddings(dims=8)
    args = ["migrate", "--from", f"sqlite:{source_file}", "--to", "lghm:", "--what", "items"]
    assert runner.invoke(app, args, env=env, obj=CliContext(embeddings=model_a)).exit_code == 0
    target = tmp_path / "other.sqlite"
    moved = runner.invoke(
        app,
        ["migrate", "--from", "lghm:", "--to", f"local:{target}", "--what", "items", "--json"],
        env=env,
        obj=CliContext(embeddings=model_b),
    )
    assert moved.exit_code == 0, moved.output
    conn = sqlite3.connect(target)
    rows = conn.execute(
        "SELECT s.value, v.embedding FROM lghm_store_vectors AS v "
        "JOIN lghm_store AS s ON s.id = v.item_id"
    ).fetchall()
    conn.close()
    assert len(rows) == 3
    for value, blob in rows:
        stored = np.frombuffer(blob, dtype=np.float32)
        text = json.dumps(json.loads(value), sort_keys=True, ensure_ascii=False)
        assert stored.shape == (8,)  # model B's size, not model A's 16
        assert np.allclose(stored, model_b.embed_documents([text])[0], atol=1e-6)
