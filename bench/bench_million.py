"""A million memories: PgVectorStore at 500k-1M items beside langgraph's PostgresStore (issue 16).

Not part of ``make test``: up to about 30 minutes on a 2-core machine at the default size. The
coordinator's final run (1,000,000 items over 10,000 users, the issue's ask; ``--items 500000``
is the default, the issue's floor)::

    .venv/bin/python bench/bench_million.py --items 1000000 --quantization vector halfvec

What it does, in one run on one server:

1. Data: `--items` 384-dim unit vectors, generated in chunks from a seeded numpy generator
   (Gaussian clusters of about 100 items in a 64-dim latent space, projected, plus noise, as
   `bench_store.make_data` but without its float64 copies of the whole table), over
   ``items / 100`` users (``("users", "u<j>", "memories")``), each value with a ``category``
   (9% of rows, an unselective filter) and a ``tag`` (``"rare"`` on 1%, a selective one).
   Queries are perturbed documents.
2. Ours: one `PgVectorStore` per ``--quantization`` (``vector``: float32 column and index;
   ``halfvec``: ``index["vector_type"] = "halfvec"``, half-precision column and HNSW index, half
   the size), each in its own schema, loaded by ONE ``bulk_put`` (COPY, one upsert, the HNSW index
   and the GIN index on the values built after loading). Reported: items/s with and without
   the index builds, each build's own time (polled from ``pg_stat_progress_create_index``), and
   the size of every index (``pg_relation_size``).
3. Theirs: langgraph's `PostgresStore` in the same database. Its ``put`` runs at about 270
   items/s (73 s per 20k), an hour for 1M, so its tables are loaded set-based from ours
   (``INSERT INTO store ... SELECT`` from our items, ``INSERT INTO store_vectors ... SELECT``
   from our vectors: the same values and vectors), and its HNSW index (the DDL its migration
   created, dropped before the load) rebuilt after, timed, with the same maintenance_work_mem as
   ours. Its own ingest rate is timed on a sample (``--their-sample`` puts through its
   ``batch``, re-putting existing items into the full table) after the searches.
4. Server RSS (sum of VmRSS of the postmaster and its children from /proc, with the private
   part, RssAnon, apart: VmRSS counts every shared buffer page each process touched), after
   the load and after the searches. Only for a server on this machine.
5. Per search shape (as in `bench_search_shapes`: no prefix, broad prefix, narrow prefix = one
   user, unselective and selective filter, and their combinations): recall@10 against exact
   brute force in numpy (float32, original vectors) on `--queries` queries, and p50/p95 latency
   (one warm-up pass, then the stores take turns per query, best of `--repeats`).

Writes ``bench/results/million_<items>.json`` (``million.json`` at 1M) and a plot of recall
against p50 per shape and store. Prove it small: ``--items 20000`` (a few minutes). Uses
``TEST_DATABASE_URL`` if set, else starts an embedded server in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import PutOp
from langgraph.store.postgres import PostgresStore
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_store import RESULTS, LookupEmbeddings, fresh_db, server_url
from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store._config import resolve_index
from langgraph_hybrid_memory.store._schema import build_memory_mb

K = 10
Scope = tuple[tuple[str, ...], dict[str, Any] | None]


# --------------------------------------------------------------------------------------------
# Data


def make_data(
    n: int,
    n_queries: int,
    dims: int,
    seed: int = 7,
    latent: int = 64,
    spread: float = 0.6,
    qnoise: float = 2.0,
    chunk: int = 50_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Clustered float32 unit vectors (`bench_store.make_data`'s recipe), built in chunks so a
    million rows cost their 1.5 GB and not several float64 copies of it."""
    rng = np.random.default_rng(seed)
    n_clusters = max(8, n // 100)
    centers = rng.normal(size=(n_clusters, latent)).astype(np.float32)
    proj = rng.normal(size=(latent, dims)).astype(np.float32)
    assign = rng.integers(0, n_clusters, n)
    z = np.empty((n, latent), dtype=np.float32)
    docs = np.empty((n, dims), dtype=np.float32)
    noise = np.float32(0.05 * np.sqrt(latent))
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        z[s:e] = centers[assign[s:e]] + np.float32(spread) * rng.normal(size=(e - s, latent))
        d = z[s:e] @ proj + noise * rng.normal(size=(e - s, dims)).astype(np.float32)
        docs[s:e] = d / np.linalg.norm(d, axis=1, keepdims=True)
    zq = z[rng.integers(0, n, n_queries)] + qnoise * rng.normal(size=(n_queries, latent))
    queries = (zq @ proj).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return docs, queries


class ArrayEmbeddings(Embeddings):
    """Texts ``d<i>``/``q<i>`` are rows of two arrays, returned as numpy rows (the store takes
    any sequence of floats; ``tolist()`` of a million vectors would cost more than the load)."""

    def __init__(self, docs: np.ndarray, queries: np.ndarray) -> None:
        self.docs, self.queries = docs, queries

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [(self.docs if t[0] == "d" else self.queries)[int(t[1:])] for t in texts]  # type: ignore[misc]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def put_ops(n: int, users: int) -> Iterator[PutOp]:
    # 11 and 97 must be coprime to the user count so every user holds each category and some
    # rare items (checked in main).
    for i in range(n):
        yield PutOp(
            ("users", f"u{i % users}", "memories"),
            f"m{i}",
            {"text": f"d{i}", "category": f"c{i % 11}", "tag": "rare" if i % 97 == 0 else "x"},
        )


def shapes(n: int, users: int) -> dict[str, tuple[Callable[[int], Scope], Callable[[int], Any]]]:
    """Shape -> (query number -> (prefix, filter), query number -> candidate ids)."""
    ids = np.arange(n)
    in_cat, is_rare = ids % 11 == 3, ids % 97 == 0
    cat, rare = {"category": "c3"}, {"tag": "rare"}

    def user(q: int) -> tuple[str, ...]:
        return ("users", f"u{q % users}")

    def mine(q: int) -> Any:
        return ids % users == q % users

    return {
        "no prefix": (lambda q: ((), None), lambda q: ids),
        "broad prefix": (lambda q: (("users",), None), lambda q: ids),
        "narrow prefix": (lambda q: (user(q), None), lambda q: ids[mine(q)]),
        "unselective filter": (lambda q: ((), cat), lambda q: ids[in_cat]),
        "selective filter": (lambda q: ((), rare), lambda q: ids[is_rare]),
        "broad + unselective": (lambda q: (("users",), cat), lambda q: ids[in_cat]),
        "broad + selective": (lambda q: (("users",), rare), lambda q: ids[is_rare]),
        "narrow + unselective": (lambda q: (user(q), cat), lambda q: ids[mine(q) & in_cat]),
        "narrow + selective": (lambda q: (user(q), rare), lambda q: ids[mine(q) & is_rare]),
    }


def exact_scores(docs: np.ndarray, queries: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """(items, queries) cosine similarities (unit vectors), computed once in chunks: every
    shape's exact top-k is then a masked argpartition of one column."""
    out = np.empty((len(docs), len(queries)), dtype=np.float32)
    for s in range(0, len(docs), chunk):
        out[s : s + chunk] = docs[s : s + chunk] @ queries.T
    return out


# --------------------------------------------------------------------------------------------
# Server measurements


def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            parts = rest.split()
            if name in ("PPid", "VmRSS", "RssAnon", "RssShmem") and parts:
                out[name] = int(parts[0])
    except OSError:
        pass
    return out


def server_rss(conn: Any) -> dict[str, float] | None:
    """MB of resident memory of the postmaster and its children (None: not on this machine).
    ``rss_mb`` double-counts shared buffers (each process's VmRSS holds the pages it
    touched); ``anon_mb`` is the private memory, ``shmem_max_mb`` the largest shared part."""
    backend = int(conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"])
    postmaster = _status(backend).get("PPid")
    if postmaster is None:
        return None
    procs = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _status(int(entry)).get("PPid") == postmaster:
            procs.append(int(entry))
    stats = [_status(p) for p in procs]
    return {
        "processes": len(procs),
        "rss_mb": sum(s.get("VmRSS", 0) for s in stats) / 1024,
        "anon_mb": sum(s.get("RssAnon", 0) for s in stats) / 1024,
        "shmem_max_mb": max(s.get("RssShmem", 0) for s in stats) / 1024,
    }


@contextmanager
def index_builds(url: str) -> Iterator[dict[str, float]]:
    """Seconds spent building each index (CREATE INDEX) in `url`'s database while the block
    runs, polled from ``pg_stat_progress_create_index`` every 0.2 s (so +-0.2 s, and a build
    shorter than that may be missed): the yielded dict is filled on exit, table name ->
    seconds, and ``"total"``."""
    out: dict[str, float] = {}
    seen: dict[tuple[int, str], list[float]] = {}
    stop = threading.Event()

    def poll() -> None:
        with get_connection(url) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    # index_relid stays 0 during a plain CREATE INDEX: name the table.
                    "SELECT p.pid, COALESCE(c.relname, p.relid::text) AS name "
                    "FROM pg_stat_progress_create_index p "
                    "LEFT JOIN pg_class c ON c.oid = p.relid "
                    "WHERE p.datname = current_database()"
                ).fetchall()
                now = time.perf_counter()
                for r in rows:
                    span = seen.setdefault((int(r["pid"]), str(r["name"])), [now, now])
                    span[1] = now
                stop.wait(0.2)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        thread.join()
        for (_, name), (a, b) in seen.items():  # one entry per (backend, table)
            out[name] = out.get(name, 0.0) + b - a
        out["total"] = sum(b - a for a, b in seen.values())


INDEX_SIZES = (
    "SELECT c.relname AS table_name, i.relname AS index_name, "
    "pg_relation_size(i.oid) AS bytes FROM pg_index x "
    "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
    "AND c.relname IN ('items', 'vectors', 'store', 'store_vectors') ORDER BY 1, 2"
)
TABLE_SIZES = (
    "SELECT c.relname AS table_name, pg_table_size(c.oid) AS bytes FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
    "AND c.relname IN ('items', 'vectors', 'store', 'store_vectors') ORDER BY 1"
)


def sizes(conn: Any, schema: str) -> dict[str, dict[str, float]]:
    """MB per index and per table (heap + TOAST) of `schema`'s items and vectors tables."""
    return {
        "indexes": {
            f"{r['table_name']}.{r['index_name']}": r["bytes"] / 2**20
            for r in conn.execute(INDEX_SIZES, (schema,)).fetchall()
        },
        "tables": {
            r["table_name"]: r["bytes"] / 2**20
            for r in conn.execute(TABLE_SIZES, (schema,)).fetchall()
        },
    }


# --------------------------------------------------------------------------------------------
# PostgresStore, loaded set-based

# Their tables from ours: prefix is the namespace joined by '.', one vector per item ("text").
THEIR_ITEMS = (
    "INSERT INTO public.store (prefix, key, value, created_at, updated_at) "
    "SELECT array_to_string(namespace, '.'), key, value, created_at, updated_at FROM {items} "
    "ORDER BY 1, 2"
)
THEIR_VECTORS = (
    "INSERT INTO public.store_vectors (prefix, key, field_name, embedding) "
    "SELECT array_to_string(namespace, '.'), key, field, embedding::vector({dims}) FROM {vectors} "
    "ORDER BY 1, 2"
)
THEIR_INDEX = "store_vectors_embedding_idx"


def load_theirs(conn: Any, url: str, schema: str, dims: int, build_mb: int) -> dict[str, float]:
    """Fill PostgresStore's tables from `schema`'s (its setup already ran), HNSW index dropped
    during the load and rebuilt with its migration's own DDL."""
    ddl = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND indexname = %s",
        (THEIR_INDEX,),
    ).fetchone()["indexdef"]
    conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier("public", THEIR_INDEX)))
    started = time.perf_counter()
    conn.execute(sql.SQL(THEIR_ITEMS).format(items=sql.Identifier(schema, "items")))
    conn.execute(
        sql.SQL(THEIR_VECTORS).format(
            vectors=sql.Identifier(schema, "vectors"), dims=sql.Literal(dims)
        )
    )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (f"{build_mb}MB",))
        conn.execute(ddl)
    built = time.perf_counter() - started
    conn.execute("ANALYZE public.store, public.store_vectors")
    return {"load_s": loaded, "index_build_s": built}


