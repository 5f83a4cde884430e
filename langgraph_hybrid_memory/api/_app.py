"""The FastAPI application: the operations of `langgraph_hybrid_memory.admin` over HTTP.

Every route only parses, authorises and renders; the work is an `admin` call or a call on the
running store. See `create_app` for the routes and the README's "HTTP API" for the mapping of
the seed endpoints onto namespaces.
"""

# No `from __future__ import annotations` here: FastAPI reads the route signatures at runtime,
# and the dependency aliases (`Who`, `Admin`) are local to `create_app`.
import sqlite3
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse

from langgraph_hybrid_memory import Memory, admin
from langgraph_hybrid_memory.api._inspector import inspector_html
from langgraph_hybrid_memory.api._limits import BodyLimit
from langgraph_hybrid_memory.api._models import SearchRequest, StoreRequest, TokenRequest
from langgraph_hybrid_memory.api._tokens import Principal, identify, issue_user_token
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["create_app"]

UserId = Annotated[str, "a user id"]
Limit = Annotated[int, Query(ge=1, le=admin.MAX_LIMIT)]


def create_app(memory: Memory, *, auth: bool = True) -> FastAPI:
    """The HTTP API and the inspector page on an open `Memory`.

    Args:
        memory: from `open_memory()` (kept open by the caller for the app's lifetime).
        auth: require bearer tokens (``LGHM_API_TOKEN``, and user tokens derived from it);
            False only for development on a loopback address (`lghm serve --no-auth`).

    Raises:
        ConfigError: `auth` is on and ``LGHM_API_TOKEN`` is not set.

    Routes (admin: the admin token; user: a user token for that ``user_id`` or the admin):

    ========================================  =====  ==========================================
    ``GET /healthz``                          none   liveness, memory type, degraded
    ``GET /``                                 none   the inspector page (carries no data)
    ``POST /api/memory/initialize``           admin  `admin.setup`
    ``GET /api/memory/status``                admin  backend, health (`admin.status`), counts
    ``POST /api/memory/store``                user   put into ``("users", user_id, "memories")``
    ``POST /api/memory/search``               user   search ``("users", user_id)``
    ``GET /api/memory/session/{id}``          user   memories with ``value.session_id == id``
    ``GET /api/memory/project/{name}``        user   memories with ``value.project == name``
    ``GET /api/users``                        admin  users and their item counts
    ``GET /api/users/{id}/memories``          user   list or search (``query``, ``mode``)
    ``DELETE /api/users/{id}/memories/{key}``  user   delete one memory
    ``GET /api/users/{id}/threads``           user   `admin.user_threads`
    ``DELETE /api/users/{id}``                user   `admin.forget_user` (the report)
    ``GET /api/outbox``                       admin  `admin.outbox_health`
    ``POST /api/tokens``                      admin  issue a user token
    ========================================  =====  ==========================================
    """
    secret = memory.config.api_token
    if auth and secret is None:
        raise ConfigError(
            "the HTTP API needs LGHM_API_TOKEN (the admin bearer token, at least 16 characters); "
            "for development on 127.0.0.1 only, run `lghm serve --no-auth`"
        )
    ctx = memory.admin()
    app = FastAPI(
        title="langgraph-hybrid-memory",
        summary="Long-term memory and threads of LangGraph agents, and their operations.",
        version="0.1.0",
    )
    app.add_middleware(BodyLimit, max_bytes=memory.config.api_max_body_bytes)

    def principal(request: Request) -> Principal:
        if not auth:
            return Principal(admin=True)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        found = (
            identify(token.strip(), secret)
            if secret and scheme.lower() == "bearer" and token.strip()
            else None
        )
        if found is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or invalid bearer token: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return found

    Who = Annotated[Principal, Depends(principal)]

    def admin_only(who: Who) -> Principal:
        if not who.admin:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this endpoint needs the admin token")
        return who

    Admin = Annotated[Principal, Depends(admin_only)]

    def reach(who: Principal, user: str) -> str:
        admin.check_user_id(user, "user_id")
        if not who.may_reach(user):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "this token cannot reach another user's memories"
            )
        return user

    @app.exception_handler(ValueError)
    async def _bad_value(request: Request, exc: ValueError) -> JSONResponse:
        # ConfigError, InvalidValueError, DimensionMismatchError: our validators' messages.
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(psycopg.OperationalError)
    async def _unavailable(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        return JSONResponse({"detail": ctx.describe_error(exc)}, status_code=503)

    @app.exception_handler(sqlite3.Error)
    async def _local(request: Request, exc: sqlite3.Error) -> JSONResponse:
        return JSONResponse({"detail": ctx.describe_error(exc)}, status_code=503)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers and its memory is open."""
        st = memory.status()
        return {"ok": True, "memory_type": st["memory_type"], "degraded": st["degraded"]}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def inspector() -> str:
        return inspector_html(memory_type=memory.config.memory_type, auth=auth)

    @app.post("/api/memory/initialize", tags=["memory"])
    def initialize(who: Admin) -> dict[str, Any]:
        """Run every part's migrations (`lghm setup`); idempotent."""
        return {"migrations": admin.setup(ctx)}

    @app.get("/api/memory/status", tags=["memory"])
    def memory_status(who: Admin) -> dict[str, Any]:
        """Which backend is active, its health and its counts."""
        counts = {
            tier: {k: s.get(k) for k in ("items", "checkpoints", "threads")}
            for tier, s in admin.stats(ctx).items()
            if isinstance(s, dict)
        }
        return {"backend": memory.status(), "health": admin.status(ctx), "counts": counts}

    @app.post("/api/memory/store", status_code=201, tags=["memory"])
    def store(body: StoreRequest, who: Who) -> admin.StoredMemory:
        """Store one memory in ``("users", user_id, "memories")``."""
        reach(who, body.user_id)
        return admin.store_memory(
            memory.store,
            body.user_id,
            body.content,
            key=body.key,
            content_type=body.content_type,
            session_id=body.session_id,
            project=body.project,
            metadata=body.metadata,
        )

    @app.post("/api/memory/search", tags=["memory"])
    def search(body: SearchRequest, who: Who) -> dict[str, list[admin.MemoryHit]]:
        """Search one user's memories (hybrid by default; scores in the results)."""
        reach(who, body.user_id)
        if body.mode is None:
            hits = admin.user_memories(
                memory.store,
                body.user_id,
                query=body.query,
                filter=body.filter,
                limit=body.n_results,
            )
        else:
            hits = admin.search(
                ctx,
                body.user_id,
                body.query,
                limit=body.n_results,
                mode=body.mode,
                filter=body.filter,
            )
        return {"results": hits}

    def by_field(who: Principal, field: str, value: str, user: str | None, limit: int) -> Any:
        if user is None and not who.admin:
            user = who.user
        if user is not None:
            reach(who, user)
        return {"results": admin.field_memories(memory.store, field, value, user=user, limit=limit)}

    @app.get("/api/memory/session/{session_id}", tags=["memory"])
    def session(session_id: str, who: Who, user_id: str | None = None, limit: Limit = 100) -> Any:
        """Memories stored with this ``session_id`` (one user's; the admin: everyone's)."""
        return by_field(who, "session_id", session_id, user_id, limit)

    @app.get("/api/memory/project/{name}", tags=["memory"])
    def project(name: str, who: Who, user_id: str | None = None, limit: Limit = 100) -> Any:
        """Memories stored with this ``project``."""
        return by_field(who, "project", name, user_id, limit)

    @app.get("/api/users", tags=["users"])
    def users(who: Admin) -> dict[str, Any]:
        """Every user with memories, and their item counts per tier."""
        found: dict[str, dict[str, int]] = {}
        for tier, s in admin.stats(ctx).items():
            if isinstance(s, dict):
                for u, n in s.get("users", {}).items():
                    found.setdefault(u, {})[tier] = n
        return {"users": [{"user_id": u, "items": found[u]} for u in sorted(found)]}

    @app.get("/api/users/{user_id}/memories", tags=["users"])
    def memories(
        user_id: str,
        who: Who,
        query: str | None = None,
        mode: admin.SearchMode | None = None,
        limit: Limit = 20,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, list[admin.MemoryHit]]:
        """A user's memories: newest first, or best first for a ``query``."""
        reach(who, user_id)
        if query and mode is not None:
            return {"results": admin.search(ctx, user_id, query, limit=limit, mode=mode)}
        return {
            "results": admin.user_memories(
                memory.store, user_id, query=query or None, limit=limit, offset=offset
            )
        }

    @app.delete("/api/users/{user_id}/memories/{key}", tags=["users"])
    def delete_memory(
        user_id: str, key: str, who: Who, namespace: str = "memories"
    ) -> dict[str, Any]:
        """Delete one memory; ``namespace``: the labels below the user, dot-joined."""
        reach(who, user_id)
        labels = namespace.split(".") if namespace else []
        if not admin.delete_memory(memory.store, user_id, key, labels=labels):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no memory {key!r} in that namespace")
        return {"deleted": True, "namespace": ["users", user_id, *labels], "key": key}

    @app.get("/api/users/{user_id}/threads", tags=["users"])
    def threads(user_id: str, who: Who, limit: Limit = 100) -> dict[str, Any]:
        """The user's threads with checkpoint counts per tier and the latest state."""
        reach(who, user_id)
        return {"threads": memory.user_threads(user_id, limit=limit)}

    @app.delete("/api/users/{user_id}", tags=["users"])
    def forget(user_id: str, who: Who, dry_run: bool = False) -> admin.ForgetReport:
        """Erase the user everywhere (`lghm forget`); returns what was removed."""
        reach(who, user_id)
        return admin.forget_user(ctx, user_id, dry_run=dry_run, argument="user_id")

    @app.get("/api/outbox", tags=["health"])
    def outbox(who: Admin) -> dict[str, Any]:
        """Outbox depth and age, dead letters, the last error."""
        health: dict[str, Any] = dict(admin.outbox_health(ctx))
        running = memory.status()
        for part in ("checkpointer_status", "store_status"):
            err = running.get(part, {}).get("last_error")
            if err:  # the replicator's own (newest) error beats the newest dead letter's
                health["last_error"] = str(err)
        health["degraded"] = running["degraded"]
        return health

    @app.post("/api/tokens", tags=["auth"])
    def token(body: TokenRequest, who: Admin) -> dict[str, str]:
        """Issue a token that reaches ``user_id``'s namespaces only."""
        if secret is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "tokens need LGHM_API_TOKEN (the server runs --no-auth)"
            )
        return {"user_id": body.user_id, "token": issue_user_token(secret, body.user_id)}

    return app
