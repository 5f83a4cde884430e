"""Property-based: every store of the package against langgraph's `InMemoryStore` as the oracle.

Hypothesis draws namespaces, keys, values, filters and page bounds, hostile ones included (NUL,
lone surrogates, dots, empty labels, deep nesting, NaN and infinities, huge integers). For each
drawn case:

- where our store accepts the input, the oracle must accept it too and both give the same
  results (get, filtered search as a set of keys, list_namespaces); where the oracle is no
  reference for a filter (it raises, or Python's rules differ from JSON's: ``False == 0``),
  the search gives what `_filters.matches` (the documented semantics) says;
- where our store refuses it, the error is our `InvalidInputError` and nothing was written.

Each example works under a fresh root label, so one store serves all the examples of a test.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from langgraph_hybrid_memory import HybridStore, LocalStore, PgVectorStore
from langgraph_hybrid_memory._filters import FilterError, matches
from langgraph_hybrid_memory.errors import InvalidInputError

EXAMPLES = 30  # x 3 stores: about 2 minutes alone, most of it PostgreSQL round trips

# Text with the characters stores trip on: NUL, a lone surrogate, a dot, non-ASCII.
hostile_text = st.text(
    alphabet=st.sampled_from(["a", "b", "z", "0", ".", " ", "\x00", "\ud800", "é", "日"]),
    min_size=0,
    max_size=6,
)
plain_text = st.text(alphabet="abcxyz", min_size=1, max_size=5)
labels = st.one_of(plain_text, hostile_text)
keys = st.one_of(plain_text, hostile_text)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(plain_text, inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A value with numeric fields ``a`` and ``b`` (the filters compare them) and extras."""
    value: dict[str, Any] = {
        "a": draw(st.integers(min_value=0, max_value=5)),
        "b": draw(st.integers(min_value=0, max_value=5)),
    }
    value.update(draw(st.dictionaries(plain_text, json_values, max_size=3)))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        deep: Any = 1
        for _ in range(draw(st.sampled_from([5, 99, 150, 1000]))):
            deep = {"d": deep}
        value["deep"] = deep
    return value


number_or_nan = st.one_of(st.integers(min_value=0, max_value=5), st.just(float("nan")))
conditions = st.one_of(
    number_or_nan,
    st.fixed_dictionaries({"$eq": number_or_nan}),
    st.fixed_dictionaries({"$ne": st.integers(min_value=0, max_value=5)}),
    st.fixed_dictionaries({"$gt": number_or_nan}),
    st.fixed_dictionaries({"$lte": st.integers(min_value=0, max_value=5)}),
    st.fixed_dictionaries({"$in": st.lists(number_or_nan, max_size=3)}),
)
filters = st.one_of(st.none(), st.dictionaries(st.sampled_from(["a", "b"]), conditions, max_size=2))
limits = st.one_of(st.integers(min_value=1, max_value=50), st.sampled_from([0, -1, 2**31, 10**20]))


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    puts = draw(
        st.lists(
            st.tuples(st.lists(labels, min_size=1, max_size=2), keys, documents()),
            min_size=1,
            max_size=5,
        )
    )
    return {"puts": puts, "filter": draw(filters), "limit": draw(limits)}


