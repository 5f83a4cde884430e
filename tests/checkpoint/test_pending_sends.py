"""Checkpoints written before format 4 read the same through both tiers (invariant 5).

langgraph's `PostgresSaver` moves the parent checkpoint's TASKS-channel writes (the pending
sends of format < 4) into the child's ``channel_values`` when it reads a ``v < 4`` checkpoint.
HybridSaver's local tier does the same, so a thread from an older langgraph version reads
identically after hydration, sync and async.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.constants import TASKS
from langgraph.types import Send

from langgraph_hybrid_memory import AsyncHybridSaver, HybridSaver


def _old_thread(pg_url: str, thread_id: str) -> None:
    """A parent and a child checkpoint in format 3, with sends written against the parent."""
    with PostgresSaver.from_conn_string(pg_url) as saver:
        saver.setup()
        config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
        parent = empty_checkpoint()
        parent["v"] = 3
        parent["channel_values"] = {"n": 1}
        parent["channel_versions"] = {"n": saver.get_next_version(None, None)}
        parent_cfg = saver.put(config, parent, {"step": 0}, dict(parent["channel_versions"]))
        saver.put_writes(
            parent_cfg, [(TASKS, Send("node", {"x": 1})), (TASKS, Send("node", {"x": 2}))], "t1"
        )
        saver.put_writes(parent_cfg, [(TASKS, Send("other", {"x": 3}))], "t0")
        child = empty_checkpoint()
        child["v"] = 3
        child["channel_values"] = {"n": 2}
        child["channel_versions"] = {
            "n": saver.get_next_version(parent["channel_versions"]["n"], None)
        }
        saver.put(parent_cfg, child, {"step": 1}, dict(child["channel_versions"]))


def _shape(tup: Any) -> Any:
    cp = tup.checkpoint
    return (
        tup.config["configurable"]["checkpoint_id"],
        cp["channel_values"],
        cp["channel_versions"],
        [(w[1], w[2]) for w in tup.pending_writes or []],
    )


def test_v3_pending_sends_read_the_same_through_postgres_and_the_local_tier(
    pg_url: str, tmp_path: Path
) -> None:
    _old_thread(pg_url, "old")
    config: Any = {"configurable": {"thread_id": "old"}}
    with PostgresSaver.from_conn_string(pg_url) as pg:
        want_latest = _shape(pg.get_tuple(config))
        want_list = [_shape(t) for t in pg.list(config)]
    assert TASKS in want_latest[1] and len(want_latest[1][TASKS]) == 3  # the migration happened

    with HybridSaver(tmp_path / "a.sqlite", pg_url) as saver:
        saver.setup()
        assert _shape(saver.get_tuple(config)) == want_latest  # hydrated, then read locally
        assert saver.status()["last_read_tier"] == "postgres"
        assert [_shape(t) for t in saver.list(config)] == want_list
        assert _shape(saver.get_tuple(config)) == want_latest  # from the local copy
        assert saver.status()["last_read_tier"] == "local"

    async def read_async() -> tuple[Any, Any]:
        async with AsyncHybridSaver.from_conn_string(tmp_path / "b.sqlite", pg_url) as asaver:
            await asaver.setup()
            latest = await asaver.aget_tuple(config)
            listed = [t async for t in asaver.alist(config)]
        return _shape(latest), [_shape(t) for t in listed]

    latest, listed = asyncio.run(read_async())
    assert latest == want_latest and listed == want_list
