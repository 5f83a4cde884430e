"""One user's memories through a running store: store, list/search, delete.

A memory of user ``U`` lives in ``("users", U, *labels)`` (``("users", U, "memories")`` unless
told otherwise) as ``{"text": content, "content_type": ..., "session_id": ..., "project": ...,
"metadata": {...}}``: the session and the project are fields of the value, so they are
filterable (``filter={"session_id": "s1"}``) on every store of this package.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langgraph.store.base import BaseStore

# typing_extensions: pydantic (the HTTP API) needs it for TypedDicts before Python 3.12.
from typing_extensions import TypedDict

from langgraph_hybrid_memory.admin._recall import hit_of
from langgraph_hybrid_memory.admin._results import MemoryHit
from langgraph_hybrid_memory.admin._validate import check_limit, check_user_id
from langgraph_hybrid_memory.errors import ConfigError

__all__ = [
    "DEFAULT_LABELS",
    "StoredMemory",
    "delete_memory",
    "field_memories",
    "memory_namespace",
    "store_memory",
    "user_memories",
]

DEFAULT_LABELS: tuple[str, ...] = ("memories",)


class StoredMemory(TypedDict):
    namespace: list[str]
    key: str


def memory_namespace(user: str, labels: Sequence[str] = DEFAULT_LABELS) -> tuple[str, ...]:
    """``("users", user, *labels)``, with the user id checked.

    Examples:
        >>> memory_namespace("ada")
        ('users', 'ada', 'memories')
    """
    check_user_id(user)
    for label in labels:
        if not isinstance(label, str) or not label or "." in label:
            raise ConfigError(f"namespace label {label!r} must be a non-empty string with no '.'")
    return ("users", user, *labels)


def store_memory(
    store: BaseStore,
    user: str,
    content: str,
    *,
    key: str | None = None,
    content_type: str = "text",
    session_id: str | None = None,
    project: str | None = None,
    metadata: dict[str, Any] | None = None,
    labels: Sequence[str] = DEFAULT_LABELS,
) -> StoredMemory:
    """Put one memory of `user` (a new key unless `key` is given) and return where it is.

    Raises:
        ConfigError: a bad user id or label; the store's own errors for a bad value
        (`InvalidValueError`), nothing written.
    """
    ns = memory_namespace(user, labels)
    value: dict[str, Any] = {"text": content, "content_type": content_type}
    if session_id is not None:
        value["session_id"] = session_id
    if project is not None:
        value["project"] = project
    if metadata:
        value["metadata"] = metadata
    key = key if key is not None else uuid.uuid4().hex
    store.put(ns, key, value)
    return {"namespace": list(ns), "key": key}


def user_memories(
    store: BaseStore,
    user: str,
    *,
    query: str | None = None,
    filter: dict[str, Any] | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[MemoryHit]:
    """The memories under ``("users", user)``: best first with a `query`, else newest first."""
    check_user_id(user)
    check_limit(limit)
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise ConfigError(f"offset={offset!r}; use an integer of at least 0")
    hits = store.search(("users", user), query=query, filter=filter, limit=limit, offset=offset)
    return [hit_of(h) for h in hits]


def field_memories(
    store: BaseStore, field: str, value: Any, *, user: str | None = None, limit: int = 100
) -> list[MemoryHit]:
    """The memories whose value has ``field == value`` (``session_id``, ``project``, ...): one
    user's, or every user's under ``("users",)`` when `user` is None. Newest first."""
    if user is not None:
        check_user_id(user)
    check_limit(limit)
    prefix = ("users",) if user is None else ("users", user)
    return [hit_of(h) for h in store.search(prefix, filter={field: value}, limit=limit)]


def delete_memory(
    store: BaseStore, user: str, key: str, *, labels: Sequence[str] = DEFAULT_LABELS
) -> bool:
    """Delete one memory; False when it did not exist."""
    ns = memory_namespace(user, labels)
    if store.get(ns, key) is None:
        return False
    store.delete(ns, key)
    return True
