"""Vector, keyword and hybrid search; index fields; stale vectors; distances; true top-k."""

from __future__ import annotations

import math

import numpy as np
import pytest
from langgraph.store.base import PutOp, SearchOp

from tests.store.conftest import MakeStore
from tests.support import FakeEmbeddings

DOCS = {
    "tea": "likes green tea in the morning",
    "coffee": "drinks black coffee at work",
    "cat": "has a cat called Miso",
    "bike": "rides a bike to the office",
    "paris": "went to Paris last summer",
}


def _index(emb: FakeEmbeddings, **extra: object) -> dict[str, object]:
    return {"dims": emb.dims, "embed": emb, "fields": ["text"], **extra}


async def test_vector_search_ranks_by_similarity_with_documented_scores(
    make_store: MakeStore, fake_embeddings: FakeEmbeddings
) -> None:
    s = await make_store(index=_index(fake_embeddings, search_mode="vector"))
    for k, t in DOCS.items():
        await s.put(("users", "u1"), k, {"text": t})
    hits = await s.search(("users",), query="green tea morning", limit=3)
    assert hits[0].key == "tea"
    q = np.array(fake_embeddings.embed_query("green tea morning"))
    for h in hits:
        d = np.array(fake_embeddings.embed_query(DOCS[h.key]))
        assert h.score == pytest.approx(float(q @ d), abs=1e-5)  # unit vectors: 1 - cos dist
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_one_embedding_call_per_batch(make_store: MakeStore) -> None:
    emb = FakeEmbeddings(dims=16)
    s = await make_store(index=_index(emb))
    before = emb.calls
    await s.batch([PutOp(("u",), k, {"text": t}) for k, t in DOCS.items()])
    assert emb.calls == before + 1
    assert sorted(emb.texts[-len(DOCS) :]) == sorted(DOCS.values())


async def test_fields_paths_one_vector_per_text_best_scores_and_stale_vectors_go(
    make_store: MakeStore, fake_embeddings: FakeEmbeddings
) -> None:
    s = await make_store(
        index={"dims": 32, "embed": fake_embeddings, "fields": ["title", "notes[*].body"]}
    )
    await s.put(
        ("u",),
        "doc",
        {
            "title": "holiday plans",
            "notes": [{"body": "book flights to Oslo"}, {"body": "buy skis"}],
        },
    )
    rows = s.sql("SELECT field FROM memory.vectors ORDER BY field")
    assert [r[0] for r in rows] == ["notes[*].body.0", "notes[*].body.1", "title"]
    hit = (await s.search(("u",), query="buy skis", limit=1))[0]
    want = float(
        np.dot(fake_embeddings.embed_query("buy skis"), fake_embeddings.embed_query("buy skis"))
    )
    assert hit.key == "doc"
    # Scored by its best vector (the identical text), in vector mode.
    s2 = await make_store(
        index={
            "dims": 32,
            "embed": fake_embeddings,
            "fields": ["title", "notes[*].body"],
            "search_mode": "vector",
        },
        schema="other",
    )
    await s2.put(("u",), "doc", {"title": "x", "notes": [{"body": "buy skis"}, {"body": "zzz"}]})
    assert (await s2.search(("u",), query="buy skis"))[0].score == pytest.approx(want, abs=1e-5)
    # An update that changes the indexed texts replaces the vectors.
    await s.put(("u",), "doc", {"title": "work plans", "notes": [{"body": "write report"}]})
    rows = s.sql("SELECT field FROM memory.vectors ORDER BY field")
    assert [r[0] for r in rows] == ["notes[*].body", "title"]
    # Per-put index=False: stored, not searchable by text, old vectors gone.
    await s.put(("u",), "doc", {"title": "secret"}, index=False)
    assert s.sql("SELECT count(*) FROM memory.vectors")[0][0] == 0
    assert await s.search(("u",), query="secret") == []
    assert (await s.get(("u",), "doc")).value == {"title": "secret"}
    # Per-put field list overrides the configured fields.
    await s.put(("u",), "doc2", {"title": "a", "body": "b"}, index=["body"])
    assert [r[0] for r in s.sql("SELECT field FROM memory.vectors")] == ["body"]


