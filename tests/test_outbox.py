"""The durable outbox and the replicator, apart from the checkpointer (the store reuses them)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import psycopg
import pytest
from psycopg import Cursor
from psycopg.rows import DictRow

from langgraph_hybrid_memory import FlushTimeoutError, OutboxFullError
from langgraph_hybrid_memory._outbox import Outbox, OutboxEntry, Replicator, redact
from langgraph_hybrid_memory._sqlite import LocalDB

CREATE = "CREATE TABLE IF NOT EXISTS applied (seq BIGINT PRIMARY KEY, stream TEXT, n INT)"
INSERT = "INSERT INTO applied VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"


@pytest.fixture
def db(sqlite_path: Path) -> Iterator[LocalDB]:
    handle = LocalDB.open(sqlite_path)
    yield handle
    handle.close()


def _append(db: LocalDB, box: Outbox, stream: str, kind: str, n: int) -> int:
    with db.transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS data (n INTEGER)")
        conn.execute("INSERT INTO data VALUES (?)", (n,))
        return box.append(conn, stream, kind, {"n": n})


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, cur: Cursor[DictRow], entries: Sequence[OutboxEntry]) -> Mapping[str, int]:
        cur.execute(CREATE)
        self.calls.append([e.seq for e in entries])
        for e in entries:
            cur.execute(INSERT, (e.seq, e.stream, e.payload["n"]))
        return {"rows": len(entries)}


def test_append_needs_the_callers_transaction(db: LocalDB) -> None:
    box = Outbox(db)
    box.setup()
    with db.read() as conn, pytest.raises(RuntimeError, match=r"inside LocalDB\.transaction"):
        box.append(conn, "s", "k", {})
    assert box.depth() == 0


def test_entry_commits_and_rolls_back_with_the_data(db: LocalDB) -> None:
    box = Outbox(db)
    box.setup()
    with pytest.raises(ZeroDivisionError), db.transaction() as conn:
        conn.execute("CREATE TABLE data (n INTEGER)")
        box.append(conn, "s", "k", {"n": 1})
        1 / 0  # noqa: B018
    assert box.depth() == 0
    seqs = [_append(db, box, "s", "k", i) for i in range(3)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    with db.read() as conn:
        assert conn.execute("SELECT count(*) FROM data").fetchone() == (3,)
    box.delete(seqs[:2])
    with db.read() as conn:  # the delete's relaxed sync level does not leak to other writes
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)
    # seq never goes back, even after deletes
    assert _append(db, box, "s", "k", 9) > seqs[-1]


def test_full_outbox_pushes_back_and_writes_nothing(db: LocalDB) -> None:
    box = Outbox(db, max_entries=2, full_timeout=0.2)
    box.setup()
    for i in range(2):
        box.wait_for_room()
        _append(db, box, "s", "k", i)
    with pytest.raises(OutboxFullError, match="max_entries=2"):
        box.wait_for_room()
    assert box.depth() == 2
    box.delete([e.seq for e in box.peek(1)])
    box.wait_for_room()  # room again


def test_replicator_sends_in_order_idempotently_and_deletes(db: LocalDB, pg_url: str) -> None:
    rec = Recorder()
    rep = Replicator.acquire(db, pg_url, start=False, batch_size=4)
    try:
        rep.register(["t.k"], rec, log_as="test")
        seqs = [_append(db, rep.outbox, f"s{i % 3}", "t.k", i) for i in range(10)]
        rep.start()
        rep.flush(timeout=60)
        assert rep.outbox.depth() == 0
        flat = [s for call in rec.calls for s in call]
        assert flat == seqs  # global seq order, hence per-stream order
        assert max(len(c) for c in rec.calls) <= 4
        # A replay (crash between the PostgreSQL commit and the local delete) is harmless.
        replay = [OutboxEntry(seq=seqs[0], stream="s0", kind="t.k", payload={"n": 0}, created_at=0)]
        with psycopg.connect(pg_url, autocommit=True) as conn:
            rec(conn.cursor(row_factory=psycopg.rows.dict_row), replay)
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT count(*) FROM applied").fetchone() == (10,)
        status = rep.status()
        assert status["depth"] == 0 and status["last_flush_at"] is not None
        assert status["flushed_entries"] == 10
    finally:
        rep.release()


def test_unhandled_kinds_wait_and_block_only_their_stream(db: LocalDB, pg_url: str) -> None:
    rec = Recorder()
    rep = Replicator.acquire(db, pg_url, start=False)
    try:
        rep.register(["t.k"], rec, log_as="test")
        a1 = _append(db, rep.outbox, "a", "t.k", 1)
        _append(db, rep.outbox, "b", "store.k", 2)  # no handler in this process
        b3 = _append(db, rep.outbox, "b", "t.k", 3)  # behind it in stream b: must wait
        c4 = _append(db, rep.outbox, "c", "t.k", 4)
        rep.start()
        rep.flush(timeout=60)  # waits only for handled kinds
        sent = [s for call in rec.calls for s in call]
        assert sent == [a1, c4]
        assert [e.seq for e in rep.outbox.peek(10)] == [a1 + 1, b3]
        rep.register(["store.k"], rec, log_as="store")
        rep.flush(timeout=60)
        assert rep.outbox.depth() == 0
        assert [s for call in rec.calls for s in call][-2:] == [a1 + 1, b3]
    finally:
        rep.release()


def test_poison_entry_is_isolated_and_dead_lettered(db: LocalDB, pg_url: str) -> None:
    rec = Recorder()

    def picky(cur: Cursor[DictRow], entries: Sequence[OutboxEntry]) -> Mapping[str, int]:
        if any(e.payload["n"] == 13 for e in entries):
            raise ValueError("cannot send 13")
        return rec(cur, entries)

    rep = Replicator.acquire(db, pg_url, start=False, max_attempts=2, backoff_initial=0.01)
    try:
        rep.register(["t.k"], picky, log_as="test")
        for n in (1, 13, 2):
            _append(db, rep.outbox, "s", "t.k", n)
        rep.start()
        rep.flush(timeout=60)
        with psycopg.connect(pg_url) as conn:
            assert [r[0] for r in conn.execute("SELECT n FROM applied ORDER BY seq")] == [1, 2]
        status = rep.status()
        assert status["dead_letters"] == 1
        with db.read() as conn:
            dead = conn.execute("SELECT kind, error FROM lghm_outbox_dead").fetchall()
        assert dead == [("t.k", "ValueError: cannot send 13")]
    finally:
        rep.release()


def test_unreachable_postgres_keeps_entries_and_hides_the_password(db: LocalDB) -> None:
    url = "postgresql://someone:hunter2@127.0.0.1:1/nowhere"
    rep = Replicator.acquire(db, url, connect_timeout=1, backoff_initial=0.05)
    try:
        rep.register(["t.k"], Recorder(), log_as="test")
        _append(db, rep.outbox, "s", "t.k", 1)
        with pytest.raises(FlushTimeoutError, match="still pending"):
            rep.flush(timeout=2)
        status = rep.status()
        assert status["depth"] == 1
        assert status["postgres_reachable"] is False
        assert status["last_error"] and "hunter2" not in status["last_error"]
        assert status["oldest_pending_age"] is not None
    finally:
        rep.release(timeout=0.5)
    # still durable for the next start
    box = Outbox(db)
    assert box.depth() == 1


def test_redact() -> None:
    assert "pw" not in redact("postgresql://u:pw@h/db")
    assert redact("dbname=x password='pw'") == "dbname=x password=***"


def test_sqlite_file_stays_consistent_under_kill_free_reopen(sqlite_path: Path) -> None:
    db = LocalDB.open(sqlite_path)
    box = Outbox(db)
    box.setup()
    _append(db, box, "s", "k", 1)
    db.close()
    raw = sqlite3.connect(sqlite_path)
    assert raw.execute("SELECT stream, kind FROM lghm_outbox").fetchall() == [("s", "k")]
    raw.close()
