"""HybridSaver options and signals: back-pressure, write-through, selection, log events, status."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from langgraph_hybrid_memory import ConfigError, HybridSaver, OutboxFullError
from langgraph_hybrid_memory._outbox import Replicator
from langgraph_hybrid_memory._sqlite import LocalDB
from tests.checkpoint.test_hydration_and_deletes import _pg_ids, _put_chain
from tests.support import PrivatePostgres

UNREACHABLE = "postgresql://someone:hunter2@127.0.0.1:1/none"


def test_full_outbox_pushes_back_and_writes_nothing(tmp_path: Path, pg_url: str) -> None:
    db = LocalDB.open(tmp_path / "a.sqlite")
    # The file's replicator (and so its bound) is made by whoever acquires it first.
    held = Replicator.acquire(db, pg_url, start=False, max_entries=4, full_timeout=0.2)
    saver = HybridSaver(db, pg_url)
    try:
        _put_chain(saver, "bp", 2)  # 2 puts + 2 writes = 4 entries
        with pytest.raises(OutboxFullError, match="Nothing was written"):
            _put_chain(saver, "bp2", 1)
        assert list(saver.list({"configurable": {"thread_id": "bp2"}})) == []
        assert saver.status()["depth"] == 4
        held.start()
        saver.setup()
        saver.flush(timeout=30)
        _put_chain(saver, "bp2", 1)  # room again
    finally:
        saver.close()
        held.release()
        db.close()


def test_write_through_commits_before_returning(sqlite_path: Path, pg_url: str) -> None:
    with HybridSaver.from_conn_string(sqlite_path, pg_url, mode="write_through") as saver:
        saver.setup()
        ids = _put_chain(saver, "wt", 3)
        assert _pg_ids(pg_url, "wt") == ids  # no flush() needed
        assert saver.status()["depth"] == 0
        assert saver.status()["write_through_degraded"] is False


def test_write_through_unreachable_keeps_entry_and_says_so(
    sqlite_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="langgraph_hybrid_memory")
    with HybridSaver(
        sqlite_path, UNREACHABLE, mode="write_through", connect_timeout=1, close_timeout=0.5
    ) as saver:
        ids = _put_chain(saver, "wt", 1)
        listed = saver.list({"configurable": {"thread_id": "wt"}})
        assert [t.checkpoint["id"] for t in listed] == ids
        status = saver.status()
        assert status["write_through_degraded"] is True
        assert status["depth"] == 2 and status["postgres_reachable"] is False
        assert "hunter2" not in (status["last_error"] or "")
    failed = [r for r in caplog.records if getattr(r, "event", "") == "checkpoint_flush_failed"]
    assert failed and all(r.__dict__["thread_ids"] == ["wt"] for r in failed)
    assert all("hunter2" not in repr(r.__dict__) for r in caplog.records)


def test_flush_logs_thread_and_counts_without_secrets(
    sqlite_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    params = conninfo_to_dict(pg_url)
    params["password"] = "hunter2"  # ignored by the trust-auth test server, must not leak
    url = make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    caplog.set_level(logging.DEBUG, logger="langgraph_hybrid_memory")  # per-batch: DEBUG
    with HybridSaver.from_conn_string(sqlite_path, url) as saver:
        saver.setup()
        _put_chain(saver, "logged", 2)
        saver.flush(timeout=30)
        status = saver.status()
        assert status["last_flush_at"] is not None and status["depth"] == 0
    flushed = [r for r in caplog.records if getattr(r, "event", "") == "checkpoint_flushed"]
    assert flushed
    assert {t for r in flushed for t in r.__dict__["thread_ids"]} == {"logged"}
    assert sum(r.__dict__["checkpoints"] for r in flushed) == 2
    assert sum(r.__dict__["writes"] for r in flushed) == 2
    assert all("hunter2" not in repr(r.__dict__) for r in caplog.records)


def test_unselected_namespaces_stay_local(sqlite_path: Path, pg_url: str) -> None:
    with HybridSaver.from_conn_string(
        sqlite_path, pg_url, flush_namespaces=["", "keep:*"]
    ) as saver:
        saver.setup()
        root = _put_chain(saver, "sel", 1)
        kept = _put_chain(saver, "sel", 1, ns="keep:1|inner:2")
        _put_chain(saver, "sel", 1, ns="drop:1")
        saver.flush(timeout=30)
        assert _pg_ids(pg_url, "sel") == sorted(root + kept)
        assert len(list(saver.list({"configurable": {"thread_id": "sel"}}))) == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"flush_namespaces": ""}, TypeError, "list of patterns"),
        ({"flush_namespaces": [1]}, TypeError, "must be strings"),
        ({"mode": "eventually"}, ConfigError, "mode must be one of"),
        ({"batchsize": 3}, ConfigError, "unknown HybridSaver option"),
    ],
)
def test_bad_options_are_refused(
    sqlite_path: Path, kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        HybridSaver(sqlite_path, UNREACHABLE, **kwargs)  # type: ignore[arg-type]
    assert not sqlite_path.exists() or _no_tables(sqlite_path)


def _no_tables(path: Path) -> bool:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    finally:
        conn.close()


def test_setup_fails_loudly_without_postgres(sqlite_path: Path) -> None:
    with HybridSaver(sqlite_path, UNREACHABLE, connect_timeout=1, close_timeout=0.2) as saver:
        with pytest.raises(psycopg.OperationalError):
            saver.setup()
        # ... while the local tier keeps working.
        assert _put_chain(saver, "offline", 1)


@pytest.mark.slow
def test_write_through_survives_an_outage(private_pg: PrivatePostgres, sqlite_path: Path) -> None:
    url = private_pg.url
    with HybridSaver(
        sqlite_path, url, mode="write_through", connect_timeout=2, backoff_max=0.5
    ) as saver:
        saver.setup()
        first = _put_chain(saver, "wt", 1)
        assert _pg_ids(url, "wt") == first
        private_pg.stop()
        during = _put_chain(saver, "wt-down", 2)  # returns: durable locally, queued
        assert saver.status()["write_through_degraded"] is True
        assert saver.status()["depth"] == 4
        private_pg.start()
        saver.flush(timeout=60)  # the background flusher drains what waited
        assert _pg_ids(url, "wt-down") == sorted(during)
        after = _put_chain(saver, "wt-up", 1)
        assert _pg_ids(url, "wt-up") == after  # inline again, no flush() needed
        assert saver.status()["write_through_degraded"] is False


async def test_unusable_postgres_targets_are_refused_before_anything_is_created(
    sqlite_path: Path, pg_url: str
) -> None:
    from langgraph_hybrid_memory import AsyncHybridSaver

    aconn = await psycopg.AsyncConnection.connect(pg_url)
    try:
        with pytest.raises(ConfigError, match="AsyncConnectionPool"):
            AsyncHybridSaver(sqlite_path, aconn)  # type: ignore[arg-type]
    finally:
        await aconn.close()
    with pytest.raises(ConfigError, match="got int"):
        HybridSaver(sqlite_path, 5432)  # type: ignore[arg-type]
    assert not sqlite_path.exists()