# --------------------------------------------------------------------------------------------
# Searches


def measure(
    stores: dict[str, Any],
    scores: np.ndarray,
    scope: Callable[[int], Scope],
    candidates: Callable[[int], Any],
    repeats: int,
) -> dict[str, dict[str, float]]:
    """Per store: recall@10 (over min(10, candidates)), p50 and p95 ms."""
    n_q = scores.shape[1]
    for q in range(n_q):  # warm-up: caches, pools, ef estimates
        prefix, flt = scope(q)
        for store in stores.values():
            store.search(prefix, query=f"q{q}", filter=flt, limit=K)
    recalls: dict[str, list[float]] = {name: [] for name in stores}
    lat: dict[str, list[float]] = {name: [] for name in stores}
    order = list(stores)
    for q in range(n_q):
        prefix, flt = scope(q)
        cand = candidates(q)
        if not len(cand):
            continue
        col = scores[cand, q]
        top = cand[np.argpartition(-col, K - 1)[:K]] if len(cand) > K else cand
        exact = set(top.tolist())
        for name in order if q % 2 == 0 else order[::-1]:
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                hits = stores[name].search(prefix, query=f"q{q}", filter=flt, limit=K)
                best = min(best, (time.perf_counter() - start) * 1000)
            lat[name].append(best)
            recalls[name].append(len({int(h.key[1:]) for h in hits} & exact) / len(exact))
    out = {}
    for name in stores:
        ms = sorted(lat[name])
        out[name] = {
            "recall": float(np.mean(recalls[name])),
            "p50_ms": float(np.median(ms)),
            "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))],
        }
    return out


