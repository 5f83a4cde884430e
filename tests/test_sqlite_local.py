"""The shared local SQLite handle."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from langgraph_hybrid_memory._sqlite import LocalDB


def test_open_shares_one_connection_per_file(sqlite_path: Path) -> None:
    a = LocalDB.open(sqlite_path)
    b = LocalDB.open(str(sqlite_path))
    assert a is b
    a.close()
    with b.read() as conn:  # still open: one reference left
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    b.close()
    with pytest.raises(sqlite3.ProgrammingError):
        b.conn.execute("SELECT 1")
    c = LocalDB.open(sqlite_path)
    assert c is not a
    c.close()


def test_transaction_rolls_back_on_error_and_nests(sqlite_path: Path) -> None:
    db = LocalDB.open(sqlite_path)
    try:
        with db.transaction() as conn:
            conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
        with pytest.raises(sqlite3.IntegrityError), db.transaction() as conn:
            conn.execute("INSERT INTO t VALUES (1)")
            with db.transaction() as inner:  # joins the outer transaction
                inner.execute("INSERT INTO t VALUES (2)")
            conn.execute("INSERT INTO t VALUES (1)")
        with db.read() as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    finally:
        db.close()


def test_concurrent_writers_from_threads_do_not_lock(sqlite_path: Path) -> None:
    db = LocalDB.open(sqlite_path)
    with db.transaction() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    errors: list[BaseException] = []

    def writer(start: int) -> None:
        try:
            for i in range(200):
                with db.transaction() as conn:
                    conn.execute("INSERT INTO t VALUES (?)", (start + i,))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n * 1000,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (800,)
    db.close()


def test_second_process_style_connection_waits_instead_of_failing(sqlite_path: Path) -> None:
    db = LocalDB.open(sqlite_path)
    with db.transaction() as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(
        str(sqlite_path), isolation_level=None, timeout=5, check_same_thread=False
    )
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    with db.transaction() as conn:  # waits for the other writer (busy_timeout), then proceeds
        conn.execute("INSERT INTO t VALUES (2)")
    release.join()
    other.close()
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
    db.close()
