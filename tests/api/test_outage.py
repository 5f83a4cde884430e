"""The API while PostgreSQL is down (hybrid mode): health says degraded, the local tier still
answers searches, and operations that need PostgreSQL answer 503 without any secret."""

from __future__ import annotations

from pathlib import Path

from langgraph_hybrid_memory import open_memory
from langgraph_hybrid_memory.api import create_app
from tests.api.conftest import ADMIN_TOKEN, Api, memory_config, running
from tests.support import PrivatePostgres


def test_postgres_down_is_503_and_degraded(private_pg: PrivatePostgres, tmp_path: Path) -> None:
    cfg = memory_config("hybrid", private_pg.url, tmp_path)
    with open_memory(cfg) as memory, running(create_app(memory)) as url:
        api = Api(url, memory, "hybrid")
        with api.client() as c:
            put = c.post("/api/memory/store", json={"user_id": "ada", "content": "ada reads"})
            assert put.status_code == 201
            private_pg.stop()
            try:
                hits = c.post("/api/memory/search", json={"user_id": "ada", "query": "reads"})
                assert hits.status_code == 200  # the local cache answers
                assert [h["value"]["text"] for h in hits.json()["results"]] == ["ada reads"]
                assert c.get("/healthz").json()["degraded"] is True
                gone = c.delete("/api/users/ada")
                assert gone.status_code == 503, gone.text
                assert ADMIN_TOKEN not in gone.text
                # Our scrubbed error (an OperationalError) names what is wrong, never a password.
                assert gone.json()["detail"].startswith("PostgresUnavailableError")
                status = c.get("/api/memory/status")
                assert status.status_code == 503 or status.json()["health"]["healthy"] is False
            finally:
                private_pg.start()
            # Back up: the forget goes through and the memory is gone on both tiers.
            again = c.delete("/api/users/ada")
            assert again.status_code == 200, again.text
            assert c.get("/api/users/ada/memories").json()["results"] == []
