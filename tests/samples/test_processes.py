"""The examples as real processes: a stopped or interrupted thread resumes in a NEW process, and
`make demo`'s story runs end to end.

Children get their backends from the environment exactly as a user's process would (MEMORY_TYPE,
DATABASE_URL, MEMORY_DATA_DIR). Given a URL or a file, a child must not start the embedded server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig

from langgraph_hybrid_memory import MemoryConfig
from langgraph_hybrid_memory.samples import (
    ScriptedChatModel,
    build_approval_graph,
    memory_namespace,
    open_backends,
    pending_approval,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_OUR_VARIABLES = ("MEMORY_", "POSTGRES_", "DATABASE_", "OPENAI_API_KEY")


def child_env(**settings: str) -> dict[str, str]:
    """The test's environment minus every variable the package reads, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OUR_VARIABLES)}
    env["COLUMNS"] = "200"  # rich: no wrapping inside table cells, so phrases stay on one line
    env.update(settings)
    return env


def run_example(script: str, *args: str, env: dict[str, str], expect: int = 0) -> str:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=EXAMPLES.parent,
    )
    assert proc.returncode == expect, proc.stdout + proc.stderr
    return " ".join(proc.stdout.split())  # rich wraps lines; compare words


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    values = {"MEMORY_TYPE": request.param, "MEMORY_DATA_DIR": str(tmp_path / "data")}
    if request.param == "postgres":
        values["DATABASE_URL"] = request.getfixturevalue("pg_url")
    return values


def config_of(settings: dict[str, str]) -> MemoryConfig:
    return MemoryConfig.from_env(settings)


def thread(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["yes", "no"])
def test_interrupted_thread_resumes_in_a_new_process(settings: dict[str, str], answer: str) -> None:
    env = child_env(**settings)
    run_example("approval.py", "--thread", "teach", "My home city is Lisbon.", env=env)
    out = run_example("approval.py", "--thread", "t2", "Forget my home city.", env=env)
    assert "waiting for approval on step 'forget home city'" in out
    assert "forget_memory(subject='home city')" in out

    # Between the processes: the stopped run is in the checkpointer, the memory is untouched.
    with open_backends(config_of(settings)) as memory:
        graph = build_approval_graph(ScriptedChatModel()).compile(
            checkpointer=memory.checkpointer, store=memory.store
        )
        pending = pending_approval(graph.get_state(thread("t2")))
        assert pending is not None and pending["step"] == "forget home city"
        assert memory.store.get(memory_namespace("ada"), "home-city") is not None

    out = run_example("approval.py", "--thread", "t2", "--resume", answer, env=env)
    with open_backends(config_of(settings)) as memory:
        graph = build_approval_graph(ScriptedChatModel()).compile(
            checkpointer=memory.checkpointer, store=memory.store
        )
        final: dict[str, Any] = dict(graph.get_state(thread("t2")).values)
        remaining = memory.store.get(memory_namespace("ada"), "home-city")
    if answer == "yes":
        assert "forgot your home city (it was 'Lisbon')" in out
        assert remaining is None
    else:
        assert "not run: the user declined" in out
        assert remaining is not None
    assert final["response"] and final["plan"] == []
    # A second answer finds nothing to resume.
    out = run_example("approval.py", "--thread", "t2", "--resume", "yes", env=env, expect=2)
    assert "is not waiting for an approval" in out
    assert not (Path(settings["MEMORY_DATA_DIR"]) / "pg").exists()  # no embedded server started


@pytest.mark.slow
def test_stopped_run_resumes_in_a_new_process_and_recalls_memories(
    settings: dict[str, str],
) -> None:
    env = child_env(**settings)
    teach = "My home city is Lisbon and my favourite cuisine is Portuguese."
    out = run_example("plan_and_execute.py", "--thread", "a", teach, env=env)
    assert "saved to long-term memory" in out and "home-city, favourite-cuisine" in out

    # A new process, a new thread; stopped after 4 graph steps (as a crash would stop it).
    args = ("--thread", "b", "Plan a day out for me.", "--recursion-limit", "4")
    out = run_example("plan_and_execute.py", *args, env=env, expect=3)
    assert "stopped after 4 steps" in out
    with open_backends(config_of(settings)) as memory:
        assert memory.checkpointer.get_tuple(thread("b")) is not None

    # Yet another process finishes it from the checkpoint, async this time.
    out = run_example("plan_and_execute.py", "--thread", "b", "--resume", "--async", env=env)
    assert "recalled 2 memories" in out
    assert "home city: Lisbon" in out and "Tagus" in out and "bacalhau" in out
    with open_backends(config_of(settings)) as memory:
        state = memory.checkpointer.get_tuple(thread("b"))
        assert state is not None
        steps = state.checkpoint["channel_values"]["past_steps"]
        assert sorted(s["step"] for s in steps) == ["look up Lisbon", "look up Portuguese"]
        assert len(memory.store.search(memory_namespace("ada"))) == 2
    assert not (Path(settings["MEMORY_DATA_DIR"]) / "pg").exists()


@pytest.mark.slow
def test_make_demo_story_runs_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "d"  # short: the embedded server's socket lives under it
    env = child_env(MEMORY_DATA_DIR=str(data))
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=EXAMPLES.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = " ".join(proc.stdout.split())
    session1, _, rest = out.partition("session 2: new process, new thread")
    session2, _, report = rest.partition("where the state lives")
    assert "recalled nothing from PostgreSQL" in session1
    assert "saved to long-term memory (PostgreSQL): home-city, favourite-cuisine, daily-budget" in (
        session1
    )
    # Session 2 is another process on another thread, and plans with session 1's facts.
    assert "recalled 3 memories from PostgreSQL" in session2
    for fact in ("home city: Lisbon", "favourite cuisine: Portuguese", "daily budget: 40 euros"):
        assert fact in session2
    assert "look up Lisbon" in session2 and "Tagus" in session2
    # Hybrid (the default): every checkpoint local; the root graph's flushed to PostgreSQL, the
    # executor subgraph's (not selected) only local; memories in PostgreSQL and the local cache.
    assert "PostgreSQL public.checkpoints" in report
    assert "local SQLite memory.sqlite:lghm_checkpoints" in report
    assert "PostgreSQL memory.items" in report and "3 items" in report
    # Check the same in the databases themselves.
    import sqlite3

    import psycopg

    from langgraph_hybrid_memory import EmbeddedPostgres

    local = sqlite3.connect(data / "memory.sqlite")
    local_sub = local.execute(
        "SELECT count(*) FROM lghm_checkpoints WHERE checkpoint_ns LIKE 'execute:%'"
    ).fetchone()[0]
    local.close()
    with EmbeddedPostgres(data / "pg") as pg, psycopg.connect(pg.url) as conn:
        root, sub = conn.execute(
            "SELECT count(*) FILTER (WHERE checkpoint_ns = ''), "
            "count(*) FILTER (WHERE checkpoint_ns <> '') FROM checkpoints"
        ).fetchone()  # type: ignore[misc]
    assert local_sub > 0 and root > 0 and sub == 0
    assert "memories of ada 3" in report
    # The demo's embedded server was stopped when the demo ended.
    assert (data / "pg").is_dir() and not (data / "pg" / "postmaster.pid").exists()


def test_demo_spawns_its_sessions_by_its_real_module_name() -> None:
    # Under `python -m`, __name__ is "__main__": the sessions must be spawned by the real name.
    from langgraph_hybrid_memory.samples import demo

    assert demo._MODULE == demo.__name__
