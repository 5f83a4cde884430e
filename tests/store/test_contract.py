"""The BaseStore contract, run on PgVectorStore and AsyncPgVectorStore, on a connection and on a
pool (see conftest.py), against the real PostgreSQL + pgvector server."""

from __future__ import annotations

from datetime import datetime

import pytest
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from langgraph_hybrid_memory._filters import FilterError
from tests.store.conftest import MakeStore


async def test_put_get_update_delete(make_store: MakeStore) -> None:
    s = await make_store()
    ns = ("users", "u1", "memories")
    await s.put(ns, "k", {"text": "hello", "n": 1})
    first = await s.get(ns, "k")
    assert first.value == {"text": "hello", "n": 1}
    assert first.namespace == ns and first.key == "k"
    assert isinstance(first.created_at, datetime) and first.created_at.tzinfo is not None
    await s.put(ns, "k", {"text": "bye"})
    second = await s.get(ns, "k")
    assert second.value == {"text": "bye"}
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    await s.delete(ns, "k")
    assert await s.get(ns, "k") is None
    assert await s.get(("users", "u2"), "k") is None
    # Deleting what is not there is not an error.
    await s.delete(ns, "missing")


async def test_batch_reads_see_state_before_writes_and_last_put_wins(make_store: MakeStore) -> None:
    s = await make_store()
    ns = ("a", "b")
    await s.put(ns, "x", {"v": 0})
    results = await s.batch(
        [
            PutOp(ns, "x", {"v": 1}),
            GetOp(ns, "x"),
            PutOp(ns, "y", {"v": 1}),
            PutOp(ns, "y", {"v": 2}),
            SearchOp(ns),
            ListNamespacesOp(),
            PutOp(ns, "x", None),
            GetOp(ns, "y"),
        ]
    )
    assert len(results) == 8
    assert results[0] is None and results[2] is None and results[3] is None
    assert results[1].value == {"v": 0}
    assert [i.key for i in results[4]] == ["x"]
    assert results[5] == [ns]
    assert results[7] is None
    assert await s.get(ns, "x") is None
    assert (await s.get(ns, "y")).value == {"v": 2}


