"""A graph with a checkpointer and a store on the embedded PostgreSQL: run 2 remembers run 1.

Placeholder for the plan-and-execute demo (issue: sample graphs). It uses langgraph's own
PostgresSaver and PostgresStore on the embedded PostgreSQL + pgvector, started under
``MEMORY_DATA_DIR`` (default ``.memory``), so it needs no set-up and no network.

    python examples/demo.py
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TypedDict

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.postgres import PostgresStore

from langgraph_hybrid_memory import EmbeddedPostgres, MemoryConfig


class State(TypedDict):
    user_id: str
    fact: str
    recalled: list[str]


def remember(state: State, *, store: BaseStore) -> dict[str, list[str]]:
    namespace = ("users", state["user_id"], "memories")
    recalled = [item.value["fact"] for item in store.search(namespace, limit=20)]
    if state["fact"]:
        key = uuid.uuid5(uuid.NAMESPACE_URL, state["fact"]).hex  # same fact -> same key
        store.put(namespace, key, {"fact": state["fact"]})
    return {"recalled": recalled}


def run_session(url: str, user_id: str, fact: str) -> list[str]:
    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    with PostgresSaver.from_conn_string(url) as saver, PostgresStore.from_conn_string(url) as store:
        saver.setup()
        store.setup()
        graph = builder.compile(checkpointer=saver, store=store)
        config = {"configurable": {"thread_id": f"demo-{uuid.uuid4().hex[:8]}"}}
        result = graph.invoke({"user_id": user_id, "fact": fact, "recalled": []}, config)
        return list(result["recalled"])


def main() -> None:
    config = MemoryConfig.from_env()
    if config.database_url:
        url = config.database_url
        embedded = None
    else:
        embedded = EmbeddedPostgres(Path(config.embedded_pgdata))
        url = embedded.start()
        print(f"embedded PostgreSQL + pgvector under {config.embedded_pgdata}")
    try:
        user = os.environ.get("DEMO_USER", "ada")
        first = run_session(url, user, "prefers short answers")
        print(f"session 1 (new thread): recalled {first or 'nothing'}; taught 1 fact")
        second = run_session(url, user, "")
        print(f"session 2 (new thread): recalled {second}")
        assert "prefers short answers" in second, "session 2 should recall session 1's fact"
    finally:
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    main()
