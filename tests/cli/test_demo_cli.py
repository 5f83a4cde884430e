"""`lghm demo` tells the same story as `make demo`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from langgraph_hybrid_memory.cli import app


@pytest.mark.slow
def test_lghm_demo_recalls_session_one_in_session_two(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MEMORY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "120")
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    # The sessions are child processes: their output reaches the file descriptors, not the runner.
    captured = capfd.readouterr()
    output = captured.out + result.output
    everything = output + captured.err
    assert "recalled nothing" in output  # session 1: a new user
    assert "recalled 3 memories" in output  # session 2: what session 1 taught
    assert "home city: Lisbon" in output
    # Issue 13, point 7: the embedded server is announced once (by the demo itself), each
    # session reports its own embedding counters, and the final status knows PostgreSQL was up.
    assert everything.count("no DATABASE_URL or POSTGRES_HOST set") == 0
    assert everything.count("starting the embedded PostgreSQL") == 1
    assert output.count("this session: embeddings") == 2
    assert "PostgreSQL reachable: yes" in output
    assert "embeddings.calls" not in output
    assert re.search(r"checkpointer_status\.postgres_reachable\s+True", output)
    assert not re.search(r"postgres_reachable\s+None", output)
