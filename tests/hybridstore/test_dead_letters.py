"""A write PostgreSQL refuses for good (a dead letter) is loud: one ERROR naming its namespace and
key, `Memory.status()` unhealthy with the count, `lghm status` exit 1.

The validator refuses such a write at `put` time, so the test writes the outbox entry directly,
as an older version of the package (or a bug) could have left it; PostgreSQL refuses it for real
(a NUL character cannot be stored in ``text``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from langgraph_hybrid_memory import MemoryConfig, open_memory
from langgraph_hybrid_memory.hybridstore import HybridStore
from langgraph_hybrid_memory.hybridstore import base as hb
from tests.cli.test_admin_cli import env_for, invoke


def test_dead_letter_is_logged_and_makes_the_memory_unhealthy(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = MemoryConfig(
        memory_type="hybrid", database_url=pg_url, data_dir=tmp_path, embeddings="none"
    )
    with open_memory(cfg) as memory:
        store = memory.store
        assert isinstance(store, HybridStore)
        assert memory.status()["healthy"] is True
        store.put(("users", "u1"), "fine", {"text": "arrives"})
        store.replicator.max_attempts = 1  # dead-letter on the first refusal, not after backoff
        with caplog.at_level(logging.ERROR, logger="langgraph_hybrid_memory"):
            with store.db.transaction() as conn:
                store.outbox.append(
                    conn,
                    hb.stream_of(("users", "u1")),
                    hb.KIND_PUT,
                    {
                        "ns": ["users", "u1"],
                        "key": "bad\x00key",
                        "value": "{}",
                        "index": False,
                        "ttl": None,
                    },
                )
            store.flush(timeout=30)
        status = memory.status()
        assert status["healthy"] is False and status["dead_letters"] == 1
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, errors
        assert "namespace ('users', 'u1'), key 'bad\\x00key'" in errors[0]
        assert "lghm status" in errors[0]
        assert "NUL" in errors[0] or "0x00" in errors[0]  # PostgreSQL's own refusal
        # The good write before it still arrived: one poison entry does not stall the stream.
        assert store.remote.get(("users", "u1"), "fine") is not None
    result = invoke(["status"], env_for(pg_url, tmp_path))
    assert result.exit_code == 1, result.output
    assert "lghm_outbox_dead" in result.output
