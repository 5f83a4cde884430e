"""`langgraph_hybrid_memory.admin` as library calls: on a running memory (`Memory.forget_user`,
...), without one (`AdminContext`), async twins, dead letters, bad arguments."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from langgraph_hybrid_memory import MemoryConfig, admin, open_memory
from langgraph_hybrid_memory.errors import ConfigError
from tests.api.test_http_api import put_thread
from tests.support import FakeEmbeddings


def _cfg(pg_url: str, tmp_path: Path) -> MemoryConfig:
    return MemoryConfig(
        memory_type="hybrid", database_url=pg_url, data_dir=tmp_path, embeddings="none"
    )


class _Api:
    def __init__(self, memory: Any) -> None:
        self.memory = memory


def test_memory_offers_the_common_operations(pg_url: str, tmp_path: Path) -> None:
    with open_memory(_cfg(pg_url, tmp_path), embeddings=FakeEmbeddings(dims=32)) as memory:
        for user in ("john", "john_doe"):
            admin.store_memory(memory.store, user, f"{user} likes tea", key="tea")
            put_thread(_Api(memory), f"t-{user}", user)
        assert memory.health()["healthy"] is True
        assert memory.stats()["postgres"]["users"] == {"john": 1, "john_doe": 1}
        assert [h["key"] for h in memory.recent("john")] == ["tea"]
        threads = memory.user_threads("john")
        assert [t["thread_id"] for t in threads] == ["t-john"]
        assert threads[0]["checkpoints"] == {"local": 1, "postgres": 1}
        assert "hello <john>" in threads[0]["latest"]["channels"]["messages"]  # type: ignore[index]
        dry = memory.forget_user("john", dry_run=True)
        assert dry["would_remove"]["postgres"]["items"] == 1 and "removed" not in dry
        report = memory.forget_user("john")
        assert report["removed"]["postgres"]["items"] == 1
        assert report["removed"]["local"]["lghm_checkpoints"] == 1
        assert memory.store.search(("users", "john")) == []
        assert memory.checkpointer.get_tuple({"configurable": {"thread_id": "t-john"}}) is None
        assert [h["key"] for h in memory.recent("john_doe")] == ["tea"]
        assert memory.prune(keep_last=1)["dry_run"] is True
        assert memory.sweep(dry_run=True)["postgres"] == {"expired_items": 0}


def test_operations_without_a_running_memory(pg_url: str, tmp_path: Path) -> None:
    cfg = _cfg(pg_url, tmp_path)
    with open_memory(cfg) as memory:
        put_thread(_Api(memory), "t-ada", "ada")
        admin.store_memory(memory.store, "ada", "ada reads", key="k")
    with admin.AdminContext(cfg) as ctx:
        # No saver: the PostgreSQL tier's state is decoded by langgraph's PostgresSaver.
        (thread,) = admin.user_threads(ctx, "ada")
        assert "hello <ada>" in thread["latest"]["channels"]["messages"]  # type: ignore[index]
        hits = admin.search(ctx, "ada", "reads", mode="keyword")
        assert [h["key"] for h in hits] == ["k"] and hits[0]["score"] is not None
        with pytest.raises(ConfigError, match="needs an embedding model"):
            admin.search(ctx, "ada", "reads", mode="vector")
        assert not [m for m in admin.migrations(ctx) if m["pending"]]


async def test_async_twins(pg_url: str, tmp_path: Path) -> None:
    cfg = _cfg(pg_url, tmp_path)
    with open_memory(cfg) as memory:
        admin.store_memory(memory.store, "ada", "ada reads", key="k")
    with admin.AdminContext(cfg) as ctx:
        assert (await admin.astats(ctx))["postgres"]["items"] == 1
        assert (await admin.astatus(ctx))["healthy"] is True
        assert [h["key"] for h in await admin.arecent(ctx, user="ada")] == ["k"]
        report = await admin.aforget_user(ctx, "ada")
        assert report["removed"]["postgres"]["items"] == 1
        assert (await admin.aoutbox_health(ctx))["depth"] == 0


def test_dead_letters_and_last_error_are_reported_redacted(pg_url: str, tmp_path: Path) -> None:
    cfg = _cfg(pg_url, tmp_path)
    with open_memory(cfg):
        pass
    conn = sqlite3.connect(cfg.sqlite_path)
    with conn:
        conn.execute(
            "INSERT INTO lghm_outbox_dead (seq, stream, kind, payload, created_at, attempts, "
            "error, failed_at) VALUES (7, 's', 'store.put', '{}', ?, 5, ?, ?)",
            (time.time(), "refused by postgresql://bob:hunter2@db:5432/app", time.time()),
        )
    conn.close()
    with admin.AdminContext(cfg) as ctx:
        health = admin.outbox_health(ctx)
        assert health["dead_letters"] == 1 and health["dead"][0]["seq"] == 7
        assert health["last_error"] is not None and "hunter2" not in health["last_error"]
        assert "bob:***@db" in health["last_error"]
        st = admin.status(ctx)
        assert st["healthy"] is False and any("lghm_outbox_dead" in p for p in st["problems"])


@pytest.mark.parametrize("bad", ["", "a.b", "nul\x00", 5, None])
def test_bad_user_ids_are_refused_before_anything_is_read(tmp_path: Path, bad: Any) -> None:
    cfg = MemoryConfig(memory_type="sqlite", data_dir=tmp_path, embeddings="none")
    with admin.AdminContext(cfg) as ctx:
        for call in (
            lambda: admin.forget_user(ctx, bad),
            lambda: admin.search(ctx, bad, "q"),
            lambda: admin.user_threads(ctx, bad),
            lambda: admin.memory_namespace(bad),
        ):
            with pytest.raises(ConfigError, match="is not a user id"):
                call()
        with pytest.raises(ConfigError, match="limit"):
            admin.recent(ctx, limit=0)
    assert not cfg.sqlite_path.exists()
