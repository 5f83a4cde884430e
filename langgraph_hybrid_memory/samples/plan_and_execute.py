"""A plan-and-execute agent that remembers its users across conversations.

The graph::

    START -> plan -> execute -> replan -> remember -> END
                       ^          |
                       +----------+   (until the plan is done)

* ``plan`` searches the user's long-term memories (``("users", user_id, "memories")`` in the
  store, queried with the objective) and asks the model for a plan that uses them.
* ``execute`` is a compiled subgraph (so its checkpoints carry their own ``checkpoint_ns``,
  ``"execute:<task id>"``): a small tool-calling loop that carries out the plan's first step.
* ``replan`` asks the model whether the objective is met (a response) or which steps remain.
* ``remember`` asks the model for the facts the user stated about themselves and saves each under
  a key derived from its subject, so a repeated or changed fact updates its memory in place.

Every node has a sync and an async implementation, so the compiled graph serves `invoke` and
`ainvoke` alike; the store is reached through `langgraph.config.get_store()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.config import get_store
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.store.base import BaseStore, SearchItem
from langgraph.types import Command, interrupt

from langgraph_hybrid_memory._session import AsyncSessionLog, Interaction, SessionLog
from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.samples import _model as m
from langgraph_hybrid_memory.samples._tools import DEFAULT_TOOLS, memory_key, memory_namespace

__all__ = [
    "MAX_STEPS",
    "ExecutorState",
    "PlanExecuteState",
    "StepResult",
    "build_executor",
    "build_plan_and_execute",
    "format_memory",
]

MAX_STEPS = 8
"""Steps one objective may run before the replanner is overruled and the run finishes."""

MEMORY_SEARCH_LIMIT = 10


class StepResult(TypedDict):
    """One executed step and what it produced."""

    step: str
    result: str


class PlanExecuteState(TypedDict, total=False):
    """The root graph's state (the thread's short-term memory)."""

    user_id: str
    """Whose long-term memories to search and update."""
    objective: str
    """What the user asked for."""
    memories: list[str]
    """The memories the planner recalled, as ``"subject: value"``."""
    plan: list[str]
    """The steps still to do; the executor runs the first one."""
    past_steps: list[StepResult]
    """The steps done for this objective, in order."""
    response: str
    """The final answer (set when the plan is done)."""
    learned: list[str]
    """Keys of the memories saved or updated by this run."""
    recent: list[str]
    """The session's last interactions the planner saw (with a `SessionLog`), oldest first."""


class ExecutorInput(TypedDict):
    user_id: str
    objective: str
    plan: list[str]
    past_steps: list[StepResult]


class ExecutorOutput(TypedDict):
    past_steps: list[StepResult]


class ExecutorState(ExecutorInput):
    """The executor subgraph's state: the parent's inputs plus its own tool-calling messages."""

    messages: Annotated[list[AnyMessage], add_messages]


def format_memory(item: SearchItem) -> str:
    """One recalled memory as the planner sees it: ``"subject: value"``."""
    value = item.value
    if "subject" in value and "value" in value:
        return f"{value['subject']}: {value['value']}"
    return str(value.get("text", value))


def _require_input(state: PlanExecuteState) -> None:
    missing = [key for key in ("user_id", "objective") if not state.get(key)]
    if missing:
        raise ValueError(
            f"the plan-and-execute graph needs {' and '.join(missing)} in its input, e.g. "
            "graph.invoke({'user_id': 'ada', 'objective': 'Plan a day out.'}, config)"
        )


def _store() -> BaseStore:
    store = get_store()
    if store is None:
        raise ConfigError(
            "the plan-and-execute graph keeps long-term memories in a store: compile it with "
            "builder.compile(checkpointer=..., store=...)"
        )
    return store


def _structured(
    model: BaseChatModel, schema: type[Any], system: str, prompt: str
) -> tuple[Runnable[Any, Any], list[BaseMessage]]:
    """The model bound to answer with `schema`, and the messages to send it."""
    return model.with_structured_output(schema), [SystemMessage(system), HumanMessage(prompt)]


# --- the executor subgraph ------------------------------------------------------------------------