async def test_keyword_only_index_needs_no_embedding_model(make_store: MakeStore) -> None:
    s = await make_store(index={"fields": ["text"], "search_mode": "keyword"})
    for k, t in DOCS.items():
        await s.put(("users", "u1"), k, {"text": t})
    hits = await s.search(("users", "u1"), query="Who has a cat?")
    assert [h.key for h in hits] == ["cat"]
    assert hits[0].score is not None and hits[0].score > 0
    assert (
        s.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'vectors'")[0][0]
        == 0
    )
    # Stemming: "rides"/"riding".
    assert [h.key for h in await s.search(("users",), query="riding")] == ["bike"]


async def test_hybrid_search_finds_exact_names_and_fuses_scores(
    make_store: MakeStore, fake_embeddings: FakeEmbeddings
) -> None:
    s = await make_store(index=_index(fake_embeddings))
    for k, t in DOCS.items():
        await s.put(("users", "u1"), k, {"text": t})
    hits = await s.search(("users", "u1"), query="Miso", limit=5)
    assert hits[0].key == "cat"
    # RRF: found by both rankings -> more than one list's best possible score 1/61.
    assert hits[0].score == pytest.approx(1 / 61 + 1 / 61, abs=1e-3) or hits[0].score > 1 / 61
    assert all(h.score <= 2 / 61 + 1e-9 for h in hits)
    assert len(hits) == 5


@pytest.mark.parametrize("distance", ["l2", "inner_product"])
async def test_other_distances(
    make_store: MakeStore, fake_embeddings: FakeEmbeddings, distance: str
) -> None:
    s = await make_store(
        index=_index(fake_embeddings, distance_type=distance, search_mode="vector")
    )
    for k, t in DOCS.items():
        await s.put(("u",), k, {"text": t})
    q = np.array(fake_embeddings.embed_query("a cat"))
    hits = await s.search(("u",), query="a cat", limit=5)
    for h in hits:
        d = np.array(fake_embeddings.embed_query(DOCS[h.key]))
        want = -float(np.linalg.norm(q - d)) if distance == "l2" else float(q @ d)
        assert h.score == pytest.approx(want, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_halfvec_above_2000_dims(make_store: MakeStore) -> None:
    emb = FakeEmbeddings(dims=3072)  # text-embedding-3-large's size
    s = await make_store(index=_index(emb, search_mode="vector"))
    assert s.sql(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'memory.vectors'::regclass AND attname = 'embedding'"
    ) == [("halfvec(3072)",)]
    assert s.sql("SELECT count(*) FROM pg_indexes WHERE indexname = 'vectors_embedding_idx'") == [
        (1,)
    ]
    for k, t in DOCS.items():
        await s.put(("u",), k, {"text": t})
    assert (await s.search(("u",), query="green tea"))[0].key == "tea"


def _clustered(n: int, dims: int, seed: int, noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, dims))
    x = centers[rng.integers(0, 8, n)] + noise * rng.normal(size=(n, dims))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class TableEmbeddings(FakeEmbeddings):
    """Returns precomputed vectors for texts of the form 'v<i>' (queries 'q<i>')."""

    def __init__(self, docs: np.ndarray, queries: np.ndarray) -> None:
        super().__init__(dims=docs.shape[1])
        self.docs, self.queries = docs, queries

    def _embed(self, text: str) -> list[float]:
        table = self.docs if text[0] == "v" else self.queries
        return [float(x) for x in table[int(text[1:])]]


