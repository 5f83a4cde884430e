"""The store contract: behaviour every `BaseStore` of this package must show.

Reusable for any store. A test module provides one fixture, ``store_factory``: an async callable
``(api_mode, *, index=None, ttl=None) -> BaseStore`` that returns a fresh, empty, set-up store and
closes it after the test. ``api_mode`` is ``"sync"`` or ``"async"`` (an async-only class such as
an ``Async...Store`` may be returned for ``"async"``). Then import the tests::

    from tests.store_contract import *  # noqa: F403  (every test of the contract)

or import a subset by name for a reference store whose documented semantics differ (the
InMemoryStore sanity run does that). Every test runs through the sync API (in a worker thread, so
stores bridged to an event loop work too) and through the async API.

``index`` passed to the factory uses langgraph's `IndexConfig` keys (``dims``, ``embed``,
``fields``) plus ``search_mode`` ("vector" | "keyword" | "hybrid"); with ``"vector"`` the score is
the cosine similarity of the best vector. ``ttl`` is langgraph's `TTLConfig`; the contract sets
``omit_expired=True`` explicitly wherever it reads expired items.

Nothing here looks inside a store: only the public `BaseStore` API.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import string
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
)

from langgraph_hybrid_memory._filters import matches
from tests.support import FakeEmbeddings

__all__ = [
    "StoreFactory",
    "api_mode",
    "make",
    "test_bad_filter_raises_and_changes_nothing",
    "test_bad_value_raises_and_batch_changes_nothing",
    "test_batch_one_result_per_op_reads_before_writes",
    "test_batch_rejects_dotted_labels",
    "test_delete_and_missing",
    "test_embedding_size_mismatch_raises_and_changes_nothing",
    "test_fields_and_per_put_index",
    "test_filter_operators",
    "test_filters_agree_with_shared_semantics",
    "test_hostile_input_is_refused_with_our_error_and_nothing_written",
    "test_hybrid_finds_by_meaning_and_by_keyword",
    "test_keyword_search_without_a_model",
    "test_langgraph_root_only_rejected_by_put",
    "test_list_namespaces",
    "test_namespace_prefix_matches_whole_labels_only",
    "test_namespace_validation",
    "test_paging_one_big_batch_never_skips_or_repeats",
    "test_put_get_roundtrip_and_update",
    "test_search_pagination_without_query",
    "test_stale_vectors_dropped_when_text_changes",
    "test_ttl_default_expiry_and_sweep",
    "test_unindexed_items_not_ranked",
    "test_vector_search_scores_best_vector",
]


class StoreFactory(Protocol):
    async def __call__(
        self,
        api_mode: str,
        *,
        index: dict[str, Any] | None = None,
        ttl: TTLConfig | None = None,
    ) -> BaseStore: ...


class Api:
    """Calls a store's sync methods (in a worker thread) or its async twins."""

    def __init__(self, store: BaseStore, mode: str) -> None:
        self.store = store
        self.mode = mode

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "async":
            return await getattr(self.store, f"a{name}")(*args, **kwargs)
        return await asyncio.to_thread(getattr(self.store, name), *args, **kwargs)

    async def put(self, *args: Any, **kwargs: Any) -> None:
        await self._call("put", *args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Item | None:
        result: Item | None = await self._call("get", *args, **kwargs)
        return result

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        await self._call("delete", *args, **kwargs)

    async def search(self, *args: Any, **kwargs: Any) -> list[SearchItem]:
        result: list[SearchItem] = await self._call("search", *args, **kwargs)
        return result

    async def list_namespaces(self, **kwargs: Any) -> list[tuple[str, ...]]:
        result: list[tuple[str, ...]] = await self._call("list_namespaces", **kwargs)
        return result

    async def batch(self, ops: Iterable[Op]) -> list[Result]:
        result: list[Result] = await self._call("batch", list(ops))
        return result


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture(params=["sync", "async"])
def api_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(store_factory: StoreFactory, api_mode: str) -> MakeApi:
    async def build(*, index: dict[str, Any] | None = None, ttl: TTLConfig | None = None) -> Api:
        return Api(await store_factory(api_mode, index=index, ttl=ttl), api_mode)

    return build


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def _vector_index(emb: FakeEmbeddings, fields: list[str] | None = None) -> dict[str, Any]:
    index: dict[str, Any] = {"dims": emb.dims, "embed": emb, "search_mode": "vector"}
    if fields is not None:
        index["fields"] = fields
    return index


# --- basic CRUD and the batch contract ---------------------------------------------------------


async def test_put_get_roundtrip_and_update(make: MakeApi) -> None:
    s = await make()
    value = {"text": "likes tea", "n": 3, "nested": {"a": [1, 2.5, None, True]}, "ü": "ß"}
    await s.put(("users", "u1"), "k1", value)
    item = await s.get(("users", "u1"), "k1")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (("users", "u1"), "k1", value)
    assert isinstance(item.created_at, datetime) and isinstance(item.updated_at, datetime)
    assert item.updated_at >= item.created_at
    await s.put(("users", "u1"), "k1", {"text": "likes coffee"})
    again = await s.get(("users", "u1"), "k1")
    assert again is not None and again.value == {"text": "likes coffee"}
    assert again.updated_at >= item.updated_at
    assert await s.get(("users", "u2"), "k1") is None  # same key, other namespace


async def test_delete_and_missing(make: MakeApi) -> None:
    s = await make()
    assert await s.get(("a",), "nope") is None
    await s.delete(("a",), "nope")  # deleting a missing item is not an error
    await s.put(("a",), "k", {"v": 1})
    await s.delete(("a",), "k")
    assert await s.get(("a",), "k") is None
    assert await s.search(("a",)) == []
    assert await s.list_namespaces() == []


async def test_batch_one_result_per_op_reads_before_writes(make: MakeApi) -> None:
    s = await make()
    await s.put(("ns",), "old", {"v": 0})
    results = await s.batch(
        [
            PutOp(("ns",), "k", {"v": 1}),
            GetOp(("ns",), "k"),  # sees the state before the batch's writes
            PutOp(("ns",), "k", {"v": 2}),  # last write to a key wins
            SearchOp(("ns",)),
            ListNamespacesOp(),
            PutOp(("ns",), "old", None),  # delete
            GetOp(("ns",), "old"),
        ]
    )
    assert len(results) == 7
    assert results[0] is None and results[2] is None and results[5] is None
    assert results[1] is None
    assert isinstance(results[3], list) and [i.key for i in results[3]] == ["old"]
    assert results[4] == [("ns",)]
    assert isinstance(results[6], Item) and results[6].value == {"v": 0}
    after = await s.get(("ns",), "k")
    assert after is not None and after.value == {"v": 2}
    assert await s.get(("ns",), "old") is None


# --- namespaces ---------------------------------------------------------------------------------


async def test_namespace_validation(make: MakeApi) -> None:
    s = await make()
    for bad in [(), ("a.b",), ("a", ""), ("a", "x\x00y")]:
        with pytest.raises(InvalidNamespaceError):
            await s.put(bad, "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        await s.put(("a", 1), "k", {"v": 1})  # type: ignore[arg-type]
    for bad_read in [("a.b",), ("",)]:
        with pytest.raises(InvalidNamespaceError):
            await s.get(bad_read, "k")
        with pytest.raises(InvalidNamespaceError):
            await s.search(bad_read)
    with pytest.raises(InvalidNamespaceError):
        await s.list_namespaces(prefix=("a.b",))
    assert await s.list_namespaces() == []  # nothing was written


async def test_langgraph_root_only_rejected_by_put(make: MakeApi) -> None:
    s = await make()
    with pytest.raises(InvalidNamespaceError):
        await s.put(("langgraph", "x"), "k", {"v": 1})
    await s.put(("foo", "langgraph", "x"), "k", {"v": 1})  # not the root: fine
    await s.batch([PutOp(("langgraph", "x"), "k", {"v": 2})])  # batch() has no root rule
    got = await s.get(("langgraph", "x"), "k")
    assert got is not None and got.value == {"v": 2}


async def test_batch_rejects_dotted_labels(make: MakeApi) -> None:
    s = await make()
    await s.put(("foo", "bar"), "k", {"v": 1})
    # A dotted label must not address ("foo", "bar") through batch(), which skips put()'s checks.
    with pytest.raises(InvalidNamespaceError):
        await s.batch([GetOp(("foo.bar",), "k")])
    with pytest.raises(InvalidNamespaceError):
        await s.batch([PutOp(("foo.bar",), "k2", {"v": 2})])
    assert await s.list_namespaces() == [("foo", "bar")]


LOOKALIKES = [
    "john_doe",
    "john-doe",
    "johnXdoe",
    "john_doe2",
    "john",
    "john%",
    "jo%",
    "j*",
    "j?hn",
    "[j]ohn",
    "john\\doe",
    "john\\_doe",
]


async def test_namespace_prefix_matches_whole_labels_only(make: MakeApi) -> None:
    s = await make()
    for label in LOOKALIKES:
        await s.put(("users", label), "k", {"owner": label})
        await s.put(("users", label, "notes"), "k", {"owner": label})
    for label in LOOKALIKES:
        found = await s.search(("users", label), limit=100)
        assert {i.value["owner"] for i in found} == {label}, label
        assert len(found) == 2
        listed = await s.list_namespaces(prefix=("users", label))
        assert listed == sorted([("users", label), ("users", label, "notes")]), label
    assert len(await s.search(("users",), limit=100)) == 2 * len(LOOKALIKES)
    assert len(await s.search((), limit=100)) == 2 * len(LOOKALIKES)


async def test_list_namespaces(make: MakeApi) -> None:
    s = await make()
    namespaces = [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
        ("users", "u1"),
        ("users", "u2"),
    ]
    for ns in namespaces:
        await s.put(ns, "k", {"v": 1})
    assert await s.list_namespaces() == sorted(namespaces)
    assert await s.list_namespaces(prefix=("a", "b")) == [
        ("a", "b", "c"),
        ("a", "b", "d", "e"),
        ("a", "b", "d", "i"),
        ("a", "b", "f"),
    ]
    assert await s.list_namespaces(suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert await s.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert await s.list_namespaces(prefix=("*", "*", "f")) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
        ("b", "a", "f"),
    ]
    assert await s.list_namespaces(prefix=("a",), suffix=("f",)) == [
        ("a", "b", "f"),
        ("a", "c", "f"),
    ]
    assert await s.list_namespaces(max_depth=2) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "a"),
        ("users", "u1"),
        ("users", "u2"),
    ]
    assert await s.list_namespaces(prefix=("a", "b"), max_depth=3) == [
        ("a", "b", "c"),
        ("a", "b", "d"),
        ("a", "b", "f"),
    ]
    page1 = await s.list_namespaces(limit=3)
    page2 = await s.list_namespaces(limit=3, offset=3)
    page3 = await s.list_namespaces(limit=3, offset=6)
    assert page1 + page2 + page3 == sorted(namespaces)
    assert await s.list_namespaces(prefix=("zzz",)) == []
    assert await s.list_namespaces(prefix=("users", "u1", "deeper")) == []


