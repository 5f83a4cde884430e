"""LangGraph's Agent Server (``langgraph dev``) running this package's checkpointer and store.

The server is started from ``examples/agent_server`` (its ``langgraph.json`` names
`langgraph_hybrid_memory.server`), on a free loopback port, with the hybrid memory on the test's
PostgreSQL; the test drives it with ``langgraph_sdk`` and then reads the rows in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client  # the dev extra's langgraph-cli[inmem] brings it
from langgraph_sdk.schema import Command

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "agent_server"
START_TIMEOUT = 120.0
FLUSH_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def agent_server(tmp_path: Path, pg_url: str) -> Iterator[tuple[str, Path]]:
    """``langgraph dev`` on a free loopback port; stopped (its process group) afterwards."""
    workdir = tmp_path / "app"
    shutil.copytree(EXAMPLE, workdir)
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "MEMORY_TYPE": "hybrid",
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path / "data"),
        "MEMORY_EMBEDDINGS": "none",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
    }
    log = (tmp_path / "server.log").open("wb")
    langgraph = Path(sys.executable).with_name("langgraph")
    proc = subprocess.Popen(
        [
            str(langgraph),
            "dev",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-browser",
            "--no-reload",
        ],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "langgraph dev did not come up"
            time.sleep(0.5)
        yield url, tmp_path / "server.log"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


async def _drive(url: str) -> dict[str, Any]:
    async with get_client(url=url) as client:
        return await _calls(client)


async def _calls(client: Any) -> dict[str, Any]:
    cfg: Any = {"configurable": {"user_id": "ada"}}
    thread = (await client.threads.create())["thread_id"]
    first = await client.runs.wait(
        thread, "agent", input={"request": "book a table in Lisbon"}, config=cfg
    )
    state = await client.threads.get_state(thread)
    resumed = await client.runs.wait(thread, "agent", command=Command(resume="yes"), config=cfg)
    await client.store.put_item(["users", "ada", "memories"], "tea", {"text": "likes green tea"})
    found = await client.store.search_items(["users", "ada"], query="tea")
    copy = (await client.threads.copy(thread))["thread_id"]
    copy_state = await client.threads.get_state(copy)
    # A second run on the same user recalls the first one's memory through the store.
    second = (await client.threads.create())["thread_id"]
    recalled = await client.runs.wait(
        second, "agent", input={"request": "book a table in Lisbon again"}, config=cfg
    )
    await client.threads.delete(thread)
    return {
        "thread": thread,
        "copy": copy,
        "second": second,
        "first": first,
        "state": state,
        "resumed": resumed,
        "found": found,
        "copy_state": copy_state,
        "recalled": recalled,
    }


def _wait_for(pg_url: str, query: str, params: tuple[Any, ...], ok: Callable[[int], bool]) -> int:
    """Poll until `query`'s count is `ok` (the replicator flushes in the background)."""
    deadline = time.monotonic() + FLUSH_TIMEOUT
    while True:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(query, params).fetchone()
        n = int(row[0]) if row else 0
        if ok(n) or time.monotonic() > deadline:
            return n
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_langgraph_dev_runs_on_hybrid_memory(agent_server: tuple[str, Path], pg_url: str) -> None:
    url, log = agent_server
    out = asyncio.run(_drive(url))

    # Interrupt, then resume from the checkpoint the custom saver kept.
    assert out["first"]["__interrupt__"][0]["value"] == {
        "question": "act on 'book a table in Lisbon'?"
    }
    assert out["state"]["next"] == ["approve"]
    assert out["resumed"]["approved"] is True
    assert out["resumed"]["answer"].startswith("done: book a table in Lisbon")
    # The store: an SDK put is found by search; the graph's own memory is recalled by a later run.
    assert "tea" in [item["key"] for item in out["found"]["items"]]
    assert out["recalled"]["recalled"] == ["book a table in Lisbon"]
    # The copy has the whole thread's final state.
    assert out["copy_state"]["values"]["answer"] == out["resumed"]["answer"]

    # In PostgreSQL: memories in the store's table, the copy's and the second thread's
    # checkpoints flushed, the deleted thread gone.
    items = _wait_for(
        pg_url,
        "SELECT count(*) FROM memory.items WHERE namespace[1:3] = ARRAY['users','ada','memories']",
        (),
        lambda n: n == 3,
    )
    assert items == 3
    cps = "SELECT count(*) FROM public.checkpoints WHERE thread_id = %s AND checkpoint_ns = ''"
    assert _wait_for(pg_url, cps, (out["thread"],), lambda n: n == 0) == 0
    copied = _wait_for(pg_url, cps, (out["copy"],), lambda n: n >= 4)
    assert copied >= 4, copied
    assert _wait_for(pg_url, cps, (out["second"],), lambda n: n >= 2) >= 2
    text = log.read_text()
    assert "Using custom checkpointer: AsyncHybridSaver" in text
    assert "AsyncHybridStore" in text
    assert "Custom checkpointer missing" not in text  # every capability is there
