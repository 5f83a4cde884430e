"""Errors raised by langgraph-hybrid-memory.

Each error subclasses the standard exception a caller would already catch for that kind of
failure: configuration problems are ``ValueError``; an unreachable database is a
``psycopg.OperationalError``, so code written for langgraph's own Postgres packages keeps working.
"""

from __future__ import annotations

import psycopg
from langgraph.store.base import InvalidNamespaceError as _LangGraphInvalidNamespaceError

__all__ = [
    "ConfigError",
    "DimensionMismatchError",
    "EmbeddedPostgresError",
    "FlushTimeoutError",
    "InvalidInputError",
    "InvalidKeyError",
    "InvalidNamespaceError",
    "InvalidValueError",
    "MissingExtraError",
    "OutboxFullError",
    "PgVectorMissingError",
    "PostgresUnavailableError",
    "ValueTooLargeError",
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


class OutboxFullError(RuntimeError):
    """The local outbox is full (PostgreSQL unreachable or too slow for too long).

    Raised by a write after waiting ``full_timeout`` seconds for room; the write changed nothing.
    """


class FlushTimeoutError(TimeoutError):
    """``flush(timeout=...)`` ran out of time before everything was in PostgreSQL.

    Nothing is lost: the entries stay in the local outbox and the background flusher keeps trying.
    """


class InvalidInputError(ValueError):
    """An argument of a store call is refused before anything is written.

    Every store of the package runs the same checks (`langgraph_hybrid_memory._validation`), so
    an input refused by one is refused by all, with the same error. `argument` names what was
    refused (``"key"``, ``"value"``, ``"namespace"``, ``"query"``, ``"limit"``, ``"filter"``,
    ...); the message also says the bound or the fix. Nothing of the batch was written.

    Examples:
        >>> err = InvalidInputError("limit must be at most 2147483647", argument="limit")
        >>> err.argument, isinstance(err, ValueError)
        ('limit', True)
    """

    def __init__(self, message: str, *, argument: str = "") -> None:
        super().__init__(message)
        self.argument = argument


class InvalidValueError(InvalidInputError):
    """A value given to a store cannot be stored (not a JSON object, NaN, a NUL character, too
    deep, ...).

    The message names the namespace and key; nothing of the batch was written.
    """

    def __init__(self, message: str, *, argument: str = "value") -> None:
        super().__init__(message, argument=argument)


class ValueTooLargeError(InvalidValueError):
    """A value's JSON text is larger than the store's ``max_value_bytes`` (1 MiB by default).

    PostgreSQL's keyword index holds at most 1 MB of text per item, and an embedding model reads
    (and is paid for) the whole text; the message gives the size, the bound and the setting.
    """


class InvalidKeyError(InvalidInputError):
    """A key is not a string, contains NUL or a lone surrogate, or is longer than the bound."""

    def __init__(self, message: str, *, argument: str = "key") -> None:
        super().__init__(message, argument=argument)


class InvalidNamespaceError(InvalidInputError, _LangGraphInvalidNamespaceError):
    """A namespace label is refused (empty, not a string, ``.``, NUL, too long, ...).

    Also a langgraph ``InvalidNamespaceError``, so code written for langgraph's stores catches it.
    """

    def __init__(self, message: str, *, argument: str = "namespace") -> None:
        super().__init__(message, argument=argument)


class DimensionMismatchError(ValueError):
    """Embedding dimensions disagree: the model's vectors, the index config and the table.

    Raised by ``setup()`` against an existing table and by a put whose embedder returns vectors
    of the wrong size; nothing of the batch was written.
    """


class PgVectorMissingError(ConfigError):
    """The PostgreSQL server has no pgvector extension, which vector search needs."""