# --- search without a query, filters ------------------------------------------------------------


async def test_search_pagination_without_query(make: MakeApi) -> None:
    s = await make()
    for i in range(25):
        await s.put(("docs", "p"), f"k{i:02d}", {"i": i, "even": i % 2 == 0})
    await s.put(("other",), "x", {"i": 100})
    seen: list[str] = []
    for offset in range(0, 30, 7):
        page = await s.search(("docs",), limit=7, offset=offset)
        assert all(item.score is None for item in page)
        seen.extend(item.key for item in page)
    assert sorted(seen) == [f"k{i:02d}" for i in range(25)]  # complete, no duplicates
    evens: list[str] = []
    for offset in range(0, 20, 4):
        evens.extend(
            i.key for i in await s.search(("docs",), filter={"even": True}, limit=4, offset=offset)
        )
    assert sorted(evens) == [f"k{i:02d}" for i in range(0, 25, 2)]
    assert await s.search(("docs",), limit=0) == []


FILTER_ITEMS: dict[str, dict[str, Any]] = {
    "a": {"n": 9, "s": "apple", "tags": ["x", "y"], "meta": {"lang": "en", "v": 1}, "flag": True},
    "b": {"n": 10, "s": "banana", "tags": ["y"], "meta": {"lang": "fr", "v": 2}, "flag": False},
    "c": {"n": 10.5, "s": "cherry", "meta": {"lang": "en"}, "opt": None},
    "d": {"n": "11", "s": "date", "flag": 1},
}


