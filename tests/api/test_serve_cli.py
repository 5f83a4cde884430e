"""`lghm serve` and `lghm token`: refusals, a token, and a real server process on a loopback
port configured by the environment alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from langgraph_hybrid_memory.api import identify
from langgraph_hybrid_memory.cli import CliContext, app
from tests.api.conftest import ADMIN_TOKEN

runner = CliRunner()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "MEMORY_TYPE": "sqlite",
        "MEMORY_DATA_DIR": str(tmp_path),
        "MEMORY_EMBEDDINGS": "none",
        "LGHM_API_TOKEN": "",
        **extra,
    }


def test_serve_refuses_without_token_and_no_auth_off_loopback(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve"], env=_env(tmp_path), obj=CliContext())
    assert result.exit_code == 2 and "LGHM_API_TOKEN" in result.output
    result = runner.invoke(
        app, ["serve", "--no-auth", "--host", "0.0.0.0"], env=_env(tmp_path), obj=CliContext()
    )
    assert result.exit_code == 2 and "loopback" in result.output
    short = runner.invoke(app, ["serve"], env=_env(tmp_path, LGHM_API_TOKEN="short"))
    assert short.exit_code == 2 and "at least 16" in short.output
    assert not (tmp_path / "memory.sqlite").exists()  # nothing was opened or created


def test_token_prints_a_user_token(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["token", "--user", "john_doe"], env=_env(tmp_path, LGHM_API_TOKEN=ADMIN_TOKEN)
    )
    assert result.exit_code == 0, result.output
    principal = identify(result.stdout.strip(), ADMIN_TOKEN)
    assert principal is not None and principal.user == "john_doe" and not principal.admin
    bad = runner.invoke(
        app, ["token", "--user", "a.b"], env=_env(tmp_path, LGHM_API_TOKEN=ADMIN_TOKEN)
    )
    assert bad.exit_code == 2 and "not a user id" in bad.output
    missing = runner.invoke(app, ["token", "--user", "ada"], env=_env(tmp_path))
    assert missing.exit_code == 2 and "LGHM_API_TOKEN" in missing.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_from_the_environment(pg_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "MEMORY_TYPE": "postgres",
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path),
        "MEMORY_EMBEDDINGS": "none",
        "LGHM_API_TOKEN": ADMIN_TOKEN,
    }
    code = "from langgraph_hybrid_memory.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "lghm serve did not answer within 60 s"
            time.sleep(0.2)
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        put = httpx.post(
            url + "/api/memory/store",
            json={"user_id": "ada", "content": "likes tea"},
            headers=auth,
        )
        assert put.status_code == 201
        hits = httpx.post(
            url + "/api/memory/search", json={"user_id": "ada", "query": "tea"}, headers=auth
        ).json()["results"]
        assert [h["value"]["text"] for h in hits] == ["likes tea"]
        assert httpx.get(url + "/api/users").status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