def build_executor(
    model: BaseChatModel,
    tools: Sequence[BaseTool] = DEFAULT_TOOLS,
    *,
    risky: Sequence[str] = (),
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The executor subgraph: carries out ``plan[0]`` with `tools` and appends a `StepResult`.

    Args:
        model: a chat model that supports `bind_tools`.
        tools: the tools the executor may call.
        risky: names of tools that need a human's approval: before one runs, the graph stops with
            `langgraph.types.interrupt` and waits for ``Command(resume=True|False)``.
    """
    bound = model.bind_tools(list(tools))

    def _messages(state: ExecutorState) -> list[AnyMessage]:
        prompt = m.executor_prompt(state["objective"], state["plan"][0])
        return [SystemMessage(m.EXECUTOR_SYSTEM), HumanMessage(prompt), *state["messages"]]

    def act(state: ExecutorState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [bound.invoke(_messages(state), config)]}

    async def aact(state: ExecutorState, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke(_messages(state), config)]}

    def route(state: ExecutorState) -> Literal["review", "tools", "report"]:
        last = state["messages"][-1]
        if getattr(last, "tool_calls", None):
            return "review" if risky else "tools"
        return "report"

    def review(state: ExecutorState) -> Command[Literal["tools", "act"]]:
        # Runs again from the top when the graph resumes, so nothing before interrupt() may have
        # side effects.
        calls = getattr(state["messages"][-1], "tool_calls", [])
        pending = [c for c in calls if c["name"] in risky]
        if not pending:
            return Command(goto="tools")
        decision = interrupt(
            {
                "step": state["plan"][0],
                "tool_calls": [{"name": c["name"], "args": c["args"]} for c in pending],
                "question": "Run this? Resume with Command(resume=True) or resume=False.",
            }
        )
        if _approved(decision):
            return Command(goto="tools")
        refusals = [
            {"role": "tool", "tool_call_id": c["id"], "content": "not run: the user declined"}
            for c in calls
        ]
        return Command(goto="act", update={"messages": refusals})

    def report(state: ExecutorState) -> ExecutorOutput:
        result = state["messages"][-1].text if state["messages"] else ""
        step = StepResult(step=state["plan"][0], result=result)
        return {"past_steps": [*state["past_steps"], step]}

    builder = StateGraph(ExecutorState, input_schema=ExecutorInput, output_schema=ExecutorOutput)
    builder.add_node("act", RunnableLambda(act, afunc=aact, name="act"))
    builder.add_node("review", review, destinations=("tools", "act"))
    builder.add_node("tools", ToolNode(list(tools)))
    builder.add_node("report", report)
    builder.add_edge(START, "act")
    builder.add_conditional_edges("act", route, ["review", "tools", "report"])
    builder.add_edge("tools", "act")
    builder.add_edge("report", END)
    return builder.compile(name="executor")


def _approved(decision: Any) -> bool:
    if isinstance(decision, dict):
        decision = decision.get("approved", False)
    if isinstance(decision, str):
        return decision.strip().lower() in {"y", "yes", "true", "approve", "approved", "ok"}
    return decision is True


# --- the root graph -------------------------------------------------------------------------------


def build_plan_and_execute(
    model: BaseChatModel,
    tools: Sequence[BaseTool] = DEFAULT_TOOLS,
    *,
    risky: Sequence[str] = (),
    max_steps: int = MAX_STEPS,
    sessions: SessionLog | AsyncSessionLog | None = None,
    session_context: int = 5,
) -> StateGraph[PlanExecuteState, Any, PlanExecuteState, PlanExecuteState]:
    """Build (not compile) the plan-and-execute graph.

    Compile it with your backends: ``build_plan_and_execute(model).compile(checkpointer=...,
    store=...)``. The store is required (long-term memory); the checkpointer makes threads
    resumable.

    Args:
        model: `ChatOpenAI`, the offline `ScriptedChatModel`, or any chat model with tool calling.
        tools: the executor's tools.
        risky: tool names that need a human's approval (see `build_executor`).
        max_steps: steps per objective before the run is finished regardless of the replanner.
        sessions: a `SessionLog` (``Memory.sessions``): the planner sees the session's last
            `session_context` interactions, and each finished run is added to it. The session
            is ``configurable["session_id"]``, else the thread id.
        session_context: how many interactions of the session the planner sees.

    Examples:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from langgraph.store.memory import InMemoryStore
        >>> from langgraph_hybrid_memory.samples import ScriptedChatModel
        >>> graph = build_plan_and_execute(ScriptedChatModel()).compile(
        ...     checkpointer=InMemorySaver(), store=InMemoryStore())
        >>> config = {"configurable": {"thread_id": "t1"}}
        >>> out = graph.invoke({"user_id": "ada", "objective": "My home city is Lisbon."}, config)
        >>> out["learned"]
        ['home-city']
        >>> config = {"configurable": {"thread_id": "t2"}}
        >>> graph.invoke({"user_id": "ada", "objective": "Plan a day out."}, config)["memories"]
        ['home city: Lisbon']
    """
    planner_system = m.PLANNER_SYSTEM.format(extra=m.PLANNER_FORGET_VERB if risky else "")

    def _recall_query(state: PlanExecuteState) -> tuple[tuple[str, ...], str]:
        _require_input(state)
        return memory_namespace(state["user_id"]), state["objective"]

    def _planned(memories: list[str], plan: m.Plan) -> PlanExecuteState:
        steps = [s.strip() for s in plan.steps if s.strip()][:max_steps]
        return {
            "memories": memories,
            "plan": steps,
            "past_steps": [],
            "response": "" if steps else "Nothing to do.",
            "learned": [],
        }

    def _session(config: RunnableConfig) -> str | None:
        conf = config.get("configurable", {})
        sid = conf.get("session_id") or conf.get("thread_id")
        return str(sid) if sid is not None and sessions is not None else None

    def _recent(found: Sequence[Interaction]) -> list[str]:
        return [f"{i['query']} -> {i['answer']}" for i in found]

    def plan(state: PlanExecuteState, config: RunnableConfig) -> PlanExecuteState:
        namespace, query = _recall_query(state)
        found = _store().search(namespace, query=query, limit=MEMORY_SEARCH_LIMIT)
        memories = [format_memory(item) for item in found]
        sid = _session(config)
        recent: list[str] = []
        if sid is not None:
            log = sessions.sync if isinstance(sessions, AsyncSessionLog) else sessions
            assert log is not None
            recent = _recent(log.get_context(sid, limit=session_context))
        runnable, messages = _structured(
            model, m.Plan, planner_system, m.planner_prompt(query, memories, recent)
        )
        return {
            **_planned(memories, cast(m.Plan, runnable.invoke(messages, config))),
            "recent": recent,
        }

    async def aplan(state: PlanExecuteState, config: RunnableConfig) -> PlanExecuteState:
        namespace, query = _recall_query(state)
        found = await _store().asearch(namespace, query=query, limit=MEMORY_SEARCH_LIMIT)
        memories = [format_memory(item) for item in found]
        sid = _session(config)
        recent: list[str] = []
        if sid is not None:
            if isinstance(sessions, AsyncSessionLog):
                got = await sessions.get_context(sid, limit=session_context)
            else:
                assert sessions is not None
                got = sessions.get_context(sid, limit=session_context)
            recent = _recent(got)
        runnable, messages = _structured(
            model, m.Plan, planner_system, m.planner_prompt(query, memories, recent)
        )
        return {
            **_planned(memories, cast(m.Plan, await runnable.ainvoke(messages, config))),
            "recent": recent,
        }

    def _log_run(state: PlanExecuteState, config: RunnableConfig) -> tuple[str, str, str] | None:
        sid = _session(config)
        if sid is None:
            return None
        return sid, state["objective"], state.get("response") or ""

    def _replan_messages(state: PlanExecuteState) -> tuple[Runnable[Any, Any], list[BaseMessage]]:
        done = [(s["step"], s["result"]) for s in state.get("past_steps", [])]
        prompt = m.replanner_prompt(state["objective"], state.get("plan", []), done)
        return _structured(model, m.Replan, m.REPLANNER_SYSTEM, prompt)

    def _replanned(state: PlanExecuteState, decision: m.Replan) -> PlanExecuteState:
        past = state.get("past_steps", [])
        steps = [s.strip() for s in decision.steps if s.strip()]
        if decision.done or not steps or len(past) >= max_steps:
            response = decision.response.strip() or "\n".join(
                f"- {s['step']}: {s['result']}" for s in past
            )
            return {"plan": [], "response": response}
        return {"plan": steps}

    def replan(state: PlanExecuteState, config: RunnableConfig) -> PlanExecuteState:
        runnable, messages = _replan_messages(state)
        return _replanned(state, cast(m.Replan, runnable.invoke(messages, config)))

    async def areplan(state: PlanExecuteState, config: RunnableConfig) -> PlanExecuteState:
        runnable, messages = _replan_messages(state)
        return _replanned(state, cast(m.Replan, await runnable.ainvoke(messages, config)))

    def _memories_to_save(
        facts: m.Facts, config: RunnableConfig
    ) -> list[tuple[str, dict[str, Any]]]:
        thread_id = config.get("configurable", {}).get("thread_id")
        saved: dict[str, dict[str, Any]] = {}
        for fact in facts.facts:
            subject, value = " ".join(fact.subject.lower().split()), fact.value.strip()
            if subject and value:
                # Last mention wins, so one message that restates a fact stores it once.
                saved[memory_key(subject)] = {
                    "subject": subject,
                    "value": value,
                    "text": f"{subject}: {value}",
                    "source_thread": thread_id,
                }
        return list(saved.items())

    def _facts_messages(state: PlanExecuteState) -> tuple[Runnable[Any, Any], list[BaseMessage]]:
        prompt = m.facts_prompt(state["objective"])
        return _structured(model, m.Facts, m.FACTS_SYSTEM, prompt)

    def remember(state: PlanExecuteState, config: RunnableConfig) -> PlanExecuteState:
        runnable, messages = _facts_messages(state)
        facts = cast(m.Facts, runnable.invoke(messages, config))
        store = _store()
        namespace = memory_namespace(state["user_id"])
        items = _memories_to_save(facts, config)
        for key, value in items:
            store.put(namespace, key, value)
        entry = _log_run(state, config)
        if entry is not None:
            log = sessions.sync if isinstance(sessions, AsyncSessionLog) else sessions
            assert log is not None
            log.add_to_memory(*entry)
        return {"learned": [key for key, _ in items]}

    async def aremember(state: PlanExecuteState, config: RunnableConfig) -> PlanExecuteState:
        runnable, messages = _facts_messages(state)
        facts = cast(m.Facts, await runnable.ainvoke(messages, config))
        store = _store()
        namespace = memory_namespace(state["user_id"])
        items = _memories_to_save(facts, config)
        for key, value in items:
            await store.aput(namespace, key, value)
        entry = _log_run(state, config)
        if entry is not None:
            if isinstance(sessions, AsyncSessionLog):
                await sessions.add_to_memory(*entry)
            else:
                assert sessions is not None
                sessions.add_to_memory(*entry)
        return {"learned": [key for key, _ in items]}

    def after_plan(state: PlanExecuteState) -> Literal["execute", "remember"]:
        return "execute" if state.get("plan") else "remember"

    def after_replan(state: PlanExecuteState) -> Literal["execute", "remember"]:
        return "remember" if state.get("response") else "execute"

    builder: StateGraph[PlanExecuteState, Any, PlanExecuteState, PlanExecuteState] = StateGraph(
        PlanExecuteState
    )
    builder.add_node("plan", RunnableLambda(plan, afunc=aplan, name="plan"))
    builder.add_node("execute", build_executor(model, tools, risky=risky))
    builder.add_node("replan", RunnableLambda(replan, afunc=areplan, name="replan"))
    builder.add_node("remember", RunnableLambda(remember, afunc=aremember, name="remember"))
    builder.add_edge(START, "plan")
    builder.add_conditional_edges("plan", after_plan, ["execute", "remember"])
    builder.add_edge("execute", "replan")
    builder.add_conditional_edges("replan", after_replan, ["execute", "remember"])
    builder.add_edge("remember", END)
    return builder
