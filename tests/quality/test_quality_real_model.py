"""The memory-quality claim on a small generated set with the real offline model
(all-MiniLM-L6-v2): hybrid search with collapsing recalls at least as well as vector-only search
and far fewer duplicates reach the top 10 (the full claim: bench/bench_memory_quality.py)."""

from __future__ import annotations

import pytest

from bench.bench_memory_quality import MemoEmbeddings, evaluate, generate, load
from langgraph_hybrid_memory import PgVectorStore
from langgraph_hybrid_memory._embeddings import LocalEmbeddings
from langgraph_hybrid_memory._pg import get_connection

pytestmark = pytest.mark.quality


def test_hybrid_with_collapse_beats_vector_only(
    pg_url: str, local_embeddings: LocalEmbeddings
) -> None:
    memories, questions = generate(8, seed=11)
    by_key = {m.key: m for m in memories}
    emb = MemoEmbeddings(local_embeddings)
    base = {"dims": 384, "embed": emb, "fields": ["text"]}
    conn = get_connection(pg_url)
    try:
        writer = PgVectorStore(conn, index=base)  # type: ignore[arg-type]
        writer.setup()
        load(writer, memories)
        vector = evaluate(
            PgVectorStore(conn, index={**base, "search_mode": "vector"}),  # type: ignore[arg-type]
            questions,
            by_key,
        )
        best = evaluate(
            PgVectorStore(conn, index={**base, "collapse": {"threshold": 0.85}}),  # type: ignore[arg-type]
            questions,
            by_key,
        )
    finally:
        conn.close()
    assert best["recall@10"] >= vector["recall@10"], (best, vector)
    # The target (at most half) is measured by the benchmark on its full set (24 users:
    # 0.323 against 0.676, ratio 0.48); on this 8-user set the ratio is about 0.53.
    assert best["dup_share@10"] <= 0.6 * vector["dup_share@10"], (best, vector)
