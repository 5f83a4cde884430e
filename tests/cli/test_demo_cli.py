"""`lghm demo` tells the same story as `make demo`."""

from __future__ import annotations

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
    output = capfd.readouterr().out + result.output
    assert "recalled nothing" in output  # session 1: a new user
    assert "recalled 3 memories" in output  # session 2: what session 1 taught
    assert "home city: Lisbon" in output
