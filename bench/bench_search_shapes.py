"""Every search shape, PgVectorStore beside langgraph's PostgresStore in one run (issue 16).

Same data for both (clustered synthetic 384-dim vectors from `bench_store.make_data`, 50 users,
``("users", "u<j>", "memories")``), each shape measured with recall@10 against exact numpy search
and p50/p95 latency (the stores take turns query by query):

* no prefix; broad prefix ``("users",)``; narrow prefix (one user);
* unselective filter (9% of rows, ``category``) and selective filter (1%, ``tag``), each alone,
  under the broad prefix and under the narrow one.

Targets: recall@10 >= 0.98 in every shape; p50 <= 1.5x PostgresStore's where theirs reaches
0.9 recall; no shape above 3x theirs. Writes ``bench/results/search_shapes_<items>.json`` and a
plot of recall against p50 per shape (``.png``). The coordinator runs the real sizes::

    .venv/bin/python bench/bench_search_shapes.py --items 20000
    .venv/bin/python bench/bench_search_shapes.py --items 100000

``--quick`` (2,000 items, 20 queries) checks the script end to end. Uses ``TEST_DATABASE_URL``
if set, else starts an embedded server in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.store.base import PutOp
from langgraph.store.postgres import PostgresStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_store import (
    RESULTS,
    LookupEmbeddings,
    fresh_db,
    make_data,
    server_url,
)
from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory.store import PgVectorStore

Scope = Callable[[int], tuple[tuple[str, ...], dict[str, Any] | None]]
Candidates = Callable[[int], np.ndarray]


def put_ops(n: int, users: int) -> list[PutOp]:
    return [
        PutOp(
            ("users", f"u{i % users}", "memories"),
            f"m{i}",
            # 11 and 97 are coprime to the user count (50), so every user holds items of each
            # category and some rare ones.
            {"text": f"d{i}", "category": f"c{i % 11}", "tag": "rare" if i % 97 == 0 else "x"},
        )
        for i in range(n)
    ]


def shapes(n: int, users: int) -> dict[str, tuple[Scope, Candidates]]:
    ids = np.arange(n)

    def user(q: int) -> tuple[str, ...]:
        return ("users", f"u{q % users}")

    def mine(q: int) -> np.ndarray:
        return ids % users == q % users

    cat = {"category": "c3"}
    rare = {"tag": "rare"}
    in_cat, is_rare = ids % 11 == 3, ids % 97 == 0
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


def measure(
    stores: dict[str, Any],
    docs: np.ndarray,
    queries: np.ndarray,
    scope: Scope,
    candidates: Candidates,
    k: int = 10,
    repeats: int = 3,
) -> dict[str, tuple[float, float, float]]:
    """Per store: (mean recall@k, p50 ms, p95 ms). Recall is over min(k, candidates): a narrow
    selective shape may hold fewer than k matches. One untimed warm-up pass, then the stores
    take turns per query (alternating who goes first); each latency is the best of
    `repeats` runs (less noise from a shared machine)."""
    recalls: dict[str, list[float]] = {name: [] for name in stores}
    lat: dict[str, list[float]] = {name: [] for name in stores}
    for q in range(len(queries)):
        prefix, flt = scope(q)
        for store in stores.values():
            store.search(prefix, query=f"q{q}", filter=flt, limit=k)
    order = list(stores)
    for q in range(len(queries)):
        prefix, flt = scope(q)
        cand = candidates(q)
        if not len(cand):
            continue
        exact = set(cand[np.argsort(-(docs[cand] @ queries[q]))[:k]].tolist())
        for name in order if q % 2 == 0 else order[::-1]:
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                hits = stores[name].search(prefix, query=f"q{q}", filter=flt, limit=k)
                best = min(best, (time.perf_counter() - start) * 1000)
            lat[name].append(best)
            recalls[name].append(len({int(h.key[1:]) for h in hits} & exact) / len(exact))
    out = {}
    for name in stores:
        ms = sorted(lat[name])
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        out[name] = (float(np.mean(recalls[name])), float(np.median(ms)), p95)
    return out


def verdict(ours: tuple[float, ...], theirs: tuple[float, ...]) -> str:
    ratio = ours[1] / theirs[1] if theirs[1] else float("inf")
    ok = ours[0] >= 0.98 and ratio <= 3.0 and (theirs[0] < 0.9 or ratio <= 1.5)
    return f"{ratio:.2f}x {'ok' if ok else 'MISS'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=500, help="puts per batch() (theirs)")
    parser.add_argument("--quick", action="store_true", help="2,000 items, 20 queries")
    args = parser.parse_args()
    if args.quick:
        args.items, args.queries = 2000, 20
    n, users = args.items, args.users
    docs, queries = make_data(n, args.queries, args.dims)
    index: dict[str, Any] = {
        "dims": args.dims,
        "embed": LookupEmbeddings(docs, queries),
        "fields": ["text"],
    }
    ops = put_ops(n, users)
    cases = shapes(n, users)
    print(f"{n:,} items, {users} users, {args.dims} dims, {args.queries} queries", flush=True)
    results: dict[str, dict[str, list[float]]] = {}
    with (
        server_url() as admin,
        fresh_db(admin) as theirs_url,
        fresh_db(admin) as ours_url,
        get_connection(theirs_url) as tconn,
        PgVectorStore.from_conn_string(ours_url, index=index) as ours,  # type: ignore[arg-type]
    ):
        theirs = PostgresStore(tconn, index=index)  # type: ignore[arg-type]
        theirs.setup()
        started = time.perf_counter()
        for i in range(0, n, args.batch_size):
            theirs.batch(ops[i : i + args.batch_size])
        tconn.execute("ANALYZE")  # what autovacuum would give a loaded table
        print(f"PostgresStore loaded in {time.perf_counter() - started:.1f}s", flush=True)
        ours.setup()
        started = time.perf_counter()
        ours.bulk_put(ops)
        print(f"PgVectorStore bulk_put in {time.perf_counter() - started:.1f}s", flush=True)
        stores = {"PgVectorStore": ours, "PostgresStore": theirs}
        print(
            "| shape | candidates | ours recall | ours p50 ms | theirs recall | theirs p50 ms "
            "| ours/theirs p50 |\n|---|---|---|---|---|---|---|"
        )
        for name, (scope, cands) in cases.items():
            out = measure(stores, docs, queries, scope, cands)
            o, t = out["PgVectorStore"], out["PostgresStore"]
            results[name] = {k: list(v) for k, v in out.items()}
            print(
                f"| {name} | {len(cands(0)):,} | {o[0]:.3f} | {o[1]:.1f} | {t[0]:.3f} "
                f"| {t[1]:.1f} | {verdict(o, t)} |",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"search_shapes_{n}.json"
    meta = {"items": n, "users": users, "dims": args.dims, "queries": args.queries}
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"json: {path}")
    plot(results, n, path.with_suffix(".png"))


def plot(results: dict[str, dict[str, list[float]]], n: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for store, marker in (("PgVectorStore", "o"), ("PostgresStore", "s")):
        xs = [r[store][1] for r in results.values()]
        ys = [r[store][0] for r in results.values()]
        ax.scatter(xs, ys, marker=marker, label=store)
        for (shape, _), x, y in zip(results.items(), xs, ys, strict=True):
            ax.annotate(shape, (x, y), textcoords="offset points", xytext=(4, 2), fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("search latency p50 (ms, best of 3 per query, log scale)")
    ax.set_ylabel("recall@10")
    ax.set_title(f"recall vs p50 per search shape ({n:,} items)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
