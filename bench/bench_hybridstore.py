"""HybridStore against PgVectorStore and langgraph's PostgresStore, side by side in one process.

Per operation (median ms over the run): ``put`` of one memory, ``get`` of one, and ``search``
with a query inside one user's scope, for

* langgraph's ``PostgresStore`` (the official alternative) and our ``PgVectorStore`` on the same
  server;
* ``HybridStore`` with PostgreSQL up (write-through: local cache + outbox + PostgreSQL commit
  before ``put`` returns; reads from PostgreSQL);
* ``HybridStore`` with PostgreSQL unreachable (degraded: writes to the local file and outbox,
  reads and searches from the local cache).

Each round trip to PostgreSQL is delayed by ``--rtts`` milliseconds with the TCP proxy in
``bench/tcp_proxy.py`` (0 = direct unix socket). Embeddings are a deterministic 64-dim hash (no
model cost), identical for every store. Prints a table of ratios and writes
``bench/results/hybridstore_latency.png``. Run::

    .venv/bin/python bench/bench_hybridstore.py --items 200 --rtts 0,5
"""

from __future__ import annotations

import argparse
import hashlib
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_checkpoint import server, unix_socket_of
from bench.tcp_proxy import DelayProxy
from langgraph_hybrid_memory import HybridStore, PgVectorStore
from langgraph_hybrid_memory._pg import make_pool

RESULTS = Path(__file__).resolve().parent / "results"
DIMS = 64
WORDS = "tea coffee bike car dog cat music film book garden travel code chess piano".split()


class HashEmbeddings(Embeddings):
    def _one(self, text: str) -> list[float]:
        vec = [0.0] * DIMS
        for word in text.lower().split():
            d = hashlib.sha256(word.encode()).digest()
            vec[d[0] % DIMS] += 1.0 if d[1] & 1 else -1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def _text(i: int) -> str:
    return " ".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7)) + f" note {i}"


def _run(store: BaseStore, items: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"put": [], "get": [], "search": []}
    for i in range(items):
        ns = ("users", f"u{i % 10}", "memories")
        t = time.perf_counter()
        store.put(ns, f"m{i}", {"text": _text(i)})
        out["put"].append(time.perf_counter() - t)
    for i in range(items):
        t = time.perf_counter()
        store.get(("users", f"u{i % 10}", "memories"), f"m{i}")
        out["get"].append(time.perf_counter() - t)
    for i in range(items // 2):
        t = time.perf_counter()
        store.search(("users", f"u{i % 10}"), query=WORDS[i % len(WORDS)], limit=5)
        out["search"].append(time.perf_counter() - t)
    return out


@contextmanager
def _proxied(server_url: str, rtt: float) -> Iterator[str]:
    if rtt <= 0:
        yield server_url
        return
    with DelayProxy(unix_socket_of(server_url), delay=rtt / 1000) as proxy:
        yield f"host=127.0.0.1 port={proxy.port} user=postgres dbname=postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--rtts", default="0,5", help="round trips in ms (0 = unix socket)")
    args = parser.parse_args()
    emb = HashEmbeddings()
    index: Any = {"dims": DIMS, "embed": emb, "fields": ["text"]}
    work = Path(tempfile.mkdtemp(prefix="lghm-bench-hs-"))
    table: dict[str, dict[float, dict[str, float]]] = {}

    def record(name: str, rtt: float, samples: dict[str, list[float]]) -> None:
        table.setdefault(name, {})[rtt] = {
            k: statistics.median(v) * 1000 for k, v in samples.items()
        }

    from langgraph.store.postgres import PostgresStore

    rtts = [float(x) for x in args.rtts.split(",")]
    with server() as server_url:
        for n, rtt in enumerate(rtts):
            with _proxied(server_url, rtt) as url:
                schema = f"b{n}"
                with PostgresStore.from_conn_string(url, index=index) as official:
                    official.setup()
                    official.conn.execute("TRUNCATE store CASCADE")  # type: ignore[union-attr]
                    record("PostgresStore (langgraph)", rtt, _run(official, args.items))
                pool = make_pool(url, max_size=4)
                try:
                    ours = PgVectorStore(pool, index=index, schema=schema + "p")
                    ours.setup()
                    record("PgVectorStore", rtt, _run(ours, args.items))
                finally:
                    pool.close()
                with HybridStore(work / f"h{n}.sqlite", url, index=index, schema=schema) as hs:
                    hs.setup()
                    record("HybridStore (PostgreSQL up)", rtt, _run(hs, args.items))
                    assert not hs.status()["degraded"]
            # PostgreSQL unreachable: the local tier answers (independent of the round trip).
            with HybridStore(
                work / f"d{n}.sqlite",
                "postgresql://bench@127.0.0.1:1/none",
                index=index,
                connect_timeout=1,
                close_timeout=0.1,
            ) as down:
                down.setup()
                down.put(("users", "u0", "memories"), "warm", {"text": "warm up"})
                record("HybridStore (PostgreSQL down)", rtt, _run(down, args.items))
                assert down.status()["degraded"]

    ops = ["put", "get", "search"]
    print(f"median ms per operation ({args.items} items, 10 users)")
    head = "| store | " + " | ".join(f"{op} @{r:g}ms" for r in rtts for op in ops) + " |"
    print(head)
    print("|---" * (1 + len(rtts) * len(ops)) + "|")
    for name, by_rtt in table.items():
        cells = [f"{by_rtt[r][op]:.2f}" for r in rtts for op in ops]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    print("ratios (lower is better for the first store)")
    pairs = [
        ("HybridStore (PostgreSQL up)", "PgVectorStore"),
        ("HybridStore (PostgreSQL up)", "PostgresStore (langgraph)"),
        ("HybridStore (PostgreSQL down)", "HybridStore (PostgreSQL up)"),
    ]
    for a, b in pairs:
        cells = [f"{table[a][r][op] / table[b][r][op]:.2f}" for r in rtts for op in ops]
        print(f"| {a} / {b} | " + " | ".join(cells) + " |")
    _plot(table, rtts, ops)


def _plot(
    table: dict[str, dict[float, dict[str, float]]], rtts: list[float], ops: list[str]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(rtts), figsize=(6 * len(rtts), 4), squeeze=False)
    width = 0.8 / len(table)
    for ax, rtt in zip(axes[0], rtts, strict=True):
        for k, (name, by_rtt) in enumerate(table.items()):
            xs = [i + k * width for i in range(len(ops))]
            ax.bar(xs, [by_rtt[rtt][op] for op in ops], width, label=name)
        ax.set_xticks([i + width * (len(table) - 1) / 2 for i in range(len(ops))], ops)
        ax.set_ylabel("median ms")
        ax.set_title(f"round trip {rtt:g} ms")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "hybridstore_latency.png", dpi=100)


if __name__ == "__main__":
    main()
