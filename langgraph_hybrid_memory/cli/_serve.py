"""`lghm serve` (the HTTP API and the inspector page) and `lghm token` (a user's API token)."""

from __future__ import annotations

from typing import Annotated

import typer

from langgraph_hybrid_memory.cli._context import config_or_fail, fail, get_context
from langgraph_hybrid_memory.errors import ConfigError, MissingExtraError


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port")] = 8765,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="no tokens (development, loopback host only)")
    ] = False,
) -> None:
    """Serve the HTTP memory API and the inspector page (http://HOST:PORT/, docs at /docs).

    Configured by the same environment as open_memory(); needs LGHM_API_TOKEN (the admin
    bearer token) unless --no-auth on a loopback host. Extra: langgraph-hybrid-memory[server].
    """
    from langgraph_hybrid_memory.api import serve as run_server

    cli = get_context(ctx)
    cfg = config_or_fail(cli)
    try:
        run_server(cfg, host=host, port=port, auth=not no_auth)
    except (ConfigError, MissingExtraError) as exc:
        raise fail(str(exc)) from None


def token(
    ctx: typer.Context,
    user: Annotated[str, typer.Option("--user", help="the user id the token may reach")],
) -> None:
    """Print an API token that reaches only USER's memories and threads (needs LGHM_API_TOKEN).

    Tokens are derived from LGHM_API_TOKEN: rotating it revokes every user token.
    """
    from langgraph_hybrid_memory.api import issue_user_token

    cfg = config_or_fail(get_context(ctx))
    if cfg.api_token is None:
        raise fail("LGHM_API_TOKEN is not set: user tokens are derived from it")
    try:
        typer.echo(issue_user_token(cfg.api_token, user))
    except ConfigError as exc:
        raise fail(str(exc)) from None


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("token")(token)