async def _filtered(s: Api, flt: Mapping[str, Any]) -> set[str]:
    return {i.key for i in await s.search(("f",), filter=dict(flt), limit=100)}


async def test_filter_operators(make: MakeApi) -> None:
    s = await make()
    for key, value in FILTER_ITEMS.items():
        await s.put(("f",), key, value)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"s": "apple"}, {"a"}),
        ({"n": 10}, {"b"}),
        ({"n": {"$gt": 9}}, {"b", "c"}),  # numbers as numbers: 10 > 9, "11" is a string
        ({"n": {"$gte": 10, "$lt": 10.5}}, {"b"}),
        ({"n": {"$lte": 9}}, {"a"}),
        ({"s": {"$gt": "banana"}}, {"c", "d"}),
        ({"n": {"$ne": 10}}, {"a", "c", "d"}),
        ({"meta": {"lang": "en"}}, {"a", "c"}),
        ({"meta": {"lang": "en", "v": 1}}, {"a"}),
        ({"tags": ["x", "y"]}, {"a"}),
        ({"flag": True}, {"a"}),  # true is not 1
        ({"flag": 1}, {"d"}),
        ({"s": {"$in": ["apple", "date", "zz"]}}, {"a", "d"}),
        ({"s": {"$nin": ["apple", "date"]}}, {"b", "c"}),
        ({"opt": {"$exists": True}}, {"c"}),
        ({"tags": {"$exists": False}}, {"c", "d"}),
        ({"opt": None}, {"a", "b", "c", "d"}),  # null or missing
        ({"s": "apple", "n": 10}, set()),
    ]
    for flt, expected in cases:
        assert await _filtered(s, flt) == expected, flt
        assert expected == {k for k, v in FILTER_ITEMS.items() if matches(v, flt)}, flt


