"""Sanity reference: the part of the store contract whose semantics langgraph's `InMemoryStore`
shares. If one of these fails, the contract test (not our stores) is suspect.

Left out on purpose (InMemoryStore differs, as documented in docs/architecture.md): TTL (not
supported), keyword/hybrid search (vector only), `$in/$nin/$exists` and typed range filters,
strict JSON values, batch-level label validation, dropping stale vectors, and leaving unindexed
items out of ranked results; and InMemoryStore lists a namespace whose items were all deleted
(or that was only read).
"""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.base import BaseStore, TTLConfig
from langgraph.store.memory import InMemoryStore

from tests.store_contract import (  # noqa: F401
    StoreFactory,
    api_mode,
    make,
    test_batch_one_result_per_op_reads_before_writes,
    test_fields_and_per_put_index,
    test_langgraph_root_only_rejected_by_put,
    test_list_namespaces,
    test_namespace_prefix_matches_whole_labels_only,
    test_namespace_validation,
    test_paging_one_big_batch_never_skips_or_repeats,
    test_put_get_roundtrip_and_update,
    test_search_pagination_without_query,
    test_vector_search_scores_best_vector,
)


@pytest.fixture
def store_factory() -> StoreFactory:
    async def factory(
        mode: str, *, index: dict[str, Any] | None = None, ttl: TTLConfig | None = None
    ) -> BaseStore:
        assert ttl is None, "InMemoryStore has no TTL: this test must not be in the subset"
        return InMemoryStore(index=index)  # type: ignore[arg-type]

    return factory
