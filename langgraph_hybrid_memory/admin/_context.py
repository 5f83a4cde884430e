"""`AdminContext`: what every operation shares: the configuration, PostgreSQL, the local file.

The configuration is `MemoryConfig.from_env()` (the same environment `open_memory()` reads) unless
one is given. Operations open short-lived connections of their own, so they can run beside a
running `Memory` (the local file is shared through `LocalDB`'s per-process handle).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.embeddings import Embeddings
from psycopg import Connection
from psycopg.rows import DictRow

from langgraph_hybrid_memory._config import MemoryConfig, redact_conninfo
from langgraph_hybrid_memory._embeddings import embedding_dims, model_name_of, resolve_embeddings
from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory.errors import MemoryNotFoundError
from langgraph_hybrid_memory.store._schema import DEFAULT_SCHEMA

__all__ = ["AdminContext", "safe_error", "table_exists"]


@dataclass
class AdminContext:
    """Settings and connections of one or more operations.

    Use it as a context manager (or call `close`): an embedded PostgreSQL it had to start is
    stopped on exit.

    Attributes:
        config: the memory settings; `MemoryConfig.from_env()` when None.
        embeddings: a model object to use instead of ``config.embeddings_spec()``.
        schema: PostgreSQL schema of the store tables.
        database_url: the PostgreSQL to use instead of the configured one (a running `Memory`
            passes the URL of the embedded server it started).

    Examples:
        >>> import tempfile
        >>> from langgraph_hybrid_memory import MemoryConfig
        >>> from langgraph_hybrid_memory.admin import AdminContext, setup, stats
        >>> cfg = MemoryConfig(memory_type="sqlite", data_dir=tempfile.mkdtemp(), embeddings="none")
        >>> with AdminContext(cfg) as ctx:
        ...     _ = setup(ctx)
        ...     stats(ctx)["local"]["items"]
        0
    """

    config: MemoryConfig | None = None
    embeddings: Embeddings | None = None
    schema: str = DEFAULT_SCHEMA
    database_url: str | None = field(default=None, repr=False)
    _resolved: bool = field(default=False, repr=False)
    _model: Embeddings | None = field(default=None, repr=False)
    _embedded: Any = field(default=None, repr=False)

    def __enter__(self) -> AdminContext:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def cfg(self) -> MemoryConfig:
        if self.config is None:
            self.config = MemoryConfig.from_env()
        return self.config

    def model(self) -> Embeddings | None:
        """The embedding model (loaded once), or None for keyword search only."""
        if not self._resolved:
            self._model = (
                self.embeddings
                if self.embeddings is not None
                else resolve_embeddings(self.cfg.embeddings_spec())
            )
            self._resolved = True
        return self._model

    def model_label(self) -> str:
        """The model's name without loading it (for status output)."""
        if self.embeddings is not None:
            return model_name_of(self.embeddings)
        return self.cfg.embeddings_spec()

    def store_index(self) -> dict[str, Any]:
        """The PgVectorStore / LocalStore index config for the configured model."""
        model = self.model()
        if model is None:
            return {"search_mode": "keyword"}
        return {"dims": embedding_dims(model), "embed": model}

    @property
    def uses_postgres(self) -> bool:
        return self.cfg.memory_type in ("postgres", "hybrid")

    @property
    def uses_local_file(self) -> bool:
        return self.cfg.memory_type in ("sqlite", "hybrid")

    def pg_url(self, *, create: bool = True) -> str:
        """The PostgreSQL URL; the embedded server is started when none is set.

        With ``create=False`` (read-only operations) a missing embedded cluster is not created:
        `MemoryNotFoundError` says where it looked.
        """
        if self.database_url is not None:
            return self.database_url
        if self.cfg.database_url is not None:
            return self.cfg.database_url
        if self._embedded is None:
            from langgraph_hybrid_memory._embedded import EmbeddedPostgres

            embedded = EmbeddedPostgres(self.cfg.embedded_pgdata)
            embedded.start(create=create)
            self._embedded = embedded
        return str(self._embedded.url)

    def pg_label(self) -> str:
        """Where PostgreSQL is, with any password hidden."""
        if self.cfg.database_url is None:
            return f"embedded ({self.cfg.embedded_pgdata})"
        return redact_conninfo(self.cfg.database_url)

    @contextmanager
    def pg(
        self, *, connect_timeout: float = 10.0, create: bool = True
    ) -> Iterator[Connection[DictRow]]:
        """An autocommit dict-row connection to the configured PostgreSQL (`create`: see
        `pg_url`)."""
        conn = get_connection(self.pg_url(create=create), connect_timeout=int(connect_timeout))
        try:
            yield conn
        finally:
            conn.close()

    @property
    def sqlite_path(self) -> Path:
        return self.cfg.sqlite_path

    def require_local_file(self) -> None:
        """Raise `MemoryNotFoundError` (saying where it looked) when the local file is missing."""
        if not self.sqlite_path.exists():
            raise MemoryNotFoundError(
                f"no local memory file yet at {self.sqlite_path}: nothing has been stored there "
                "(set MEMORY_DATA_DIR if your memory lives elsewhere)"
            )

    @contextmanager
    def local_read(self) -> Iterator[sqlite3.Connection | None]:
        """A connection to the local file, or None when it does not exist (nothing is created)."""
        path = self.sqlite_path
        if not path.exists():
            yield None
            return
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=5.0)
        try:
            yield conn
        finally:
            conn.close()

    def describe_error(self, exc: BaseException) -> str:
        """``Type: message`` of an error, with any configured password removed (for output)."""
        return safe_error(exc, self)

    def close(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (name,)
    ).fetchone()
    return row is not None


def safe_error(exc: BaseException, ctx: AdminContext) -> str:
    """An error message with the configured password removed."""
    from urllib.parse import urlsplit

    from langgraph_hybrid_memory._outbox import redact

    text = redact(str(exc))
    for url in (ctx.database_url, ctx.config.database_url if ctx.config is not None else None):
        password = urlsplit(url).password if url and "://" in url else None
        if password:
            text = text.replace(password, "***")
    return f"{type(exc).__name__}: {text}"
