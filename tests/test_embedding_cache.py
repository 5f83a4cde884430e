"""`CachedEmbeddings`: batching, dedupe and the content-hash cache in SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from langchain_core.embeddings import Embeddings

from langgraph_hybrid_memory import CachedEmbeddings, LocalStore
from langgraph_hybrid_memory._embedding_cache import (
    MIGRATIONS_TABLE,
    PG_MIGRATIONS,
    AsyncPostgresEmbeddingCache,
    PostgresEmbeddingCache,
    SQLiteEmbeddingCache,
    TieredEmbeddingCache,
)
from langgraph_hybrid_memory._embeddings import embedding_dims, model_name_of
from langgraph_hybrid_memory._migrations import migration_status
from langgraph_hybrid_memory._pg import aget_connection, get_connection, make_pool
from langgraph_hybrid_memory._sqlite import LocalDB
from tests.support import FakeEmbeddings, PrivatePostgres


@pytest.fixture
def local_cache(sqlite_path: Path) -> Iterator[SQLiteEmbeddingCache]:
    db = LocalDB.open(sqlite_path)
    yield SQLiteEmbeddingCache(db)
    db.close()


def test_repeated_texts_are_never_embedded_twice(local_cache: SQLiteEmbeddingCache) -> None:
    fake = FakeEmbeddings(dims=8)
    emb = CachedEmbeddings(fake, local_cache, "fake-8")
    first = emb.embed_documents(["a", "b", "a", "c"])
    assert fake.calls == 1 and fake.texts == ["a", "b", "c"]
    assert first[0] == first[2] == fake._embed("a")
    second = emb.embed_documents(["c", "d", "a", "d"])
    assert fake.calls == 2 and fake.texts == ["a", "b", "c", "d"]
    assert second == [fake._embed(t) for t in ["c", "d", "a", "d"]]  # exact (float64 stored)
    emb.embed_documents(["a", "b"])
    assert fake.calls == 2  # all hits: no call at all
    s = emb.stats
    assert (s.calls, s.texts_seen, s.texts_embedded, s.cache_hits) == (2, 10, 4, 4)
    assert s.saved == 6
    # A new process (new wrapper, same file) pays for nothing already embedded.
    fake2 = FakeEmbeddings(dims=8)
    again = CachedEmbeddings(fake2, local_cache, "fake-8")
    assert again.embed_documents(["d", "c", "b", "a"]) == [fake._embed(t) for t in "dcba"]
    assert fake2.calls == 0 and again.stats.cache_hits == 4
    assert local_cache.counts() == {"fake-8": 4}


def test_models_do_not_share_entries(local_cache: SQLiteEmbeddingCache) -> None:
    small, big = FakeEmbeddings(dims=8), FakeEmbeddings(dims=16)
    a = CachedEmbeddings(small, local_cache, "model-a")
    b = CachedEmbeddings(big, local_cache, "model-b")
    assert len(a.embed_documents(["tea"])[0]) == 8
    assert len(b.embed_documents(["tea"])[0]) == 16  # not model-a's vector
    assert small.calls == 1 and big.calls == 1
    assert local_cache.counts() == {"model-a": 1, "model-b": 1}


def test_queries_are_cached_apart_from_documents(local_cache: SQLiteEmbeddingCache) -> None:
    fake = FakeEmbeddings(dims=8)
    emb = CachedEmbeddings(fake, local_cache, "fake")
    emb.embed_query("tea")
    emb.embed_query("tea")
    assert fake.calls == 1
    emb.embed_documents(["tea"])  # a document vector may differ from a query vector
    assert fake.calls == 2


def test_big_batches_are_chunked(local_cache: SQLiteEmbeddingCache) -> None:
    fake = FakeEmbeddings(dims=8)
    emb = CachedEmbeddings(fake, local_cache, "fake", batch_size=3)
    emb.embed_documents([f"t{i}" for i in range(7)] * 2)
    assert fake.calls == 3 and len(fake.texts) == 7


def test_no_cache_still_dedupes() -> None:
    fake = FakeEmbeddings(dims=8)
    emb = CachedEmbeddings(fake)
    assert emb.model_name == "tests.support.FakeEmbeddings"
    emb.embed_documents(["x", "x", "y"])
    emb.embed_documents(["x"])
    assert fake.texts == ["x", "y", "x"]


class _Broken(Embeddings):
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[1.0]]

    def embed_query(self, text: str) -> list[float]:
        return [1.0]


def test_a_model_returning_the_wrong_count_is_an_error(local_cache: SQLiteEmbeddingCache) -> None:
    emb = CachedEmbeddings(_Broken(), local_cache, "broken")
    with pytest.raises(ValueError, match="one per text"):
        emb.embed_documents(["a", "b"])
    assert local_cache.counts() == {}
    with pytest.raises(Exception, match="LangChain Embeddings"):
        CachedEmbeddings(lambda texts: texts, local_cache)  # type: ignore[arg-type]


async def test_async_path_uses_the_same_cache(local_cache: SQLiteEmbeddingCache) -> None:
    fake = FakeEmbeddings(dims=8)
    emb = CachedEmbeddings(fake, local_cache, "fake")
    await emb.aembed_documents(["a", "b", "a"])
    emb.embed_documents(["a", "b"])
    assert await emb.aembed_query("q") == fake._embed("q")
    await emb.aembed_query("q")
    assert fake.calls == 2 and fake.texts == ["a", "b", "q"]


def test_model_names_and_dims_unwrap() -> None:
    fake = FakeEmbeddings(dims=12)
    emb = CachedEmbeddings(fake, None, "fake")
    assert embedding_dims(emb) == 12 and model_name_of(emb) == "fake"
    from langchain_openai import OpenAIEmbeddings

    openai = OpenAIEmbeddings(model="text-embedding-3-small", api_key="sk-test-not-used")  # type: ignore[arg-type]
    assert model_name_of(openai) == "openai:text-embedding-3-small"
    wrapped = CachedEmbeddings(openai)
    assert embedding_dims(wrapped) == 1536  # read from the model table: no network call


def test_local_store_with_cached_embeddings_embeds_each_text_once(
    sqlite_path: Path, local_cache: SQLiteEmbeddingCache
) -> None:
    fake = FakeEmbeddings(dims=16)
    emb = CachedEmbeddings(fake, local_cache, "fake")
    with LocalStore.from_conn_string(sqlite_path, index={"embed": emb, "fields": ["t"]}) as store:
        for _ in range(3):
            store.put(("u",), "k", {"t": "the same fact"})
            store.search(("u",), query="fact")
    assert sorted(fake.texts) == ["fact", "the same fact"]


def _pg_cache_roundtrip(cache: PostgresEmbeddingCache) -> None:
    fake = FakeEmbeddings(dims=8)
    emb = CachedEmbeddings(fake, cache, "fake")
    assert emb.embed_documents(["a", "b", "a"]) == [fake._embed(t) for t in "aba"]
    fake2 = FakeEmbeddings(dims=8)
    assert CachedEmbeddings(fake2, cache, "fake").embed_documents(["b", "a"]) == [
        fake._embed("b"),
        fake._embed("a"),
    ]
    assert fake.calls == 1 and fake2.calls == 0
    assert CachedEmbeddings(fake2, cache, "other").embed_documents(["a"]) == [fake._embed("a")]
    assert fake2.calls == 1  # another model name: its own entry
    assert cache.counts() == {"fake": 2, "other": 1}


@pytest.mark.parametrize("schema", ["memory", "Odd Schema"])
def test_postgres_cache_sync(pg_url: str, schema: str) -> None:
    with get_connection(pg_url) as conn:
        cache = PostgresEmbeddingCache(conn, schema=schema)
        cache.setup()
        cache.setup()  # applied once
        status = migration_status(conn, PG_MIGRATIONS, schema=schema, table=MIGRATIONS_TABLE)
        assert status.applied == [0] and status.pending == []
        _pg_cache_roundtrip(cache)


def test_postgres_cache_with_a_pool(pg_url: str) -> None:
    with make_pool(pg_url, max_size=2) as pool:
        cache = PostgresEmbeddingCache(pool)
        cache.setup()
        _pg_cache_roundtrip(cache)


async def test_postgres_cache_async(pg_url: str) -> None:
    conn = await aget_connection(pg_url)
    try:
        cache = AsyncPostgresEmbeddingCache(conn)
        await cache.asetup()
        fake = FakeEmbeddings(dims=8)
        emb = CachedEmbeddings(fake, cache, "fake")
        first = await emb.aembed_documents(["x", "y", "x"])
        assert await CachedEmbeddings(fake, cache, "fake").aembed_documents(["y", "x"]) == [
            first[1],
            first[0],
        ]
        assert fake.calls == 1
        with pytest.raises(TypeError, match="async"):
            emb.embed_documents(["z"])
    finally:
        await conn.close()
    with psycopg.connect(pg_url) as check:
        rows = check.execute("SELECT count(*) FROM memory.embedding_cache").fetchone()
        assert rows == (2,)


def test_tiered_cache_survives_a_postgres_outage(
    private_pg: PrivatePostgres, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = LocalDB.open(tmp_path / "one.sqlite")
    conn = get_connection(private_pg.url)
    remote = PostgresEmbeddingCache(conn)
    remote.setup()
    tiered = TieredEmbeddingCache(SQLiteEmbeddingCache(db), remote)
    fake = FakeEmbeddings(dims=8)
    emb = CachedEmbeddings(fake, tiered, "m")
    emb.embed_documents(["a"])
    private_pg.stop()
    assert emb.embed_documents(["b", "a"]) == [fake._embed("b"), fake._embed("a")]
    assert fake.texts == ["a", "b"]  # "a" from the local tier, "b" embedded once
    assert tiered.remote_errors == 2 and "PostgreSQL lookup failed" in caplog.text
    conn.close()
    db.close()
    private_pg.start()
    # Another machine: an empty local file, the same PostgreSQL.
    db2 = LocalDB.open(tmp_path / "two.sqlite")
    with get_connection(private_pg.url) as conn2:
        local2 = SQLiteEmbeddingCache(db2)
        fresh = FakeEmbeddings(dims=8)
        emb2 = CachedEmbeddings(
            fresh, TieredEmbeddingCache(local2, PostgresEmbeddingCache(conn2)), "m"
        )
        emb2.embed_documents(["a", "b"])
        assert fresh.texts == ["b"]  # "a" reached PostgreSQL before the outage, "b" did not
        assert local2.counts() == {"m": 2}  # the remote hit was copied to the local tier
    db2.close()


async def test_tiered_cache_async(pg_url: str, tmp_path: Path) -> None:
    db = LocalDB.open(tmp_path / "a.sqlite")
    conn = await aget_connection(pg_url)
    try:
        remote = AsyncPostgresEmbeddingCache(conn)
        await remote.asetup()
        fake = FakeEmbeddings(dims=8)
        emb = CachedEmbeddings(fake, TieredEmbeddingCache(SQLiteEmbeddingCache(db), remote), "m")
        await emb.aembed_documents(["x", "y"])
        assert await remote.alookup("m", []) == {}
        db2 = LocalDB.open(tmp_path / "b.sqlite")
        other = CachedEmbeddings(fake, TieredEmbeddingCache(SQLiteEmbeddingCache(db2), remote), "m")
        assert await other.aembed_documents(["y", "x"]) == [fake._embed("y"), fake._embed("x")]
        assert fake.calls == 1
        db2.close()
    finally:
        await conn.close()
        db.close()
