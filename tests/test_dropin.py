"""Each class of ours is a drop-in for its langgraph twin: every public method of theirs exists
on ours with the same awaitability (coroutine, async generator, context manager or plain).

Deliberate differences are listed in `KNOWN` with the reason; anything else fails.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres import AsyncPostgresStore, PostgresStore
from langgraph.store.sqlite import SqliteStore

import langgraph_hybrid_memory as lghm

PAIRS: list[tuple[type[Any], type[Any]]] = [
    (lghm.PgVectorStore, PostgresStore),
    (lghm.AsyncPgVectorStore, AsyncPostgresStore),
    (lghm.HybridStore, PostgresStore),
    (lghm.AsyncHybridStore, AsyncPostgresStore),
    (lghm.LocalStore, SqliteStore),
    (lghm.HybridSaver, PostgresSaver),
    (lghm.AsyncHybridSaver, AsyncPostgresSaver),
]

# (our class, method) -> why it differs on purpose.
KNOWN: dict[tuple[str, str], str] = {
    # langgraph's take a psycopg connection/pool and a pipeline; ours take their own targets
    # (a local file and a PostgreSQL target for the hybrid classes). Same awaitability.
}


def _shape(cls: type[Any], name: str) -> str:
    attr = inspect.getattr_static(cls, name)
    if isinstance(attr, (classmethod, staticmethod)):
        attr = attr.__func__
    if isinstance(attr, property):
        return "property"
    if not callable(attr):
        return "attribute"
    inner = inspect.unwrap(attr)
    if inner is not attr:  # @contextmanager / @asynccontextmanager wrap a generator
        if inspect.isasyncgenfunction(inner):
            return "async context manager"
        if inspect.isgeneratorfunction(inner):
            return "context manager"
    if inspect.isasyncgenfunction(attr):
        return "async generator"
    if inspect.iscoroutinefunction(attr):
        return "coroutine"
    return "plain"


def _public_methods(cls: type[Any]) -> list[str]:
    return sorted(
        n
        for n in dir(cls)
        if not n.startswith("_")
        and callable(getattr(cls, n, None))
        and not isinstance(inspect.getattr_static(cls, n), property)
    )


@pytest.mark.parametrize(
    ("ours", "theirs"), PAIRS, ids=[f"{o.__name__}-vs-{t.__name__}" for o, t in PAIRS]
)
def test_every_method_of_the_langgraph_twin_exists_with_the_same_awaitability(
    ours: type[Any], theirs: type[Any]
) -> None:
    problems = []
    for name in _public_methods(theirs):
        if (ours.__name__, name) in KNOWN:
            continue
        if not hasattr(ours, name):
            problems.append(f"{name}: missing")
            continue
        want, got = _shape(theirs, name), _shape(ours, name)
        if want != got:
            problems.append(f"{name}: theirs is {want}, ours is {got}")
    assert not problems, f"{ours.__name__} is not a drop-in for {theirs.__name__}: {problems}"


def test_known_differences_name_real_methods() -> None:
    names = {o.__name__: o for o, _ in PAIRS}
    for cls_name, method in KNOWN:
        assert cls_name in names and hasattr(names[cls_name], method), (cls_name, method)


async def test_hybrid_store_ttl_sweeper_starts_once_and_stops(pg_url: str, tmp_path: Any) -> None:
    """The methods the drop-in test found missing work as langgraph's: idempotent start."""
    ttl: Any = {"default_ttl": 1.0, "sweep_interval_minutes": 1.0}
    with lghm.HybridStore(tmp_path / "a.sqlite", pg_url, ttl=ttl) as store:
        store.setup()
        first = store.start_ttl_sweeper()
        assert store.start_ttl_sweeper() is first
        assert store.stop_ttl_sweeper(timeout=5)
    async with lghm.AsyncHybridStore.from_conn_string(tmp_path / "b.sqlite", pg_url, ttl=ttl) as a:
        await a.setup()
        running = await a.start_ttl_sweeper()
        assert not running.done()
        assert await a.sweep_ttl() == 0
        assert await a.stop_ttl_sweeper(timeout=5)
