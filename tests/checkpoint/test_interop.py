"""The PostgreSQL tier is langgraph's PostgresSaver format, both ways; one version rule; migrations
shared with PostgresSaver; allowlists reach the serializer of both tiers."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg
import pytest
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.types import Command

from langgraph_hybrid_memory import AsyncHybridSaver, HybridSaver
from langgraph_hybrid_memory.checkpoint.base import HYBRID_MIGRATIONS, POSTGRES_MIGRATIONS
from tests.checkpoint.helpers import EXPECTED_DONE, build_graph, snapshot


def _versions(pg_url: str, table: str) -> list[int]:
    with psycopg.connect(pg_url) as conn:
        return [r[0] for r in conn.execute(f"SELECT v FROM {table} ORDER BY v")]


def test_setup_then_postgres_saver_setup_is_a_no_op(sqlite_path: Path, pg_url: str) -> None:
    with HybridSaver.from_conn_string(sqlite_path, pg_url) as saver:
        saver.setup()
        saver.setup()  # idempotent
    before = _versions(pg_url, "checkpoint_migrations")
    assert before == list(range(len(POSTGRES_MIGRATIONS)))
    with PostgresSaver.from_conn_string(pg_url) as pg:
        pg.setup()
    assert _versions(pg_url, "checkpoint_migrations") == before
    assert _versions(pg_url, "lghm_checkpoint_migrations") == list(range(len(HYBRID_MIGRATIONS)))


def test_setup_after_postgres_saver_setup(sqlite_path: Path, pg_url: str) -> None:
    with PostgresSaver.from_conn_string(pg_url) as pg:
        pg.setup()
    with HybridSaver.from_conn_string(sqlite_path, pg_url) as saver:
        saver.setup()
    assert _versions(pg_url, "checkpoint_migrations") == list(range(len(POSTGRES_MIGRATIONS)))
    assert _versions(pg_url, "lghm_checkpoint_migrations") == list(range(len(HYBRID_MIGRATIONS)))


def test_postgres_saver_thread_resumes_in_hybrid_saver(
    sqlite_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = {"configurable": {"thread_id": "from-pg"}}
    with PostgresSaver.from_conn_string(pg_url) as pg:
        pg.setup()
        out = build_graph(pg).invoke({"task": "t"}, config)
        assert "__interrupt__" in out
        written_by_pg = snapshot(pg, "from-pg")
    caplog.set_level(logging.INFO, logger="langgraph_hybrid_memory")
    with HybridSaver.from_conn_string(sqlite_path, pg_url, flush_namespaces=["*"]) as saver:
        saver.setup()
        # Read back identically (hydrated into the local file on the first read).
        assert snapshot(saver, "from-pg") == written_by_pg
        assert saver.status()["last_read_tier"] == "postgres"
        events = [r for r in caplog.records if r.getMessage() == "thread_hydrated_from_postgres"]
        assert len(events) == 1
        assert events[0].__dict__["thread_id"] == "from-pg"
        assert events[0].__dict__["checkpoints"] == len(written_by_pg)
        final = build_graph(saver).invoke(Command(resume="yes"), config)
        assert final["done"] == EXPECTED_DONE and final["approved"] == "yes"
        assert saver.status()["last_read_tier"] == "local"
        saver.flush(timeout=30)
    # ... and the continuation written by HybridSaver reads back through PostgresSaver.
    with PostgresSaver.from_conn_string(pg_url) as pg:
        state = build_graph(pg).get_state(config)
        assert state.values["approved"] == "yes" and state.next == ()
        assert len(snapshot(pg, "from-pg")) > len(written_by_pg)


def test_get_next_version_one_rule(sqlite_path: Path, pg_url: str) -> None:
    with HybridSaver.from_conn_string(sqlite_path, pg_url) as saver:
        with PostgresSaver.from_conn_string(pg_url) as pg:
            for current in (None, 1, "00000000000000000000000000000007.5"):
                ours, theirs = (
                    saver.get_next_version(current, None),
                    pg.get_next_version(current, None),
                )
                assert ours.split(".")[0] == theirs.split(".")[0]
                assert len(ours.split(".")[0]) == 32
        assert saver.get_next_version(saver.get_next_version(None, None), None) > (
            saver.get_next_version(None, None)
        )


async def test_with_allowlist_reaches_both_tiers(sqlite_path: Path, pg_url: str) -> None:
    strict = JsonPlusSerializer(allowed_msgpack_modules=None)
    async with AsyncHybridSaver.from_conn_string(sqlite_path, pg_url, serde=strict) as saver:
        assert isinstance(saver.serde, JsonPlusSerializer)
        clone = saver.with_allowlist([("tests", "Thing")])
        assert clone is not saver
        assert isinstance(clone, AsyncHybridSaver)
        assert clone.serde is not saver.serde
        allow = clone.serde._allowed_msgpack_modules  # type: ignore[attr-defined]
        assert ("tests", "Thing") in set(allow)
        # One serializer serves both tiers: the clone shares the local file and the replicator.
        assert clone.db is saver.db and clone.replicator is saver.replicator