async def test_filtered_search_returns_true_top_k_and_never_short(make_store: MakeStore) -> None:
    """Invariant 8 on a table big enough for the HNSW plan: global, per-user and selective
    metadata filters all return exactly the top-k of an exact search, and full pages."""
    n, dims, users = 3000, 24, 30
    # Moderately clustered: tighter clusters make HNSW graphs whose recall varies from build
    # to build, which bench/bench_store.py measures; this test checks the store's logic.
    docs = _clustered(n, dims, 1, noise=0.8)
    # Queries near the data (as real questions about stored memories are).
    rng = np.random.default_rng(2)
    queries = docs[rng.integers(0, n, 6)] + 0.2 * rng.normal(size=(6, dims))
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    emb = TableEmbeddings(docs, queries)
    s = await make_store(
        index={"dims": dims, "embed": emb, "fields": ["t"], "search_mode": "vector"}
    )
    ops = [
        PutOp(("users", f"u{i % users}"), f"k{i}", {"t": f"v{i}", "rare": i % 97 == 0, "i": i})
        for i in range(n)
    ]
    await s.bulk_put(ops)
    # A few more puts through the row-by-row path, so both paths feed the index.
    await s.batch(ops[:10])
    s.sql("ANALYZE memory.vectors; ANALYZE memory.items")
    for qi in range(len(queries)):
        sims = docs @ queries[qi]
        cases = [
            ((), None, np.arange(n)),
            (("users", "u3"), None, np.arange(3, n, users)),
            ((), {"rare": True}, np.arange(0, n, 97)),
            (("users",), {"i": {"$lt": 200}}, np.arange(200)),
        ]
        for prefix, flt, ids in cases:
            hits = await s.search(prefix, query=f"q{qi}", filter=flt, limit=10)
            exact = ids[np.argsort(-sims[ids], kind="stable")][:10]
            assert len(hits) == min(10, len(ids)), (prefix, flt)
            got = {int(h.key[1:]) for h in hits}
            recall = len(got & set(exact.tolist())) / len(exact)
            assert recall >= 0.9, (prefix, flt, recall)
            if prefix == ("users", "u3") or flt == {"rare": True}:
                assert recall == 1.0, (prefix, flt)  # exact plans
    # Pages: offset continues the ranking without gaps or repeats.
    first = await s.search(("users", "u1"), query="q0", limit=5)
    second = await s.search(("users", "u1"), query="q0", limit=5, offset=5)
    both = await s.search(("users", "u1"), query="q0", limit=10)
    assert [h.key for h in first + second] == [h.key for h in both]
    assert all(not math.isnan(h.score) for h in both)


async def test_search_scope_and_filter_apply_to_every_mode(
    make_store: MakeStore, fake_embeddings: FakeEmbeddings
) -> None:
    s = await make_store(index=_index(fake_embeddings))
    for u in ("u1", "u2"):
        for k, t in DOCS.items():
            await s.put(("users", u), k, {"text": t, "kind": "a" if k < "d" else "b"})
    for mode_query in ("tea", "cat Miso"):
        hits = await s.search(("users", "u2"), query=mode_query, filter={"kind": "a"}, limit=10)
        assert hits and all(h.namespace == ("users", "u2") and h.value["kind"] == "a" for h in hits)
    res = await s.batch(
        [
            SearchOp(("users", "u1"), query="tea", limit=2),
            SearchOp(("users", "u2"), query="bike", limit=1),
        ]
    )
    assert len(res[0]) == 2 and res[1][0].key == "bike"


def test_embed_as_sync_callable(pg_url: str) -> None:
    from langgraph_hybrid_memory.store import PgVectorStore

    fake = FakeEmbeddings(16)
    with PgVectorStore.from_conn_string(
        pg_url, index={"dims": 16, "embed": fake.embed_documents, "fields": ["text"]}
    ) as s:
        s.setup()
        for k, t in DOCS.items():
            s.put(("u",), k, {"text": t})
        assert s.search(("u",), query="black coffee")[0].key == "coffee"


