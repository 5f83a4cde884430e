"""A user's first hour: looking never creates anything, says where it looked, and commands that
do not embed never import the model library (torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from langgraph_hybrid_memory.cli import CliContext, app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
READ_ONLY = [
    ["status"],
    ["doctor"],
    ["stats"],
    ["search", "ada", "tea"],
    ["recent"],
    ["setup", "--list"],
]


def _invoke(args: list[str], env: dict[str, str]) -> Any:
    return runner.invoke(app, args, env=env, obj=CliContext())


@pytest.mark.parametrize("memory_type", ["hybrid", "sqlite"])
@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a))
def test_read_only_commands_create_nothing(
    tmp_path: Path, memory_type: str, args: list[str]
) -> None:
    data = tmp_path / "nothing-here"
    env = {
        "MEMORY_TYPE": memory_type,
        "MEMORY_DATA_DIR": str(data),
        "MEMORY_EMBEDDINGS": "none",
        "DATABASE_URL": "",
        "POSTGRES_HOST": "",
        "OPENAI_API_KEY": "",
    }
    result = _invoke(args, env)
    assert not data.exists(), f"{args} created {sorted(p.name for p in data.rglob('*'))}"
    assert str(data) in result.output, result.output  # it says where it looked
    if args[0] in ("status", "doctor"):
        assert result.exit_code == 1, result.output
    else:
        assert result.exit_code == 0, result.output
        assert "no memory yet" in result.output or "missing" in result.output, result.output


def test_read_only_json_is_empty_not_an_error(tmp_path: Path) -> None:
    env = {"MEMORY_DATA_DIR": str(tmp_path / "d"), "MEMORY_EMBEDDINGS": "none", "DATABASE_URL": ""}
    result = runner.invoke(app, ["recent", "--json"], env=env, obj=CliContext())
    assert result.exit_code == 0
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    assert not (tmp_path / "d").exists()


def test_status_names_the_absolute_data_dir(tmp_path: Path, pg_url: str) -> None:
    env = {"MEMORY_DATA_DIR": "rel-dir", "MEMORY_EMBEDDINGS": "none", "DATABASE_URL": pg_url}
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = runner.invoke(app, ["status", "--json"], env=env, obj=CliContext())
    finally:
        os.chdir(cwd)
    report = json.loads(result.stdout)
    assert report["data_dir"] == str(tmp_path / "rel-dir")
    assert not (tmp_path / "rel-dir").exists()


# Runs each command in-process in a fresh interpreter and reports the heavy modules it imported.
_PROBE = """
import json, sys
from typer.testing import CliRunner
from langgraph_hybrid_memory.cli import CliContext, app
heavy = ("torch", "sentence_transformers", "transformers")
out = {}
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, args, obj=CliContext())
    out[" ".join(args)] = {
        "exit": result.exit_code,
        "heavy": [m for m in heavy if m in sys.modules],
        "output": result.output[-400:],
        "loads": result.output.count("loading all-MiniLM-L6-v2 (offline embedding model) ... done"),
    }
print(json.dumps(out))
"""


def _probe(env: dict[str, str], commands: list[list[str]]) -> dict[str, Any]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(commands)],
        env=full,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["stderr"] = done.stderr
    return result


@pytest.mark.slow
@pytest.mark.quality
def test_commands_that_do_not_embed_never_import_torch(tmp_path: Path, pg_url: str) -> None:
    # The local model is configured, so only a lazy import keeps torch out.
    env = {
        "MEMORY_TYPE": "hybrid",
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path),
        "MEMORY_EMBEDDINGS": "local",
        "OPENAI_API_KEY": "",
    }
    commands = [
        ["setup"],
        ["status"],
        ["doctor"],
        ["stats"],
        ["recent"],
        ["setup", "--list"],
        ["search", "ada", "tea"],  # the one that embeds: the check can fail
    ]
    out = _probe(env, commands)
    for args in commands[:-1]:
        key = " ".join(args)
        assert out[key]["heavy"] == [], (key, out[key])
        assert out[key]["exit"] == 0, (key, out[key])
    assert "torch" in out["search ada tea"]["heavy"]
    # The model load is said once, with its duration.
    assert out["search ada tea"]["loads"] == 1, out["search ada tea"]


def test_open_memory_without_embeddings_never_imports_torch(tmp_path: Path, pg_url: str) -> None:
    code = (
        "import sys\n"
        "from langgraph_hybrid_memory import open_memory\n"
        "with open_memory() as m:\n"
        "    m.store.put(('users', 'ada'), 'k', {'text': 'likes green tea'})\n"
        "    assert [i.key for i in m.store.search(('users',), query='tea')] == ['k']\n"
        "print([n for n in ('torch', 'sentence_transformers') if n in sys.modules])\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path),
        "MEMORY_EMBEDDINGS": "none",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM memory.items").fetchone() == (1,)
