"""Sample graphs that show the memory working: import them, compile them with your backends.

* `build_plan_and_execute`: a plan-and-execute agent that recalls the user's long-term memories
  before planning, runs each step in an executor subgraph with tools, and saves what it learned.
* `build_approval_graph`: the same agent with a risky tool that waits for a human's approval
  (`langgraph.types.interrupt`), resumable from another process.
* `make_chat_model`: `ChatOpenAI` when ``OPENAI_API_KEY`` is set, else `ScriptedChatModel`, a
  deterministic offline model (runs take milliseconds; used by the tests and the demo).
* `open_backends` / `aopen_backends`: `open_memory` / `aopen_memory` under the names the examples
  use; ``MEMORY_TYPE`` picks the backends.

Examples:
    >>> from langgraph.checkpoint.memory import InMemorySaver
    >>> from langgraph.store.memory import InMemoryStore
    >>> graph = build_plan_and_execute(ScriptedChatModel()).compile(
    ...     checkpointer=InMemorySaver(), store=InMemoryStore())
    >>> out = graph.invoke({"user_id": "ada", "objective": "What is 3 * 40?"},
    ...                    {"configurable": {"thread_id": "t1"}})
    >>> out["past_steps"]
    [{'step': 'calculate 3 * 40', 'result': '3 * 40 = 120'}]
"""

# The examples and the demo open their backends through this one import.
from langgraph_hybrid_memory._factory import aopen_memory as aopen_backends
from langgraph_hybrid_memory._factory import open_memory as open_backends
from langgraph_hybrid_memory.samples._model import (
    DEFAULT_OPENAI_MODEL,
    Fact,
    Facts,
    Plan,
    Replan,
    ScriptedChatModel,
    extract_facts,
    make_chat_model,
)
from langgraph_hybrid_memory.samples._tools import (
    DEFAULT_TOOLS,
    KNOWLEDGE,
    RISKY_TOOLS,
    calculator,
    forget_memory,
    lookup,
    memory_key,
    memory_namespace,
    take_note,
)
from langgraph_hybrid_memory.samples.approval import (
    RISKY_TOOL_NAMES,
    build_approval_graph,
    pending_approval,
)
from langgraph_hybrid_memory.samples.plan_and_execute import (
    MAX_STEPS,
    PlanExecuteState,
    StepResult,
    build_executor,
    build_plan_and_execute,
    format_memory,
)

__all__ = [
    "DEFAULT_OPENAI_MODEL",
    "DEFAULT_TOOLS",
    "KNOWLEDGE",
    "MAX_STEPS",
    "RISKY_TOOLS",
    "RISKY_TOOL_NAMES",
    "Fact",
    "Facts",
    "Plan",
    "PlanExecuteState",
    "Replan",
    "ScriptedChatModel",
    "StepResult",
    "aopen_backends",
    "build_approval_graph",
    "build_executor",
    "build_plan_and_execute",
    "calculator",
    "extract_facts",
    "forget_memory",
    "format_memory",
    "lookup",
    "make_chat_model",
    "memory_key",
    "memory_namespace",
    "open_backends",
    "pending_approval",
    "take_note",
]
