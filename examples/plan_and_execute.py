"""A plan-and-execute agent with long-term memory, run from the command line.

Each run is one objective on one thread. Facts the user states ("my home city is Lisbon") are saved
as long-term memories; any later run, on any thread, recalls them before planning.

    python examples/plan_and_execute.py --user ada --thread t1 "My home city is Lisbon."
    python examples/plan_and_execute.py --user ada --thread t2 "Plan a day out for me."
    python examples/plan_and_execute.py --thread t2 --resume     # finish a run that stopped

The backends come from the environment (``MEMORY_TYPE``, ``DATABASE_URL``, ``MEMORY_DATA_DIR``;
with nothing set, the embedded PostgreSQL under ``.memory``). The model is ``ChatOpenAI`` when
``OPENAI_API_KEY`` is set, otherwise a scripted offline model.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from rich.console import Console

from langgraph_hybrid_memory import MemoryConfig
from langgraph_hybrid_memory.samples import (
    aopen_backends,
    build_plan_and_execute,
    make_chat_model,
    open_backends,
)
from langgraph_hybrid_memory.samples._render import backend_label, render_run

console = Console()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("objective", nargs="?", help="what to do (omit with --resume)")
    parser.add_argument("--user", default="ada", help="whose memories to use (default: ada)")
    parser.add_argument("--thread", required=True, help="conversation thread id")
    parser.add_argument(
        "--resume", action="store_true", help="continue the thread from its last checkpoint"
    )
    parser.add_argument("--async", dest="use_async", action="store_true", help="use ainvoke")
    parser.add_argument(
        "--recursion-limit", type=int, default=50, help="stop after this many graph steps"
    )
    args = parser.parse_args(argv)
    if not args.resume and not args.objective:
        parser.error("give an objective, or --resume to continue the thread")
    return args


def run(args: argparse.Namespace) -> int:
    config = MemoryConfig.from_env()
    inputs = None if args.resume else {"user_id": args.user, "objective": args.objective}
    thread: RunnableConfig = {
        "configurable": {"thread_id": args.thread},
        "recursion_limit": args.recursion_limit,
    }
    with open_backends(config) as memory:
        graph = build_plan_and_execute(make_chat_model(config), sessions=memory.sessions).compile(
            checkpointer=memory.checkpointer, store=memory.store
        )
        try:
            result: dict[str, Any] = graph.invoke(inputs, thread)
        except GraphRecursionError:
            return stopped(args)
        render_run(console, result, store_label=backend_label(memory.store))
    return 0


async def arun(args: argparse.Namespace) -> int:
    config = MemoryConfig.from_env()
    inputs = None if args.resume else {"user_id": args.user, "objective": args.objective}
    thread: RunnableConfig = {
        "configurable": {"thread_id": args.thread},
        "recursion_limit": args.recursion_limit,
    }
    async with aopen_backends(config) as memory:
        graph = build_plan_and_execute(make_chat_model(config), sessions=memory.sessions).compile(
            checkpointer=memory.checkpointer, store=memory.store
        )
        try:
            result: dict[str, Any] = await graph.ainvoke(inputs, thread)
        except GraphRecursionError:
            return stopped(args)
        render_run(console, result, store_label=backend_label(memory.store))
    return 0


def stopped(args: argparse.Namespace) -> int:
    console.print(
        f"[bold yellow]stopped[/] after {args.recursion_limit} steps; the thread is checkpointed. "
        f"Continue it with: --thread {args.thread} --resume"
    )
    return 3


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return asyncio.run(arun(args)) if args.use_async else run(args)


if __name__ == "__main__":
    raise SystemExit(main())
