"""Concurrent single-op calls on one event loop merged into batches (async stores).

`asyncio.gather` of thousands of ``aget``/``aput``/``asearch`` calls used to start one batch per
call, each waiting for a pooled connection: 60,000 gets ended in `PoolTimeout` after 30 s.
langgraph's `AsyncBatchedBaseStore` queues the ops of one loop tick and runs them as one batch;
`Coalescer` does the same with two changes:

* **Bounded back-pressure.** At most `slots` batches run at once (the pool's size), so no call
  ever waits in the pool's queue; while every slot is busy the queue grows and the next batch
  takes more of it (up to `max_ops`, at most `max_searches` searches, each of which is its own
  statement), so a burst costs few round trips instead of many pool waits.
* **Isolated failures.** A batch that fails for a reason other than the connection (one caller's
  bad value, say) runs again op by op, so only the bad caller gets the error. A failed batch
  wrote nothing (a batch's writes are one atomic statement or one local transaction).

Each caller's result is its own; a caller's ops keep their order, because a caller awaits each
call before its next (ops it issues concurrently are concurrent, as in any store).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from langgraph.store.base import GetOp, ListNamespacesOp, Op, Result, SearchOp

__all__ = ["Coalescer", "batch_slots"]

RunBatch = Callable[[Sequence[Op]], Awaitable[list[Result]]]


class Coalescer:
    """Queue single ops and run them in batches through `run_batch`, `slots` at a time.

    Bound to the event loop it is first used on (`submit` must be called on that loop).

    Examples:
        >>> import asyncio
        >>> from langgraph.store.base import GetOp
        >>> async def run(ops):
        ...     return [f"{op.key}!" for op in ops]
        >>> async def main():
        ...     c = Coalescer(run, slots=1)
        ...     return await asyncio.gather(*(c.submit(GetOp(("n",), k)) for k in "abc"))
        >>> asyncio.run(main())
        ['a!', 'b!', 'c!']
    """

    def __init__(
        self, run_batch: RunBatch, *, slots: int, max_ops: int = 1000, max_searches: int = 128
    ) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self._run_batch = run_batch
        self.slots = slots
        self.max_ops = max_ops
        self.max_searches = max_searches
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[asyncio.Future[Result], Op]] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        # Counters for status and benchmarks.
        self.batches = 0
        self.ops = 0

    def _bind(self) -> tuple[asyncio.Queue[tuple[asyncio.Future[Result], Op]], asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._queue is None or self._slots is None:
            # First use, or the previous loop is gone (e.g. one asyncio.run per test).
            self._loop = loop
            self._queue = asyncio.Queue()
            self._slots = asyncio.Semaphore(self.slots)
            self._drainer = None
            self._running = set()
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain(self._queue, self._slots))
        return self._queue, self._slots

    def slot(self) -> asyncio.Semaphore:
        """The semaphore bounding batches on this loop (direct multi-op batches share it)."""
        return self._bind()[1]

    async def submit(self, op: Op) -> Result:
        """Queue `op`; its result (or its exception) once its batch ran."""
        queue, _ = self._bind()
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        queue.put_nowait((fut, op))
        return await fut

    async def _drain(
        self,
        queue: asyncio.Queue[tuple[asyncio.Future[Result], Op]],
        slots: asyncio.Semaphore,
    ) -> None:
        while True:
            first = await queue.get()
            # Waiting for a slot lets the queue fill: the busier the pool, the bigger the batch.
            await slots.acquire()
            items = [first]
            # Distinct searches count (each is a statement); repeats of one ride along free.
            searches = {_read_key(first[1])} if isinstance(first[1], SearchOp) else set()
            while len(items) < self.max_ops and not queue.empty():
                fut, op = queue.get_nowait()
                items.append((fut, op))
                if isinstance(op, SearchOp):
                    searches.add(_read_key(op) or id(op))
                    if len(searches) >= self.max_searches:
                        break
            live = [(f, o) for f, o in items if not f.done()]  # cancelled callers drop out
            if not live:
                slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._run(live, slots))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(
        self, items: list[tuple[asyncio.Future[Result], Op]], slots: asyncio.Semaphore
    ) -> None:
        try:
            self.batches += 1
            self.ops += len(items)
            unique, where = _dedupe([op for _, op in items])
            try:
                ran = await self._run_batch(unique)
                results = [ran[i] for i in where]
            except asyncio.CancelledError as exc:
                for fut, _ in items:  # the store is closing: no caller waits forever
                    _settle(fut, exc=exc)
                raise
            except Exception as exc:
                if len(items) == 1 or isinstance(exc, psycopg.OperationalError):
                    for fut, _ in items:
                        _settle(fut, exc=exc)
                    return
                # Someone's op is bad: find out whose, one op at a time.
                for fut, op in items:
                    try:
                        _settle(fut, result=(await self._run_batch([op]))[0])
                    except Exception as one:
                        _settle(fut, exc=one)
                return
            for (fut, _), result in zip(items, results, strict=True):
                _settle(fut, result=result)
        finally:
            slots.release()


def _settle(
    fut: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    if fut.done():  # the caller was cancelled meanwhile
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)


def batch_slots(*targets: Any) -> int:
    """How many batches may run at once on these connections: the smallest pool's
    ``max_size`` (a single connection runs one statement at a time: 1)."""
    sizes = [int(getattr(t, "max_size", 1)) for t in targets if t is not None]
    return max(1, min(sizes)) if sizes else 1


def _read_key(op: Op) -> Any:
    """A hashable identity of a read op (``None`` for writes and unkeyable reads)."""
    try:
        if isinstance(op, GetOp):
            return ("g", tuple(op.namespace), op.key, op.refresh_ttl)
        if isinstance(op, SearchOp):
            flt = json.dumps(op.filter, sort_keys=True, default=repr)
            return (
                "s",
                tuple(op.namespace_prefix),
                flt,
                op.limit,
                op.offset,
                op.query,
                op.refresh_ttl,
            )
        if isinstance(op, ListNamespacesOp):
            return ("l", repr(op))
    except (TypeError, ValueError):
        return None
    return None


def _dedupe(ops: Sequence[Op]) -> tuple[list[Op], list[int]]:
    """Identical reads of one batch run once (they see the same state); every write stays
    (the batch keeps the last put per key). Returns the ops to run and, per input op, the
    index of its result."""
    unique: list[Op] = []
    where: list[int] = []
    seen: dict[Any, int] = {}
    for op in ops:
        key = _read_key(op)
        if key is not None and key in seen:
            where.append(seen[key])
            continue
        if key is not None:
            seen[key] = len(unique)
        where.append(len(unique))
        unique.append(op)
    return unique, where