def their_ingest(store: PostgresStore, ops: Sequence[PutOp], batch: int) -> float:
    """PostgresStore's items/s through its own ``batch`` (re-puts into the full table)."""
    started = time.perf_counter()
    for i in range(0, len(ops), batch):
        store.batch(ops[i : i + batch])
    return len(ops) / (time.perf_counter() - started)


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--users", type=int, help="default: items / 100")
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100, help="queries per shape")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per query (best)")
    parser.add_argument(
        "--quantization",
        nargs="+",
        choices=["vector", "halfvec"],
        default=["vector"],
        help="one PgVectorStore per choice: float32 or half-precision column and HNSW index",
    )
    parser.add_argument("--their-sample", type=int, default=2000, help="PostgresStore puts timed")
    parser.add_argument("--batch-size", type=int, default=500, help="puts per batch() (theirs)")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/...)")
    args = parser.parse_args()
    n = args.items
    users = args.users or max(1, n // 100)
    if users % 11 == 0 or users % 97 == 0:
        parser.error("--users must be coprime to 11 and 97 (every user holds every category)")
    quants = list(dict.fromkeys(args.quantization))
    started = time.perf_counter()
    docs, queries = make_data(n, args.queries, args.dims)
    scores = exact_scores(docs, queries)
    print(
        f"{n:,} items, {users:,} users, {args.dims} dims, {args.queries} queries/shape; "
        f"data and exact scores in {time.perf_counter() - started:.0f}s",
        flush=True,
    )
    embed = ArrayEmbeddings(docs, queries)
    index = {"dims": args.dims, "embed": embed, "fields": ["text"]}
    result: dict[str, Any] = {
        "meta": {
            "items": n,
            "users": users,
            "dims": args.dims,
            "queries": args.queries,
            "repeats": args.repeats,
            "quantization": quants,
            "load_avg_start": os.getloadavg(),
        },
        "ingest": {},
        "sizes": {},
        "rss": {},
        "shapes": {},
    }
    with server_url() as admin, fresh_db(admin) as url, get_connection(url) as conn:
        result["meta"]["server"] = conn.execute("SHOW server_version").fetchone()["server_version"]
        result["meta"]["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[
            "shared_buffers"
        ]
        ours: dict[str, PgVectorStore] = {}
        with _our_stores(url, index, quants) as opened:
            for quant, store in opened.items():
                name = f"PgVectorStore[{quant}]"
                store.setup()
                ops = list(put_ops(n, users))
                with index_builds(url) as build:
                    t0 = time.perf_counter()
                    store.bulk_put(ops)
                    total = time.perf_counter() - t0
                del ops
                result["ingest"][name] = {
                    "bulk_put_s": total,
                    # HNSW and the GIN index on the values, both rebuilt after the load.
                    "index_build_s": build["total"],
                    **{f"build_s {k}": v for k, v in build.items() if k != "total"},
                    "items_per_s": n / total,
                    "items_per_s_without_index": n / max(1e-9, total - build["total"]),
                    "maintenance_work_mem_mb": build_memory_mb(
                        n, resolve_index({**index, "vector_type": quant}, embed)
                    ),
                }
                result["sizes"][name] = sizes(conn, _schema(quant))
                ours[name] = store
                _print_ingest(name, result["ingest"][name], result["sizes"][name])
            # Lists for theirs: its own code formats the vectors it is given.
            their_index = {**index, "embed": LookupEmbeddings(docs, queries)}
            theirs = PostgresStore(conn, index=their_index)  # type: ignore[arg-type]
            theirs.setup()
            build_mb = build_memory_mb(n, resolve_index(index, embed))
            loaded = load_theirs(conn, url, _schema(quants[0]), args.dims, build_mb)
            result["ingest"]["PostgresStore"] = {
                "set_based_load_s": loaded["load_s"],
                "index_build_s": loaded["index_build_s"],
                "maintenance_work_mem_mb": build_mb,
            }
            result["sizes"]["PostgresStore"] = sizes(conn, "public")
            _print_ingest(
                "PostgresStore", result["ingest"]["PostgresStore"], result["sizes"]["PostgresStore"]
            )
            result["rss"]["after_load"] = server_rss(conn)
            print(f"server RSS after load: {result['rss']['after_load']}", flush=True)
            stores: dict[str, Any] = {**ours, "PostgresStore": theirs}
            names = list(stores)
            print(
                "| shape | candidates | "
                + " | ".join(f"{s} recall | p50 | p95" for s in names)
                + " |\n|---|---|"
                + "---|---|---|" * len(names),
                flush=True,
            )
            for shape, (scope, cands) in shapes(n, users).items():
                out = measure(stores, scores, scope, cands, args.repeats)
                result["shapes"][shape] = {"candidates": len(cands(0)), **out}
                cells = " | ".join(
                    f"{out[s]['recall']:.3f} | {out[s]['p50_ms']:.1f} | {out[s]['p95_ms']:.1f}"
                    for s in names
                )
                print(f"| {shape} | {len(cands(0)):,} | {cells} |", flush=True)
            result["rss"]["after_searches"] = server_rss(conn)
            print(f"server RSS after searches: {result['rss']['after_searches']}", flush=True)
            sample = list(put_ops(min(n, args.their_sample), users))
            rate = their_ingest(theirs, sample, args.batch_size)
            result["ingest"]["PostgresStore"]["sampled_puts"] = len(sample)
            result["ingest"]["PostgresStore"]["items_per_s"] = rate
            print(f"PostgresStore batch put, {len(sample):,} items: {rate:,.0f} items/s")
    result["targets"] = targets(result)
    for line in result["targets"]:
        print(line)
    result["meta"]["load_avg_end"] = os.getloadavg()
    result["meta"]["wall_s"] = time.perf_counter() - started
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = args.out or RESULTS / ("million.json" if n == 1_000_000 else f"million_{n}.json")
    path.write_text(json.dumps(result, indent=2))
    print(f"json: {path} ({result['meta']['wall_s'] / 60:.1f} min)")
    plot(result, path.with_suffix(".png"))


def targets(result: dict[str, Any]) -> list[str]:
    """The issue's targets, one verdict line per store: recall@10 >= 0.98 in every shape,
    per-user (narrow prefix) p50 <= 5 ms, bulk_put >= 5,000 items/s."""
    lines = []
    for name, ingest in result["ingest"].items():
        if name == "PostgresStore":
            continue
        worst = min(result["shapes"].items(), key=lambda kv: kv[1][name]["recall"])
        narrow = result["shapes"]["narrow prefix"][name]["p50_ms"]
        rate = ingest["items_per_s"]
        lines.append(
            f"{name}: worst recall {worst[1][name]['recall']:.3f} ({worst[0]}) "
            f"{'ok' if worst[1][name]['recall'] >= 0.98 else 'MISS'}; per-user p50 "
            f"{narrow:.1f} ms {'ok' if narrow <= 5 else 'MISS'}; bulk_put {rate:,.0f} items/s "
            f"{'ok' if rate >= 5000 else 'MISS'}"
        )
    return lines


def _schema(quant: str) -> str:
    return f"memory_{quant}"


@contextmanager
def _our_stores(
    url: str, index: dict[str, Any], quants: list[str]
) -> Iterator[dict[str, PgVectorStore]]:
    opened: dict[str, PgVectorStore] = {}
    contexts = []
    try:
        for quant in quants:
            ctx = PgVectorStore.from_conn_string(
                url,
                index={**index, "vector_type": quant},  # type: ignore[typeddict-item]
                schema=_schema(quant),
            )
            contexts.append(ctx)
            opened[quant] = ctx.__enter__()
        yield opened
    finally:
        for ctx in reversed(contexts):
            ctx.__exit__(None, None, None)


def _print_ingest(name: str, ingest: dict[str, float], size: dict[str, dict[str, float]]) -> None:
    rates = ", ".join(f"{k} {v:,.1f}" for k, v in ingest.items() if isinstance(v, float | int))
    idx = ", ".join(f"{k} {v:,.1f} MB" for k, v in size["indexes"].items())
    print(f"{name}: {rates}\n  indexes: {idx}", flush=True)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    shapes_ = result["shapes"]
    stores = [s for s in next(iter(shapes_.values())) if s != "candidates"]
    for store, marker in zip(stores, "o^sDv", strict=False):
        xs = [r[store]["p50_ms"] for r in shapes_.values()]
        ys = [r[store]["recall"] for r in shapes_.values()]
        ax.scatter(xs, ys, marker=marker, label=store)
        for shape, x, y in zip(shapes_, xs, ys, strict=True):
            ax.annotate(shape, (x, y), textcoords="offset points", xytext=(4, 2), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel(f"search latency p50 (ms, best of {result['meta']['repeats']}, log scale)")
    ax.set_ylabel("recall@10")
    ax.set_title(f"recall vs p50 per search shape ({result['meta']['items']:,} items)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
