"""Errors raised by langgraph-hybrid-memory.

Each error subclasses the standard exception a caller would already catch for that kind of
failure: configuration problems are ``ValueError``; an unreachable database is a
``psycopg.OperationalError``, so code written for langgraph's own Postgres packages keeps working.
"""

from __future__ import annotations

import psycopg

__all__ = [
    "ConfigError",
    "EmbeddedPostgresError",
    "MissingExtraError",
    "PostgresUnavailableError",
]


class ConfigError(ValueError):
    """A configuration value (argument or environment variable) is invalid.

    The message names the setting, the value that was given (never a secret) and what is accepted.
    """


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` line."""


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started or reached."""


class PostgresUnavailableError(psycopg.OperationalError):
    """PostgreSQL could not be reached where it is required (e.g. ``MEMORY_TYPE=postgres``)."""
