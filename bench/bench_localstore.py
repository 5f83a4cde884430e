"""LocalStore vs langgraph's SqliteStore and InMemoryStore, side by side in one process.

* ingest (one ``batch`` of puts per 100 items), ``get`` and filtered ``search`` without a query:
  `LocalStore` against langgraph's ``SqliteStore`` (same data, each on its own fresh file);
* vector search over precomputed 384-dim vectors (no model cost), 50 users, one user's scope per
  query: `LocalStore` (numpy exact scan) against ``InMemoryStore`` (numpy cosine), plus the share of
  identical top-10 results (both are exact, so it should be 1.0). langgraph's ``SqliteStore``
  cannot do vector search on a Python whose sqlite3 lacks ``enable_load_extension``;
* the embedding cache: a second run over the same texts (calls made / texts seen).

Prints a table of ratios and writes ``bench/results/bench_localstore.png``. Run::

    .venv/bin/python bench/bench_localstore.py --items 5000
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, PutOp
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite import SqliteStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_hybrid_memory import CachedEmbeddings, LocalStore
from langgraph_hybrid_memory._embedding_cache import SQLiteEmbeddingCache
from langgraph_hybrid_memory._sqlite import LocalDB

RESULTS = Path(__file__).resolve().parent / "results"
DIMS = 384
USERS = 50


class LookupEmbeddings(Embeddings):
    """Texts ``d<i>`` / ``q<i>`` map to rows of precomputed arrays; counts calls."""

    def __init__(self, docs: np.ndarray, queries: np.ndarray) -> None:
        self.docs, self.queries = docs, queries
        self.calls = 0
        self.texts = 0

    def _one(self, text: str) -> list[float]:
        table = self.docs if text[0] == "d" else self.queries
        return [float(x) for x in table[int(text[1:])]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.texts += len(texts)
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        self.texts += 1
        return self._one(text)


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _ingest(store: BaseStore, items: int, vectors: bool) -> float:
    start = time.perf_counter()
    for base in range(0, items, 100):
        store.batch(
            [
                PutOp(
                    ("users", f"u{i % USERS}", "memories"),
                    f"k{i}",
                    {"text": f"d{i}" if vectors else f"memory number {i}", "n": i, "kind": i % 7},
                )
                for i in range(base, min(base + 100, items))
            ]
        )
    return time.perf_counter() - start


def bench_plain(items: int, tmp: Path) -> dict[str, tuple[float, float]]:
    """Seconds for (ours, theirs): ingest, 200 gets, 100 filtered searches."""
    ours = LocalStore(tmp / "ours.sqlite")
    conn = sqlite3.connect(
        str(tmp / "theirs.sqlite"), check_same_thread=False, isolation_level=None
    )
    theirs = SqliteStore(conn)
    theirs.setup()
    rows: dict[str, tuple[float, float]] = {}
    rows["ingest"] = (_ingest(ours, items, False), _ingest(theirs, items, False))
    keys = [
        (("users", f"u{i % USERS}", "memories"), f"k{i}") for i in range(0, items, items // 200)
    ]

    def gets(store: BaseStore) -> None:
        for ns, key in keys:
            assert store.get(ns, key) is not None

    def searches(store: BaseStore) -> None:
        for u in range(100):
            store.search(("users", f"u{u % USERS}"), filter={"kind": 3}, limit=10)

    rows["200 gets"] = (min(_timed(lambda: gets(ours), 3)), min(_timed(lambda: gets(theirs), 3)))
    rows["100 filtered searches"] = (
        min(_timed(lambda: searches(ours), 3)),
        min(_timed(lambda: searches(theirs), 3)),
    )
    ours.close()
    conn.close()
    return rows


def bench_vectors(items: int, tmp: Path) -> tuple[dict[str, tuple[float, float]], float]:
    rng = np.random.default_rng(7)
    docs = rng.normal(size=(items, DIMS)).astype(np.float32)
    queries = rng.normal(size=(200, DIMS)).astype(np.float32)
    emb = LookupEmbeddings(docs, queries)
    index: Any = {"dims": DIMS, "embed": emb, "fields": ["text"], "search_mode": "vector"}
    ours = LocalStore(tmp / "vectors.sqlite", index=index)
    theirs = InMemoryStore(index=index)
    rows: dict[str, tuple[float, float]] = {}
    rows["vector ingest"] = (_ingest(ours, items, True), _ingest(theirs, items, True))
    lat_ours: list[float] = []
    lat_theirs: list[float] = []
    same = 0
    for q in range(200):
        ns = ("users", f"u{q % USERS}")
        start = time.perf_counter()
        a = ours.search(ns, query=f"q{q}", limit=10)
        lat_ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        b = theirs.search(ns, query=f"q{q}", limit=10)
        lat_theirs.append(time.perf_counter() - start)
        same += [i.key for i in a] == [i.key for i in b]
    rows["vector search p50"] = (statistics.median(lat_ours), statistics.median(lat_theirs))
    ours.close()
    return rows, same / 200


def bench_cache(tmp: Path) -> tuple[int, int, int, int]:
    texts = [f"d{i}" for i in range(500)]
    docs = np.ones((500, 8), dtype=np.float32)
    db = LocalDB.open(tmp / "cache.sqlite")
    out = []
    for _ in range(2):
        inner = LookupEmbeddings(docs, docs)
        cached = CachedEmbeddings(inner, SQLiteEmbeddingCache(db), "lookup")
        for start in range(0, 500, 50):
            cached.embed_documents(texts[start : start + 50] * 2)  # each text twice per call
        out.append((inner.calls, cached.stats.texts_seen))
    db.close()
    return out[0][0], out[0][1], out[1][0], out[1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        plain = bench_plain(args.items, tmp)
        vectors, agreement = bench_vectors(args.items, tmp)
        cache = bench_cache(tmp)
    print(f"{args.items} items, {USERS} users, {DIMS} dims")
    print(f"{'measure':<24}{'LocalStore':>12}{'reference':>12}{'ours/ref':>10}  reference")
    table = [(k, v, "SqliteStore") for k, v in plain.items()]
    table += [(k, v, "InMemoryStore") for k, v in vectors.items()]
    for name, (ours, ref), who in table:
        print(f"{name:<24}{ours * 1000:>10.1f}ms{ref * 1000:>10.1f}ms{ours / ref:>10.2f}  {who}")
    print(f"identical top-10 (vector search): {agreement:.2f}")
    print(
        f"embedding cache: first run {cache[0]} model calls for {cache[1]} texts; "
        f"repeated run {cache[2]} calls for {cache[3]} texts"
    )
    RESULTS.mkdir(exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [name for name, _, _ in table]
    ax.barh(names, [ours / ref for _, (ours, ref), _ in table])
    ax.axvline(1.0, color="grey", linestyle="--")
    ax.set_xlabel("time ratio LocalStore / reference (lower is faster)")
    ax.set_title(f"LocalStore vs SqliteStore / InMemoryStore, {args.items} items")
    fig.tight_layout()
    fig.savefig(RESULTS / "bench_localstore.png", dpi=120)
    print(f"plot: {RESULTS / 'bench_localstore.png'}")


if __name__ == "__main__":
    main()
