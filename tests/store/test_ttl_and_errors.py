"""TTL (fractional minutes, refresh on read, omit_expired, sweeps) and bad input that must change
nothing."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime

import pytest
from langgraph.store.base import PutOp, SearchOp

from langgraph_hybrid_memory.errors import (
    ConfigError,
    DimensionMismatchError,
    InvalidValueError,
    PgVectorMissingError,
)
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store._config import resolve_index
from langgraph_hybrid_memory.store._schema import PGVECTOR_AVAILABLE
from langgraph_hybrid_memory.store.base import Sql
from tests.store.conftest import MakeStore
from tests.support import FakeEmbeddings

# 0.1 s: an item put with it has surely expired after `_EXPIRED_AFTER` seconds.
_SHORT_TTL = 0.1 / 60
_EXPIRED_AFTER = 0.4


def _expires_at(s: object, key: str) -> datetime:
    return s.sql("SELECT expires_at FROM memory.items WHERE key = %s", (key,))[0][0]  # type: ignore[attr-defined]


async def test_ttl_fractional_minutes_refresh_and_default(make_store: MakeStore) -> None:
    s = await make_store(ttl={"default_ttl": 0.5, "refresh_on_read": True})
    assert s.store.supports_ttl
    await s.put(("t",), "default", {"v": 1})
    await s.put(("t",), "explicit", {"v": 1}, ttl=2.25)
    await s.put(("t",), "forever", {"v": 1}, ttl=None)
    rows = dict(s.sql("SELECT key, ttl_minutes FROM memory.items"))
    assert rows == {"default": 0.5, "explicit": 2.25, "forever": None}
    before = _expires_at(s, "explicit")
    lifetime = before - s.sql("SELECT updated_at FROM memory.items WHERE key='explicit'")[0][0]
    assert lifetime.total_seconds() == pytest.approx(135, abs=1)
    await asyncio.sleep(0.05)
    await s.get(("t",), "explicit")
    after_get = _expires_at(s, "explicit")
    assert after_get > before
    await s.get(("t",), "explicit", refresh_ttl=False)
    assert _expires_at(s, "explicit") == after_get
    await asyncio.sleep(0.05)
    await s.search(("t",))
    assert _expires_at(s, "explicit") > after_get
    assert _expires_at(s, "forever") is None


async def test_expired_items_are_hidden_then_swept(make_store: MakeStore) -> None:
    s = await make_store(
        ttl={"refresh_on_read": False}, index={"fields": ["t"], "search_mode": "keyword"}
    )
    await s.put(("users", "u"), "old", {"t": "tea"}, ttl=_SHORT_TTL)
    await s.put(("users", "u"), "new", {"t": "tea"}, ttl=10)
    await asyncio.sleep(_EXPIRED_AFTER)
    assert await s.get(("users", "u"), "old") is None
    assert [i.key for i in await s.search(("users",))] == ["new"]
    assert [i.key for i in await s.search(("users",), query="tea")] == ["new"]
    await s.put(("gone",), "x", {"t": 1}, ttl=_SHORT_TTL)
    await asyncio.sleep(_EXPIRED_AFTER)
    assert await s.list_namespaces() == [("users", "u")]
    assert await s.sweep_ttl(batch_size=1) == 2
    assert s.sql("SELECT key FROM memory.items") == [("new",)]
    assert await s.sweep_ttl() == 0


async def test_omit_expired_false_shows_unswept_items(make_store: MakeStore) -> None:
    s = await make_store(ttl={"omit_expired": False})
    await s.put(("t",), "old", {"v": 1}, ttl=_SHORT_TTL)
    await asyncio.sleep(_EXPIRED_AFTER)
    assert (await s.get(("t",), "old")) is not None


async def test_ttl_sweeper_runs_in_background_and_stops(make_store: MakeStore) -> None:
    s = await make_store(ttl={"sweep_interval_minutes": 0.002})
    await s.put(("t",), "old", {"v": 1}, ttl=_SHORT_TTL)
    await s.start_ttl_sweeper()
    for _ in range(200):
        await asyncio.sleep(0.05)
        if not s.sql("SELECT 1 FROM memory.items"):
            break
    assert s.sql("SELECT 1 FROM memory.items") == []
    assert await s.stop_ttl_sweeper(timeout=10) is True


async def test_no_ttl_config_rejects_nothing_but_stores_ttl(make_store: MakeStore) -> None:
    s = await make_store()
    await s.put(("t",), "k", {"v": 1}, ttl=1.5)
    assert s.sql("SELECT ttl_minutes FROM memory.items") == [(1.5,)]
    assert (await s.start_ttl_sweeper()) is not None


BAD_VALUES = [
    ({"when": datetime(2020, 1, 1)}, "not JSON-serialisable"),
    ({"x": math.nan}, "not JSON-serialisable"),
    ({"x": "a\x00b"}, "NUL"),
    ({1: "int key"}, "non-string key"),
    ({"x": "\ud800"}, "surrogate"),
]


@pytest.mark.parametrize(("value", "message"), BAD_VALUES)
async def test_bad_values_raise_and_change_nothing(
    make_store: MakeStore, value: dict[object, object], message: str
) -> None:
    s = await make_store()
    await s.put(("t",), "keep", {"v": 1})
    with pytest.raises(InvalidValueError, match=message):
        await s.batch(
            [
                PutOp(("t",), "new", {"v": 2}),
                PutOp(("t",), "keep", None),
                PutOp(("t",), "bad", value),
            ]
        )
    assert s.sql("SELECT key FROM memory.items") == [("keep",)]


async def test_embedder_returning_wrong_dims_changes_nothing(make_store: MakeStore) -> None:
    class Liar(FakeEmbeddings):
        def _embed(self, text: str) -> list[float]:
            return super()._embed(text)[:-1] if "bad" in text else super()._embed(text)

    s = await make_store(index={"dims": 32, "embed": Liar(32), "fields": ["t"]})
    await s.put(("t",), "keep", {"t": "fine"})
    with pytest.raises(DimensionMismatchError, match="31-dim vector but the index has dims=32"):
        await s.batch([PutOp(("t",), "keep", None), PutOp(("t",), "x", {"t": "bad text"})])
    assert s.sql("SELECT key FROM memory.items") == [("keep",)]
    with pytest.raises(DimensionMismatchError):
        await s.search(("t",), query="bad query")


async def test_setup_against_existing_table_with_other_dims(make_store: MakeStore) -> None:
    first = await make_store(index={"dims": 32, "embed": FakeEmbeddings(32), "fields": ["t"]})
    await first.put(("t",), "k", {"t": "x"})
    with pytest.raises(DimensionMismatchError, match=r"holds vector\(32\).*says vector\(64\)"):
        await make_store(index={"dims": 64, "embed": FakeEmbeddings(64), "fields": ["t"]})
    with pytest.raises(ConfigError, match="scope_depth=2"):
        await make_store(scope_depth=3)
    # The same config again is fine (idempotent setup).
    await make_store(index={"dims": 32, "embed": FakeEmbeddings(32), "fields": ["t"]})
    assert first.sql("SELECT count(*) FROM memory.vectors") == [(1,)]


def test_missing_pgvector_is_a_clear_error() -> None:
    """Drive the setup check with the answer of a server without pgvector (every server the
    suite can start ships it)."""
    store = PgVectorStore.__new__(PgVectorStore)
    store._init_base(
        schema="memory",
        scope_depth=2,
        index=resolve_index({"dims": 4, "fields": ["t"]}, FakeEmbeddings(4)),
        ttl=None,
    )
    plan = store._setup_checks_plan()
    step = next(plan)
    assert isinstance(step, Sql) and step.query == PGVECTOR_AVAILABLE
    with pytest.raises(PgVectorMissingError, match="pgvector extension is not available"):
        plan.send([{"installed": None, "available": False}])


@pytest.mark.parametrize(
    ("index", "message"),
    [
        ({"dims": 8}, "both 'dims' and 'embed'"),
        ({"fields": ["t"], "search_mode": "vector"}, "needs 'dims' and 'embed'"),
        ({"fields": ["t"], "distance_type": "dot"}, "distance_type"),
        ({"fields": ["t"], "bogus": 1}, "unknown index config key"),
        ({"fields": "t"}, "list of paths"),
        ({"fields": ["t"], "text_search_config": "english; drop"}, "text search configuration"),
    ],
)
def test_bad_index_config(index: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_index(index, None)


async def test_bad_search_arguments(make_store: MakeStore) -> None:
    s = await make_store()
    with pytest.raises(ValueError, match="limit"):
        await s.batch([SearchOp(("t",), limit=-1)])
    with pytest.raises(InvalidValueError, match="needs a store configured with index"):
        await s.put(("t",), "k", {"v": 1}, index=["v"])
