"""Real graphs (sync and async, a subgraph, an interrupt) on HybridSaver, every durability mode."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.types import Command

from langgraph_hybrid_memory import AsyncHybridSaver, HybridSaver
from tests.checkpoint.helpers import EXPECTED_DONE, assert_tiers_equal, build_graph

DURABILITY = ["sync", "async", "exit"]


@pytest.mark.parametrize("durability", DURABILITY)
@pytest.mark.parametrize("namespaces", [[""], ["*"]], ids=["root", "all"])
def test_sync_graph_interrupt_resume(
    durability: str, namespaces: list[str], sqlite_path: Path, pg_url: str
) -> None:
    with HybridSaver.from_conn_string(sqlite_path, pg_url, flush_namespaces=namespaces) as saver:
        saver.setup()
        graph = build_graph(saver)
        config = {"configurable": {"thread_id": "t1"}}
        first = graph.invoke({"task": "t"}, config, durability=durability)
        assert first["__interrupt__"][0].value == {"question": "approve?", "done": EXPECTED_DONE}
        state = graph.get_state(config)
        assert state.next == ("review",)
        final = graph.invoke(Command(resume="yes"), config, durability=durability)
        assert final["approved"] == "yes"
        assert final["done"] == EXPECTED_DONE
        history = list(graph.get_state_history(config))
        assert history[0].values["approved"] == "yes"
        if durability != "exit":
            assert len(history) >= 5  # every step was checkpointed
        saver.flush(timeout=30)
        remote = assert_tiers_equal(saver, pg_url, "t1")
        subgraph_in_pg = any(ns for ns, _ in remote)
        # The subgraph's namespace reaches PostgreSQL only when selected (and only durabilities
        # that checkpoint inside the run create subgraph checkpoints at all).
        assert subgraph_in_pg == (namespaces == ["*"] and durability != "exit")
        assert saver.status()["depth"] == 0
    # A plain PostgresSaver resumes from the flushed root state.
    with PostgresSaver.from_conn_string(pg_url) as pg:
        assert build_graph(pg).get_state(config).values["approved"] == "yes"


@pytest.mark.parametrize("durability", DURABILITY)
async def test_async_graph_interrupt_resume(
    durability: str, sqlite_path: Path, pg_url: str
) -> None:
    async with AsyncHybridSaver.from_conn_string(
        sqlite_path, pg_url, flush_namespaces=["", "executor:*"]
    ) as saver:
        await saver.setup()
        graph = build_graph(saver)
        config = {"configurable": {"thread_id": "a1"}}
        first = await graph.ainvoke({"task": "t"}, config, durability=durability)
        assert "__interrupt__" in first
        final = await graph.ainvoke(Command(resume="ok"), config, durability=durability)
        assert final == {
            "task": "t",
            "plan": ["t-step0", "t-step1"],
            "done": EXPECTED_DONE,
            "approved": "ok",
        }
        await saver.aflush(timeout=30)
        # In a worker thread: sync reads of an async saver on the loop thread are refused.
        remote = await asyncio.to_thread(assert_tiers_equal, saver, pg_url, "a1")
        assert {ns.split(":")[0] for ns, _ in remote} <= {"", "executor"}
        states = [s async for s in graph.aget_state_history(config)]
        assert states[0].values["approved"] == "ok"


async def test_async_saver_on_an_asyncio_pool(sqlite_path: Path, pg_url: str) -> None:
    """AsyncPostgresSaver users hold an AsyncConnectionPool: AsyncHybridSaver takes it (its
    flusher opens a small sync pool with the same conninfo) and the thread reaches PostgreSQL;
    the user's pool is left open."""
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(
        pg_url, kwargs={"autocommit": True}, open=False, min_size=1, max_size=2
    ) as pool:
        saver = AsyncHybridSaver(sqlite_path, pool)
        try:
            await saver.setup()
            config = {"configurable": {"thread_id": "pooled"}}
            graph = build_graph(saver)
            assert "__interrupt__" in await graph.ainvoke({"task": "t"}, config)
            await saver.aflush(timeout=30)
            await asyncio.to_thread(assert_tiers_equal, saver, pg_url, "pooled")
        finally:
            await saver.aclose()
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")  # still usable: not closed by the saver
