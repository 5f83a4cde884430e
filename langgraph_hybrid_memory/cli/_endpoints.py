"""Where `lghm migrate`, `export` and `import` read from and write to.

An endpoint is written as ``KIND:LOCATION``:

* ``sqlite:PATH``: langgraph's ``SqliteSaver`` + ``SqliteStore`` on one SQLite file;
* ``postgres:URL`` or a bare ``postgresql://...`` URL: langgraph's ``PostgresSaver`` +
  ``PostgresStore``;
* ``jsonl:PATH`` or a path ending in ``.jsonl``: a JSON Lines export file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from langgraph_hybrid_memory._config import redact_conninfo
from langgraph_hybrid_memory.errors import ConfigError

__all__ = ["Backends", "Endpoint", "open_backends", "parse_endpoint"]

EndpointKind = Literal["sqlite", "postgres", "jsonl"]
_KINDS = ("sqlite", "postgres", "jsonl")


@dataclass(frozen=True)
class Endpoint:
    kind: EndpointKind
    location: str

    def describe(self) -> str:
        """Human-readable, with any password hidden."""
        where = redact_conninfo(self.location) if self.kind == "postgres" else self.location
        return f"{self.kind}:{where}"


@dataclass
class Backends:
    saver: BaseCheckpointSaver[Any] | None
    store: BaseStore | None


def parse_endpoint(spec: str, *, option: str = "endpoint") -> Endpoint:
    """Parse ``KIND:LOCATION`` (see the module docstring).

    Examples:
        >>> parse_endpoint("sqlite:./agent.db")
        Endpoint(kind='sqlite', location='./agent.db')
        >>> parse_endpoint("postgresql://u@db/app").kind
        'postgres'
        >>> parse_endpoint("export.jsonl")
        Endpoint(kind='jsonl', location='export.jsonl')
    """
    spec = spec.strip()
    if spec.startswith(("postgresql://", "postgres://")):
        return Endpoint("postgres", spec)
    kind, sep, location = spec.partition(":")
    if sep and kind in _KINDS and location:
        return Endpoint(kind, location)  # type: ignore[arg-type]
    if spec.endswith(".jsonl"):
        return Endpoint("jsonl", spec)
    raise ConfigError(
        f"{option} {spec!r} is not understood; use sqlite:PATH, postgres:URL (or a "
        "postgresql:// URL) or jsonl:PATH"
    )


@contextmanager
def open_backends(endpoint: Endpoint, *, create: bool) -> Iterator[Backends]:
    """Open the checkpointer and store behind a database endpoint.

    With ``create=False`` (a source) nothing is created: a missing SQLite file is an error.
    With ``create=True`` (a target) tables are set up.
    """
    if endpoint.kind == "sqlite":
        path = Path(endpoint.location).expanduser()
        if not create and not path.exists():
            raise ConfigError(f"source SQLite file {str(path)!r} does not exist")
        from langgraph.checkpoint.sqlite import SqliteSaver
        from langgraph.store.sqlite import SqliteStore

        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        try:
            saver = SqliteSaver(conn)
            store = SqliteStore(conn)
            if create:
                saver.setup()
                store.setup()
            yield Backends(saver=saver, store=store)
        finally:
            conn.close()
    elif endpoint.kind == "postgres":
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.store.postgres import PostgresStore

        with (
            PostgresSaver.from_conn_string(endpoint.location) as pg_saver,
            PostgresStore.from_conn_string(endpoint.location) as pg_store,
        ):
            if create:
                pg_saver.setup()
                pg_store.setup()
            yield Backends(saver=pg_saver, store=pg_store)
    else:
        raise ConfigError(f"{endpoint.describe()} is a file, not a database")
