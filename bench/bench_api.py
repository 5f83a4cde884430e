"""The HTTP API (`lghm serve`) against the same calls made in-process, side by side in one run.

For ``store`` (``POST /api/memory/store`` vs ``memory.store.put``) and ``search``
(``POST /api/memory/search`` vs ``memory.store.search`` in one user's scope), at 1, 8 and 32
concurrent clients: requests per second and p50/p99 latency, and the API's overhead as ratios
(in-process req/s / API req/s, API p50 / in-process p50).

The server is a real ``lghm serve`` process (uvicorn, admin token) configured by the
environment alone; the clients (``httpx``, one keep-alive connection each, in threads) and the
in-process calls (threads on one `open_memory()` of the same database) run in this process, so
the server does not share the clients' interpreter. ``MEMORY_EMBEDDINGS=none`` on both sides
(keyword search): the figures are the API's cost, not a model's. PostgreSQL: ``BENCH_DATABASE_URL``
or a temporary embedded server. Prints a table and writes ``bench/results/api_throughput.png``.
Run::

    .venv/bin/python bench/bench_api.py --requests 2000 --mode postgres
    .venv/bin/python bench/bench_api.py --requests 50 --clients 1,8   # smoke
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_checkpoint import server as pg_server
from langgraph_hybrid_memory import MemoryConfig, open_memory

RESULTS = Path(__file__).resolve().parent / "results"
TOKEN = "bench-admin-token-" + uuid.uuid4().hex
WORDS = "tea coffee bike car dog cat music film book garden travel code chess piano".split()
USERS = 50


def text(i: int) -> str:
    return f"memory {i}: likes {WORDS[i % len(WORDS)]} and {WORDS[(i * 7) % len(WORDS)]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def lghm_serve(env: dict[str, str]) -> Iterator[str]:
    """A `lghm serve` process on a free loopback port; its base URL."""
    port = free_port()
    code = "from langgraph_hybrid_memory.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit("lghm serve exited; run it by hand to see why")
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("lghm serve did not answer within 120 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run_clients(
    clients: int, requests: int, make: Callable[[], Callable[[int], None]]
) -> dict[str, float]:
    """`requests` calls split over `clients` threads (each with its own `make()` caller)."""
    latencies: list[float] = []
    lock = threading.Lock()
    per = max(1, requests // clients)
    barrier = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        call = make()
        mine: list[float] = []
        barrier.wait()
        try:
            for j in range(per):
                t0 = time.perf_counter()
                call(w * per + j)
                mine.append(time.perf_counter() - t0)
        except BaseException as exc:
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        raise errors[0]
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per operation and level")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--mode", choices=["postgres", "hybrid"], default="postgres")
    args = parser.parse_args()
    levels = [int(x) for x in args.clients.split(",")]
    RESULTS.mkdir(exist_ok=True)
    results: dict[tuple[str, str, int], dict[str, float]] = {}
    with pg_server() as url, tempfile.TemporaryDirectory() as data:
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "MEMORY_TYPE": args.mode,
            "DATABASE_URL": url,
            "MEMORY_DATA_DIR": str(Path(data) / "api"),
            "MEMORY_EMBEDDINGS": "none",
            "LGHM_API_TOKEN": TOKEN,
            "POSTGRES_POOL_SIZE": "40",
        }
        cfg = MemoryConfig(
            memory_type=args.mode,
            database_url=url,
            data_dir=Path(data) / "inproc",
            embeddings="none",
            pool_size=40,
        )
        with lghm_serve(env) as base, open_memory(cfg) as memory:
            headers = {"Authorization": f"Bearer {TOKEN}"}

            def api_store() -> Callable[[int], None]:
                client = httpx.Client(base_url=base, headers=headers, timeout=60)

                def call(i: int) -> None:
                    body = {"user_id": f"u{i % USERS}", "content": text(i), "key": f"k{i}"}
                    client.post("/api/memory/store", json=body).raise_for_status()

                return call

            def api_search() -> Callable[[int], None]:
                client = httpx.Client(base_url=base, headers=headers, timeout=60)

                def call(i: int) -> None:
                    body = {"user_id": f"u{i % USERS}", "query": WORDS[i % len(WORDS)]}
                    client.post("/api/memory/search", json=body).raise_for_status()

                return call

            def local_store() -> Callable[[int], None]:
                def call(i: int) -> None:
                    ns = ("users", f"v{i % USERS}", "memories")
                    memory.store.put(ns, f"k{i}", {"text": text(i), "content_type": "text"})

                return call

            def local_search() -> Callable[[int], None]:
                def call(i: int) -> None:
                    ns = ("users", f"v{i % USERS}")
                    memory.store.search(ns, query=WORDS[i % len(WORDS)], limit=5)

                return call

            for level in levels:
                for op, api_call, local_call in (
                    ("store", api_store, local_store),
                    ("search", api_search, local_search),
                ):
                    results[(op, "api", level)] = run_clients(level, args.requests, api_call)
                    results[(op, "in-process", level)] = run_clients(
                        level, args.requests, local_call
                    )
                    a, b = results[(op, "api", level)], results[(op, "in-process", level)]
                    print(
                        f"{op:6} x{level:<3} API {a['rps']:8.1f} req/s p50 {a['p50_ms']:6.2f} "
                        f"p99 {a['p99_ms']:7.2f} | in-process {b['rps']:8.1f} req/s "
                        f"p50 {b['p50_ms']:6.2f} p99 {b['p99_ms']:7.2f} | "
                        f"overhead {b['rps'] / a['rps']:.2f}x req/s, "
                        f"{a['p50_ms'] / b['p50_ms']:.2f}x p50",
                        flush=True,
                    )
    print_table(results, levels)
    plot(results, levels, args.mode)


def print_table(results: dict[tuple[str, str, int], dict[str, float]], levels: list[int]) -> None:
    print(
        "\n| operation | clients | API req/s | API p50 / p99 ms | in-process req/s | "
        "in-process p50 / p99 ms | in-process / API req/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for op in ("store", "search"):
        for level in levels:
            a, b = results[(op, "api", level)], results[(op, "in-process", level)]
            print(
                f"| {op} | {level} | {a['rps']:,.0f} | {a['p50_ms']:.2f} / {a['p99_ms']:.2f} | "
                f"{b['rps']:,.0f} | {b['p50_ms']:.2f} / {b['p99_ms']:.2f} | "
                f"{b['rps'] / a['rps']:.2f} |"
            )


def plot(results: dict[tuple[str, str, int], Any], levels: list[int], mode: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.38
    for ax, op in zip(axes, ("store", "search"), strict=True):
        xs = list(range(len(levels)))
        api = [results[(op, "api", n)]["rps"] for n in levels]
        local = [results[(op, "in-process", n)]["rps"] for n in levels]
        ax.bar([x - width / 2 for x in xs], api, width, label="HTTP API (lghm serve)")
        ax.bar([x + width / 2 for x in xs], local, width, label="in-process")
        ax.set_xticks(xs, [f"{n} clients" for n in levels])
        ax.set_ylabel("requests / s")
        ax.set_title(f"{op} (MEMORY_TYPE={mode})")
        ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "api_throughput.png", dpi=100)
    print(f"wrote {RESULTS / 'api_throughput.png'}")


if __name__ == "__main__":
    main()
