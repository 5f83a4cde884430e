"""A graph for LangGraph's Agent Server that remembers a user and asks before acting.

``langgraph.json`` next to this file makes the server use this package's checkpointer and store
(`langgraph_hybrid_memory.server`), configured by the environment (``MEMORY_TYPE``,
``DATABASE_URL``, ``MEMORY_DATA_DIR``, ``MEMORY_EMBEDDINGS``)::

    cd examples/agent_server && langgraph dev

Each run: ``remember`` stores the user's message under ``("users", user_id, "memories")`` and
recalls the closest earlier ones; ``approve`` interrupts and waits for a human ("yes"/"no",
resumed with ``Command(resume=...)``); ``answer`` replies with what it recalled.
"""

from __future__ import annotations

import uuid
from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.types import interrupt


class State(TypedDict, total=False):
    request: str
    recalled: list[str]
    approved: bool
    answer: str


def _user(config: RunnableConfig) -> str:
    return str(config.get("configurable", {}).get("user_id", "anonymous"))


async def remember(state: State, config: RunnableConfig, *, store: BaseStore) -> dict[str, Any]:
    ns = ("users", _user(config), "memories")
    request = state["request"]
    hits = await store.asearch(ns, query=request, limit=3)
    await store.aput(ns, uuid.uuid4().hex, {"text": request})
    return {"recalled": [str(h.value["text"]) for h in hits]}


def approve(state: State) -> dict[str, Any]:
    # The run stops here; a client resumes the thread with Command(resume="yes" or "no").
    answer = interrupt({"question": f"act on {state['request']!r}?"})
    return {"approved": str(answer).strip().lower() in ("y", "yes")}


def answer(state: State) -> dict[str, Any]:
    verdict = "done" if state.get("approved") else "cancelled"
    return {"answer": f"{verdict}: {state['request']} (recalled {state.get('recalled', [])})"}


graph = (
    StateGraph(State)
    .add_node(remember)
    .add_node(approve)
    .add_node(answer)
    .add_edge(START, "remember")
    .add_edge("remember", "approve")
    .add_edge("approve", "answer")
    .add_edge("answer", END)
    .compile()
)
