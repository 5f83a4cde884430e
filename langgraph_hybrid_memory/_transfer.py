"""Moving threads and memories between backends, and to and from JSONL.

Works on the public interfaces only (`BaseCheckpointSaver`, `BaseStore`), so any pair of backends
can be source and target: langgraph's SqliteSaver/PostgresSaver/InMemorySaver and stores, and this
package's. The CLI's ``migrate``, ``export`` and ``import`` are thin wrappers over these functions.

Copies are idempotent, so an interrupted run can simply be run again:

* a checkpoint is written with ``put`` (an upsert on thread, namespace and checkpoint id) and its
  pending writes with ``put_writes`` (insert-or-ignore on task id and index) — re-running writes the
  same rows, never duplicates;
* a thread whose newest checkpoint already reads back from the target is skipped;
* store items are upserts by (namespace, key).

Checkpoints are copied oldest first, so each one's parent exists before it, with every channel in
``new_versions`` so savers that keep channel values in separate blobs store them all.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.store.base import BaseStore, Item, PutOp

__all__ = [
    "TransferReport",
    "acopy_items",
    "aiter_items",
    "copy_items",
    "copy_threads",
    "export_jsonl",
    "import_jsonl",
    "iter_items",
    "list_thread_ids",
]

Progress = Callable[[int], None]
"""Called with the number of units (checkpoints or items) just done."""

_PAGE = 500
JSONL_FORMAT_VERSION = 1


@dataclass
class TransferReport:
    """What a copy, export or import did."""

    threads: int = 0
    threads_skipped: int = 0
    checkpoints: int = 0
    writes: int = 0
    items: int = 0
    namespaces: set[tuple[str, ...]] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {
            "threads": self.threads,
            "threads_skipped": self.threads_skipped,
            "checkpoints": self.checkpoints,
            "writes": self.writes,
            "items": self.items,
            "namespaces": len(self.namespaces),
        }


# --- checkpoints ---------------------------------------------------------------------------------


def list_thread_ids(saver: BaseCheckpointSaver[Any]) -> list[str]:
    """Every thread id `saver` holds, sorted."""
    seen: set[str] = set()
    for tup in saver.list(None):
        seen.add(str(tup.config["configurable"]["thread_id"]))
    return sorted(seen)


def _thread_tuples(saver: BaseCheckpointSaver[Any], thread_id: str) -> list[CheckpointTuple]:
    """All checkpoints of a thread (every namespace), oldest first (uuid6 ids sort by time)."""
    tuples = list(saver.list({"configurable": {"thread_id": thread_id}}))
    tuples.sort(key=lambda t: str(t.config["configurable"]["checkpoint_id"]))
    return tuples


def _already_copied(target: BaseCheckpointSaver[Any], newest: CheckpointTuple) -> bool:
    conf = newest.config["configurable"]
    found = target.get_tuple(
        {
            "configurable": {
                "thread_id": conf["thread_id"],
                "checkpoint_ns": conf.get("checkpoint_ns", ""),
                "checkpoint_id": conf["checkpoint_id"],
            }
        }
    )
    return found is not None and len(found.pending_writes or []) == len(newest.pending_writes or [])


def _put_tuple(target: BaseCheckpointSaver[Any], tup: CheckpointTuple) -> int:
    conf = tup.config["configurable"]
    parent_id = None
    if tup.parent_config is not None:
        parent_id = tup.parent_config["configurable"].get("checkpoint_id")
    put_config: RunnableConfig = {
        "configurable": {
            "thread_id": conf["thread_id"],
            "checkpoint_ns": conf.get("checkpoint_ns", ""),
            **({"checkpoint_id": parent_id} if parent_id else {}),
        }
    }
    versions = dict(tup.checkpoint.get("channel_versions", {}))
    saved = target.put(put_config, tup.checkpoint, tup.metadata, versions)
    by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for task_id, channel, value in tup.pending_writes or []:
        by_task[task_id].append((channel, value))
    for task_id, writes in by_task.items():
        target.put_writes(saved, writes, task_id)
    return sum(len(w) for w in by_task.values())


def copy_threads(
    source: BaseCheckpointSaver[Any],
    target: BaseCheckpointSaver[Any],
    *,
    thread_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> TransferReport:
    """Copy threads (all namespaces, history, pending writes) from `source` to `target`.

    Examples:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> src, dst = InMemorySaver(), InMemorySaver()
        >>> copy_threads(src, dst).threads
        0
    """
    report = TransferReport()
    for thread_id in thread_ids if thread_ids is not None else list_thread_ids(source):
        tuples = _thread_tuples(source, thread_id)
        if not tuples:
            continue
        if _already_copied(target, tuples[-1]):
            report.threads_skipped += 1
            if progress:
                progress(len(tuples))
            continue
        for tup in tuples:
            report.writes += _put_tuple(target, tup)
            report.checkpoints += 1
            if progress:
                progress(1)
        report.threads += 1
    return report


# --- store items ---------------------------------------------------------------------------------


def iter_items(store: BaseStore, namespace_prefix: tuple[str, ...] = ()) -> Iterator[Item]:
    """Every item under `namespace_prefix`, each exactly once.

    langgraph's `PostgresStore` and `SqliteStore` are read straight from their tables in key
    order: paging through their ``search()`` is unreliable, because it orders by ``updated_at``
    alone and items written in one batch (or, in SQLite, within one second) share it, so pages
    overlap and skip items (seen when moving 1,207 items). Other stores are listed namespace by
    namespace with one ``search()`` each.
    """
    direct = _direct_item_reader(store)
    if direct is not None:
        for item in direct():
            if tuple(item.namespace)[: len(namespace_prefix)] == namespace_prefix:
                yield item
        return
    offset = 0
    namespaces: list[tuple[str, ...]] = []
    while True:
        page = store.list_namespaces(prefix=namespace_prefix or None, limit=_PAGE, offset=offset)
        namespaces.extend(page)
        if len(page) < _PAGE:
            break
        offset += _PAGE
    for namespace in namespaces:
        # One unpaged listing per namespace (see above); deeper namespaces come in their turn.
        for item in store.search(namespace, limit=_UNLIMITED):
            if tuple(item.namespace) == namespace:
                yield item


_UNLIMITED = 2**31 - 1
_PG_ITEMS_PAGE = (
    "SELECT prefix, key, value, created_at, updated_at FROM store "
    "WHERE (prefix, key) > (%s, %s) ORDER BY prefix, key LIMIT %s"
)
_SQLITE_ITEMS_PAGE = (
    "SELECT prefix, key, value, created_at, updated_at FROM store "
    "WHERE prefix > ? OR (prefix = ? AND key > ?) ORDER BY prefix, key LIMIT ?"
)


def _direct_item_reader(store: BaseStore) -> Callable[[], Iterator[Item]] | None:
    from langgraph.store.postgres import PostgresStore
    from langgraph.store.sqlite import SqliteStore

    if isinstance(store, PostgresStore):
        return lambda: _pg_items(store)
    if isinstance(store, SqliteStore):
        return lambda: _sqlite_items(store)
    return None


def _pg_items(store: Any) -> Iterator[Item]:
    last = ("", "")
    while True:
        with store._cursor() as cur:  # langgraph's own helper: handles pool, pipeline and lock
            cur.execute(_PG_ITEMS_PAGE, (*last, _PAGE))
            rows = cur.fetchall()
        for row in rows:
            yield _item_from_row(row["prefix"], row["key"], row["value"], row)
        if len(rows) < _PAGE:
            return
        last = (rows[-1]["prefix"], rows[-1]["key"])


def _sqlite_items(store: Any) -> Iterator[Item]:
    last = ("", "")
    while True:
        with store.lock:
            rows = store.conn.execute(_SQLITE_ITEMS_PAGE, (last[0], last[0], last[1], _PAGE))
            rows = rows.fetchall()
        for prefix, key, value, created, updated in rows:
            yield _item_from_row(prefix, key, value, {"created_at": created, "updated_at": updated})
        if len(rows) < _PAGE:
            return
        last = (rows[-1][0], rows[-1][1])


def _item_from_row(prefix: str, key: str, value: Any, row: Any) -> Item:
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return Item(
        namespace=tuple(prefix.split(".")),
        key=key,
        value=value,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _is_async_store(store: BaseStore) -> bool:
    """Whether `store`'s sync methods cannot be called from its own event loop (langgraph's
    async stores, `AsyncPgVectorStore`): copy with `acopy_items` then."""
    from langgraph.store.base.batch import AsyncBatchedBaseStore

    from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore

    return isinstance(store, (AsyncBatchedBaseStore, AsyncPgVectorStore))


def _async_bulk_put(store: BaseStore) -> Callable[[Iterable[PutOp]], Awaitable[int]] | None:
    bulk = getattr(store, "bulk_put", None)
    return bulk if bulk is not None and inspect.iscoroutinefunction(bulk) else None


def _counted(
    items: Iterable[Item], report: TransferReport, progress: Progress | None, every: int
) -> Iterator[PutOp]:
    """The items as puts, counted into `report`, `progress` told every `every` items."""
    pending = 0
    for item in items:
        report.items += 1
        report.namespaces.add(tuple(item.namespace))
        yield PutOp(tuple(item.namespace), item.key, dict(item.value))
        pending += 1
        if progress and pending >= every:
            progress(pending)
            pending = 0
    if progress and pending:
        progress(pending)


def _pages(puts: Iterable[PutOp], size: int) -> Iterator[list[PutOp]]:
    page: list[PutOp] = []
    for op in puts:
        page.append(op)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def copy_items(
    source: BaseStore,
    target: BaseStore,
    *,
    namespace_prefix: tuple[str, ...] = (),
    batch_size: int = _PAGE,
    progress: Progress | None = None,
) -> TransferReport:
    """Copy store items under `namespace_prefix` from `source` to `target`.

    The target embeds the values with its own index configuration, so moving to a store with
    another embedding model re-embeds. A target with ``bulk_put`` (``PgVectorStore``) gets every
    item in ONE ``bulk_put`` call, streamed from the source: one load, so a large copy rebuilds
    the vector index once after loading instead of maintaining it row by row. Other targets get
    ``batch`` calls of `batch_size` puts. `progress` is told every `batch_size` items as they
    are read from the source (a ``bulk_put`` then embeds and loads them all).

    Raises:
        TypeError: `source` or `target` is an async store (`AsyncPgVectorStore`, langgraph's
            ``AsyncPostgresStore``...): use ``await acopy_items(...)``.
    """
    for store in (source, target):
        if _is_async_store(store) or _async_bulk_put(store) is not None:
            raise TypeError(
                f"{type(store).__name__} is an async store; copy with "
                "`await acopy_items(source, target, ...)` from async code"
            )
    report = TransferReport()
    puts = _counted(iter_items(source, namespace_prefix), report, progress, batch_size)
    bulk = getattr(target, "bulk_put", None)
    if bulk is not None:
        bulk(puts)
    else:
        for page in _pages(puts, batch_size):
            target.batch(page)
    return report


async def aiter_items(
    store: BaseStore, namespace_prefix: tuple[str, ...] = ()
) -> AsyncIterator[Item]:
    """`iter_items` for async code: an async store is read with ``alist_namespaces`` and one
    unpaged ``asearch`` per namespace; a sync one with `iter_items`."""
    if not _is_async_store(store):
        for item in iter_items(store, namespace_prefix):
            yield item
        return
    namespaces: list[tuple[str, ...]] = []
    offset = 0
    while True:
        page = await store.alist_namespaces(
            prefix=namespace_prefix or None, limit=_PAGE, offset=offset
        )
        namespaces.extend(page)
        if len(page) < _PAGE:
            break
        offset += _PAGE
    for namespace in namespaces:
        for item in await store.asearch(namespace, limit=_UNLIMITED):
            if tuple(item.namespace) == namespace:
                yield item


async def acopy_items(
    source: BaseStore,
    target: BaseStore,
    *,
    namespace_prefix: tuple[str, ...] = (),
    batch_size: int = _PAGE,
    progress: Progress | None = None,
) -> TransferReport:
    """Async `copy_items`: either store may be async (`AsyncPgVectorStore`, langgraph's async
    stores) or sync.

    The source is read first (`progress` told every `batch_size` items), then a target with
    ``bulk_put`` gets every item in one call (awaited if async, in a worker thread if not);
    others get ``abatch`` calls of `batch_size` puts.
    """
    report = TransferReport()
    # Read first (an async source cannot feed a bulk_put's sync iteration), counting as read.
    items = [item async for item in aiter_items(source, namespace_prefix)]
    puts = list(_counted(items, report, progress, batch_size))
    del items
    abulk = _async_bulk_put(target)
    bulk = getattr(target, "bulk_put", None)
    if abulk is not None:
        await abulk(puts)
    elif bulk is not None:
        # A sync store's bulk load off the event loop.
        await asyncio.to_thread(bulk, puts)
    else:
        for page in _pages(puts, batch_size):
            await target.abatch(page)
    return report


# --- JSONL ---------------------------------------------------------------------------------------

_SERDE = JsonPlusSerializer()


def _typed_to_json(value: Any) -> list[str]:
    type_, data = _SERDE.dumps_typed(value)
    return [type_, base64.b64encode(data).decode("ascii")]


def _typed_from_json(pair: Sequence[str]) -> Any:
    return _SERDE.loads_typed((pair[0], base64.b64decode(pair[1])))


def _checkpoint_record(tup: CheckpointTuple) -> dict[str, Any]:
    conf = tup.config["configurable"]
    parent = tup.parent_config["configurable"].get("checkpoint_id") if tup.parent_config else None
    return {
        "kind": "checkpoint",
        "thread_id": conf["thread_id"],
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf["checkpoint_id"],
        "parent_checkpoint_id": parent,
        "checkpoint": _typed_to_json(tup.checkpoint),
        "metadata": _typed_to_json(tup.metadata),
        "writes": [[t, c, _typed_to_json(v)] for t, c, v in tup.pending_writes or []],
    }


def _item_record(item: Item) -> dict[str, Any]:
    return {
        "kind": "item",
        "namespace": list(item.namespace),
        "key": item.key,
        "value": item.value,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }


def export_jsonl(
    out: IO[str] | str | Path,
    *,
    saver: BaseCheckpointSaver[Any] | None = None,
    store: BaseStore | None = None,
    namespace_prefix: tuple[str, ...] = (),
    thread_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> TransferReport:
    """Write threads (full history) and store items to JSON Lines, one record per line.

    The first line is a header ``{"kind": "header", "format": 1}``. Checkpoint values are kept
    with langgraph's typed serializer (base64), so every value langgraph can checkpoint survives.
    """
    if isinstance(out, (str, Path)):
        with open(out, "w", encoding="utf-8") as fh:
            return export_jsonl(
                fh,
                saver=saver,
                store=store,
                namespace_prefix=namespace_prefix,
                thread_ids=thread_ids,
                progress=progress,
            )
    report = TransferReport()
    out.write(json.dumps({"kind": "header", "format": JSONL_FORMAT_VERSION}) + "\n")
    if saver is not None:
        for thread_id in thread_ids if thread_ids is not None else list_thread_ids(saver):
            tuples = _thread_tuples(saver, thread_id)
            for tup in tuples:
                out.write(json.dumps(_checkpoint_record(tup)) + "\n")
                report.checkpoints += 1
                report.writes += len(tup.pending_writes or [])
                if progress:
                    progress(1)
            report.threads += bool(tuples)
    if store is not None:
        for item in iter_items(store, namespace_prefix):
            out.write(json.dumps(_item_record(item), ensure_ascii=False) + "\n")
            report.items += 1
            report.namespaces.add(tuple(item.namespace))
            if progress:
                progress(1)
    return report


def _read_records(source: IO[str]) -> Iterator[dict[str, Any]]:
    for lineno, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {lineno}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "kind" not in record:
            raise ValueError(f"line {lineno}: expected an object with a 'kind'")
        if record["kind"] == "header" and record.get("format") != JSONL_FORMAT_VERSION:
            raise ValueError(
                f"line {lineno}: export format {record.get('format')!r} is not supported "
                f"(this version reads format {JSONL_FORMAT_VERSION})"
            )
        yield record


def _tuple_from_record(record: dict[str, Any]) -> CheckpointTuple:
    conf = {
        "thread_id": record["thread_id"],
        "checkpoint_ns": record["checkpoint_ns"],
        "checkpoint_id": record["checkpoint_id"],
    }
    parent = record.get("parent_checkpoint_id")
    return CheckpointTuple(
        config={"configurable": conf},
        checkpoint=_typed_from_json(record["checkpoint"]),
        metadata=_typed_from_json(record["metadata"]),
        parent_config=(
            {"configurable": {**conf, "checkpoint_id": parent}} if parent is not None else None
        ),
        pending_writes=[(t, c, _typed_from_json(v)) for t, c, v in record["writes"]],
    )


def import_jsonl(
    source: IO[str] | str | Path,
    *,
    saver: BaseCheckpointSaver[Any] | None = None,
    store: BaseStore | None = None,
    batch_size: int = _PAGE,
    progress: Progress | None = None,
) -> TransferReport:
    """Load a file written by `export_jsonl` into `saver` and/or `store` (idempotent).

    Items go to a store with ``bulk_put`` in one call after the file is read (one load, one
    index rebuild), to others in ``batch`` calls of `batch_size`.

    Raises:
        ValueError: a malformed line (its number is in the message). Records before it are kept.
        TypeError: `store` is an async store.
    """
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8") as fh:
            return import_jsonl(
                fh, saver=saver, store=store, batch_size=batch_size, progress=progress
            )
    if store is not None and (_is_async_store(store) or _async_bulk_put(store) is not None):
        raise TypeError(
            f"{type(store).__name__} is an async store; import into a sync store (e.g. "
            "PgVectorStore) or read the file and call `await store.bulk_put(...)`"
        )
    report = TransferReport()
    threads: set[str] = set()
    batch: list[PutOp] = []
    bulk = getattr(store, "bulk_put", None) if store is not None else None

    def send() -> None:
        assert store is not None
        if bulk is not None:
            bulk(batch)
        else:
            store.batch(batch)
        batch.clear()

    try:
        for record in _read_records(source):
            kind = record["kind"]
            if kind == "checkpoint" and saver is not None:
                report.writes += _put_tuple(saver, _tuple_from_record(record))
                report.checkpoints += 1
                threads.add(record["thread_id"])
            elif kind == "item" and store is not None:
                namespace = tuple(record["namespace"])
                batch.append(PutOp(namespace, record["key"], record["value"]))
                report.items += 1
                report.namespaces.add(namespace)
                # A bulk_put target loads everything at once (one index rebuild after a large
                # load); others take batches.
                if bulk is None and len(batch) >= batch_size:
                    send()
            else:
                continue
            if progress:
                progress(1)
    except ValueError:
        # A malformed line: the records before it are kept, as documented.
        if batch:
            send()
        raise
    if batch:
        send()
    report.threads = len(threads)
    return report
