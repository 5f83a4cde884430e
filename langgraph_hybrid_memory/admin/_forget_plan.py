"""What `forget_user` found and must delete, shared by the PostgreSQL and the local halves."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langgraph_hybrid_memory._embedding_cache import text_hash
from langgraph_hybrid_memory.store._config import resolve_index
from langgraph_hybrid_memory.store._values import indexed_texts

__all__ = ["USERS", "Plan", "value_hashes"]

USERS = "users"


def value_hashes(values: Iterable[Any]) -> set[str]:
    """Text hashes a store with the default index (whole value) would have embedded."""
    idx = resolve_index({"search_mode": "keyword"}, None)
    out: set[str] = set()
    for value in values:
        texts, _ = indexed_texts(idx, value, None)
        out.update(text_hash(t) for _, t in texts)
    return out


class Plan:
    """What `forget` found (counts) and needs to delete."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.threads: set[str] = set()
        self.user_hashes: set[str] = set()
        self.other_hashes: set[str] = set()
        self.report: dict[str, dict[str, int]] = {"postgres": {}, "local": {}}
        self.outbox_seqs: dict[str, list[int]] = {}
        self.sqlite_saver_threads: set[str] = set()
        self.pending_store_keys: set[tuple[tuple[str, ...], str]] = set()

    @property
    def orphan_hashes(self) -> list[str]:
        return sorted(self.user_hashes - self.other_hashes)