async def test_embed_as_async_callable(pg_url: str) -> None:
    from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

    fake = FakeEmbeddings(16)

    async def embed(texts: list[str]) -> list[list[float]]:
        return fake.embed_documents(texts)

    async with AsyncPgVectorStore.from_conn_string(
        pg_url, index={"dims": 16, "embed": embed, "fields": ["text"]}
    ) as s:
        await s.setup()
        for k, t in DOCS.items():
            await s.aput(("u",), k, {"text": t})
        assert (await s.asearch(("u",), query="black coffee"))[0].key == "coffee"


@pytest.mark.quality
def test_embed_as_model_string_with_the_local_model(pg_url: str) -> None:
    """``embed="local"`` resolves through the package's embeddings (real all-MiniLM-L6-v2)."""
    from langgraph_hybrid_memory.store import PgVectorStore

    with PgVectorStore.from_conn_string(
        pg_url, index={"dims": 384, "embed": "local", "fields": ["text"], "search_mode": "vector"}
    ) as s:
        s.setup()
        for k, t in DOCS.items():
            s.put(("users", "u1"), k, {"text": t})
        assert s.search(("users", "u1"), query="What pet does the user have?")[0].key == "cat"
        assert s.search(("users", "u1"), query="favourite hot drink at the office")[0].key in (
            "coffee",
            "tea",
        )


@pytest.mark.parametrize(
    ("hnsw", "built_with", "base"),
    [({}, (12, 88), 200), ({"m": 16, "ef_construction": 64}, (16, 64), 300)],
)
def test_default_beam_follows_how_the_index_was_built(
    pg_url: str, hnsw: dict[str, int], built_with: tuple[int, int], base: int
) -> None:
    """The default ef_search is calibrated per index build: an index built with pgvector's
    defaults (m 16, ef_construction 64, as earlier versions of this package did) keeps the wider
    beam its poorer graph needs, read back from the index itself."""
    from langgraph_hybrid_memory.store import PgVectorStore
    from langgraph_hybrid_memory.store._config import auto_ef_search

    fake = FakeEmbeddings(16)
    with PgVectorStore.from_conn_string(
        pg_url, index={"dims": 16, "embed": fake, "fields": ["text"], "hnsw": hnsw}
    ) as s:
        s.setup()
        s.put(("u", "1"), "k", {"text": "tea"})
        rows, m, efc = s._run(s._vectors_estimate)
        assert (m, efc) == built_with
        assert auto_ef_search(rows, filtered=False, fetch=10, m=m, ef_construction=efc) == base
        assert auto_ef_search(100_000, filtered=False, fetch=10, m=12, ef_construction=88) < (
            auto_ef_search(100_000, filtered=False, fetch=10, m=16, ef_construction=64)
        )