async def test_bad_filter_raises_and_changes_nothing(make: MakeApi) -> None:
    s = await make()
    await s.put(("f",), "a", {"n": 1})
    for bad in [{"n": {"$between": [1, 2]}}, {"n": {"$gt": [1]}}, {"n": {"$in": 3}}, {"$gt": 1}]:
        with pytest.raises(ValueError):
            await s.search(("f",), filter=bad)
    with pytest.raises(ValueError):
        await s.batch([PutOp(("f",), "b", {"n": 2}), SearchOp(("f",), filter={"n": {"$bad": 1}})])
    assert await s.get(("f",), "b") is None


_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.0, -1.5]),
    st.sampled_from(["a", "b", "", "10", "9"]),
)
_json_value = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)
    ),
    max_leaves=5,
)
_fields = st.sampled_from(["x", "y", "z"])
# Operands equal to stored values (boundaries of >= and <=) as well as arbitrary ones.
_range_operand = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.0, -1.5, "a", "b", "10", "9", ""]),
    st.floats(-3, 3, allow_nan=False),
)
_condition = st.one_of(
    _json_value,
    st.dictionaries(st.sampled_from("xyz"), _json_scalar, min_size=1, max_size=2),
    # one or two operators, so that a good share of items matches
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(["$eq", "$ne"]), _json_value),
            st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), _range_operand),
            st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(_json_scalar, max_size=3)),
            st.tuples(st.just("$exists"), st.booleans()),
        ),
        min_size=1,
        max_size=2,
    ).map(dict),
)
_filter = st.dictionaries(_fields, _condition, min_size=1, max_size=2)
# Mostly scalars at the top level, so that filters match a good share of the items.
_field_value = st.one_of(_json_scalar, _json_scalar, _json_value)
_values = st.lists(
    st.fixed_dictionaries({}, optional={"x": _field_value, "y": _field_value, "z": _field_value}),
    min_size=8,
    max_size=8,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=_values, flt=_filter)
