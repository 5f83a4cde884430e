"""`open_memory()` / `aopen_memory()`: every available MEMORY_TYPE runs a real graph that uses both
the checkpointer (thread history) and the store (long-term memories), sync and async."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from langgraph_hybrid_memory import (
    ConfigError,
    LocalStore,
    Memory,
    MemoryConfig,
    aopen_memory,
    open_memory,
)
from tests.support import FakeEmbeddings

AVAILABLE = ["memory", "sqlite", "postgres", "hybrid"]
SECRET = "sk-test-secret-value-1234"


class State(TypedDict, total=False):
    messages: Annotated[list[str], operator.add]
    user: str
    recalled: list[str]


def _remember(state: State, runtime: Runtime[Any]) -> dict[str, Any]:
    store = runtime.store
    assert store is not None
    text = state["messages"][-1]
    store.put(("users", state["user"], "memories"), f"m{len(state['messages'])}", {"text": text})
    hits = store.search(("users", state["user"]), query=text, limit=10)
    return {"recalled": sorted(h.value["text"] for h in hits)}


async def _aremember(state: State, runtime: Runtime[Any]) -> dict[str, Any]:
    store = runtime.store
    assert store is not None
    text = state["messages"][-1]
    ns = ("users", state["user"], "memories")
    await store.aput(ns, f"m{len(state['messages'])}", {"text": text})
    hits = await store.asearch(("users", state["user"]), query=text, limit=10)
    return {"recalled": sorted(h.value["text"] for h in hits)}


def _graph(memory: Memory, *, use_async: bool) -> Any:
    builder = StateGraph(State)
    builder.add_node("remember", _aremember if use_async else _remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    return builder.compile(checkpointer=memory.checkpointer, store=memory.store)


def _cfg(memory_type: str, tmp_path: Path, **kw: Any) -> MemoryConfig:
    return MemoryConfig(memory_type=memory_type, data_dir=tmp_path / "data", **kw)  # type: ignore[arg-type]


@pytest.fixture
def db_for(request: pytest.FixtureRequest) -> Any:
    """`db_for(memory_type)`: the settings a type needs beyond the data dir (a fresh database
    for the PostgreSQL-backed types)."""

    def settings(memory_type: str) -> dict[str, Any]:
        if memory_type in ("postgres", "hybrid"):
            return {"database_url": request.getfixturevalue("pg_url")}
        return {}

    return settings


def _thread(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


@pytest.mark.parametrize("memory_type", AVAILABLE)
@pytest.mark.parametrize("embeddings", ["fake", "none"])
def test_each_type_runs_a_real_graph_sync(
    tmp_path: Path, memory_type: str, embeddings: str, db_for: Any
) -> None:
    emb = FakeEmbeddings(dims=16) if embeddings == "fake" else None
    cfg = _cfg(memory_type, tmp_path, embeddings="none", **db_for(memory_type))
    with open_memory(cfg, embeddings=emb) as memory:
        graph = _graph(memory, use_async=False)
        graph.invoke({"messages": ["I like green tea"], "user": "u1"}, _thread("t1"))
        out = graph.invoke({"messages": ["green tea is my favourite"]}, _thread("t1"))
        # the checkpointer kept the thread: user and the first message came from it
        assert out["messages"] == ["I like green tea", "green tea is my favourite"]
        if memory_type == "memory" and emb is None:
            # InMemoryStore without a model ignores the query and returns everything
            assert len(out["recalled"]) == 2
        else:
            assert "I like green tea" in out["recalled"]
        other = graph.invoke({"messages": ["hello"], "user": "u2"}, _thread("t2"))
        assert other["messages"] == ["hello"]  # another thread: its own history
        assert "I like green tea" not in other.get("recalled", [])  # another user's memories
        status = memory.status()
        assert status["memory_type"] == memory_type and status["degraded"] is False
        if emb is not None:
            assert status["embeddings"]["calls"] >= 1
            assert emb.calls == status["embeddings"]["calls"]


@pytest.mark.parametrize("memory_type", AVAILABLE)
async def test_each_type_runs_a_real_graph_async(
    tmp_path: Path, memory_type: str, db_for: Any
) -> None:
    emb = FakeEmbeddings(dims=16)
    cfg = _cfg(memory_type, tmp_path, **db_for(memory_type))
    async with aopen_memory(cfg, embeddings=emb) as memory:
        graph = _graph(memory, use_async=True)
        await graph.ainvoke({"messages": ["I like green tea"], "user": "u1"}, _thread("t1"))
        out = await graph.ainvoke({"messages": ["green tea again"]}, _thread("t1"))
        assert out["messages"] == ["I like green tea", "green tea again"]
        assert out["recalled"] == ["I like green tea", "green tea again"]
        state = await graph.aget_state(_thread("t1"))
        assert state.values["user"] == "u1"


def test_sqlite_types_and_files(tmp_path: Path) -> None:
    with open_memory(_cfg("sqlite", tmp_path, embeddings="none")) as memory:
        from langgraph.checkpoint.sqlite import SqliteSaver

        assert isinstance(memory.checkpointer, SqliteSaver)
        assert isinstance(memory.store, LocalStore)
        assert memory.store.search_mode == "keyword"  # no model: keyword search still works
        assert (tmp_path / "data" / "memory.sqlite").is_file()
        assert memory.status()["embeddings"] == {"model": None, "search": "keyword"}


def test_switching_memory_type_between_runs(tmp_path: Path) -> None:
    """Documented behaviour: `sqlite` keeps threads and memories in MEMORY_DATA_DIR across runs;
    `memory` starts empty every run and never touches the file; switching back to `sqlite` finds
    everything it had."""

    def run(memory_type: str, text: str) -> dict[str, Any]:
        with open_memory(_cfg(memory_type, tmp_path, embeddings="none")) as memory:
            result: dict[str, Any] = _graph(memory, use_async=False).invoke(
                {"messages": [text], "user": "u1"}, _thread("t1")
            )
            return result

    assert run("sqlite", "tea one")["messages"] == ["tea one"]
    assert run("sqlite", "tea two")["messages"] == ["tea one", "tea two"]
    in_memory = run("memory", "tea three")
    assert in_memory["messages"] == ["tea three"]  # fresh: nothing from the file
    assert in_memory["recalled"] == ["tea three"]
    again = run("sqlite", "tea four")
    assert again["messages"] == ["tea one", "tea two", "tea four"]  # the memory run left no trace
    assert again["recalled"] == ["tea four", "tea one", "tea two"]


def test_embedding_cache_saves_repeated_runs(tmp_path: Path) -> None:
    texts = [f"fact number {i}" for i in range(20)]

    def run() -> tuple[FakeEmbeddings, dict[str, Any]]:
        emb = FakeEmbeddings(dims=16)
        with open_memory(_cfg("sqlite", tmp_path), embeddings=emb) as memory:
            for i, text in enumerate(texts):
                memory.store.put(("u",), f"k{i}", {"text": text})
            memory.store.search(("u",), query="fact number 3")
            return emb, memory.status()["embeddings"]

    first, first_status = run()
    second, second_status = run()
    assert first.calls == 21 and len(first.texts) == 21  # 20 puts + 1 query, each paid once
    assert second.calls == 0 and second.texts == []  # the repeated run paid for nothing
    assert second_status["texts_seen"] == 21 and second_status["cache_hits"] == 21
    assert first_status["model"] == second_status["model"] == "tests.support.FakeEmbeddings"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MEMORY_TYPE": "redis"}, "MEMORY_TYPE='redis'"),
        ({"MEMORY_TYPE": "sqlite", "MEMORY_EMBEDDINGS": "bert"}, "MEMORY_EMBEDDINGS='bert'"),
        ({"MEMORY_TYPE": "sqlite", "MEMORY_EMBEDDINGS": "cohere:embed-v3"}, "'cohere:embed-v3'"),
        ({"MEMORY_TYPE": "memory", "POSTGRES_POOL_SIZE": "lots"}, "POSTGRES_POOL_SIZE"),
    ],
)
def test_bad_environment_values_give_clear_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], fragment: str
) -> None:
    monkeypatch.setenv("MEMORY_DATA_DIR", str(tmp_path / "data"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        with open_memory():
            pass
    assert fragment in str(err.value)
    assert not (tmp_path / "data" / "memory.sqlite").exists()  # failed before creating anything


def test_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="MEMORY_DATA_DIR"):
        with open_memory(_cfg("sqlite", tmp_path, embeddings="none")):
            pass


def test_open_memory_reads_the_environment_when_no_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEMORY_TYPE", "sqlite")
    monkeypatch.setenv("MEMORY_DATA_DIR", str(tmp_path / "env-data"))
    monkeypatch.setenv("MEMORY_EMBEDDINGS", "none")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{SECRET}@db.invalid/app")
    with open_memory() as memory:
        assert memory.config.memory_type == "sqlite"
        assert (tmp_path / "env-data" / "memory.sqlite").is_file()
        assert SECRET not in repr(memory.status()) and SECRET not in repr(memory)


@pytest.mark.quality
def test_sqlite_with_the_real_local_model(tmp_path: Path, local_embeddings: Any) -> None:
    # MEMORY_EMBEDDINGS=local: the offline all-MiniLM-L6-v2 model, hybrid search, cached vectors.
    with open_memory(_cfg("sqlite", tmp_path, embeddings="local")) as memory:
        assert isinstance(memory.store, LocalStore) and memory.store.search_mode == "hybrid"
        assert memory.store.dims == 384
        memory.store.put(("users", "u1"), "tea", {"text": "I drink green tea every morning"})
        memory.store.put(("users", "u1"), "bike", {"text": "I cycle to work"})
        hits = memory.store.search(("users", "u1"), query="favourite hot beverage", limit=1)
        assert hits[0].key == "tea"
        assert memory.status()["embeddings"]["model"] == "local:all-MiniLM-L6-v2"


def test_postgres_type_writes_tables_a_plain_postgres_saver_reads(
    tmp_path: Path, pg_url: str
) -> None:
    from langgraph.checkpoint.postgres import PostgresSaver

    from langgraph_hybrid_memory import PgVectorStore

    cfg = _cfg("postgres", tmp_path, database_url=pg_url, embeddings="none")
    with open_memory(cfg) as memory:
        assert isinstance(memory.checkpointer, PostgresSaver)
        assert isinstance(memory.store, PgVectorStore)
        _graph(memory, use_async=False).invoke(
            {"messages": ["I like green tea"], "user": "u1"}, _thread("t1")
        )
        status = memory.status()
        assert status["postgres"].startswith("user=postgres") or "postgres" in status["postgres"]
    assert not (tmp_path / "data" / "memory.sqlite").exists()  # nothing local in this mode
    assert not (tmp_path / "data" / "pg").exists()  # a database was configured: no embedded one
    with PostgresSaver.from_conn_string(pg_url) as plain:
        tup = plain.get_tuple(_thread("t1"))
    assert tup is not None and tup.checkpoint["channel_values"]["messages"] == ["I like green tea"]
    # A second run (another process would do the same) finds the thread and the memories.
    with open_memory(cfg) as memory:
        out = _graph(memory, use_async=False).invoke({"messages": ["tea again"]}, _thread("t1"))
    assert out["messages"] == ["I like green tea", "tea again"]
    assert out["recalled"] == ["I like green tea", "tea again"]


@pytest.mark.parametrize("use_async", [False, True])
async def test_postgres_unreachable_fails_fast_without_secrets(
    tmp_path: Path, use_async: bool
) -> None:
    from langgraph_hybrid_memory import PostgresUnavailableError

    url = f"postgresql://app:{SECRET}@127.0.0.1:1/agents"
    cfg = _cfg("postgres", tmp_path, database_url=url, embeddings="none")
    with pytest.raises(PostgresUnavailableError) as err:
        if use_async:
            async with aopen_memory(cfg):
                pass
        else:
            with open_memory(cfg):
                pass
    message = str(err.value)
    assert "MEMORY_TYPE=postgres" in message and "app:***@127.0.0.1:1" in message
    assert SECRET not in message
    # Nothing of psycopg's error is kept: its `pgconn` holds the password.
    assert err.value.__cause__ is None and err.value.__context__ is None


@pytest.mark.slow
def test_postgres_without_a_database_uses_the_embedded_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _cfg("postgres", tmp_path, embeddings="none")
    with open_memory(cfg) as memory:
        memory.store.put(("users", "u1"), "k", {"text": "hello"})
        assert memory.status()["postgres"] == "embedded"
    assert (tmp_path / "data" / "pg" / "PG_VERSION").is_file()
    assert "set DATABASE_URL=" in caplog.text
    with open_memory(cfg) as memory:  # the data is still there on the next start
        item = memory.store.get(("users", "u1"), "k")
    assert item is not None and item.value == {"text": "hello"}
