"""`lghm forget --user ID` and `lghm prune`: both tiers, look-alike ids, every table checked."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.store.base import PutOp
from typer.testing import CliRunner

from langgraph_hybrid_memory._embedding_cache import (
    PostgresEmbeddingCache,
    SQLiteEmbeddingCache,
    text_hash,
)
from langgraph_hybrid_memory._embeddings import CachedEmbeddings
from langgraph_hybrid_memory._outbox import Outbox
from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.checkpoint import HybridSaver
from langgraph_hybrid_memory.cli import CliContext, app
from langgraph_hybrid_memory.localstore import LocalStore
from langgraph_hybrid_memory.store import PgVectorStore
from tests.support import FakeEmbeddings

runner = CliRunner()
USERS = ["john_doe", "john-doe", "john%", "john", "john_doe2"]
TARGET = "john_doe"


def marker(user: str) -> str:
    # Angle brackets end the id, so "<john_doe>" is never part of "<john_doe2>".
    return f"<{user}>"


def value_hash(value: dict[str, Any]) -> str:
    # The whole-value text the stores embed with the default index.
    return text_hash(json.dumps(value, sort_keys=True, ensure_ascii=False))


def pg_note(u: str) -> dict[str, str]:
    return {"text": f"note of {marker(u)}"}


def local_note(u: str) -> dict[str, str]:
    return {"text": f"local note of {marker(u)}"}


SHARED = {"text": "likes tea"}


def _put_thread(saver: HybridSaver, thread: str, user: str, ns: str = "") -> None:
    cp = empty_checkpoint()
    cp["channel_values"] = {"messages": [f"hello {marker(user)}"]}
    cp["channel_versions"] = {"messages": saver.get_next_version(None, None)}
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
    saved = saver.put(
        config, cp, {"user_id": user, "source": "input", "step": 1}, cp["channel_versions"]
    )
    saver.put_writes(saved, [("messages", f"write {marker(user)}")], "task-1")


@pytest.fixture
def filled(pg_url: str, tmp_path: Path) -> tuple[dict[str, str], Path]:
    sqlite_file = tmp_path / "memory.sqlite"
    env = {
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path),
        "MEMORY_TYPE": "hybrid",
        "MEMORY_EMBEDDINGS": "none",
    }
    assert runner.invoke(app, ["setup"], env=env, obj=CliContext()).exit_code == 0
    fake = FakeEmbeddings(dims=16)
    with get_connection(pg_url) as conn:
        pg_cache = PostgresEmbeddingCache(conn)
        pg_cache.setup()
        cached = CachedEmbeddings(fake, pg_cache, "fake")
        store = PgVectorStore(conn, index={"dims": 16, "embed": cached})
        store.setup()
        for u in USERS:
            store.put(("users", u, "memories"), "m1", pg_note(u))
            store.put(("users", u, "prefs"), "shared", SHARED)
    db = LocalDB.open(sqlite_file)
    local_cached = CachedEmbeddings(fake, SQLiteEmbeddingCache(db), "fake")
    local = LocalStore(db, index={"embed": local_cached})
    local.setup()
    for u in USERS:
        local.put(("users", u, "memories"), "m1", local_note(u))
        local.put(("users", u, "prefs"), "shared", SHARED)
    local.close()
    with HybridSaver(db, pg_url) as saver:
        saver.setup()
        for u in USERS:
            _put_thread(saver, f"thread{marker(u)}", u)
            # An unselected subgraph namespace: local only.
            _put_thread(saver, f"thread{marker(u)}", u, ns="sub:1")
        saver.flush(timeout=30)
    # Pending entries (as if PostgreSQL were down): a store write and a checkpoint per user.
    box = Outbox(db)
    with db.transaction() as conn:
        for u in USERS:
            box.append(
                conn,
                "store:users",
                "store.put",
                {"namespace": ["users", u, "memories"], "key": "m2", "value": pg_note(u)},
            )
            box.append(conn, f"checkpoint:thread{marker(u)}", "checkpoint.put", {"t": u})
        conn.execute(
            "INSERT INTO lghm_outbox_dead (seq, stream, kind, payload, created_at, attempts, "
            "error, failed_at) VALUES (9999, ?, 'checkpoint.put', '{}', 1.0, 20, 'x', 2.0)",
            (f"checkpoint:thread{marker(TARGET)}",),
        )
    db.close()
    return env, sqlite_file


def _pg_rows(pg_url: str) -> dict[str, list[str]]:
    """Every row of every table in the store schema and public, as text."""
    out: dict[str, list[str]] = {}
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('memory', 'public')"
        ).fetchall()
        for schema, table in tables:
            q = psycopg.sql.SQL("SELECT t::text FROM {} AS t").format(
                psycopg.sql.Identifier(schema, table)
            )
            out[f"{schema}.{table}"] = sorted(r[0] for r in conn.execute(q))
    return out


def _local_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    out = {}
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        out[name] = sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr)
    conn.close()
    return out


def _holds(value: Any, user: str) -> bool:
    m = marker(user)
    if isinstance(value, bytes):
        return m.encode() in value
    return m in str(value) or m.encode().hex() in str(value)


def test_forget_dry_run_counts_and_changes_nothing(
    filled: tuple[dict[str, str], Path], pg_url: str
) -> None:
    env, sqlite_file = filled
    before = (_pg_rows(pg_url), _local_rows(sqlite_file))
    result = runner.invoke(
        app, ["forget", "--user", TARGET, "--dry-run", "--json"], env=env, obj=CliContext()
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    pg, local = report["would_remove"]["postgres"], report["would_remove"]["local"]
    assert report["threads"] == [f"thread{marker(TARGET)}"]
    assert pg["items"] == 2 and pg["vectors"] == 2 and pg["checkpoints"] == 1
    assert pg["embedding_cache"] == 1  # its own note; the shared text stays
    assert local["items"] == 2 and local["vectors"] == 2 and local["lghm_checkpoints"] == 2
    assert local["lghm_outbox"] == 2 and local["lghm_outbox_dead"] == 1
    assert local["embedding_cache"] == 1
    assert (_pg_rows(pg_url), _local_rows(sqlite_file)) == before


def _age_text_hash_column(pg_url: str, state: str) -> None:
    """The store fills ``memory.vectors.text_hash``; make it look like an older table: rows
    written before the migration (NULL) or a table from before the column (dropped)."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        filled = conn.execute("SELECT count(*) FROM memory.vectors WHERE text_hash IS NULL")
        assert filled.fetchone() == (0,)
        if state == "null":
            conn.execute("UPDATE memory.vectors SET text_hash = NULL")
        elif state == "absent":
            conn.execute("ALTER TABLE memory.vectors DROP COLUMN text_hash")


