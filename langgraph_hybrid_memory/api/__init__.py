"""The HTTP memory API and the inspector page (`lghm serve`; extra ``server``).

`create_app(memory)` builds the FastAPI application on an open `Memory`; `serve()` opens the
configured memory and runs it on uvicorn (127.0.0.1:8765 by default). Every route renders an
operation of `langgraph_hybrid_memory.admin` or a call on the running store.

Auth: ``Authorization: Bearer <token>`` with the admin token ``LGHM_API_TOKEN`` (everything) or a
user token from `issue_user_token` / ``POST /api/tokens`` / ``lghm token --user ID`` (only that
user's namespaces).

Examples:
    >>> from langgraph_hybrid_memory.api import issue_user_token
    >>> issue_user_token("an-admin-secret-of-32-characters", "ada")[:12]
    'lghm_u.YWRh.'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langgraph_hybrid_memory.api._server import DEFAULT_HOST, DEFAULT_PORT, serve
from langgraph_hybrid_memory.api._tokens import Principal, identify, issue_user_token
from langgraph_hybrid_memory.errors import MissingExtraError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from langgraph_hybrid_memory import Memory

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Principal",
    "create_app",
    "identify",
    "issue_user_token",
    "require_server_extra",
    "serve",
]


def require_server_extra() -> None:
    """Raise `MissingExtraError` unless FastAPI and uvicorn are installed."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            f"the HTTP API needs the 'server' extra ({exc.name} is missing): "
            "pip install 'langgraph-hybrid-memory[server]'"
        ) from None


def create_app(memory: Memory, *, auth: bool = True, **kwargs: Any) -> FastAPI:
    """The FastAPI application on an open `Memory` (see `_app.create_app` for the routes)."""
    require_server_extra()
    from langgraph_hybrid_memory.api._app import create_app as build

    return build(memory, auth=auth, **kwargs)
