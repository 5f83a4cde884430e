"""PostgreSQL without a usable pgvector: a role that may create tables but not the extension
(pgvector is not a trusted extension) in a database that does not have it. `lghm setup` and
`open_memory()` refuse before creating anything and name MEMORY_EMBEDDINGS=none, which works."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from langgraph_hybrid_memory import MemoryConfig, PgVectorMissingError, aopen_memory, open_memory
from langgraph_hybrid_memory.cli import CliContext, app
from tests.support import FakeEmbeddings

runner = CliRunner()
TABLES = (
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
)


@pytest.fixture
def no_pgvector_url(pg_url: str) -> Iterator[str]:
    """`pg_url`'s database, owned by a fresh non-superuser role, and that role's URL."""
    role = f"r_{uuid.uuid4().hex[:12]}"
    dbname = conninfo_to_dict(pg_url)["dbname"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(str(dbname)), sql.Identifier(role)
            )
        )
        assert conn.execute(
            "SELECT count(*) FROM pg_extension WHERE extname = 'vector'"
        ).fetchone() == (0,)
    params = conninfo_to_dict(pg_url)
    params["user"] = role
    try:
        yield make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            owner = conn.execute("SELECT current_user").fetchone()
            assert owner is not None
            conn.execute(
                sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                    sql.Identifier(role), sql.Identifier(owner[0])
                )
            )
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _tables(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(TABLES).fetchone()
    return int(row[0]) if row else -1


def _env(url: str, data: Path, embeddings: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "MEMORY_DATA_DIR": str(data),
        "MEMORY_TYPE": "postgres",
        "MEMORY_EMBEDDINGS": embeddings,
        "OPENAI_API_KEY": "",
    }


def test_setup_refuses_before_creating_anything(no_pgvector_url: str, tmp_path: Path) -> None:
    env = _env(no_pgvector_url, tmp_path, "local")
    ctx = CliContext(embeddings=FakeEmbeddings(8))
    status = runner.invoke(app, ["status"], env=env, obj=ctx)
    assert status.exit_code == 1
    assert "MEMORY_EMBEDDINGS=none" in status.output, status.output
    assert "run `lghm setup`" not in status.output  # setup could not fix it

    setup = runner.invoke(app, ["setup"], env=env, obj=CliContext(embeddings=FakeEmbeddings(8)))
    assert setup.exit_code == 2, setup.output
    assert "PgVectorMissingError" in setup.output
    assert "MEMORY_EMBEDDINGS=none" in setup.output
    assert _tables(no_pgvector_url) == 0

    # Without vectors the same database works: keyword search.
    env_none = _env(no_pgvector_url, tmp_path, "none")
    assert runner.invoke(app, ["setup"], env=env_none, obj=CliContext()).exit_code == 0
    ok = runner.invoke(app, ["status"], env=env_none, obj=CliContext())
    assert ok.exit_code == 0, ok.output


@pytest.mark.parametrize("memory_type", ["postgres", "hybrid"])
def test_open_memory_refuses_before_creating_anything(
    no_pgvector_url: str, tmp_path: Path, memory_type: str
) -> None:
    cfg = MemoryConfig(memory_type=memory_type, database_url=no_pgvector_url, data_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(PgVectorMissingError, match="MEMORY_EMBEDDINGS=none"):
        with open_memory(cfg, embeddings=FakeEmbeddings(8)):
            pass
    assert _tables(no_pgvector_url) == 0
    with open_memory(cfg.with_overrides(embeddings="none")) as memory:
        memory.store.put(("users", "ada"), "tea", {"text": "likes green tea"})
        assert [i.key for i in memory.store.search(("users",), query="tea")] == ["tea"]


@pytest.mark.parametrize("memory_type", ["postgres", "hybrid"])
async def test_aopen_memory_refuses_before_creating_anything(
    no_pgvector_url: str, tmp_path: Path, memory_type: str
) -> None:
    cfg = MemoryConfig(memory_type=memory_type, database_url=no_pgvector_url, data_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(PgVectorMissingError, match="MEMORY_EMBEDDINGS=none"):
        async with aopen_memory(cfg, embeddings=FakeEmbeddings(8)):
            pass
    assert _tables(no_pgvector_url) == 0