@pytest.mark.parametrize("text_hash_column", ["filled", "null", "absent"])
def test_forget_erases_one_user_everywhere_and_nobody_else(
    filled: tuple[dict[str, str], Path], pg_url: str, text_hash_column: str
) -> None:
    env, sqlite_file = filled
    _age_text_hash_column(pg_url, text_hash_column)
    before_pg, before_local = _pg_rows(pg_url), _local_rows(sqlite_file)
    result = runner.invoke(app, ["forget", "--user", TARGET, "--json"], env=env, obj=CliContext())
    assert result.exit_code == 0, result.output
    removed = json.loads(result.stdout)["removed"]
    assert removed["postgres"]["items"] == 2 and removed["local"]["items"] == 2
    assert removed["postgres"]["tombstones_written"] == 1
    with psycopg.connect(pg_url) as conn:
        tombstoned = conn.execute(
            "SELECT scope, namespace, key FROM memory.store_tombstones ORDER BY 2, 3"
        ).fetchall()
    # The user's two items in PostgreSQL and the put still pending in the outbox.
    assert tombstoned == [
        ("users.john_doe", ["users", TARGET, "memories"], "m1"),
        ("users.john_doe", ["users", TARGET, "memories"], "m2"),
        ("users.john_doe", ["users", TARGET, "prefs"], "shared"),
    ]

    pg_after, local_after = _pg_rows(pg_url), _local_rows(sqlite_file)
    # Nothing of the user in ANY table (tombstones keep the thread id on purpose: they stop a
    # pending flush from another machine from restoring the thread).
    for table, rows in pg_after.items():
        if table == "public.lghm_checkpoint_tombstones":
            assert any(marker(TARGET) in r for r in rows)
            continue
        assert not [r for r in rows if _holds(r, TARGET)], table
    for table, lrows in local_after.items():
        assert not [r for r in lrows if any(_holds(v, TARGET) for v in r)], table
    with psycopg.connect(pg_url) as conn:
        for table in ("memory.items", "memory.vectors"):
            q = psycopg.sql.SQL("SELECT count(*) FROM {} WHERE %s = ANY(namespace)").format(
                psycopg.sql.SQL(table)
            )
            assert conn.execute(q, (TARGET,)).fetchone() == (0,)
        hashes = {r[0] for r in conn.execute("SELECT text_hash FROM memory.embedding_cache")}
    local_hashes = {r[1] for r in local_after["lghm_embedding_cache"]}
    assert value_hash(pg_note(TARGET)) not in hashes
    assert value_hash(local_note(TARGET)) not in local_hashes
    assert value_hash(SHARED) in hashes and value_hash(SHARED) in local_hashes
    local_ns = {r[1] for r in local_after["lghm_store"]}
    assert not {ns for ns in local_ns if ns.split(".")[:2] == ["users", TARGET]}

    # Every look-alike user is untouched, row for row.
    for u in USERS:
        if u == TARGET:
            continue
        for table, rows in before_pg.items():
            if table == "public.lghm_checkpoint_tombstones":
                continue
            mine = [r for r in rows if _holds(r, u)]
            assert mine == [r for r in pg_after[table] if _holds(r, u)], (u, table)
        for table, lrows in before_local.items():
            mine_l = [r for r in lrows if any(_holds(v, u) for v in r)]
            assert mine_l == [r for r in local_after[table] if any(_holds(v, u) for v in r)], (
                u,
                table,
            )
        assert value_hash(pg_note(u)) in hashes and value_hash(local_note(u)) in local_hashes
        assert {ns for ns in local_ns if ns.split(".")[:2] == ["users", u]} == {
            f"users.{u}.memories",
            f"users.{u}.prefs",
        }
    with psycopg.connect(pg_url) as conn:
        per_user = dict(
            conn.execute("SELECT namespace[2], count(*) FROM memory.items GROUP BY 1").fetchall()
        )
    assert per_user == {u: 2 for u in USERS if u != TARGET}

    # A second run finds nothing left; a flush of the deleted thread would be refused.
    again = runner.invoke(app, ["forget", "--user", TARGET, "--json"], env=env, obj=CliContext())
    assert json.loads(again.stdout)["removed"]["postgres"]["items"] == 0