async def test_namespace_validation(make_store: MakeStore) -> None:
    s = await make_store()
    with pytest.raises(InvalidNamespaceError):
        await s.put(("langgraph", "x"), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        await s.put((), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        await s.put(("a.b",), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        await s.batch([GetOp(("a", ""), "k")])
    # The langgraph root rule is the public put's only: batch() may write there.
    await s.batch([PutOp(("langgraph", "x"), "k", {"v": 1})])
    assert (await s.get(("langgraph", "x"), "k")).value == {"v": 1}
    await s.put(("foo", "langgraph", "foo"), "k", {"v": 2})


LOOKALIKES = [
    ("users", "john_doe"),
    ("users", "john-doe"),
    ("users", "johnXdoe"),
    ("users", "john"),
    ("users", "john_doe2"),
    ("users", "a%"),
    ("users", "ab"),
    ("users", "a\\"),
    ("users", "a\\b"),
    ("users", "a_"),
    ("users", "a*"),
]


@pytest.mark.parametrize("scope_depth", [1, 2, 3])
async def test_prefixes_match_whole_labels_and_characters_are_literal(
    make_store: MakeStore, scope_depth: int
) -> None:
    """Invariant 4: ("users","john_doe") never sees ("users","john-doe"); % _ \\ are literal."""
    s = await make_store(scope_depth=scope_depth, index={"fields": ["t"], "search_mode": "keyword"})
    for ns in LOOKALIKES:
        await s.put(ns, "k", {"t": "secret"})
        await s.put((*ns, "deeper"), "k", {"t": "secret"})
    for ns in LOOKALIKES:
        got = {i.namespace for i in await s.search(ns, limit=100)}
        assert got == {ns, (*ns, "deeper")}, ns
        got = {i.namespace for i in await s.search(ns, query="secret", limit=100)}
        assert got == {ns, (*ns, "deeper")}, ns
        listed = await s.list_namespaces(prefix=ns)
        assert listed == sorted([ns, (*ns, "deeper")]), ns
    assert len(await s.search(("users",), limit=100)) == 2 * len(LOOKALIKES)
    assert await s.search(("user",), limit=100) == []


async def test_list_namespaces_agrees_with_in_memory_store(make_store: MakeStore) -> None:
    s = await make_store()
    ref = InMemoryStore()
    namespaces = [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
        ("users", "123"),
        ("users", "456", "settings"),
        ("admin", "users", "789"),
        ("x",),
    ]
    for i, ns in enumerate(namespaces):
        await s.put(ns, f"k{i}", {"i": i})
        ref.put(ns, f"k{i}", {"i": i})
    cases: list[dict[str, object]] = [
        {},
        {"prefix": ("a",)},
        {"prefix": ("a", "b")},
        {"prefix": ("a", "*", "f")},
        {"prefix": ("*", "b")},
        {"suffix": ("f",)},
        {"suffix": ("*", "f")},
        {"suffix": ("d", "*")},
        {"prefix": ("a",), "suffix": ("f",)},
        {"max_depth": 1},
        {"max_depth": 2},
        {"prefix": ("a",), "max_depth": 3},
        {"limit": 3},
        {"limit": 3, "offset": 3},
        {"offset": 8},
        {"prefix": ("nope",)},
    ]
    for case in cases:
        assert await s.list_namespaces(**case) == ref.list_namespaces(**case), case


FILTER_CASES: list[dict[str, object]] = [
    {"n": 10},
    {"n": {"$gt": 9}},
    {"n": {"$gte": 9, "$lt": 11}},
    {"s": {"$lt": "b"}},
    {"n": {"$in": [9, 11]}},
    {"n": {"$nin": [9, 11]}},
    {"n": {"$ne": 10}},
    {"tag": {"$exists": False}},
    {"tag": {"$exists": True}},
    {"tag": None},
    {"meta": {"lang": "en"}},
    {"meta": {"lang": {"$in": ["fr", "de"]}}},
    {"tags": ["a", "b"]},
    {"flag": True},
    {"flag": 1},
]
FILTER_DATA = [
    {"n": 9, "s": "a", "meta": {"lang": "en"}, "tags": ["a", "b"], "flag": True},
    {"n": 10, "s": "b", "tag": None, "meta": {"lang": "fr"}, "flag": 1},
    {"n": 11, "s": "B", "tag": "x", "meta": ["lang"], "tags": ["b", "a"]},
    {"n": "10", "s": 5, "meta": {"lang": "de", "x": 1}},
    {"n": 10.0, "flag": False},
]


async def test_filters_agree_with_in_memory_semantics(make_store: MakeStore) -> None:
    from langgraph_hybrid_memory._filters import matches

    s = await make_store()
    for i, value in enumerate(FILTER_DATA):
        await s.put(("f",), str(i), value)
    for f in FILTER_CASES:
        got = sorted(i.key for i in await s.search(("f",), filter=f, limit=100))
        want = sorted(str(i) for i, v in enumerate(FILTER_DATA) if matches(v, f))
        assert got == want, f
    # Numbers compare as numbers: 9 < 10 (langgraph issue 7684 compared text).
    assert {i.key for i in await s.search(("f",), filter={"n": {"$gt": 9.5}})} == {"1", "2", "4"}


async def test_bad_filter_operator_is_a_clear_error(make_store: MakeStore) -> None:
    s = await make_store()
    await s.put(("f",), "a", {"n": 1})
    with pytest.raises(FilterError, match=r"unknown operator '\$between'"):
        await s.batch(
            [PutOp(("f",), "b", {"n": 2}), SearchOp(("f",), filter={"n": {"$between": 1}})]
        )
    assert await s.get(("f",), "b") is None


async def test_search_without_query_pages_by_recency(make_store: MakeStore) -> None:
    s = await make_store()
    for i in range(5):
        await s.put(("p",), f"k{i}", {"i": i})
    page1 = await s.search(("p",), limit=2)
    page2 = await s.search(("p",), limit=2, offset=2)
    page3 = await s.search(("p",), limit=2, offset=4)
    assert [i.key for i in page1 + page2 + page3] == ["k4", "k3", "k2", "k1", "k0"]
    assert all(i.score is None for i in page1)
    assert await s.search(("p",), limit=0) == []