@pytest.fixture(params=["local", "pgvector", "hybrid"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStore]:
    if request.param == "local":
        local = LocalStore(tmp_path / "oracle.sqlite")
        local.setup()
        yield local
        local.close()
        return
    pg_url: str = request.getfixturevalue("pg_url")
    if request.param == "pgvector":
        with PgVectorStore.from_conn_string(pg_url) as pg:
            pg.setup()
            yield pg
        return
    hybrid = HybridStore(tmp_path / "oracle-hybrid.sqlite", pg_url)
    hybrid.setup()
    yield hybrid
    hybrid.flush(timeout=30)
    hybrid.close()


def _same(ours: Any, theirs: Any) -> bool:
    """Equal JSON. Numbers compare by decimal value: JSON has one number type, and PostgreSQL's
    jsonb hands the float ``6.367909424869506e+16`` back as the integer ``63679094248695060``
    (the same decimal number, which Python's exact int/float comparison calls different)."""
    numbers = (int, float)
    if (
        isinstance(ours, numbers)
        and isinstance(theirs, numbers)
        and not isinstance(ours, bool)
        and not isinstance(theirs, bool)
    ):
        if type(ours) is not type(theirs):
            ours, theirs = float(ours), float(theirs)
        return ours == theirs or (math.isnan(ours) and math.isnan(theirs))
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(
            _same(a, b) for a, b in zip(ours, theirs, strict=True)
        )
    return bool(ours == theirs) and type(ours) is type(theirs)


def _oracle_matches(
    oracle: InMemoryStore,
    root: str,
    filter: dict[str, Any] | None,
    values: Iterable[dict[str, Any]],
) -> set[tuple[tuple[str, ...], str]] | None:
    """The items InMemoryStore's filter matches, or None where it is no reference for ours.

    It compares with Python's rules, not JSON's: ``False == 0`` and ``float(True)``, and a
    range operator calls ``float()`` on the stored value (``float("3")`` parses; a null or most
    strings raise). So a bool or a string in a filtered field, or a filter it refuses (it has
    no ``$in``), gives no reference (the package's `_filters` documents its JSON semantics).
    """
    fields = list(filter or {})
    if any(isinstance(v.get(f), (bool, str)) for v in values for f in fields):
        return None
    try:
        hits = oracle.search((root,), filter=filter, limit=100)
    except (ValueError, TypeError):
        return None
    return {(h.namespace, h.key) for h in hits}


NAN_CASE_VALUE: dict[str, Any] = {"a": 0, "b": None}
NAN_CASE_FILTER: dict[str, Any] = {"a": 0, "b": {"$gt": float("nan")}}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The same examples on every run: CI must not turn red on a case a random seed happens to
    # draw. Widen the search by hand (HYPOTHESIS seeds, more examples) when changing filters.
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
# Found by random seeds (issue #16). The oracle raised TypeError (float(None)); NaN is refused:
@example(case={"puts": [(["x"], "k", NAN_CASE_VALUE)], "filter": NAN_CASE_FILTER, "limit": 1})
# The oracle matched False to 0 (Python's rule); JSON's false is not 0, so ours matches nothing:
@example(
    case={
        "puts": [(["a"], "a", {"a": 2, "b": 0}), (["a"], "a", {"a": False, "b": 0})],
        "filter": {"a": 0},
        "limit": 1,
    }
)
def test_store_agrees_with_inmemory_or_refuses_cleanly(
    store: BaseStore, case: dict[str, Any]
) -> None:
    root = f"r{uuid.uuid4().hex[:12]}"
    oracle = InMemoryStore()
    accepted: dict[tuple[tuple[str, ...], str], dict[str, Any]] = {}
    for labels_, key, value in case["puts"]:
        ns = (root, *labels_)
        try:
            store.put(ns, key, value)
        except InvalidInputError:
            # Refused by ours: nothing of it was written; what is there is the last accepted put.
            # (The oracle is not asked: InMemoryStore.get creates an empty namespace entry.)
            try:
                got = store.get(ns, key)
            except InvalidInputError:
                continue  # a namespace or key no read accepts cannot hold anything either
            before = accepted.get((ns, key))
            assert (got is None) == (before is None)
            assert got is None or before is None or _same(got.value, before)
            continue
        oracle.put(ns, key, value)  # what ours accepts, langgraph's store accepts
        accepted[(ns, key)] = value
        got, want = store.get(ns, key), oracle.get(ns, key)
        assert got is not None and want is not None
        assert _same(got.value, want.value), (got.value, want.value)

    try:
        hits = store.search((root,), filter=case["filter"], limit=case["limit"])
    except InvalidInputError as exc:
        assert exc.argument in ("limit", "filter"), exc
        return
    found = {(h.namespace, h.key) for h in hits}
    want = _oracle_matches(oracle, root, case["filter"], accepted.values())
    if want is None:
        # No reference from the oracle: our documented semantics (`_filters.matches`) decide.
        want = {k for k, v in accepted.items() if matches(v, case["filter"])}
    if case["limit"] >= 50:
        # Every match fits in one page: same set of items (the orders are not specified alike).
        assert found == want
    else:
        assert len(found) == min(case["limit"], len(want)) and found <= want
    assert sorted(store.list_namespaces(prefix=(root,))) == sorted(
        oracle.list_namespaces(prefix=(root,))
    )


def test_nan_in_a_filter_is_refused_on_every_store(store: BaseStore) -> None:
    """The case a random seed found: NaN has no JSON meaning, so the filter is refused (the same
    error on every store) instead of matching nothing; without the NaN, a null never compares."""
    ns = (f"r{uuid.uuid4().hex[:12]}",)
    store.put(ns, "k", NAN_CASE_VALUE)
    with pytest.raises(
        FilterError, match=r"filter\['b'\]\[\$gt\]: nan is not a JSON number"
    ) as err:
        store.search(ns, filter=NAN_CASE_FILTER, limit=1)
    assert err.value.argument == "filter"
    assert store.search(ns, filter={"a": 0, "b": {"$gt": 0}}, limit=1) == []
    assert [h.key for h in store.search(ns, filter={"a": 0, "b": None}, limit=1)] == ["k"]
    oracle = InMemoryStore()
    oracle.put(ns, "k", NAN_CASE_VALUE)
    with pytest.raises(TypeError):  # the oracle has no answer here: such cases are skipped
        oracle.search(ns, filter={"a": 0, "b": {"$gt": 0}}, limit=1)
