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
    "MemoryNotFoundError",
    "MissingExtraError",
    "OutboxFullError",
    "PgVectorMissingError",
    "PostgresUnavailableError",
    "ThreadBusyError",
    "ValueTooLargeError",
    "WriteConflictError",
]


class ConfigError(ValueError):
    """A configuration value (argument or environment variable) is invalid.

    The message names the setting, the value that was given (never a secret) and what is accepted.
    """


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra and gives the
    ``pip install`` line.

    Attributes:
        extra: the extra that brings the missing packages (``"local"``, ``"openai"``,
            ``"embedded"``, ``"chroma"``), or None.

    Examples:
        >>> err = MissingExtraError.for_extra("openai", "MEMORY_EMBEDDINGS='openai:...'")
        >>> err.extra
        'openai'
        >>> print(err)  # doctest: +NORMALIZE_WHITESPACE
        MEMORY_EMBEDDINGS='openai:...' needs the 'openai' extra:
        pip install 'langgraph-hybrid-memory[openai]'
    """

    def __init__(self, message: str, *, extra: str | None = None) -> None:
        super().__init__(message)
        self.extra = extra

    @classmethod
    def for_extra(cls, extra: str, needed_by: str, detail: str = "") -> MissingExtraError:
        """The error for `needed_by` (a setting or feature) lacking the extra `extra`."""
        tail = f" ({detail})" if detail else ""
        return cls(
            f"{needed_by} needs the {extra!r} extra: "
            f"pip install 'langgraph-hybrid-memory[{extra}]'{tail}",
            extra=extra,
        )


class MemoryNotFoundError(FileNotFoundError):
    """A read-only look found no memory where the settings point (no embedded cluster, no local
    file); nothing was created. The message says where it looked and how to point elsewhere."""


class EmbeddedPostgresError(RuntimeError):
    """The embedded PostgreSQL server could not be started or reached."""


class PostgresUnavailableError(psycopg.OperationalError):
    """PostgreSQL could not be reached where it is required (e.g. ``MEMORY_TYPE=postgres``).

    It never chains psycopg's own error (whose ``pgconn`` holds the password); what that error
    said is in the (redacted) message, and its kind in two attributes.

    Attributes:
        sqlstate: the SQLSTATE of the underlying error, when the server sent one (e.g.
            ``"28P01"`` for a wrong password), else None.
        error_class: the class name of the underlying psycopg error (``"OperationalError"``).
    """

    def __init__(
        self, message: str = "", *, sqlstate: str | None = None, error_class: str = ""
    ) -> None:
        super().__init__(message)
        if sqlstate is not None:
            self.sqlstate = sqlstate
        self.error_class = error_class


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


class WriteConflictError(psycopg.OperationalError):
    """A statement kept losing to concurrent transactions (deadlock or serialization failure).

    Our own statements lock rows in one global order and cannot deadlock each other; a conflict
    with someone else's transaction is retried a bounded number of times (the statements are
    idempotent) before this is raised. Nothing of the failed statement was written; the
    PostgreSQL error is the ``__cause__``.
    """


class ThreadBusyError(TimeoutError):
    """Another instance holds the lease on a thread and did not release it in time.

    The message names the thread and the holder; nothing was written. Raise ``lease_wait`` to
    wait longer, or run the thread where its lease is held.
    """

    def __init__(self, message: str, *, thread_id: str = "", holder: str = "") -> None:
        super().__init__(message)
        self.thread_id = thread_id
        self.holder = holder
