"""Human in the loop: the agent stops before a risky step and waits for a person.

The graph is the plan-and-execute agent with one more tool, `forget_memory`, which deletes one of
the user's long-term memories. Before it runs, the executor subgraph calls
`langgraph.types.interrupt`: the run stops, its state is checkpointed, and the process may exit.
Any process with the same checkpointer and store resumes the thread later with
``graph.invoke(Command(resume=True), config)`` (or ``resume=False`` to decline).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import StateGraph
from langgraph.types import StateSnapshot

from langgraph_hybrid_memory.samples._tools import DEFAULT_TOOLS, RISKY_TOOLS
from langgraph_hybrid_memory.samples.plan_and_execute import (
    PlanExecuteState,
    build_plan_and_execute,
)

__all__ = ["RISKY_TOOL_NAMES", "build_approval_graph", "pending_approval"]

RISKY_TOOL_NAMES: tuple[str, ...] = tuple(t.name for t in RISKY_TOOLS)


def build_approval_graph(
    model: BaseChatModel,
) -> StateGraph[PlanExecuteState, Any, PlanExecuteState, PlanExecuteState]:
    """The plan-and-execute graph with `forget_memory`, which runs only after a human approves.

    Examples:
        ::

            graph = build_approval_graph(ScriptedChatModel()).compile(
                checkpointer=checkpointer, store=store)
            config = {"configurable": {"thread_id": "t1"}}
            out = graph.invoke({"user_id": "ada", "objective": "Forget my home city."}, config)
            out["__interrupt__"][0].value["tool_calls"]   # [{'name': 'forget_memory', ...}]
            # ... later, in any process with the same backends:
            graph.invoke(Command(resume=True), config)
    """
    return build_plan_and_execute(model, (*DEFAULT_TOOLS, *RISKY_TOOLS), risky=RISKY_TOOL_NAMES)


def pending_approval(snapshot: StateSnapshot) -> dict[str, Any] | None:
    """The question a stopped thread is waiting on, from ``graph.get_state(config)``, or None.

    Examples:
        ::

            pending_approval(graph.get_state({"configurable": {"thread_id": "t1"}}))
            # {'step': 'forget home city', 'tool_calls': [...], 'question': '...'}
    """
    for interrupt in snapshot.interrupts:
        if isinstance(interrupt.value, dict) and "tool_calls" in interrupt.value:
            return dict(interrupt.value)
    return None
