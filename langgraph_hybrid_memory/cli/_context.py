"""What every `lghm` command shares: the configuration, PostgreSQL, the local file, output.

The configuration is `MemoryConfig.from_env()`, the same environment `open_memory()` reads.
A program embedding the CLI (or a test) may pass a `CliContext` as click's ``obj`` to supply an
embedding model object instead of the ``MEMORY_EMBEDDINGS`` spec.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from langchain_core.embeddings import Embeddings
from psycopg import Connection
from psycopg.rows import DictRow
from rich.console import Console
from rich.table import Table

from langgraph_hybrid_memory._config import MemoryConfig, redact_conninfo
from langgraph_hybrid_memory._embeddings import embedding_dims, model_name_of, resolve_embeddings
from langgraph_hybrid_memory._pg import get_connection
from langgraph_hybrid_memory.errors import ConfigError, MemoryNotFoundError
from langgraph_hybrid_memory.store._schema import DEFAULT_SCHEMA

__all__ = ["CliContext", "get_context"]

err_console = Console(stderr=True)


@dataclass
class CliContext:
    """Settings of one CLI run.

    Attributes:
        config: the memory settings; `MemoryConfig.from_env()` when None.
        embeddings: a model object to use instead of ``config.embeddings_spec()``.
        schema: PostgreSQL schema of the store tables.
    """

    config: MemoryConfig | None = None
    embeddings: Embeddings | None = None
    schema: str = DEFAULT_SCHEMA
    _resolved: bool = field(default=False, repr=False)
    _model: Embeddings | None = field(default=None, repr=False)
    _embedded: Any = field(default=None, repr=False)

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
        """The configured PostgreSQL URL; the embedded server is started when none is set.

        With ``create=False`` (read-only commands) a missing embedded cluster is not created:
        `MemoryNotFoundError` says where it looked.
        """
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

    def close(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None


def get_context(ctx: typer.Context) -> CliContext:
    """The `CliContext` passed as ``obj`` (a fresh one from the environment otherwise)."""
    if not isinstance(ctx.obj, CliContext):
        ctx.obj = CliContext()
        ctx.call_on_close(ctx.obj.close)
    return ctx.obj


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error (never a secret: callers pass redacted text) and return the exit."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=code)


def nothing_yet(exc: MemoryNotFoundError, empty: Any, as_json: bool, code: int = 0) -> typer.Exit:
    """A read-only command found no memory: say so and where it looked; nothing was created."""
    err_console.print(f"no memory yet: {exc}", markup=False, highlight=False, soft_wrap=True)
    if as_json:
        print_json(empty)
    return typer.Exit(code=code)


def config_or_fail(cli: CliContext) -> MemoryConfig:
    try:
        return cli.cfg
    except ConfigError as exc:
        raise fail(str(exc)) from None


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, sort_keys=True, default=str))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    table = Table(title=title)
    for i, col in enumerate(columns):
        table.add_column(col, justify="right" if _numeric(rows, i) else "left")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(width=120).print(table)


def _numeric(rows: list[list[Any]], i: int) -> bool:
    return bool(rows) and all(isinstance(r[i], (int, float)) for r in rows if r[i] is not None)


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (name,)
    ).fetchone()
    return row is not None
