"""Where `migrate`, `export` and `import` (and `lghm migrate`, ...) read from and write to.

An endpoint is written as ``KIND:LOCATION``:

* ``sqlite:PATH``: langgraph's ``SqliteSaver`` + ``SqliteStore`` on one SQLite file;
* ``postgres:URL`` or a bare ``postgresql://...`` URL: langgraph's ``PostgresSaver`` +
  ``PostgresStore``;
* ``jsonl:PATH`` or a path ending in ``.jsonl``: a JSON Lines export file;
* ``lghm:`` (or ``lghm:URL``): this package's PostgreSQL tier: `PgVectorStore` (schema ``memory``,
  embedding with the configured model, so items copied in are re-embedded with it) and the
  checkpoint tables in `PostgresSaver`'s format (with ``lghm_checkpoint_tombstones``); without a
  URL, the configured ``DATABASE_URL`` (or the embedded server);
* ``chroma:DIR`` (source only, ``pip install 'langgraph-hybrid-memory[chroma]'``): every
  collection of a ChromaDB persistent directory (``chroma:DIR#NAME`` for one collection); see
  `chroma_item` for how records become memories;
* ``local:PATH``: this package's local tier: `LocalStore` and `HybridSaver` on the SQLite file
  (checkpoints of the selected namespaces are then flushed to the configured PostgreSQL, as in
  production).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from langgraph_hybrid_memory._config import redact_conninfo
from langgraph_hybrid_memory.admin._context import AdminContext
from langgraph_hybrid_memory.errors import ConfigError, MissingExtraError

__all__ = ["Backends", "Endpoint", "open_backends", "parse_endpoint"]

EndpointKind = Literal["sqlite", "postgres", "jsonl", "lghm", "local", "chroma"]
_KINDS = ("sqlite", "postgres", "jsonl", "lghm", "local", "chroma")


@dataclass(frozen=True)
class Endpoint:
    kind: EndpointKind
    location: str

    def describe(self) -> str:
        """Human-readable, with any password hidden."""
        if self.kind == "lghm" and not self.location:
            return "lghm:(configured)"
        where = (
            redact_conninfo(self.location) if self.kind in ("postgres", "lghm") else self.location
        )
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
        >>> parse_endpoint("lghm:")
        Endpoint(kind='lghm', location='')
    """
    spec = spec.strip()
    if spec in ("lghm", "lghm:"):
        return Endpoint("lghm", "")
    if spec.startswith(("postgresql://", "postgres://")):
        return Endpoint("postgres", spec)
    kind, sep, location = spec.partition(":")
    if sep and kind in _KINDS and location:
        return Endpoint(kind, location)  # type: ignore[arg-type]
    if spec.endswith(".jsonl"):
        return Endpoint("jsonl", spec)
    raise ConfigError(
        f"{option} {spec!r} is not understood; use sqlite:PATH, postgres:URL (or a "
        "postgresql:// URL), jsonl:PATH, lghm: (this package's PostgreSQL) or local:PATH"
    )


@contextmanager
def open_backends(
    endpoint: Endpoint, *, create: bool, cli: AdminContext | None = None
) -> Iterator[Backends]:
    """Open the checkpointer and store behind a database endpoint.

    With ``create=False`` (a source) nothing is created: a missing SQLite file is an error.
    With ``create=True`` (a target) tables are set up.
    """
    cli = cli if cli is not None else AdminContext()
    if endpoint.kind == "lghm":
        with _open_lghm(endpoint.location or cli.pg_url(), cli, create=create) as backends:
            yield backends
    elif endpoint.kind == "chroma":
        if create:
            raise ConfigError("chroma: is a source only; migrate to lghm:, local:, ... instead")
        yield Backends(saver=None, store=_open_chroma(endpoint.location))
    elif endpoint.kind == "local":
        with _open_local(Path(endpoint.location).expanduser(), cli, create=create) as backends:
            yield backends
    elif endpoint.kind == "sqlite":
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


@contextmanager
def _open_lghm(url: str, cli: AdminContext, *, create: bool) -> Iterator[Backends]:
    from langgraph.checkpoint.postgres import PostgresSaver

    from langgraph_hybrid_memory._migrations import run_migrations
    from langgraph_hybrid_memory._pg import get_connection
    from langgraph_hybrid_memory.checkpoint import base as cp
    from langgraph_hybrid_memory.store import PgVectorStore

    if create:
        with get_connection(url) as conn:
            # PostgresSaver's own numbered list plus the tombstones, under our advisory lock;
            # PostgresSaver.setup() afterwards finds nothing to do.
            run_migrations(
                conn, cp.POSTGRES_MIGRATIONS, schema="public", table=cp.POSTGRES_MIGRATIONS_TABLE
            )
            run_migrations(
                conn, cp.HYBRID_MIGRATIONS, schema="public", table=cp.HYBRID_MIGRATIONS_TABLE
            )
    with ExitStack() as stack:
        # A source is only listed, never searched: no model is loaded for it.
        index: Any = None
        if create:
            index = cli.store_index()
            if "embed" in index:
                # Cache the target's embeddings as open_memory() does, so the agent finds them.
                from langgraph_hybrid_memory._embedding_cache import PostgresEmbeddingCache
                from langgraph_hybrid_memory._embeddings import CachedEmbeddings

                conn = stack.enter_context(get_connection(url))
                cache = PostgresEmbeddingCache(conn, schema=cli.schema)
                cache.setup()
                index = {**index, "embed": CachedEmbeddings(index["embed"], cache)}
        saver = stack.enter_context(PostgresSaver.from_conn_string(url))
        store = stack.enter_context(
            PgVectorStore.from_conn_string(url, index=index, schema=cli.schema)
        )
        if create:
            store.setup()
        yield Backends(saver=saver, store=store)


