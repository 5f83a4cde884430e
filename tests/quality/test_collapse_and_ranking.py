"""Read-time collapsing of near-duplicates and blended ranking, on every store of the package
(PgVectorStore sync/async, LocalStore, HybridStore sync/async), with fake embeddings."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.store.base import PutOp

from langgraph_hybrid_memory import LocalStore
from langgraph_hybrid_memory._quality import resolve_quality
from langgraph_hybrid_memory.errors import ConfigError, InvalidValueError
from langgraph_hybrid_memory.store._config import resolve_index
from tests.quality.conftest import MakeAny
from tests.support import FakeEmbeddings

NS = ("users", "u1", "memories")
OTHERS = [
    "has a cat called Miso",
    "rides a bike to the office",
    "went to Paris last summer",
    "plays the violin on Sundays",
    "is allergic to peanuts",
    "works as a nurse in Porto",
]


def _index(emb: FakeEmbeddings, **extra: Any) -> dict[str, Any]:
    return {"dims": emb.dims, "embed": emb, "fields": ["text"], **extra}


async def test_off_by_default_duplicates_come_back(
    make_any: MakeAny, fake_embeddings: FakeEmbeddings
) -> None:
    s = await make_any(_index(fake_embeddings))
    for n in range(4):
        await s.put(NS, f"tea-{n}", {"text": "likes green tea in the morning"})
    hits = await s.search(("users", "u1"), query="green tea", limit=4)
    assert len(hits) == 4 and {h.value["text"] for h in hits} == {"likes green tea in the morning"}


async def test_collapse_fills_the_page_with_distinct_memories_freshest_first(
    make_any: MakeAny, fake_embeddings: FakeEmbeddings
) -> None:
    s = await make_any(_index(fake_embeddings, collapse={"threshold": 1.0}))
    # 30 copies of one fact (more than the first fetch of 15) between distinct ones.
    for n, t in enumerate(OTHERS[:3]):
        await s.put(NS, f"other-{n}", {"text": t + " and green tea"})
    for n in range(30):
        await s.put(NS, f"tea-{n}", {"text": "likes green tea in the morning", "n": n})
    for n, t in enumerate(OTHERS[3:], start=3):
        await s.put(NS, f"other-{n}", {"text": t + " and green tea"})
    for query in ("likes green tea in the morning", None):
        hits = await s.search(("users", "u1"), query=query, limit=5)
        texts = [h.value["text"] for h in hits]
        assert len(hits) == 5, texts  # never fewer than limit while enough distinct exist
        assert len(set(texts)) == 5
        tea = [h for h in hits if h.key.startswith("tea-")]
        assert len(tea) == 1 and tea[0].value["n"] == 29  # the freshest copy stands for all
    # Every write is still there, exactly as written (BaseStore semantics).
    for n in (0, 17, 29):
        item = await s.get(NS, f"tea-{n}")
        assert item is not None and item.value == {"text": "likes green tea in the morning", "n": n}
    # Fewer distinct memories than asked for: all of them, once.
    hits = await s.search(("users", "u1"), query="green tea", limit=50)
    assert len(hits) == 1 + len(OTHERS)
    # Offsets page through the collapsed list.
    page1 = await s.search(("users", "u1"), query="green tea", limit=3)
    page2 = await s.search(("users", "u1"), query="green tea", limit=3, offset=3)
    assert not {h.key for h in page1} & {h.key for h in page2}


async def test_cosine_threshold_collapses_rewordings(
    make_any: MakeAny, fake_embeddings: FakeEmbeddings
) -> None:
    s = await make_any(_index(fake_embeddings, collapse={"threshold": 0.9}))
    await s.put(NS, "a", {"text": "likes green tea in the morning"})
    await s.put(NS, "b", {"text": "likes green tea in the morning!"})
    await s.put(NS, "c", {"text": "rides a bike to the office"})
    hits = await s.search(("users", "u1"), query="green tea morning", limit=3)
    assert [h.key for h in hits][:1] == ["b"] and {h.key for h in hits} == {"b", "c"}


async def test_ranking_recency_and_importance(
    make_any: MakeAny, fake_embeddings: FakeEmbeddings
) -> None:
    ranking = {"relevance": 0.2, "importance": 1.0}
    s = await make_any(_index(fake_embeddings, ranking=ranking))
    await s.put(NS, "best-match", {"text": "likes green tea in the morning", "importance": 0.0})
    await s.put(NS, "important", {"text": "green tea is a gift idea", "importance": 1.0})
    hits = await s.search(("users", "u1"), query="likes green tea in the morning", limit=2)
    assert [h.key for h in hits] == ["important", "best-match"]
    # The blend (relevance scaled 0..1 over the candidates), not the raw score.
    assert [h.score for h in hits] == [pytest.approx(1.0), pytest.approx(0.2)]
    with pytest.raises(InvalidValueError, match="importance_field"):
        await s.batch([PutOp(NS, "ok", {"text": "x"}), PutOp(NS, "bad", {"importance": "high"})])
    assert await s.get(NS, "ok") is None  # nothing of the batch was written
    with pytest.raises(InvalidValueError, match="from 0 to 1"):
        await s.put(NS, "bad", {"text": "y", "importance": 1.5})


async def test_recency_half_life_prefers_newer(
    make_any: MakeAny, fake_embeddings: FakeEmbeddings
) -> None:
    s = await make_any(
        _index(fake_embeddings, ranking={"relevance": 0.0, "recency": 1.0, "half_life_days": 1e-6})
    )
    await s.put(NS, "old", {"text": "likes green tea in the morning"})
    await s.put(NS, "new", {"text": "green tea"})
    hits = await s.search(("users", "u1"), query="likes green tea in the morning", limit=2)
    assert [h.key for h in hits] == ["new", "old"]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"collapse": {"threshold": 0}}, r"index\['collapse'\]\['threshold'\]"),
        ({"collapse": {"threshold": 1.5}}, r"index\['collapse'\]\['threshold'\]"),
        ({"collapse": "yes"}, r"index\['collapse'\]"),
        ({"collapse": {"thresh": 0.9}}, "unknown index\\['collapse'\\]"),
        ({"ranking": {"recency": -0.1}}, r"index\['ranking'\]\['recency'\]"),
        ({"ranking": {"importance": float("nan")}}, r"index\['ranking'\]\['importance'\]"),
        ({"ranking": {"half_life_days": 0}}, "half_life_days"),
        ({"ranking": {"relevance": 0}}, "needs a weight above 0"),
        ({"ranking": {"importance_field": ""}}, "importance_field"),
        ({"ranking": []}, r"index\['ranking'\] must be a dict"),
    ],
)
def test_bad_settings_name_the_setting(
    extra: dict[str, Any], match: str, fake_embeddings: FakeEmbeddings, tmp_path: Any
) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve_quality(extra)
    with pytest.raises(ConfigError, match=match):
        resolve_index(_index(fake_embeddings, **extra), fake_embeddings)
    with pytest.raises(ConfigError, match=match):
        LocalStore(tmp_path / "x.sqlite", index=_index(fake_embeddings, **extra))  # type: ignore[arg-type]
    assert not (tmp_path / "x.sqlite").exists() or (tmp_path / "x.sqlite").stat().st_size >= 0


def test_cosine_collapse_reads_halfvec_vectors(
    pg_url: str, fake_embeddings: FakeEmbeddings
) -> None:
    from langgraph_hybrid_memory import PgVectorStore
    from langgraph_hybrid_memory._pg import get_connection

    conn = get_connection(pg_url)
    try:
        index = _index(fake_embeddings, vector_type="halfvec", collapse={"threshold": 0.9})
        s = PgVectorStore(conn, index=index)  # type: ignore[arg-type]
        s.setup()
        s.put(NS, "a", {"text": "likes green tea in the morning"})
        s.put(NS, "b", {"text": "likes green tea in the morning!"})
        s.put(NS, "c", {"text": "rides a bike to the office"})
        hits = s.search(("users", "u1"), query="green tea morning", limit=3)
        assert [h.key for h in hits] == ["b", "c"]
    finally:
        conn.close()
