"""`lghm status` / `stats` / `search` wall time on a warm embedded server, next to the floor.

Each command runs as a new process (what a user types), on the embedded PostgreSQL that this
script keeps running (warm: the server is up, the OS file cache is hot), with a memory of
``--items`` memories written first. Side by side:

* the floor: a process that only imports ``langgraph.checkpoint.postgres`` (what any tool on
  langgraph's PostgreSQL saver pays before doing anything);
* ``lghm status``, ``lghm stats``, ``lghm recent`` with the local model configured
  (``MEMORY_EMBEDDINGS=local``) but not needed: the targets are within 2 s and no torch import;
* ``lghm search`` with ``MEMORY_EMBEDDINGS=none`` (keyword search) and with ``local`` (loads the
  model: the one command that pays for torch).

Prints median and max wall seconds per command, the ratio to the floor, whether torch was
imported, and writes ``bench/results/bench_cli.png``. Run::

    .venv/bin/python bench/bench_cli.py --items 2000 --repeat 7
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langgraph_hybrid_memory import EmbeddedPostgres, MemoryConfig, open_memory

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
TARGET_SECONDS = 2.0

# Runs `lghm ARGS` in this interpreter, then reports whether torch was imported (on stderr).
_RUN_CLI = (
    "import sys\n"
    "from langgraph_hybrid_memory.cli import main\n"
    "sys.argv = ['lghm', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print('TORCH_IMPORTED', 'torch' in sys.modules, file=sys.stderr)\n"
)
_FLOOR = (
    "import sys\n"
    "import langgraph.checkpoint.postgres\n"
    "print('TORCH_IMPORTED', 'torch' in sys.modules, file=sys.stderr)\n"
)


def _populate(data_dir: Path, items: int) -> None:
    cfg = MemoryConfig(memory_type="hybrid", data_dir=data_dir, embeddings="none")
    with open_memory(cfg) as memory:
        for i in range(items):
            user = f"user{i % 50}"
            memory.store.put(
                ("users", user, "memories"), f"m{i}", {"text": f"memory {i} of {user}: tea"}
            )


def _run(code: str, args: list[str], env: dict[str, str]) -> tuple[float, bool]:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300
    )
    elapsed = time.perf_counter() - start
    torch = "TORCH_IMPORTED True" in done.stderr
    if "TORCH_IMPORTED" not in done.stderr:
        raise RuntimeError(f"{args} failed: {done.stderr[-2000:]}")
    return elapsed, torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="lghm-bench-cli-"))
    base_env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MEMORY_TYPE": "hybrid",
        "MEMORY_DATA_DIR": str(data_dir),
        "OPENAI_API_KEY": "",
    }
    base_env.pop("DATABASE_URL", None)
    cases: list[tuple[str, str, list[str], str]] = [
        ("floor: import langgraph's PostgresSaver", _FLOOR, [], "none"),
        ("lghm status", _RUN_CLI, ["status"], "local"),
        ("lghm stats", _RUN_CLI, ["stats"], "local"),
        ("lghm recent", _RUN_CLI, ["recent"], "local"),
        ("lghm search (keyword)", _RUN_CLI, ["search", "user1", "tea"], "none"),
        ("lghm search (local model)", _RUN_CLI, ["search", "user1", "tea"], "local"),
    ]
    try:
        rows = _measure(data_dir, base_env, cases, args.items, args.repeat)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    _report(rows, args.items, args.repeat)


def _measure(
    data_dir: Path,
    base_env: dict[str, str],
    cases: list[tuple[str, str, list[str], str]],
    items: int,
    repeat: int,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    # Held for the whole run: every command joins a running, warm server.
    with EmbeddedPostgres(data_dir / "pg"):
        _populate(data_dir, items)
        for label, code, cli_args, emb in cases:
            env = {**base_env, "MEMORY_EMBEDDINGS": emb}
            _run(code, cli_args, env)  # warm-up: the OS file cache, .pyc files
            times, torch = [], False
            for _ in range(repeat):
                elapsed, imported = _run(code, cli_args, env)
                times.append(elapsed)
                torch = torch or imported
            rows.append(
                {
                    "command": label,
                    "median_s": statistics.median(times),
                    "max_s": max(times),
                    "torch": torch,
                }
            )
    return rows


def _report(rows: list[dict[str, object]], items: int, repeat: int) -> None:
    floor = float(str(rows[0]["median_s"]))
    print(f"{items} memories, {repeat} runs each, warm embedded server")
    print(f"{'command':<42} {'median s':>9} {'max s':>7} {'x floor':>8} {'torch':>6} target")
    for row in rows:
        median = float(str(row["median_s"]))
        target = (
            ""
            if "model" in str(row["command"]) or "floor" in str(row["command"])
            else ("ok" if median <= TARGET_SECONDS else "SLOW")
        )
        print(
            f"{row['command']!s:<42} {median:>9.2f} {float(str(row['max_s'])):>7.2f} "
            f"{median / floor:>8.2f} {'yes' if row['torch'] else 'no':>6} {target}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_cli.json").write_text(json.dumps(rows, indent=2))
    _plot(rows)


def _plot(rows: list[dict[str, object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["command"]) for r in rows]
    medians = [float(str(r["median_s"])) for r in rows]
    colors = ["#999999" if r["torch"] is False else "#cc5500" for r in rows]
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.barh(labels, medians, color=colors)
    ax.axvline(TARGET_SECONDS, color="black", linestyle="--", linewidth=1, label="2 s target")
    ax.invert_yaxis()
    ax.set_xlabel("wall seconds per command (median; orange: imported torch)")
    ax.set_title("lghm commands on a warm embedded PostgreSQL")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(RESULTS / "bench_cli.png", dpi=120)


if __name__ == "__main__":
    main()
