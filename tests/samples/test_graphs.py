"""The sample graphs on real backends, sync and async: recall across threads, updates instead of
duplicates, the executor subgraph's own checkpoint_ns, and interrupt/resume."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command

from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.samples import (
    KNOWLEDGE,
    ScriptedChatModel,
    build_approval_graph,
    build_plan_and_execute,
    memory_namespace,
    pending_approval,
)
from tests.samples.conftest import Backend

TEACH = (
    "My home city is Lisbon, my favourite cuisine is Portuguese and my daily budget is "
    "40 euros. What is 3 * 40?"
)
TAUGHT = {"home city: Lisbon", "favourite cuisine: Portuguese", "daily budget: 40 euros"}


def thread() -> RunnableConfig:
    return {"configurable": {"thread_id": f"t-{uuid.uuid4().hex[:8]}"}}


def compile_pe(backend: Backend, **kwargs: Any) -> Any:
    return build_plan_and_execute(ScriptedChatModel(), **kwargs).compile(
        checkpointer=backend.checkpointer, store=backend.store
    )


async def test_memories_written_in_one_thread_are_recalled_in_another(backend: Backend) -> None:
    graph = compile_pe(backend)
    first = await backend.invoke(graph, {"user_id": "ada", "objective": TEACH}, thread())
    assert first["memories"] == []  # nothing known yet
    assert first["learned"] == ["home-city", "favourite-cuisine", "daily-budget"]
    assert [s["result"] for s in first["past_steps"]][-1] == "3 * 40 = 120"

    second = await backend.invoke(
        graph, {"user_id": "ada", "objective": "Plan a day out for me."}, thread()
    )
    assert set(second["memories"]) == TAUGHT
    steps = {s["step"]: s["result"] for s in second["past_steps"]}
    # The plan is built from the recalled facts and the executor's tools ran on them.
    assert steps["look up Lisbon"] == KNOWLEDGE["lisbon"]
    assert steps["look up Portuguese"] == KNOWLEDGE["portuguese"]
    assert "40 euros" in steps["note: keep to your daily budget of 40 euros"]
    assert "Tagus" in second["response"]
    assert second["learned"] == []

    other_user = await backend.invoke(
        graph, {"user_id": "bob", "objective": "Plan a day out for me."}, thread()
    )
    assert other_user["memories"] == []  # ada's memories never reach bob


async def test_a_repeated_or_changed_fact_updates_instead_of_duplicating(backend: Backend) -> None:
    graph = compile_pe(backend)
    for objective in (
        "My home city is Lisbon.",
        "my home city is Lisbon",
        "My Home City is Porto.",
    ):
        out = await backend.invoke(graph, {"user_id": "ada", "objective": objective}, thread())
        assert out["learned"] == ["home-city"]
    items = await backend.search(memory_namespace("ada"))
    assert [(i.key, i.value["value"]) for i in items] == [("home-city", "Porto")]

    plan = await backend.invoke(graph, {"user_id": "ada", "objective": "Plan my day."}, thread())
    assert plan["memories"] == ["home city: Porto"]
    assert [s["step"] for s in plan["past_steps"]] == ["look up Porto"]


async def test_executor_subgraph_checkpoints_carry_their_own_namespace(backend: Backend) -> None:
    graph = compile_pe(backend)
    config = thread()
    out = await backend.invoke(
        graph, {"user_id": "ada", "objective": "What is 3 * 40 and 7 + 5?"}, config
    )
    assert [s["result"] for s in out["past_steps"]] == ["3 * 40 = 120", "7 + 5 = 12"]

    tuples = await backend.checkpoints(config)
    root = [t for t in tuples if t.config["configurable"]["checkpoint_ns"] == ""]
    sub = [t for t in tuples if t.config["configurable"]["checkpoint_ns"] != ""]
    namespaces = {t.config["configurable"]["checkpoint_ns"] for t in sub}
    # One executor run per step, each under its own "execute:<task id>" namespace.
    assert len(namespaces) == 2
    assert all(ns.startswith("execute:") for ns in namespaces)
    root_ids = {t.config["configurable"]["checkpoint_id"] for t in root}
    assert root and all(t.metadata["parents"][""] in root_ids for t in sub)
    # The root graph's own checkpoints are unaffected by the subgraph's.
    assert all("messages" not in t.checkpoint["channel_values"] for t in root)

    ns = sorted(namespaces)[0]
    only = await backend.checkpoints(
        {"configurable": {**config["configurable"], "checkpoint_ns": ns}}
    )
    assert only and {t.config["configurable"]["checkpoint_ns"] for t in only} == {ns}
    assert any("messages" in t.checkpoint["channel_values"] for t in only)


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "decline"])
async def test_risky_step_waits_for_approval_and_resumes(backend: Backend, approve: bool) -> None:
    namespace = memory_namespace("ada")
    await backend.put(
        namespace,
        "home-city",
        {"subject": "home city", "value": "Lisbon", "text": "home city: Lisbon"},
    )
    graph = build_approval_graph(ScriptedChatModel()).compile(
        checkpointer=backend.checkpointer, store=backend.store
    )
    config = thread()
    out = await backend.invoke(
        graph, {"user_id": "ada", "objective": "Forget my home city."}, config
    )

    [stop] = out["__interrupt__"]
    assert stop.value["tool_calls"] == [{"name": "forget_memory", "args": {"subject": "home city"}}]
    snapshot = await backend.state(graph, config)
    assert snapshot.next == ("execute",)
    assert pending_approval(snapshot) == stop.value
    assert await backend.get(namespace, "home-city") is not None  # nothing ran yet

    done = await backend.invoke(graph, Command(resume=approve), config)
    assert "__interrupt__" not in done
    remaining = await backend.get(namespace, "home-city")
    if approve:
        assert remaining is None
        assert "forgot your home city (it was 'Lisbon')" in done["response"]
    else:
        assert remaining is not None and remaining.value["value"] == "Lisbon"
        assert "declined" in done["response"]
    assert pending_approval(await backend.state(graph, config)) is None


def test_plan_is_capped_at_max_steps() -> None:
    graph = build_plan_and_execute(ScriptedChatModel(), max_steps=2).compile(
        checkpointer=InMemorySaver(), store=InMemoryStore()
    )
    out = graph.invoke(
        {"user_id": "ada", "objective": "What is 1 + 1, 2 + 2, 3 + 3 and 4 + 4?"},
        {"configurable": {"thread_id": "t"}},
    )
    assert [s["result"] for s in out["past_steps"]] == ["1 + 1 = 2", "2 + 2 = 4"]
    assert out["response"]


def test_missing_input_names_the_fields() -> None:
    graph = build_plan_and_execute(ScriptedChatModel()).compile(store=InMemoryStore())
    with pytest.raises(ValueError, match="needs user_id in its input"):
        graph.invoke({"objective": "Plan my day."})


def test_missing_store_says_how_to_fix_it() -> None:
    graph = build_plan_and_execute(ScriptedChatModel()).compile()
    with pytest.raises(ConfigError, match=r"compile\(checkpointer=..., store=...\)"):
        graph.invoke({"user_id": "ada", "objective": "Plan my day."})