async def test_filters_agree_with_shared_semantics(
    make: MakeApi, values: list[dict[str, Any]], flt: dict[str, Any]
) -> None:
    # Invariant 7: every store applies exactly `_filters.matches`.
    s = await make()
    ns = ("h", string.ascii_lowercase[len(values) % 26])
    await s.batch([PutOp(ns, f"k{i}", v) for i, v in enumerate(values)])
    found = {i.key for i in await s.search(ns, filter=flt, limit=100)}
    assert found == {f"k{i}" for i, v in enumerate(values) if matches(v, flt)}
    await s.batch([PutOp(ns, f"k{i}", None) for i in range(len(values))])


# --- bad input ----------------------------------------------------------------------------------


async def test_bad_value_raises_and_batch_changes_nothing(make: MakeApi) -> None:
    s = await make()
    for bad in [{"when": datetime(2026, 1, 1)}, {"n": float("nan")}, {1: "int key"}, {"s": {1, 2}}]:
        with pytest.raises(ValueError):
            await s.batch([PutOp(("v",), "good", {"ok": True}), PutOp(("v",), "bad", bad)])
    assert await s.get(("v",), "good") is None
    assert await s.list_namespaces() == []


def _deep(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth):
        value = {"d": value}
    return value


# (call, argument the error must name): each is refused before anything is written, with one of
# our `InvalidInputError`s (a ValueError), the same in every store.
HOSTILE_CALLS: list[tuple[str, str, Callable[[Api], Awaitable[Any]]]] = [
    ("nul-in-key", "key", lambda s: s.put(("h",), "a\x00b", {"x": 1})),
    ("nul-in-label", "namespace", lambda s: s.put(("h", "u\x00"), "k", {"x": 1})),
    ("nul-in-value", "value", lambda s: s.put(("h",), "k", {"x": "a\x00b"})),
    ("surrogate-in-value", "value", lambda s: s.put(("h",), "k", {"x": "\ud800"})),
    ("surrogate-in-key", "key", lambda s: s.put(("h",), "\udfff", {"x": 1})),
    ("nested-1000", "value", lambda s: s.put(("h",), "k", _deep(1000))),
    ("too-large", "value", lambda s: s.put(("h",), "k", {"x": "y" * (2 * 1024 * 1024)})),
    ("nan-in-value", "value", lambda s: s.put(("h",), "k", {"x": [1, float("nan")]})),
    ("inf-in-value", "value", lambda s: s.put(("h",), "k", {"x": {"y": float("inf")}})),
    ("nan-in-filter", "filter", lambda s: s.search(("h",), filter={"a": {"$gt": float("nan")}})),
    ("nan-in-filter-in", "filter", lambda s: s.search(("h",), filter={"a": {"$in": [math.nan]}})),
    ("inf-in-filter", "filter", lambda s: s.search(("h",), filter={"a": float("-inf")})),
    ("huge-limit", "limit", lambda s: s.search(("h",), limit=10**20)),
    ("negative-offset", "offset", lambda s: s.search(("h",), offset=-1)),
    ("nul-in-query", "query", lambda s: s.search(("h",), query="tea\x00")),
    ("huge-list-limit", "limit", lambda s: s.list_namespaces(limit=10**20)),
]


@pytest.mark.parametrize("case", HOSTILE_CALLS, ids=[c[0] for c in HOSTILE_CALLS])
async def test_hostile_input_is_refused_with_our_error_and_nothing_written(
    make: MakeApi, case: tuple[str, str, Callable[[Api], Awaitable[Any]]]
) -> None:
    from langgraph_hybrid_memory.errors import InvalidInputError

    _, argument, call = case
    s = await make()
    with pytest.raises(InvalidInputError) as info:
        await call(s)
    assert info.value.argument == argument, info.value
    assert argument in str(info.value)
    assert await s.search(("h",)) == []
    assert await s.list_namespaces() == []