def test_forget_finds_cache_rows_through_the_text_hash_column(pg_url: str, tmp_path: Path) -> None:
    """An index on one field (not the whole value): only the column knows which texts were
    embedded, so hashing values could not find them. Cache rows only the user referenced go;
    a text another user also embedded stays."""
    env = {
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path),
        "MEMORY_TYPE": "postgres",
        "MEMORY_EMBEDDINGS": "none",
    }
    assert runner.invoke(app, ["setup"], env=env, obj=CliContext()).exit_code == 0
    with get_connection(pg_url) as conn:
        cache = PostgresEmbeddingCache(conn)
        cache.setup()
        cached = CachedEmbeddings(FakeEmbeddings(dims=16), cache, "fake")
        store = PgVectorStore(conn, index={"dims": 16, "embed": cached, "fields": ["text"]})
        store.setup()
        for u in ("john", "john_doe"):
            store.put(("users", u, "m"), "own", {"text": f"own {marker(u)}", "n": 1})
            store.put(("users", u, "m"), "shared", {"text": "likes tea", "n": 2})
        # bulk_put fills the column too.
        store.bulk_put([PutOp(("users", "john", "m"), "bulk", {"text": f"bulk {marker('john')}"})])
        rows = conn.execute(
            "SELECT v.text_hash, i.value ->> 'text' AS text FROM memory.vectors v "
            "JOIN memory.items i USING (scope, namespace, key)"
        ).fetchall()
    assert len(rows) == 5 and all(r["text_hash"] == text_hash(r["text"]) for r in rows)
    result = runner.invoke(app, ["forget", "--user", "john", "--json"], env=env, obj=CliContext())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["removed"]["postgres"]["embedding_cache"] == 2
    with psycopg.connect(pg_url) as conn:
        left = {r[0] for r in conn.execute("SELECT text_hash FROM memory.embedding_cache")}
    assert left == {text_hash("likes tea"), text_hash(f"own {marker('john_doe')}")}


