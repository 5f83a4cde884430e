"""`serve`: open the configured memory and run the API on uvicorn until interrupted."""

from __future__ import annotations

import ipaddress

from langgraph_hybrid_memory import MemoryConfig
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "is_loopback", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine.

    Examples:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_serve_settings(config: MemoryConfig, host: str, *, auth: bool) -> None:
    """Refuse an unauthenticated server off the loopback, and auth without a token."""
    if not auth and not is_loopback(host):
        raise ConfigError(
            f"--no-auth is only allowed on a loopback host (127.0.0.1, ::1, localhost), not "
            f"--host {host!r}: set LGHM_API_TOKEN instead"
        )
    if auth and config.api_token is None:
        raise ConfigError(
            "lghm serve needs LGHM_API_TOKEN (the admin bearer token, at least 16 characters, "
            "e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`); for "
            "development on 127.0.0.1 only, pass --no-auth"
        )


def serve(
    config: MemoryConfig | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    auth: bool = True,
) -> None:
    """Open the memory (`open_memory`), serve the API and the inspector, close on exit.

    Raises:
        ConfigError: see `check_serve_settings`, or a bad setting.
        MissingExtraError: the ``server`` extra is not installed.
    """
    from langgraph_hybrid_memory import open_memory
    from langgraph_hybrid_memory.api import create_app, require_server_extra

    require_server_extra()
    import uvicorn

    cfg = MemoryConfig.from_env() if config is None else config
    check_serve_settings(cfg, host, auth=auth)
    with open_memory(cfg) as memory:
        app = create_app(memory, auth=auth)
        uvicorn.run(app, host=host, port=port, log_level="info")
