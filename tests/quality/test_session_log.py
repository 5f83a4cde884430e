"""SessionLog / AsyncSessionLog on PostgreSQL, the local SQLite file and process memory: the
interface of the Redis session memory it replaces, TTL, cap, bad input, and open_memory()."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from langgraph_hybrid_memory import AsyncSessionLog, MemoryConfig, SessionLog, open_memory
from langgraph_hybrid_memory._pg import make_pool
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.errors import ConfigError


@pytest.fixture(params=["postgres", "sqlite", "memory"])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    closers: list[Any] = []

    def make(**kw: Any) -> SessionLog:
        if request.param == "postgres":
            url = request.getfixturevalue("pg_url")
            pool = make_pool(url, max_size=2)
            closers.append(pool.close)
            log = SessionLog.postgres(pool, **kw)
        elif request.param == "sqlite":
            db = LocalDB.open(tmp_path / "s.sqlite")
            closers.append(db.close)
            log = SessionLog.sqlite(db, **kw)
        else:
            log = SessionLog.in_memory(**kw)
        log.setup()
        return log

    yield make
    for close in closers:
        close()


def _age(log: SessionLog, hours: float) -> None:
    """Make every stored interaction `hours` older (test helper on the real tables)."""
    if log.backend == "postgres":
        assert log._pool is not None
        with log._pool.connection() as conn:
            conn.execute(
                "UPDATE memory.session_log SET created_at = created_at - make_interval(secs => %s)",
                (hours * 3600,),
            )
    elif log.backend == "sqlite":
        assert log._db is not None
        with log._db.transaction() as conn:
            conn.execute("UPDATE lghm_session_log SET created_at = created_at - ?", (hours * 3600,))
    else:
        for sid, rows in log._mem.items():
            log._mem[sid] = [(s, q, a, t - hours * 3600) for s, q, a, t in rows]


def test_interface_newest_last_cap_and_clear(make_log: Any) -> None:
    log = make_log(max_context_length=4)
    for n in range(6):
        log.add_to_memory("s1", f"q{n}", f"a{n}")
    log.add_to_memory("s2", "other", "session")
    ctx = log.get_context("s1")
    assert [i["query"] for i in ctx] == ["q2", "q3", "q4", "q5"]  # capped at 4, newest last
    assert [i["answer"] for i in log.get_context("s1", limit=2)] == ["a4", "a5"]
    assert log.get_context("s1", limit=0) == []
    stats = log.get_session_stats("s1")
    assert stats["interactions"] == 4 and stats["first_at"] <= stats["last_at"]
    assert log.health_check() == {"ok": True, "backend": log.backend, "error": None}
    assert log.clear_memory("s1") == 4
    assert log.get_context("s1") == [] and log.get_session_stats("s1")["interactions"] == 0
    assert [i["query"] for i in log.get_context("s2")] == ["other"]


def test_ttl_prunes_on_read_and_cleanup(make_log: Any) -> None:
    log = make_log(ttl_hours=1)
    log.add_to_memory("old", "q", "a")
    log.add_to_memory("old2", "q", "a")
    _age(log, 2)
    log.add_to_memory("new", "q", "a")
    assert log.get_context("old") == []  # expired: pruned on read
    assert log.get_session_stats("old")["interactions"] == 0
    assert log.cleanup_expired_sessions(max_age_hours=1) == 1  # only "old2" was left
    assert len(log.get_context("new")) == 1


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda log: log.add_to_memory(42, "q", "a"), "session_id"),
        (lambda log: log.add_to_memory("", "q", "a"), "session_id"),
        (lambda log: log.add_to_memory("s", None, "a"), "query"),
        (lambda log: log.get_context("s", limit=-1), "limit"),
        (lambda log: log.get_context(["s"]), "session_id"),
        (lambda log: log.cleanup_expired_sessions(max_age_hours=0), "max_age_hours"),
    ],
)
def test_bad_input_names_the_argument_and_writes_nothing(
    make_log: Any, call: Any, match: str
) -> None:
    log = make_log()
    with pytest.raises(ConfigError, match=match):
        call(log)
    assert log.get_context("s") == []


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="MEMORY_TTL_HOURS"):
        SessionLog.in_memory(ttl_hours=-1)
    with pytest.raises(ConfigError, match="MEMORY_MAX_CONTEXT_LENGTH"):
        SessionLog.in_memory(max_context_length=0)
    with pytest.raises(ConfigError, match="MEMORY_TTL_HOURS"):
        MemoryConfig.from_env({"MEMORY_TTL_HOURS": "soon"})
    with pytest.raises(ConfigError, match="MEMORY_MAX_CONTEXT_LENGTH"):
        MemoryConfig.from_env({"MEMORY_MAX_CONTEXT_LENGTH": "0"})
    cfg = MemoryConfig.from_env({"MEMORY_TTL_HOURS": "2.5", "MEMORY_MAX_CONTEXT_LENGTH": "7"})
    assert (cfg.session_ttl_hours, cfg.session_max_context_length) == (2.5, 7)


async def test_async_twin(make_log: Any) -> None:
    log = AsyncSessionLog(make_log())
    await log.add_to_memory("s", "hi", "hello")
    assert [i["answer"] for i in await log.get_context("s")] == ["hello"]
    assert (await log.get_session_stats("s"))["interactions"] == 1
    assert (await log.health_check())["ok"] is True
    assert await log.clear_memory("s") == 1
    assert await log.cleanup_expired_sessions() == 0


def test_open_memory_exposes_the_log_on_its_tier(tmp_path: Path, pg_url: str) -> None:
    env = {"MEMORY_MAX_CONTEXT_LENGTH": "3", "MEMORY_EMBEDDINGS": "none"}
    for kind in ("sqlite", "memory", "postgres", "hybrid"):
        cfg = MemoryConfig.from_env(
            {**env, "MEMORY_TYPE": kind, "DATABASE_URL": pg_url},
            data_dir=tmp_path / kind,
        )
        with open_memory(cfg) as memory:
            assert isinstance(memory.sessions, SessionLog)
            tier = "postgres" if kind == "hybrid" else kind
            assert memory.sessions.backend == tier and memory.sessions.max_context_length == 3
            memory.sessions.add_to_memory(kind, "q", "a")
            assert len(memory.sessions.get_context(kind)) == 1
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM memory.session_log").fetchone() == (2,)


@pytest.mark.parametrize("use_async", [False, True])
async def test_planner_sees_the_sessions_last_interactions(use_async: bool) -> None:
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.store.memory import InMemoryStore

    from langgraph_hybrid_memory.samples import ScriptedChatModel, build_plan_and_execute

    log = SessionLog.in_memory()
    sessions: SessionLog | AsyncSessionLog = AsyncSessionLog(log) if use_async else log
    graph = build_plan_and_execute(ScriptedChatModel(), sessions=sessions).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    cfg: Any = {"configurable": {"thread_id": "t1", "session_id": "chat-1"}}
    first = {"user_id": "ada", "objective": "My home city is Lisbon."}
    second = {"user_id": "ada", "objective": "What is 3 * 40?"}
    if use_async:
        out1 = await graph.ainvoke(first, cfg)
        out2 = await graph.ainvoke(
            second, {"configurable": {"thread_id": "t2", "session_id": "chat-1"}}
        )
    else:
        out1 = graph.invoke(first, cfg)
        out2 = graph.invoke(second, {"configurable": {"thread_id": "t2", "session_id": "chat-1"}})
    assert out1["recent"] == []
    assert out2["recent"] == [f"My home city is Lisbon. -> {out1['response']}"]
    assert [i["query"] for i in log.get_context("chat-1")] == [
        first["objective"],
        second["objective"],
    ]