def test_forget_rejects_a_bad_id(tmp_path: Path) -> None:
    env = {"MEMORY_DATA_DIR": str(tmp_path), "MEMORY_TYPE": "sqlite", "MEMORY_EMBEDDINGS": "none"}
    for bad in ("", "a.b"):
        result = runner.invoke(app, ["forget", "--user", bad], env=env, obj=CliContext())
        assert result.exit_code == 2 and "not a user id" in result.output


def test_prune_keeps_last_on_both_tiers_dry_run_by_default(pg_url: str, tmp_path: Path) -> None:
    sqlite_file = tmp_path / "memory.sqlite"
    env = {
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path),
        "MEMORY_TYPE": "hybrid",
        "MEMORY_EMBEDDINGS": "none",
    }
    db = LocalDB.open(sqlite_file)
    with HybridSaver(db, pg_url) as saver:
        saver.setup()
        for _ in range(3):
            _put_thread(saver, "long", "zed")
        _put_thread(saver, "other", "amy")
        saver.flush(timeout=30)
    db.close()

    def counts() -> tuple[int, int]:
        with psycopg.connect(pg_url) as conn:
            pg_n = conn.execute(
                "SELECT count(*) FROM checkpoints WHERE thread_id = 'long'"
            ).fetchone()
        lconn = sqlite3.connect(sqlite_file)
        local_n = lconn.execute(
            "SELECT count(*) FROM lghm_checkpoints WHERE thread_id = 'long'"
        ).fetchone()
        lconn.close()
        assert pg_n is not None and local_n is not None
        return int(pg_n[0]), int(local_n[0])

    assert counts() == (3, 3)
    args = ["prune", "--keep-last", "1", "--thread", "long", "--json"]
    dry = runner.invoke(app, args, env=env, obj=CliContext())
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert report["dry_run"] and report["postgres"]["checkpoints"] == 2
    assert counts() == (3, 3)
    done = runner.invoke(app, [*args, "--yes"], env=env, obj=CliContext())
    assert json.loads(done.stdout)["local"]["checkpoints"] == 2
    assert counts() == (1, 1)
    with psycopg.connect(pg_url) as conn:
        tomb = conn.execute(
            "SELECT count(*) FROM lghm_checkpoint_tombstones WHERE thread_id = 'long'"
        ).fetchone()
        others = conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id <> 'long'")
        assert tomb == (2,) and others.fetchone() == (1,)
    # The survivor still reads back through the package, with its history pruned.
    db = LocalDB.open(sqlite_file)
    with HybridSaver(db, pg_url) as saver:
        tup = saver.get_tuple({"configurable": {"thread_id": "long"}})
        assert tup is not None and tup.checkpoint["channel_values"]["messages"] == [
            f"hello {marker('zed')}"
        ]
        assert len(list(saver.list({"configurable": {"thread_id": "long"}}))) == 1
    db.close()
    # Older than a week: nothing here is that old.
    old = runner.invoke(
        app, ["prune", "--older-than", "7d", "--yes", "--json"], env=env, obj=CliContext()
    )
    assert json.loads(old.stdout)["postgres"]["checkpoints"] == 0
    # Older than 0 seconds with --keep-last 1: every thread keeps its newest only.
    zero = runner.invoke(
        app,
        ["prune", "--older-than", "0s", "--keep-last", "1", "--json"],
        env=env,
        obj=CliContext(),
    )
    assert json.loads(zero.stdout)["postgres"]["checkpoints"] == 0