async def test_embedding_size_mismatch_raises_and_changes_nothing(make: MakeApi) -> None:
    emb = FakeEmbeddings(dims=16)
    s = await make(index={"dims": 24, "embed": emb, "fields": ["text"], "search_mode": "vector"})
    with pytest.raises(ValueError, match="dim"):
        await s.put(("e",), "k", {"text": "hello"})
    assert await s.get(("e",), "k") is None


# --- vector, keyword and hybrid search ----------------------------------------------------------


async def test_vector_search_scores_best_vector(make: MakeApi) -> None:
    emb = FakeEmbeddings(dims=32)
    s = await make(index=_vector_index(emb, ["title", "tags[*]"]))
    docs = {
        "py": {"title": "python tutorial", "tags": ["snakes", "programming"]},
        "ts": {"title": "typescript guide", "tags": ["web"]},
        "tea": {"title": "green tea", "tags": ["drinks", "leaves"]},
    }
    for key, value in docs.items():
        await s.put(("docs",), key, value)
    query = "drinks"
    hits = await s.search(("docs",), query=query, limit=3)
    assert hits[0].key == "tea"
    q = FakeEmbeddings(dims=32)._embed(query)
    for hit in hits:
        texts = [docs[hit.key]["title"], *docs[hit.key]["tags"]]
        best = max(_cos(q, FakeEmbeddings(dims=32)._embed(t)) for t in texts)
        assert hit.score is not None and abs(hit.score - best) < 1e-4, hit.key
    scores = [h.score or 0.0 for h in hits]
    assert scores == sorted(scores, reverse=True)
    page = await s.search(("docs",), query=query, limit=1, offset=1)
    assert [h.key for h in page] == [hits[1].key]


async def test_fields_and_per_put_index(make: MakeApi) -> None:
    emb = FakeEmbeddings(dims=32)
    s = await make(index=_vector_index(emb, ["title"]))
    value = {"title": "quantum physics", "body": "zebra stripes"}
    await s.put(("d",), "a", value)  # the index's fields: the title
    await s.put(("d",), "b", value, index=["body"])  # the per-put field list wins
    hits = await s.search(("d",), query="quantum physics", limit=2)
    assert [h.key for h in hits] == ["a", "b"]
    q = FakeEmbeddings(dims=32)._embed("quantum physics")
    expected_b = _cos(q, FakeEmbeddings(dims=32)._embed("zebra stripes"))
    assert hits[0].score is not None and abs(hits[0].score - 1.0) < 1e-4
    assert hits[1].score is not None and abs(hits[1].score - expected_b) < 1e-4


async def test_unindexed_items_not_ranked(make: MakeApi) -> None:
    emb = FakeEmbeddings(dims=32)
    s = await make(index=_vector_index(emb, ["text"]))
    await s.put(("d",), "on", {"text": "mountain hiking"})
    await s.put(("d",), "off", {"text": "mountain hiking"}, index=False)
    hits = await s.search(("d",), query="mountain hiking", limit=10)
    assert [h.key for h in hits] == ["on"]
    assert {i.key for i in await s.search(("d",), limit=10)} == {"on", "off"}  # still stored


async def test_stale_vectors_dropped_when_text_changes(make: MakeApi) -> None:
    emb = FakeEmbeddings(dims=32)
    s = await make(index=_vector_index(emb, ["text", "extra"]))
    await s.put(("d",), "k", {"text": "red apples", "extra": "orchard harvest"})
    await s.put(("d",), "k", {"text": "blue cars"})  # "extra" is gone, "text" changed
    [hit] = await s.search(("d",), query="orchard harvest", limit=1)
    q = FakeEmbeddings(dims=32)._embed("orchard harvest")
    expected = _cos(q, FakeEmbeddings(dims=32)._embed("blue cars"))
    assert hit.score is not None and abs(hit.score - expected) < 1e-4
    await s.put(("d",), "k", {"text": "blue cars"}, index=False)
    assert await s.search(("d",), query="blue cars", limit=1) == []