@contextmanager
def _open_local(path: Path, cli: AdminContext, *, create: bool) -> Iterator[Backends]:
    from langgraph_hybrid_memory._sqlite import LocalDB
    from langgraph_hybrid_memory.checkpoint import HybridSaver
    from langgraph_hybrid_memory.localstore import LocalStore

    if not create and not path.exists():
        raise ConfigError(f"source SQLite file {str(path)!r} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    db = LocalDB.open(path)
    try:
        model = cli.model() if create else None
        index: Any = (
            {"fields": ["$"], "search_mode": "keyword"} if model is None else {"embed": model}
        )
        store = LocalStore(db, index=index)
        store.setup()
        # An import copies whole threads as they are (an admin operation, like deletes): no lease.
        saver = HybridSaver(db, cli.pg_url(), hydrate=False, lease=False)
        try:
            if create:
                saver.setup()
            yield Backends(saver=saver, store=store)
        finally:
            saver.close()
            store.close()
    finally:
        db.close()


CHROMA_PAGE = 1000


def chroma_item(
    collection: str, record_id: str, document: str | None, metadata: dict[str, Any] | None
) -> tuple[tuple[str, ...], str, dict[str, Any]]:
    """How a ChromaDB record becomes a memory: (namespace, key, value).

    A record whose metadata has a ``user_id`` goes to ``("users", user_id, collection)`` (where
    the agent recalls it), any other to ``("chroma", collection)``; the key is the record id; the
    value keeps the document as ``text`` and the metadata as ``metadata``. The target embeds the
    text with its own model (Chroma's vectors are not copied). Dots in labels become ``_``
    (namespace labels cannot hold dots).

    Examples:
        >>> chroma_item("notes", "n1", "tea", {"user_id": "u1"})
        (('users', 'u1', 'notes'), 'n1', {'text': 'tea', 'metadata': {'user_id': 'u1'}})
        >>> chroma_item("kb.v2", "d1", "manual", None)
        (('chroma', 'kb_v2'), 'd1', {'text': 'manual', 'metadata': {}})
    """
    meta = dict(metadata or {})
    label = collection.replace(".", "_")
    user = meta.get("user_id")
    if isinstance(user, (str, int)) and str(user) and "." not in str(user):
        namespace: tuple[str, ...] = ("users", str(user), label)
    else:
        namespace = ("chroma", label)
    return namespace, str(record_id), {"text": document, "metadata": meta}


def _open_chroma(location: str) -> BaseStore:
    """Read a ChromaDB directory into an in-memory store (the copy source).

    Read page by page; held in memory for the copy, so meant for collections that fit in RAM.
    """
    try:
        import chromadb
        from chromadb.config import Settings
    except ImportError:
        raise MissingExtraError.for_extra("chroma", "reading ChromaDB (chroma:DIR)") from None
    from langgraph.store.memory import InMemoryStore

    path, _, only = location.partition("#")
    if not Path(path).expanduser().is_dir():
        raise ConfigError(f"ChromaDB directory {path!r} does not exist")
    client = chromadb.PersistentClient(
        path=str(Path(path).expanduser()), settings=Settings(anonymized_telemetry=False)
    )
    names = [getattr(c, "name", c) for c in client.list_collections()]
    if only:
        if only not in names:
            raise ConfigError(f"ChromaDB collection {only!r} not found; there are: {names}")
        names = [only]
    store = InMemoryStore()
    for name in names:
        collection = client.get_collection(str(name))
        offset = 0
        while True:
            page = collection.get(
                limit=CHROMA_PAGE, offset=offset, include=["documents", "metadatas"]
            )
            ids = page["ids"]
            none: list[Any] = [None] * len(ids)
            docs: list[Any] = list(page.get("documents") or none)
            metas: list[Any] = list(page.get("metadatas") or none)
            for rid, doc, meta in zip(ids, docs, metas, strict=True):
                ns, key, value = chroma_item(str(name), rid, doc, dict(meta or {}))
                store.put(ns, key, value, index=False)
            if len(ids) < CHROMA_PAGE:
                break
            offset += CHROMA_PAGE
    return store