def test_forget_in_sqlite_mode_clears_langgraph_saver_tables(tmp_path: Path) -> None:
    """MEMORY_TYPE=sqlite: langgraph's SqliteSaver tables and the LocalStore, one file."""
    from typing import TypedDict

    from langgraph.graph import START, StateGraph

    from langgraph_hybrid_memory import MemoryConfig, open_memory

    class State(TypedDict):
        msg: str

    def node(state: State) -> State:
        return {"msg": state["msg"] + "!"}

    cfg = MemoryConfig(memory_type="sqlite", data_dir=tmp_path, embeddings="none")
    with open_memory(cfg) as memory:
        graph = (
            StateGraph(State)
            .add_node("n", node)
            .add_edge(START, "n")
            .compile(checkpointer=memory.checkpointer)
        )
        for u in ("john", "john_doe"):
            memory.store.put(("users", u, "memories"), "m", {"text": f"fact {marker(u)}"})
            run: Any = {"configurable": {"thread_id": f"t{marker(u)}", "user_id": u}}
            graph.invoke({"msg": f"hi {marker(u)}"}, run)
    env = {"MEMORY_DATA_DIR": str(tmp_path), "MEMORY_TYPE": "sqlite", "MEMORY_EMBEDDINGS": "none"}
    stats = runner.invoke(app, ["stats", "--json"], env=env, obj=CliContext())
    local = json.loads(stats.stdout)["local"]
    assert local["threads"] == 2 and local["users"] == {"john": 1, "john_doe": 1}
    result = runner.invoke(app, ["forget", "--user", "john", "--json"], env=env, obj=CliContext())
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["threads"] == [f"t{marker('john')}"]
    assert report["removed"]["local"]["sqlite_saver_checkpoints"] >= 1
    rows = _local_rows(tmp_path / "memory.sqlite")
    for table, lrows in rows.items():
        assert not [r for r in lrows if any(_holds(v, "john") for v in r)], table
    assert any(any(_holds(v, "john_doe") for v in r) for r in rows["checkpoints"])
    assert any(any(_holds(v, "john_doe") for v in r) for r in rows["lghm_store"])


def test_forget_through_open_memory_hybrid(pg_url: str, tmp_path: Path) -> None:
    """The real hybrid stack (HybridSaver + HybridStore from open_memory): after forget, the
    agent recalls nothing of the user and the thread is gone; a look-alike user is intact."""
    from typing import TypedDict

    from langgraph.graph import START, StateGraph

    from langgraph_hybrid_memory import MemoryConfig, open_memory

    class State(TypedDict):
        msg: str

    def node(state: State) -> State:
        return {"msg": state["msg"] + "!"}

    cfg = MemoryConfig(
        memory_type="hybrid", database_url=pg_url, data_dir=tmp_path, embeddings="none"
    )
    users = ("john", "john_doe")
    with open_memory(cfg) as memory:
        graph = (
            StateGraph(State)
            .add_node("n", node)
            .add_edge(START, "n")
            .compile(checkpointer=memory.checkpointer)
        )
        for u in users:
            memory.store.put(("users", u, "memories"), "m", {"text": f"fact {marker(u)}"})
            run: Any = {"configurable": {"thread_id": f"t{marker(u)}", "user_id": u}}
            graph.invoke({"msg": f"hi {marker(u)}"}, run)
    env = {
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path),
        "MEMORY_TYPE": "hybrid",
        "MEMORY_EMBEDDINGS": "none",
    }
    result = runner.invoke(app, ["forget", "--user", "john", "--json"], env=env, obj=CliContext())
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["threads"] == [f"t{marker('john')}"]
    assert report["removed"]["postgres"]["items"] == 1
    for table, rows in _pg_rows(pg_url).items():
        if table != "public.lghm_checkpoint_tombstones":
            assert not [r for r in rows if _holds(r, "john")], table
    for table, lrows in _local_rows(tmp_path / "memory.sqlite").items():
        assert not [r for r in lrows if any(_holds(v, "john") for v in r)], table
    with open_memory(cfg) as memory:
        assert memory.store.search(("users", "john")) == []
        assert memory.checkpointer.get_tuple({"configurable": {"thread_id": "t<john>"}}) is None
        kept = memory.store.search(("users", "john_doe"))
        assert [i.value["text"] for i in kept] == [f"fact {marker('john_doe')}"]
        tup = memory.checkpointer.get_tuple({"configurable": {"thread_id": "t<john_doe>"}})
        assert tup is not None and tup.checkpoint["channel_values"]["msg"] == "hi <john_doe>!"
