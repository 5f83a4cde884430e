"""Moving threads and memories between backends (the engine behind `lghm migrate/export/import`).

Sources and targets are langgraph's own savers and stores on real SQLite files and a real
PostgreSQL, so these tests prove the move users hand-roll today.
"""

from __future__ import annotations

import io
import operator
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import PutOp
from langgraph.store.memory import InMemoryStore
from langgraph.store.postgres import PostgresStore
from langgraph.store.sqlite import SqliteStore
from langgraph.types import Command, interrupt

from langgraph_hybrid_memory._transfer import (
    copy_items,
    copy_threads,
    export_jsonl,
    import_jsonl,
    iter_items,
    list_thread_ids,
)


class State(TypedDict):
    log: Annotated[list[str], operator.add]
    approved: bool


def _graph() -> StateGraph[State]:
    inner = StateGraph(State)
    inner.add_node("work", lambda s: {"log": ["inner work"]})
    inner.add_edge(START, "work")
    inner.add_edge("work", END)

    def ask(state: State) -> dict[str, Any]:
        answer = interrupt("approve?")
        return {"approved": bool(answer), "log": [f"approved={answer}"]}

    outer = StateGraph(State)
    outer.add_node("plan", lambda s: {"log": ["plan"]})
    outer.add_node("executor", inner.compile())
    outer.add_node("ask", ask)
    outer.add_node("finish", lambda s: {"log": ["finish"]})
    outer.add_edge(START, "plan")
    outer.add_edge("plan", "executor")
    outer.add_edge("executor", "ask")
    outer.add_edge("ask", "finish")
    outer.add_edge("finish", END)
    return outer


def _run_threads(saver: BaseCheckpointSaver[Any], n: int = 3) -> None:
    graph = _graph().compile(checkpointer=saver)
    for i in range(n):
        config = {"configurable": {"thread_id": f"thread-{i}"}}
        graph.invoke({"log": [f"start {i}"], "approved": False}, config)  # stops at interrupt
        if i % 2 == 0:
            graph.invoke(Command(resume=True), config)


def _snapshot(saver: BaseCheckpointSaver[Any], thread_id: str) -> list[tuple[Any, ...]]:
    rows = []
    for tup in saver.list({"configurable": {"thread_id": thread_id}}):
        conf = tup.config["configurable"]
        rows.append(
            (
                conf["checkpoint_ns"],
                conf["checkpoint_id"],
                tup.parent_config["configurable"]["checkpoint_id"] if tup.parent_config else None,
                tup.checkpoint["channel_values"],
                tup.metadata.get("step"),
                sorted((t, c, repr(v)) for t, c, v in tup.pending_writes or []),
            )
        )
    return sorted(rows, key=lambda r: (r[0], r[1]))


@pytest.fixture
def sqlite_saver(tmp_path: Path) -> Iterator[SqliteSaver]:
    conn = sqlite3.connect(tmp_path / "lg.sqlite", check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    _run_threads(saver)
    yield saver
    conn.close()


@pytest.fixture
def pg_saver(pg_url: str) -> Iterator[PostgresSaver]:
    with PostgresSaver.from_conn_string(pg_url) as saver:
        saver.setup()
        yield saver


def _row_counts(pg_url: str) -> dict[str, int]:
    with psycopg.connect(pg_url) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
        }


def test_sqlite_threads_move_to_postgres_and_resume(
    sqlite_saver: SqliteSaver, pg_saver: PostgresSaver, pg_url: str
) -> None:
    report = copy_threads(sqlite_saver, pg_saver)
    assert report.threads == 3 and report.threads_skipped == 0
    assert list_thread_ids(pg_saver) == ["thread-0", "thread-1", "thread-2"]
    for thread in ("thread-0", "thread-1", "thread-2"):
        assert _snapshot(pg_saver, thread) == _snapshot(sqlite_saver, thread)
    subgraph_ns = {
        t.config["configurable"]["checkpoint_ns"]
        for t in pg_saver.list({"configurable": {"thread_id": "thread-0"}})
    }
    assert any(ns.startswith("executor:") for ns in subgraph_ns)

    # The interrupted thread resumes on PostgreSQL where SQLite left it.
    graph = _graph().compile(checkpointer=pg_saver)
    config = {"configurable": {"thread_id": "thread-1"}}
    assert graph.get_state(config).next == ("ask",)
    result = graph.invoke(Command(resume=False), config)
    on_sqlite = _graph().compile(checkpointer=sqlite_saver).invoke(Command(resume=False), config)
    assert result == on_sqlite
    assert result["log"][-2:] == ["approved=False", "finish"]

    # Copying again changes nothing: everything is skipped or upserted, never duplicated.
    before = _row_counts(pg_url)
    again = copy_threads(sqlite_saver, pg_saver, thread_ids=["thread-0", "thread-2"])
    assert again.threads == 0
    assert again.threads_skipped == 2 and again.checkpoints == 0
    assert _row_counts(pg_url) == before


