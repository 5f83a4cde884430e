"""A real uvicorn server on a loopback port, serving `create_app` on a real memory."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from langgraph_hybrid_memory import Memory, MemoryConfig, open_memory
from langgraph_hybrid_memory.api import create_app, issue_user_token
from tests.support import FakeEmbeddings

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"


@dataclass
class Api:
    """A running API: its base URL, the memory behind it, clients per token."""

    url: str
    memory: Memory
    mode: str

    def client(self, token: str | None = ADMIN_TOKEN) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def user_client(self, user: str) -> httpx.Client:
        return self.client(issue_user_token(ADMIN_TOKEN, user))


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free loopback port; stop it afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def memory_config(mode: str, pg_url: str, data_dir: Path, **extra: Any) -> MemoryConfig:
    return MemoryConfig(
        memory_type=mode,  # type: ignore[arg-type]
        database_url=pg_url,
        data_dir=data_dir,
        embeddings="none",
        api_token=ADMIN_TOKEN,
        **extra,
    )


@pytest.fixture(params=["postgres", "hybrid"])
def api(request: pytest.FixtureRequest, pg_url: str, tmp_path: Path) -> Iterator[Api]:
    """The API on a memory in `postgres` or `hybrid` mode (fake 128-dim embeddings)."""
    cfg = memory_config(request.param, pg_url, tmp_path)
    with open_memory(cfg, embeddings=FakeEmbeddings(dims=128)) as memory:
        with running(create_app(memory)) as url:
            yield Api(url, memory, request.param)
