"""Concurrent single-op calls on one event loop merged into batches (async stores).

`asyncio.gather` of thousands of ``aget``/``aput``/``asearch`` calls used to start one batch per
call, each waiting for a pooled connection: 60,000 gets ended in `PoolTimeout` after 30 s.
langgraph's `AsyncBatchedBaseStore` queues the ops of one loop tick and runs them as one batch;
`Coalescer` does the same with two changes:

* **Bounded back-pressure.** At most `slots` batches run at once (the pool's size), so no call
  ever waits in the pool's queue; while every slot is busy the queue grows and the next batch
  takes more of it (up to `max_ops` distinct ops, at most `max_searches` distinct searches;
  identical reads are one op however many callers ask), so a burst costs few round trips
  instead of many pool waits.
* **Isolated failures.** A batch that fails for a reason other than the connection (one caller's
  bad value, say) runs again op by op, so only the bad caller gets the error. A failed batch
  wrote nothing (a batch's writes are one atomic statement or one local transaction).

Each caller's result is its own; a caller's ops keep their order, because a caller awaits each
call before its next (ops it issues concurrently are concurrent, as in any store).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import psycopg
from langgraph.store.base import GetOp, ListNamespacesOp, Op, PutOp, Result, SearchOp

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
        # A deque, not an `asyncio.Queue`: the drainer looks at the next op before taking it
        # (a batch that is full leaves it for the next one), and a burst of 10,000 calls costs
        # one append each instead of a queue's bookkeeping.
        self._pending: deque[tuple[asyncio.Future[Result], Op]] = deque()
        self._wake: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        # Counters for status and benchmarks: batches run, and the calls they answered.
        self.batches = 0
        self.ops = 0

    def _bind(self) -> tuple[asyncio.Event, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._wake is None or self._slots is None:
            # First use, or the previous loop is gone (e.g. one asyncio.run per test).
            self._loop = loop
            self._pending = deque()
            self._wake = asyncio.Event()
            self._slots = asyncio.Semaphore(self.slots)
            self._drainer = None
            self._running = set()
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain(self._pending, self._wake, self._slots))
        return self._wake, self._slots

    def slot(self) -> asyncio.Semaphore:
        """The semaphore bounding batches on this loop (direct multi-op batches share it)."""
        return self._bind()[1]

    async def submit(self, op: Op) -> Result:
        """Queue `op`; its result (or its exception) once its batch ran."""
        return await self.enqueue(op)

    def enqueue(self, op: Op) -> asyncio.Future[Result]:
        """Queue `op` and return the future of its result (must be awaited on this loop).

        A plain function, not a coroutine: the stores' ``aget``/``asearch`` await the future
        directly, one coroutine frame per call instead of three (a 10,000-call burst spent
        more time resuming frames than in PostgreSQL)."""
        wake, _ = self._bind()
        fut: asyncio.Future[Result] = cast(asyncio.AbstractEventLoop, self._loop).create_future()
        self._pending.append((fut, op))
        if not wake.is_set():
            wake.set()
        return fut

    async def _drain(
        self,
        pending: deque[tuple[asyncio.Future[Result], Op]],
        wake: asyncio.Event,
        slots: asyncio.Semaphore,
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not pending:
                wake.clear()
                await wake.wait()
            # Waiting for a slot lets the queue fill: the busier the pool, the bigger the batch.
            await slots.acquire()
            unique, callers = self._take(pending)
            if not unique:  # every caller queued so far was cancelled
                slots.release()
                continue
            task = loop.create_task(self._run(unique, callers, slots))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _take(
        self, pending: deque[tuple[asyncio.Future[Result], Op]]
    ) -> tuple[list[Op], list[tuple[asyncio.Future[Result], int]]]:
        """The next batch from the queue: distinct ops (at most `max_ops`, at most
        `max_searches` searches), and the callers in the order they came, each with the
        index of the op whose result it waits for.

        Identical reads are one op however many callers ask (they see the same state), so a
        burst of repeated reads is one batch (langgraph's `AsyncBatchedBaseStore` dedupes
        the same way): the 10k burst of ``bench_concurrency`` went from 10 batches of
        1,000 calls (one per 1,000 queued, duplicates counted) to one. Every write stays (the
        batch keeps the last put per key).

        The callers stay in arrival order, not grouped by op: they are settled, and their
        tasks resume, in that order, which walks the burst's tasks in the order they were
        created. Grouped by op (callers 1, 171, 341, ... of the benchmark's 170 distinct
        ops first) the 10,000 and 20,000-call bursts were 5 to 14% slower, with the same
        work: the strided walk over tens of thousands of task objects misses the CPU cache.
        """
        unique: list[Op] = []
        callers: list[tuple[asyncio.Future[Result], int]] = []
        seen: dict[Any, int] = {}
        searches = 0
        while pending and len(unique) < self.max_ops:
            fut, op = pending[0]
            if fut.done():  # cancelled callers drop out
                pending.popleft()
                continue
            key = _read_key(op)
            if key is not None:
                at = seen.get(key)
                if at is not None:
                    callers.append((fut, at))
                    pending.popleft()
                    continue
            if isinstance(op, SearchOp):
                # Distinct searches count (each is its own statement or a branch of one).
                if searches >= self.max_searches:
                    break
                searches += 1
            pending.popleft()
            if key is not None:
                seen[key] = len(unique)
            callers.append((fut, len(unique)))
            unique.append(op)
        return unique, callers

    async def _run(
        self,
        unique: list[Op],
        callers: list[tuple[asyncio.Future[Result], int]],
        slots: asyncio.Semaphore,
    ) -> None:
        try:
            self.batches += 1
            self.ops += len(callers)
            try:
                results = await self._run_batch(unique)
            except asyncio.CancelledError as exc:
                for fut, _ in callers:  # the store is closing: no caller waits forever
                    _settle(fut, exc=exc)
                raise
            except Exception as exc:
                if len(unique) == 1 or isinstance(exc, psycopg.OperationalError):
                    for fut, _ in callers:
                        _settle(fut, exc=exc)
                    return
                # Someone's op is bad: find out whose, one op at a time.
                outcomes: list[tuple[Result, BaseException | None]] = []
                for op in unique:
                    try:
                        outcomes.append(((await self._run_batch([op]))[0], None))
                    except Exception as err:
                        outcomes.append((None, err))
                for fut, at in callers:
                    one, failure = outcomes[at]
                    _settle(fut, result=one, exc=failure)
                return
            if len(results) != len(unique):  # a broken `run_batch`: no caller waits forever
                bad = RuntimeError(f"a batch of {len(unique)} ops gave {len(results)} results")
                for fut, _ in callers:
                    _settle(fut, exc=bad)
                return
            for fut, at in callers:  # arrival order (see `_take`)
                if not fut.done():  # the caller was cancelled meanwhile
                    fut.set_result(results[at])
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
    """A hashable identity of a read op (``None`` for writes and unkeyable reads).

    The op itself when it hashes (langgraph's ops are named tuples; a search without a filter
    hashes), else a key with the filter as sorted JSON."""
    if isinstance(op, PutOp):
        return None
    key = (op.__class__, op)
    try:
        hash(key)
        return key
    except TypeError:
        pass
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
