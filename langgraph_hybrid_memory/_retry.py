"""Bounded retry of statements that lost to a concurrent transaction.

Our multi-row statements lock rows in one global order (`store._locks`), so two of them never
deadlock each other; a deadlock or serialization failure can still come from someone else's
transaction (a hand-written script, langgraph's own store on the same tables). PostgreSQL rolled
the losing statement back whole, and our statements are idempotent, so running it again is safe.
After `MAX_ATTEMPTS` the caller gets our `WriteConflictError` with the cause.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from psycopg import errors as pg_errors

from langgraph_hybrid_memory.errors import WriteConflictError

__all__ = ["MAX_ATTEMPTS", "RETRYABLE", "aretry_conflicts", "retry_conflicts"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE: tuple[type[BaseException], ...] = (
    pg_errors.DeadlockDetected,
    pg_errors.SerializationFailure,
)
MAX_ATTEMPTS = 6


def _pause(attempt: int) -> float:
    # Jittered exponential backoff (10 ms, 20 ms, ... at most ~0.3 s): the losers of one
    # conflict do not collide again in lockstep.
    return random.uniform(0.5, 1.0) * min(0.01 * 2.0**attempt, 0.3)


def _give_up(exc: BaseException, what: str) -> WriteConflictError:
    err = WriteConflictError(
        f"{what} lost to concurrent transactions {MAX_ATTEMPTS} times "
        f"({type(exc).__name__}); nothing of it was written. Another program is locking the "
        "same rows in another order: retry later, or make it lock rows in primary-key order"
    )
    err.__cause__ = exc
    return err


def retry_conflicts(run: Callable[[], T], what: str = "the statement") -> T:
    """`run()`, run again after a deadlock or serialization failure, at most `MAX_ATTEMPTS`."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return run()
        except RETRYABLE as exc:
            if attempt == MAX_ATTEMPTS:
                raise _give_up(exc, what) from exc
            logger.debug("%s: %s, retry %d", what, type(exc).__name__, attempt)
            time.sleep(_pause(attempt))
    raise AssertionError("unreachable")


async def aretry_conflicts(run: Callable[[], Awaitable[T]], what: str = "the statement") -> T:
    """Async `retry_conflicts`."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await run()
        except RETRYABLE as exc:
            if attempt == MAX_ATTEMPTS:
                raise _give_up(exc, what) from exc
            logger.debug("%s: %s, retry %d", what, type(exc).__name__, attempt)
            await asyncio.sleep(_pause(attempt))
    raise AssertionError("unreachable")
