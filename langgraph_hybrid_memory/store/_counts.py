"""Which filters a store lately found unselective (no SQL, no I/O).

A search with a filter counts, bounded by the exact cutoff, how many items contain the filter's
containment before it picks a plan (`base._filter_first_tx`). For an unselective filter that
count reads cutoff + 1 rows on every search only to learn again that the HNSW index is the way
in; remembering the verdict for a while skips it. A stale verdict costs recall, never
correctness: if the filter has become selective meanwhile, the index answers (its iterative
scan, with the exact fallback when it comes back short) until the entry expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RecentlyUnselective:
    """A bounded, expiring set of filter keys (least recently seen dropped first), safe to
    share between threads.

    Examples:
        >>> now = [0.0]
        >>> seen = RecentlyUnselective(size=2, seconds=60, clock=lambda: now[0])
        >>> seen.remember('{"kind": "note"}')
        >>> seen.known('{"kind": "note"}'), seen.known('{"tag": "rare"}')
        (True, False)
        >>> now[0] = 61.0
        >>> seen.known('{"kind": "note"}')
        False
    """

    def __init__(
        self, *, size: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._size = size
        self._seconds = seconds
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, key: str) -> bool:
        """Whether `key` was remembered less than `seconds` ago."""
        with self._lock:
            at = self._seen.get(key)
            if at is None:
                return False
            if self._clock() - at >= self._seconds:
                del self._seen[key]
                return False
            self._seen.move_to_end(key)
            return True

    def remember(self, key: str) -> None:
        """Record `key` as seen unselective now."""
        with self._lock:
            self._seen[key] = self._clock()
            self._seen.move_to_end(key)
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (after a bulk load changed the table)."""
        with self._lock:
            self._seen.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