def test_hnsw_settings_in_the_statement_reach_the_index_scan(pg_url: str) -> None:
    """A search is one statement: its ef_search / iterative_scan settings are made by a CTE
    run as an InitPlan before the HNSW scan returns its first row. Prove that pgvector sees
    them: with iterative scans off, ef_search 5 caps an index scan at 5 rows (default 40);
    and the store's own knobs turn the iterative scan on (the session's default is off), so a
    filtered scan at ef_search 5 still fills its LIMIT."""
    from psycopg import sql

    from langgraph_hybrid_memory._pg import get_connection
    from langgraph_hybrid_memory.store import PgVectorStore
    from langgraph_hybrid_memory.store.base import (
        _KNOBS_GATE,
        _with_hnsw_knobs,
    )

    fake = FakeEmbeddings(16)
    with PgVectorStore.from_conn_string(
        pg_url, index={"dims": 16, "embed": fake, "fields": ["text"]}
    ) as s:
        s.setup()
        s.batch([PutOp(("u", str(i % 4)), f"k{i}", {"text": f"t{i}"}) for i in range(300)])
    q = "[" + ",".join(["0.25"] * 16) + "]"
    with get_connection(pg_url) as conn:
        conn.execute("SET enable_seqscan = off")  # the planner must take the HNSW index
        scan = sql.SQL(
            "SELECT v.key FROM memory.vectors v WHERE {gate} AND v.key LIKE 'k1%%' "
            "ORDER BY v.embedding <=> %s::vector LIMIT 20"
        ).format(gate=sql.SQL(_KNOBS_GATE))
        capped = sql.SQL(
            "WITH hnsw_knobs AS MATERIALIZED (SELECT set_config('hnsw.ef_search', '5', true) "
            "|| set_config('hnsw.iterative_scan', 'off', true) AS knobs) {}"
        ).format(scan)
        plan = "\n".join(r["QUERY PLAN"] for r in conn.execute(sql.SQL("EXPLAIN ") + capped, [q]))
        assert "vectors_embedding_idx" in plan
        assert len(conn.execute(capped, [q]).fetchall()) <= 5
        knobbed, args = _with_hnsw_knobs(scan, [q], 5)
        assert len(conn.execute(knobbed, args).fetchall()) == 20
        # Nothing leaks into the session.
        assert conn.execute("SHOW hnsw.iterative_scan").fetchone() == {"hnsw.iterative_scan": "off"}


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
async def test_a_batch_of_many_searches_answers_each_as_alone(
    make_store: MakeStore, fake_embeddings: FakeEmbeddings, mode: str
) -> None:
    # Searches of one shape in one batch share one statement (`store.base._lockstep`); each
    # must still get exactly its own page, in its own order, as when it runs alone.
    s = await make_store(index=_index(fake_embeddings, search_mode=mode))
    words = ["tea", "coffee", "cat", "bike"]
    await s.batch(
        [
            PutOp(("users", f"u{i % 5}", "m"), f"k{i}", {"text": f"{words[i % 4]} {i}", "n": i})
            for i in range(60)
        ]
    )
    ops = [
        SearchOp(
            ("users", f"u{i % 5}") if i % 3 else ("users",),
            {"n": {"$gte": i}} if i % 4 == 1 else None,
            limit=1 + i % 4,
            offset=i % 3,
            query=words[i % 4] if i % 2 else None,
        )
        for i in range(40)
    ]
    together = await s.batch(ops)
    for op, hits in zip(ops, together, strict=True):
        alone = (await s.batch([op]))[0]
        assert [(h.namespace, h.key, h.score) for h in hits] == [
            (h.namespace, h.key, h.score) for h in alone
        ]
    assert sum(map(len, together)) >= 40  # the pages are not empty


async def test_scope_search_skips_expired_items_among_the_nearest_vectors(
    make_store: MakeStore, fake_embeddings: FakeEmbeddings
) -> None:
    """A one-scope search scores the vectors first and looks up the items of the best only: when
    the nearest items are expired, it fetches further and still returns a full page, the true
    top-k of the live items."""
    s = await make_store(index=_index(fake_embeddings, search_mode="vector"))
    texts = {f"k{i}": f"note {i} about tea and cake number {i % 7}" for i in range(30)}
    await s.batch([PutOp(("users", "u1", "m"), k, {"text": t}) for k, t in texts.items()])
    q = np.array(fake_embeddings.embed_query("tea and cake"))
    sims = {k: float(q @ np.array(fake_embeddings.embed_query(t))) for k, t in texts.items()}
    ranked = sorted(texts, key=lambda k: -sims[k])
    expired = ranked[:12]
    s.sql(
        "UPDATE memory.items SET expires_at = now() - interval '1 minute' WHERE key = ANY(%s)",
        (expired,),
    )
    for prefix in (("users", "u1"), ("users", "u1", "m")):
        hits = await s.search(prefix, query="tea and cake", limit=5)
        assert [h.key for h in hits] == ranked[12:17], prefix
