"""``index_config`` as langgraph's stores expose it, for every store of the package.

Code written for langgraph's `PostgresStore`/`SqliteStore`/`InMemoryStore` reads
``store.index_config["dims"]``, ``["embed"]``, ``["fields"]``/``["text_fields"]`` and the
private ``["__tokenized_fields"]``; our stores fill the same keys from their resolved index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.store.base import tokenize_path

__all__ = ["langgraph_index_config"]


def langgraph_index_config(
    index: Mapping[str, Any], *, dims: int | None, embeddings: Any, fields: Sequence[str] | None
) -> dict[str, Any]:
    """A copy of `index` with the keys langgraph's stores set, from the resolved values.

    Examples:
        >>> cfg = langgraph_index_config({"embed": "local"}, dims=384, embeddings=None,
        ...                              fields=["text", "tags[*]"])
        >>> cfg["dims"], cfg["text_fields"], cfg["__tokenized_fields"][1]
        (384, ['text', 'tags[*]'], ('tags[*]', ['tags', '[*]']))
    """
    paths = list(fields or ["$"])
    tokenized: list[tuple[str, Any]] = [(p, "$" if p == "$" else tokenize_path(p)) for p in paths]
    out = dict(index)
    out["dims"] = dims
    if embeddings is not None:
        out["embed"] = embeddings
    out["fields"] = paths
    out["text_fields"] = paths
    out["__tokenized_fields"] = tokenized
    out["__estimated_num_vectors"] = sum(1 if t == "$" else len(t) for _, t in tokenized)
    return out
