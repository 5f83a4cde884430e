"""Human in the loop across processes: the agent stops before a risky step; you answer later.

    python examples/approval.py --user ada --thread t1 "My home city is Lisbon."
    python examples/approval.py --user ada --thread t2 "Forget my home city."
        -> waiting for approval: forget_memory(subject='home city'); the process exits
    python examples/approval.py --thread t2 --resume yes     # a new process approves (or: no)

The stopped run lives in the checkpointer, so the answer may come from another process or another
machine with the same backends (``MEMORY_TYPE``, ``DATABASE_URL``, ``MEMORY_DATA_DIR``).
"""

from __future__ import annotations

import argparse
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import Command
from rich.console import Console

from langgraph_hybrid_memory import MemoryConfig
from langgraph_hybrid_memory.samples import (
    build_approval_graph,
    make_chat_model,
    open_backends,
    pending_approval,
)
from langgraph_hybrid_memory.samples._render import backend_label, render_pending, render_run

console = Console()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("objective", nargs="?", help="what to do (omit with --resume)")
    parser.add_argument("--user", default="ada", help="whose memories to use (default: ada)")
    parser.add_argument("--thread", required=True, help="conversation thread id")
    parser.add_argument(
        "--resume", choices=["yes", "no"], help="answer the pending approval of --thread"
    )
    args = parser.parse_args(argv)
    if args.resume is None and not args.objective:
        parser.error("give an objective, or --resume yes|no to answer a pending approval")

    config = MemoryConfig.from_env()
    thread: RunnableConfig = {"configurable": {"thread_id": args.thread}}
    with open_backends(config) as memory:
        graph = build_approval_graph(make_chat_model(config)).compile(
            checkpointer=memory.checkpointer, store=memory.store
        )
        if args.resume is None:
            inputs: Any = {"user_id": args.user, "objective": args.objective}
        else:
            if pending_approval(graph.get_state(thread)) is None:
                console.print(f"[red]thread {args.thread!r} is not waiting for an approval[/]")
                return 2
            inputs = Command(resume=args.resume == "yes")
        result = graph.invoke(inputs, thread)
        pending = pending_approval(graph.get_state(thread))
        if pending is not None:
            render_pending(console, pending, args.thread)
            return 0
        render_run(console, result, store_label=backend_label(memory.store))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
