"""`lghm migrate --from chroma:DIR`: a ChromaDB collection (written with explicit vectors, so no
model is downloaded) moves into PgVectorStore and is re-embedded with the target's model."""

from __future__ import annotations

import json
from pathlib import Path

import chromadb
import psycopg
from chromadb.config import Settings
from typer.testing import CliRunner

from langgraph_hybrid_memory.cli import CliContext, app
from langgraph_hybrid_memory.store import PgVectorStore
from tests.support import FakeEmbeddings

runner = CliRunner()


def _chroma_dir(path: Path) -> Path:
    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )
    notes = client.create_collection("notes", embedding_function=None)
    notes.add(
        ids=[f"n{i}" for i in range(1205)],
        documents=[f"note number {i}" for i in range(1205)],
        embeddings=[[float(i), 1.0, 0.0] for i in range(1205)],
        metadatas=[{"user_id": "ann" if i % 2 else "ben", "i": i} for i in range(1205)],
    )
    notes.add(
        ids=["stamps"],
        documents=["ben collects vintage stamps"],
        embeddings=[[0.5, 0.5, 0.5]],
        metadatas=[{"user_id": "ben"}],
    )
    kb = client.create_collection("kb.v2", embedding_function=None)
    kb.add(ids=["d1"], documents=["the manual"], embeddings=[[0.0, 0.0, 1.0]])
    return path


def test_chroma_collection_moves_into_lghm(pg_url: str, tmp_path: Path) -> None:
    source = _chroma_dir(tmp_path / "chroma")
    model = FakeEmbeddings(dims=16)
    env = {
        "DATABASE_URL": pg_url,
        "MEMORY_DATA_DIR": str(tmp_path / "data"),
        "MEMORY_TYPE": "postgres",
        "MEMORY_EMBEDDINGS": "none",
    }
    dry = runner.invoke(
        app,
        ["migrate", "--from", f"chroma:{source}", "--to", "lghm:", "--dry-run", "--json"],
        env=env,
        obj=CliContext(embeddings=model),
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["items"] == 1207
    args = ["migrate", "--from", f"chroma:{source}", "--to", "lghm:", "--json"]
    result = runner.invoke(app, args, env=env, obj=CliContext(embeddings=model))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["items"] == 1207
    with psycopg.connect(pg_url) as conn:
        per_ns = dict(
            conn.execute(
                "SELECT array_to_string(namespace, '/'), count(*) FROM memory.items GROUP BY 1"
            ).fetchall()
        )
        dims = conn.execute("SELECT DISTINCT vector_dims(embedding) FROM memory.vectors")
        assert dims.fetchall() == [(16,)]  # the target's model, not Chroma's 3-d vectors
    assert per_ns == {"users/ann/notes": 602, "users/ben/notes": 604, "chroma/kb_v2": 1}
    with PgVectorStore.from_conn_string(pg_url, index={"dims": 16, "embed": model}) as store:
        item = store.get(("users", "ann", "notes"), "n7")
        assert item is not None and item.value == {
            "text": "note number 7",
            "metadata": {"user_id": "ann", "i": 7},
        }
        hits = store.search(("users", "ben"), query="vintage stamps", limit=1)
        assert hits[0].key == "stamps"
    # Only one collection, and a missing one is named.
    one = runner.invoke(
        app,
        ["migrate", "--from", f"chroma:{source}#kb.v2", "--to", "lghm:", "--dry-run", "--json"],
        env=env,
        obj=CliContext(embeddings=model),
    )
    assert json.loads(one.stdout)["items"] == 1
    missing = runner.invoke(
        app, ["migrate", "--from", f"chroma:{source}#nope", "--to", "lghm:"], env=env
    )
    assert missing.exit_code == 2 and "'nope' not found" in missing.output
    as_target = runner.invoke(
        app, ["migrate", "--from", "lghm:", "--to", f"chroma:{source}"], env=env
    )
    assert as_target.exit_code == 2 and "source only" in as_target.output