async def test_keyword_search_without_a_model(make: MakeApi) -> None:
    s = await make(index={"fields": ["name", "notes"], "search_mode": "keyword"})
    await s.put(("c",), "1", {"name": "Zyxtrel Corp", "notes": "supplier of bolts"})
    await s.put(("c",), "2", {"name": "Acme", "notes": "buys bolts and nuts"})
    await s.put(("c",), "3", {"name": "Other", "notes": "nothing relevant"})
    hits = await s.search(("c",), query="zyxtrel", limit=10)
    assert [h.key for h in hits] == ["1"]
    bolts = await s.search(("c",), query="bolts", limit=10)
    assert {h.key for h in bolts} == {"1", "2"}
    assert all(h.score is not None and h.score > 0 for h in bolts)
    assert await s.search(("c",), query="bolts", filter={"name": "Acme"}) == [
        h for h in bolts if h.key == "2"
    ]


async def test_hybrid_finds_by_meaning_and_by_keyword(make: MakeApi) -> None:
    emb = FakeEmbeddings(dims=64)
    s = await make(index={"dims": 64, "embed": emb, "fields": ["text"], "search_mode": "hybrid"})
    await s.put(("m",), "exact", {"text": "the account id is QX7731"})
    await s.put(("m",), "near", {"text": "accounts identifiers list"})
    await s.put(("m",), "far", {"text": "weather is sunny"})
    hits = await s.search(("m",), query="QX7731", limit=3)
    assert hits[0].key == "exact"
    assert all(h.score is not None for h in hits)
    scores = [h.score or 0.0 for h in hits]
    assert scores == sorted(scores, reverse=True)
    # RRF: an item first in both rankings scores 2/61
    assert hits[0].score is not None and hits[0].score <= 2 / 61 + 1e-9


# --- TTL ----------------------------------------------------------------------------------------


async def _sweep(s: Api) -> int:
    """Run the store's TTL sweep: ``asweep_ttl()``, an async ``sweep_ttl()`` (an async-only
    store class), or the sync ``sweep_ttl()`` in a worker thread."""
    store: Any = s.store
    if s.mode == "async":
        if hasattr(store, "asweep_ttl"):
            return int(await store.asweep_ttl())
        if inspect.iscoroutinefunction(store.sweep_ttl):
            return int(await store.sweep_ttl())
    return int(await asyncio.to_thread(store.sweep_ttl))


async def test_ttl_default_expiry_and_sweep(make: MakeApi) -> None:
    s = await make(ttl={"default_ttl": 0.002, "omit_expired": True, "refresh_on_read": True})
    assert s.store.supports_ttl
    await s.put(("t",), "short", {"v": 1})  # default: 0.12 s
    await s.put(("t",), "long", {"v": 2}, ttl=60)
    await s.put(("t",), "forever", {"v": 3}, ttl=None)
    await asyncio.sleep(0.4)
    assert await s.get(("t",), "short") is None
    long_item = await s.get(("t",), "long")
    assert long_item is not None and long_item.value == {"v": 2}
    assert {i.key for i in await s.search(("t",))} == {"long", "forever"}
    assert await _sweep(s) == 1
    assert {i.key for i in await s.search(("t",))} == {"long", "forever"}


async def test_paging_one_big_batch_never_skips_or_repeats(make: MakeApi) -> None:
    # One batch gives every item the same updated_at: the order must still be total.
    s = await make()
    namespaces = [("p", "a"), ("p", "a", "b"), ("p", "a-b"), ("p", "a_b")]
    await s.batch(
        [PutOp(namespaces[i % 4], f"k{i:04d}", {"i": i, "even": i % 2 == 0}) for i in range(1200)]
    )
    for flt in (None, {"even": True}):
        seen: list[tuple[tuple[str, ...], str]] = []
        offset = 0
        while True:
            page = await s.search(("p",), filter=flt, limit=100, offset=offset)
            if not page:
                break
            seen.extend((item.namespace, item.key) for item in page)
            offset += 100
        expected = 1200 if flt is None else 600
        assert len(seen) == expected and len(set(seen)) == expected
    first = await s.search(("p",), limit=5)
    again = await s.search(("p",), limit=5)
    assert [(i.namespace, i.key) for i in first] == [(i.namespace, i.key) for i in again]