def test_interrupted_copy_resumes_without_duplicates(
    sqlite_saver: SqliteSaver, pg_saver: PostgresSaver, pg_url: str
) -> None:
    done = 0

    def stop_half_way(n: int) -> None:
        nonlocal done
        done += n
        if done == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        copy_threads(sqlite_saver, pg_saver, progress=stop_half_way)
    copy_threads(sqlite_saver, pg_saver)
    fresh_url = pg_url  # compare with a clean one-shot copy into InMemorySaver
    clean = InMemorySaver()
    copy_threads(sqlite_saver, clean)
    for thread in list_thread_ids(sqlite_saver):
        assert _snapshot(pg_saver, thread) == _snapshot(clean, thread)
    counts = _row_counts(fresh_url)
    total = sum(1 for _ in sqlite_saver.list(None))
    assert counts["checkpoints"] == total


def _fill_store(store: Any) -> None:
    store.put(("users", "john_doe", "memories"), "tea", {"fact": "likes tea", "n": 9})
    store.put(("users", "john_doe", "memories"), "city", {"fact": "lives in Oslo", "n": 10})
    store.put(("users", "john-doe", "memories"), "tea", {"fact": "hates tea"})
    store.put(("users", "john_doe"), "profile", {"name": "John"})
    # More than two pages, written in one batch so timestamps tie (see iter_items).
    store.batch([PutOp(("docs",), f"d{i:04d}", {"i": i}) for i in range(1203)])


def _all_items(store: Any) -> dict[tuple[tuple[str, ...], str], dict[str, Any]]:
    out = {}
    for item in iter_items(store):
        key = (tuple(item.namespace), item.key)
        assert key not in out, f"{key} listed twice"
        out[key] = item.value
    return out


def test_sqlite_store_moves_to_postgres(tmp_path: Path, pg_url: str) -> None:
    with SqliteStore.from_conn_string(str(tmp_path / "store.sqlite")) as source:
        source.setup()
        _fill_store(source)
        with PostgresStore.from_conn_string(pg_url) as target:
            target.setup()
            report = copy_items(source, target, batch_size=400)
            assert report.items == 1207 and len(report.namespaces) == 4
            assert _all_items(target) == _all_items(source)
            # Look-alike users stay apart after the move.
            john = target.search(("users", "john_doe", "memories"))
            assert sorted(i.value["fact"] for i in john) == ["likes tea", "lives in Oslo"]
            copy_items(source, target)  # idempotent
            assert len(_all_items(target)) == 1207


def test_jsonl_round_trip(sqlite_saver: SqliteSaver, tmp_path: Path) -> None:
    store = InMemoryStore()
    _fill_store(store)
    path = tmp_path / "export.jsonl"
    exported = export_jsonl(path, saver=sqlite_saver, store=store)
    assert exported.threads == 3 and exported.items == 1207
    saver2, store2 = InMemorySaver(), InMemoryStore()
    imported = import_jsonl(path, saver=saver2, store=store2)
    assert imported.as_dict() == {**exported.as_dict(), "threads_skipped": 0}
    for thread in list_thread_ids(sqlite_saver):
        assert _snapshot(saver2, thread) == _snapshot(sqlite_saver, thread)
    assert _all_items(store2) == _all_items(store)
    # The imported thread is usable: resume the interrupted one.
    graph = _graph().compile(checkpointer=saver2)
    out = graph.invoke(Command(resume=True), {"configurable": {"thread_id": "thread-1"}})
    assert out["log"][-1] == "finish"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"kind": "header", "format": 99}\n', "format 99 is not supported"),
        ('{"kind": "header", "format": 1}\nnot json\n', "line 2: not JSON"),
        ('{"kind": "header", "format": 1}\n[1, 2]\n', "line 2: expected an object"),
    ],
)
def test_bad_jsonl_names_the_line(text: str, message: str) -> None:
    store = InMemoryStore()
    with pytest.raises(ValueError, match=message):
        import_jsonl(io.StringIO(text), store=store)
