"""The store's advisory locks: one global order for every statement that writes items.

Two levels, always taken in this order within a transaction, each after the statement's table
locks (a write statement holds ROW EXCLUSIVE on items, then vectors, from its start; `bulk_put`'s
index rebuild and `forget` take their table locks explicitly, in that order, before the store
lock, so a table lock is never waited for while holding the store lock):

1. **The store lock** (`STORE_LOCK_CLASS`, one per schema): every batch write holds it
   *shared*; `bulk_put` and `forget` hold it *exclusive*. They write rows by the thousand, and
   one advisory lock per row would not fit PostgreSQL's lock table (64 per connection by
   default: a 20,000-item load would fail with "out of shared memory").
2. **The key locks** (`KEY_LOCK_CLASS`): a batch write then locks each written key, in
   ascending order of the key's hash, before it touches a row.

A statement holding the store lock exclusive waits for no key lock and no writer holds one
meanwhile (a writer takes the shared store lock first), so bulk loads, erasures and batch
writes never wait on each other in a cycle. The price: while a bulk load or an erasure runs,
writes to that store's schema wait for it (reads never do).
"""

from __future__ import annotations

import zlib

__all__ = [
    "KEY_LOCK_CLASS",
    "LOCK_STORE_EXCLUSIVE",
    "STORE_LOCK_CLASS",
    "store_lock_params",
]

# Class ids of the two-int advisory lock space, apart from the migrations' bigint locks:
# "lghm" in ASCII, and the next one.
KEY_LOCK_CLASS = 0x6C67686D
STORE_LOCK_CLASS = KEY_LOCK_CLASS + 1

# Taken first in a `bulk_put` or `forget` transaction (the lock lasts until it ends).
LOCK_STORE_EXCLUSIVE = "SELECT pg_advisory_xact_lock(%s::int4, %s::int4)"


def store_lock_params(schema: str) -> tuple[int, int]:
    """``(class, id)`` of the store lock of `schema` (a stable 32-bit hash of its name).

    Examples:
        >>> store_lock_params("memory") == store_lock_params("memory")
        True
        >>> store_lock_params("memory") != store_lock_params("other")
        True
    """
    h = zlib.crc32(schema.encode("utf-8"))
    return STORE_LOCK_CLASS, h - (1 << 32) if h >= 1 << 31 else h
