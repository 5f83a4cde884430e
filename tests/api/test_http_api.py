"""The HTTP API through a real uvicorn server against a real PostgreSQL (postgres and hybrid
modes): every endpoint, auth, look-alike ids, bad bodies, forget leaving nothing behind."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langgraph.checkpoint.base import empty_checkpoint

from langgraph_hybrid_memory.api import issue_user_token
from tests.api.conftest import ADMIN_TOKEN, Api
from tests.api.helpers import local_rows_containing, pg_rows_containing

LOOKALIKES = ["john", "john_doe", "john%", "john-doe"]


def marker(user: str) -> str:
    return f"<{user}>"


def store(client: httpx.Client, user: str, content: str, **extra: Any) -> dict[str, Any]:
    resp = client.post("/api/memory/store", json={"user_id": user, "content": content, **extra})
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def put_thread(api: Api, thread: str, user: str) -> None:
    saver: Any = api.memory.checkpointer
    cp = empty_checkpoint()
    cp["channel_values"] = {"messages": f"hello {marker(user)}"}
    cp["channel_versions"] = {"messages": saver.get_next_version(None, None)}
    config: Any = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    saved = saver.put(config, cp, {"user_id": user, "step": 1}, cp["channel_versions"])
    saver.put_writes(saved, [("messages", f"write {marker(user)}")], "task-1")
    if hasattr(saver, "flush"):
        saver.flush(timeout=30)


def test_health_docs_and_inspector_need_no_token(api: Api) -> None:
    with api.client(token=None) as c:
        health = c.get("/healthz")
        assert health.status_code == 200 and health.json()["memory_type"] == api.mode
        assert c.get("/docs").status_code == 200
        paths = c.get("/openapi.json").json()["paths"]
        assert "/api/memory/store" in paths and "/api/users/{user_id}" in paths
        page = c.get("/")
        assert page.status_code == 200 and "lghm inspector" in page.text
        assert f"MEMORY_TYPE={api.mode}" in page.text


def test_seed_endpoints_and_the_rest(api: Api) -> None:
    with api.client() as c:
        init = c.post("/api/memory/initialize")
        assert init.status_code == 200 and init.json()["migrations"]
        assert all(not m["pending"] for m in init.json()["migrations"])
        ref = store(c, "ada", "ada lives in Lisbon", session_id="s1", project="trip")
        assert ref["namespace"] == ["users", "ada", "memories"]
        store(c, "ada", "ada likes green tea", session_id="s2", metadata={"lang": "en"})
        store(c, "bob", "bob lives in Porto", session_id="s1", project="trip")

        status = c.get("/api/memory/status").json()
        assert status["backend"]["memory_type"] == api.mode
        assert status["health"]["healthy"] is True, status["health"]["problems"]
        assert status["counts"]["postgres"]["items"] == 3

        for mode in (None, "keyword", "vector", "hybrid"):
            body: dict[str, Any] = {"user_id": "ada", "query": "ada lives in Lisbon"}
            if mode:
                body["mode"] = mode
            hits = c.post("/api/memory/search", json=body).json()["results"]
            assert hits and hits[0]["value"]["text"] == "ada lives in Lisbon", (mode, hits)
            assert all(h["namespace"][:2] == ["users", "ada"] for h in hits)
            assert hits[0]["score"] is not None
        filtered = c.post(
            "/api/memory/search",
            json={"user_id": "ada", "query": "ada", "filter": {"metadata": {"lang": "en"}}},
        ).json()["results"]
        assert [h["value"]["text"] for h in filtered] == ["ada likes green tea"]

        s1 = c.get("/api/memory/session/s1").json()["results"]
        assert sorted(h["value"]["text"] for h in s1) == [
            "ada lives in Lisbon",
            "bob lives in Porto",
        ]
        s1_ada = c.get("/api/memory/session/s1", params={"user_id": "ada"}).json()["results"]
        assert [h["value"]["text"] for h in s1_ada] == ["ada lives in Lisbon"]
        trip = c.get("/api/memory/project/trip").json()["results"]
        assert len(trip) == 2

        users = {u["user_id"]: u["items"] for u in c.get("/api/users").json()["users"]}
        assert users["ada"]["postgres"] == 2 and users["bob"]["postgres"] == 1

        listed = c.get("/api/users/ada/memories").json()["results"]
        assert len(listed) == 2 and all(h["score"] is None for h in listed)
        searched = c.get("/api/users/ada/memories", params={"query": "tea", "mode": "keyword"})
        assert searched.json()["results"][0]["value"]["text"] == "ada likes green tea"

        put_thread(api, "t-ada", "ada")
        threads = c.get("/api/users/ada/threads").json()["threads"]
        assert [t["thread_id"] for t in threads] == ["t-ada"]
        counts = threads[0]["checkpoints"]
        assert counts["postgres"] == 1
        if api.mode == "hybrid":
            assert counts["local"] == 1
        assert "hello <ada>" in threads[0]["latest"]["channels"]["messages"]
        assert c.get("/api/users/bob/threads").json()["threads"] == []

        outbox = c.get("/api/outbox").json()
        assert outbox["depth"] == 0 and outbox["dead_letters"] == 0 and outbox["dead"] == []
        assert outbox["degraded"] is False

        key = listed[0]["key"]
        gone = c.delete(f"/api/users/ada/memories/{key}")
        assert gone.status_code == 200 and gone.json()["deleted"] is True
        assert c.delete(f"/api/users/ada/memories/{key}").status_code == 404
        assert len(c.get("/api/users/ada/memories").json()["results"]) == 1

        tok = c.post("/api/tokens", json={"user_id": "ada"}).json()
        assert tok["token"] == issue_user_token(ADMIN_TOKEN, "ada")

        dry = c.delete("/api/users/ada", params={"dry_run": "true"}).json()
        assert dry["would_remove"]["postgres"]["items"] == 1
        report = c.delete("/api/users/ada").json()
        assert report["removed"]["postgres"]["items"] == 1 and report["threads"] == ["t-ada"]
        assert c.get("/api/users/ada/memories").json()["results"] == []


ADMIN_ONLY = [
    ("POST", "/api/memory/initialize", None),
    ("GET", "/api/memory/status", None),
    ("GET", "/api/users", None),
    ("GET", "/api/outbox", None),
    ("POST", "/api/tokens", {"user_id": "john"}),
]


def test_auth_negative_cases(api: Api) -> None:
    for token in (None, "wrong-token", "lghm_u.am9obg.forged", ADMIN_TOKEN[:-1]):
        with api.client(token) as c:
            for method, path, body in [*ADMIN_ONLY, ("GET", "/api/users/john/memories", None)]:
                resp = c.request(method, path, json=body)
                assert resp.status_code == 401, (token, path, resp.text)
                assert resp.headers["www-authenticate"] == "Bearer"
    # A user token's user part swapped for another user: its MAC no longer matches.
    john = issue_user_token(ADMIN_TOKEN, "john")
    swapped = (
        "lghm_u."
        + issue_user_token(ADMIN_TOKEN, "john_doe").split(".")[1]
        + "."
        + (john.split(".")[2])
    )
    with api.client(swapped) as c:
        assert c.get("/api/users/john_doe/memories").status_code == 401
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Basic {ADMIN_TOKEN}"}) as c:
        assert c.get("/api/users").status_code == 401
    with api.user_client("john") as c:
        for method, path, body in ADMIN_ONLY:
            assert c.request(method, path, json=body).status_code == 403, path
    with api.client() as c:
        assert c.get("/api/users").status_code == 200


def test_user_tokens_are_isolated_with_lookalike_ids(api: Api) -> None:
    with api.client() as admin:
        for u in LOOKALIKES:
            store(admin, u, f"note of {marker(u)}", key="note", session_id="s", project="p")
            put_thread(api, f"thread-{u}", u)
    for me in LOOKALIKES:
        with api.user_client(me) as c:
            mine = c.get(f"/api/users/{me}/memories").json()["results"]
            assert [h["value"]["text"] for h in mine] == [f"note of {marker(me)}"]
            hits = c.post("/api/memory/search", json={"user_id": me, "query": "note of john"})
            assert [h["namespace"][1] for h in hits.json()["results"]] == [me]
            session = c.get("/api/memory/session/s").json()["results"]
            assert [h["namespace"][1] for h in session] == [me]
            project = c.get("/api/memory/project/p").json()["results"]
            assert [h["namespace"][1] for h in project] == [me]
            threads = c.get(f"/api/users/{me}/threads").json()["threads"]
            assert [t["thread_id"] for t in threads] == [f"thread-{me}"]
            for other in LOOKALIKES:
                if other == me:
                    continue
                q = {"user_id": other}
                denied = [
                    c.get(f"/api/users/{other}/memories"),
                    c.get(f"/api/users/{other}/threads"),
                    c.post("/api/memory/search", json={**q, "query": "note"}),
                    c.post("/api/memory/store", json={**q, "content": "x"}),
                    c.get("/api/memory/session/s", params=q),
                    c.get("/api/memory/project/p", params=q),
                    c.delete(f"/api/users/{other}/memories/note"),
                    c.delete(f"/api/users/{other}"),
                ]
                assert [r.status_code for r in denied] == [403] * len(denied), other
    with api.client() as admin:
        for u in LOOKALIKES:  # nothing was deleted or written by the denied calls
            got = admin.get(f"/api/users/{u}/memories").json()["results"]
            assert [h["value"]["text"] for h in got] == [f"note of {marker(u)}"]
        # The admin's look at one user never shows a look-alike's memories.
        got = admin.get("/api/users/john/memories").json()["results"]
        assert [h["namespace"][1] for h in got] == ["john"]


BAD_BODIES: list[tuple[str, Any]] = [
    ("/api/memory/store", {"content": "no user"}),
    ("/api/memory/store", {"user_id": "ada"}),
    ("/api/memory/store", {"user_id": "ada", "content": ""}),
    ("/api/memory/store", {"user_id": "a.b", "content": "dotted id"}),
    ("/api/memory/store", {"user_id": "", "content": "empty id"}),
    ("/api/memory/store", {"user_id": "ada", "content": "x", "surprise": 1}),
    ("/api/memory/store", {"user_id": "ada", "content": "nul \x00 inside"}),
    ("/api/memory/store", {"user_id": "ada", "content": "x", "metadata": {"k": "nul \x00"}}),
    ("/api/memory/store", {"user_id": "ada", "content": "x", "metadata": "not a dict"}),
    ("/api/memory/store", [1, 2, 3]),
    ("/api/memory/search", {"user_id": "ada", "query": "x", "n_results": 0}),
    ("/api/memory/search", {"user_id": "ada", "query": "x", "n_results": 1000}),
    ("/api/memory/search", {"user_id": "ada", "query": "x", "mode": "psychic"}),
    ("/api/memory/search", {"user_id": "ada", "query": ""}),
    ("/api/memory/search", {"user_id": "ada", "query": "x", "filter": {"n": {"$regex": "a"}}}),
    ("/api/tokens", {"user_id": "a.b"}),
]


@pytest.mark.parametrize("path,body", BAD_BODIES)
def test_bad_bodies_are_4xx_and_write_nothing(api: Api, path: str, body: Any) -> None:
    with api.client() as c:
        resp = c.post(path, json=body)
        assert 400 <= resp.status_code < 500 and resp.status_code == 422, resp.text
        assert resp.json()["detail"]
        assert api.memory.stats()["postgres"]["items"] == 0


def test_body_limit_and_broken_json(api: Api) -> None:
    limit = api.memory.config.api_max_body_bytes
    with api.client() as c:
        big = {"user_id": "ada", "content": "x" * (limit + 10)}
        resp = c.post("/api/memory/store", json=big)
        assert resp.status_code == 413 and "LGHM_API_MAX_BODY_BYTES" in resp.json()["detail"]
        chunked = c.post(
            "/api/memory/store",
            content=(b'{"user_id": "ada", "content": "' + b"y" * 4096 + b'"}' for _ in range(400)),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413
        broken = c.post(
            "/api/memory/store", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert broken.status_code == 422
        assert c.get("/api/users/ada/memories", params={"limit": 0}).status_code == 422
        assert c.get("/api/users/a.b/memories").status_code == 422
    assert api.memory.stats()["postgres"]["items"] == 0


def test_forget_leaves_nothing_of_the_user_in_any_table(api: Api) -> None:
    with api.client() as c:
        for i, u in enumerate(LOOKALIKES):
            store(c, u, f"memo of {marker(u)}", key="memo")
            store(c, u, f"second memo of {marker(u)}", session_id=f"sess {marker(u)}")
            put_thread(api, f"thread-{i}", u)
        url = api.memory._pg_url
        assert url is not None
        sqlite_file = api.memory.config.sqlite_path
        assert pg_rows_containing(url, marker("john"))
        if api.mode == "hybrid":
            assert local_rows_containing(sqlite_file, marker("john"))
        report = c.delete("/api/users/john")
        assert report.status_code == 200, report.text
        removed = report.json()["removed"]
        assert removed["postgres"]["items"] == 2 and removed["postgres"]["checkpoints"] == 1
    assert pg_rows_containing(url, marker("john")) == {}
    assert local_rows_containing(sqlite_file, marker("john")) == {}
    # What is left of john's thread is its (opaque) id in the tombstone that keeps a late flush
    # from restoring it (hybrid only: MEMORY_TYPE=postgres has no flush to fence).
    left = set(pg_rows_containing(url, "thread-0"))
    assert left == ({"public.lghm_checkpoint_tombstones"} if api.mode == "hybrid" else set())
    assert local_rows_containing(sqlite_file, "thread-0") == {}
    for other in LOOKALIKES[1:]:
        assert pg_rows_containing(url, marker(other)), other  # the look-alikes are all kept
