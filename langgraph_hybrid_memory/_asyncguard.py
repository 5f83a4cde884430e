"""Clear errors where a sync class meets an event loop, or an async class a sync call.

langgraph's async savers refuse a synchronous call made on their event loop's own thread with
`asyncio.InvalidStateError` (it would block the loop, and with a single connection deadlock
it); a sync saver under ``ainvoke`` raises a bare `NotImplementedError`. Ours say what to use.
"""

from __future__ import annotations

import asyncio
from typing import Any, NoReturn

__all__ = ["not_async", "refuse_on_event_loop"]


def refuse_on_event_loop(obj: Any, method: str, async_method: str) -> None:
    """Raise `asyncio.InvalidStateError` when called from a thread running an event loop.

    Examples:
        >>> refuse_on_event_loop(object(), "get_tuple", "aget_tuple")  # no loop here: fine
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    name = type(obj).__name__
    raise asyncio.InvalidStateError(
        f"synchronous calls to {name} are only allowed from a different thread than the event "
        f"loop's: {method}() would block the loop. From async code use "
        f"`await {name[0].lower() + name[1:]}.{async_method}(...)` or `await graph.ainvoke(...)`"
    )


def not_async(obj: Any, method: str, use: str) -> NoReturn:
    """Raise `NotImplementedError` for an async method of a sync class, naming the async one.

    Examples:
        >>> not_async(object(), "aget_tuple", "AsyncHybridSaver")
        Traceback (most recent call last):
        ...
        NotImplementedError: object.aget_tuple() is not available: object is the synchronous ...
    """
    name = type(obj).__name__
    raise NotImplementedError(
        f"{name}.{method}() is not available: {name} is the synchronous class, for "
        f"graph.invoke()/stream(). For ainvoke()/astream() use {use} (or aopen_memory(), "
        "which builds the async parts)"
    )
