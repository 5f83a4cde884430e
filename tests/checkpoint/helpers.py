"""Shared pieces of the checkpointer tests: a graph with a subgraph and an interrupt, and a
comparison of the two tiers."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from langgraph_hybrid_memory import HybridSaver
from langgraph_hybrid_memory.checkpoint.base import NamespaceSelector


class State(TypedDict, total=False):
    task: str
    plan: list[str]
    done: Annotated[list[str], operator.add]
    approved: str


def _planner(state: State) -> dict[str, Any]:
    return {"plan": [f"{state['task']}-step{i}" for i in range(2)]}


def _run_a(state: State) -> dict[str, Any]:
    return {"done": [f"a:{state['plan'][0]}"]}


def _run_b(state: State) -> dict[str, Any]:
    return {"done": [f"b:{state['plan'][1]}"]}


def _review(state: State) -> dict[str, Any]:
    answer = interrupt({"question": "approve?", "done": list(state.get("done", []))})
    return {"approved": str(answer)}


def build_graph(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    """planner -> executor (subgraph: run_a -> run_b) -> review (interrupt) -> END."""
    sub = StateGraph(State)
    sub.add_node("run_a", _run_a)
    sub.add_node("run_b", _run_b)
    sub.add_edge(START, "run_a")
    sub.add_edge("run_a", "run_b")
    sub.add_edge("run_b", END)
    root = StateGraph(State)
    root.add_node("planner", _planner)
    root.add_node("executor", sub.compile())
    root.add_node("review", _review)
    root.add_edge(START, "planner")
    root.add_edge("planner", "executor")
    root.add_edge("executor", "review")
    root.add_edge("review", END)
    return root.compile(checkpointer=checkpointer)


EXPECTED_DONE = ["a:t-step0", "b:t-step1"]


def snapshot(saver: BaseCheckpointSaver[Any], thread_id: str) -> dict[tuple[str, str], Any]:
    """Every checkpoint of a thread: (ns, id) -> (parent id, values, versions, metadata, writes)."""
    out: dict[tuple[str, str], Any] = {}
    for tup in saver.list({"configurable": {"thread_id": thread_id}}):
        c = tup.config["configurable"]
        out[(c["checkpoint_ns"], c["checkpoint_id"])] = (
            tup.parent_config["configurable"]["checkpoint_id"] if tup.parent_config else None,
            tup.checkpoint["channel_values"],
            tup.checkpoint["channel_versions"],
            {k: v for k, v in tup.metadata.items()},
            sorted(tup.pending_writes or [], key=repr),
        )
    return out


def assert_tiers_equal(
    saver: HybridSaver, pg_url: str, thread_id: str
) -> dict[tuple[str, str], Any]:
    """The PostgreSQL tier, read by a plain PostgresSaver, equals the local tier for the
    selected namespaces (same checkpoint ids, parents, values, metadata and writes)."""
    local = snapshot(saver, thread_id)
    selector = NamespaceSelector(saver.selector.patterns)
    expected = {k: v for k, v in local.items() if selector.matches(k[0])}
    with PostgresSaver.from_conn_string(pg_url) as pg:
        remote = snapshot(pg, thread_id)
    assert expected, "nothing selected locally: the comparison would prove nothing"
    assert remote.keys() == expected.keys()
    assert remote == expected
    return remote
