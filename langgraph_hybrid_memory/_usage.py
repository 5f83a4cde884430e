"""Access tracking and query analytics, batched: what `get`/`search` hit and how searches went.

Both are opt-in index settings, read by `resolve_usage`:

* ``index["track_access"] = True`` (or ``{"flush_every": 200, "flush_seconds": 5.0}``): every
  item a ``get`` or ``search`` returns counts one access. Hits are summed in memory and written
  as ONE upsert when ``flush_every`` hits are pending or ``flush_seconds`` have passed, at the
  end of the next store call (or by ``flush_usage()``): no extra round trip per call. The
  counts live in their own table (``item_access`` / ``lghm_item_access``), not in the item
  rows: an access upsert never takes a lock on an item, so it can never block a writer (or be
  blocked by one), and two flushers lock rows in key order (no deadlock). Hits still pending when
  a process dies are lost (they are statistics, not data).
* ``index["query_log"] = {"enabled": True, "store_text": False, "retention_days": 30}``: each
  search appends (scope, namespace prefix, query text only if ``store_text``, result count,
  latency in ms, mode) to ``query_log`` / ``lghm_query_log``, flushed the same way; rows older
  than ``retention_days`` are deleted at each flush.

`query_stats` reads the log back (p50/p95 latency, slowest and zero-result queries per user),
`access_stats` the access counts; ``lghm stats --queries`` renders both.

Examples:
    >>> resolve_usage({"track_access": True}).track_access
    True
    >>> resolve_usage({"query_log": {"enabled": True, "retention_days": 7}}).retention_days
    7.0
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypedDict

from langgraph_hybrid_memory.errors import ConfigError

__all__ = [
    "USAGE_INDEX_KEYS",
    "AccessConfig",
    "QueryLogConfig",
    "UsageConfig",
    "UsageRecorder",
    "resolve_usage",
]

USAGE_INDEX_KEYS = ("track_access", "query_log")


class AccessConfig(TypedDict, total=False):
    """``index["track_access"]``: count accesses of items (batched)."""

    flush_every: int
    """Write the pending hits once this many are pending (default 200)."""
    flush_seconds: float
    """...or once this many seconds passed since the last write (default 5)."""


class QueryLogConfig(TypedDict, total=False):
    """``index["query_log"]``: log each search (opt-in)."""

    enabled: bool
    store_text: bool
    """Keep the query text (default False: only counts, latency and mode)."""
    retention_days: float
    """Rows older than this are deleted (default 30)."""


@dataclass(frozen=True)
class UsageConfig:
    track_access: bool = False
    log_queries: bool = False
    store_text: bool = False
    retention_days: float = 30.0
    flush_every: int = 200
    flush_seconds: float = 5.0

    @property
    def active(self) -> bool:
        return self.track_access or self.log_queries


def _positive(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def resolve_usage(index: Mapping[str, Any] | None) -> UsageConfig:
    """Check ``index["track_access"]`` and ``index["query_log"]``."""
    index = index or {}
    acc = index.get("track_access", False)
    flush_every, flush_seconds = 200, 5.0
    if isinstance(acc, Mapping):
        bad = sorted(set(acc) - set(AccessConfig.__annotations__))
        if bad:
            raise ConfigError(
                f"unknown index['track_access'] key(s) {bad}; accepted: flush_every, flush_seconds"
            )
        fe = acc.get("flush_every", 200)
        if isinstance(fe, bool) or not isinstance(fe, int) or fe < 1:
            raise ConfigError(
                f"index['track_access']['flush_every'] must be a positive integer, got {fe!r}"
            )
        flush_every = fe
        flush_seconds = _positive(
            acc.get("flush_seconds", 5.0), "index['track_access']['flush_seconds']"
        )
        acc = True
    elif not isinstance(acc, bool):
        raise ConfigError(f"index['track_access'] must be True, False or a dict, got {acc!r}")
    ql = index.get("query_log")
    if ql is None or ql is False:
        return UsageConfig(bool(acc), flush_every=flush_every, flush_seconds=flush_seconds)
    if ql is True:
        ql = {"enabled": True}
    if not isinstance(ql, Mapping):
        raise ConfigError(f"index['query_log'] must be a dict (QueryLogConfig), got {ql!r}")
    bad = sorted(set(ql) - set(QueryLogConfig.__annotations__))
    if bad:
        raise ConfigError(
            f"unknown index['query_log'] key(s) {bad}; accepted: enabled, store_text, "
            "retention_days"
        )
    for name in ("enabled", "store_text"):
        if not isinstance(ql.get(name, False), bool):
            raise ConfigError(f"index['query_log'][{name!r}] must be True or False")
    return UsageConfig(
        bool(acc),
        log_queries=bool(ql.get("enabled", True)),
        store_text=bool(ql.get("store_text", False)),
        retention_days=_positive(
            ql.get("retention_days", 30.0), "index['query_log']['retention_days']"
        ),
        flush_every=flush_every,
        flush_seconds=flush_seconds,
    )


@dataclass
class QueryEntry:
    scope: str
    prefix: tuple[str, ...]
    query: str | None
    results: int
    latency_ms: float
    mode: str
    at: datetime


@dataclass
class Pending:
    """What one flush writes: summed hits per item and the query log entries."""

    hits: dict[tuple[str, tuple[str, ...], str], tuple[int, datetime]] = field(default_factory=dict)
    queries: list[QueryEntry] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.hits) + len(self.queries)


class UsageRecorder:
    """The in-memory buffer of a store's hits and query log entries (thread-safe)."""

    def __init__(self, cfg: UsageConfig) -> None:
        self.cfg = cfg
        self._lock = threading.Lock()
        self._pending = Pending()
        self._count = 0
        self._last = time.monotonic()

    def hit(self, items: Sequence[tuple[str, tuple[str, ...], str]]) -> None:
        if not self.cfg.track_access or not items:
            return
        now = datetime.now(timezone.utc)
        with self._lock:
            for k in items:
                n, _ = self._pending.hits.get(k, (0, now))
                self._pending.hits[k] = (n + 1, now)
            self._count += len(items)

    def query(
        self,
        scope: str,
        prefix: tuple[str, ...],
        query: str | None,
        results: int,
        latency_ms: float,
        mode: str,
    ) -> None:
        if not self.cfg.log_queries:
            return
        entry = QueryEntry(
            scope,
            prefix,
            query if self.cfg.store_text else None,
            results,
            round(latency_ms, 3),
            mode,
            datetime.now(timezone.utc),
        )
        with self._lock:
            self._pending.queries.append(entry)
            self._count += 1

    def due(self) -> bool:
        with self._lock:
            return self._count > 0 and (
                self._count >= self.cfg.flush_every
                or time.monotonic() - self._last >= self.cfg.flush_seconds
            )

    def take(self) -> Pending:
        """Everything pending, handed to one flush (put back with `restore` if it failed)."""
        with self._lock:
            out, self._pending = self._pending, Pending()
            self._count = 0
            self._last = time.monotonic()
            return out

    def restore(self, pending: Pending) -> None:
        with self._lock:
            for k, (n, t) in pending.hits.items():
                m, t2 = self._pending.hits.get(k, (0, t))
                self._pending.hits[k] = (n + m, max(t, t2))
            self._pending.queries[:0] = pending.queries
            self._count += len(pending)


def sorted_hits(
    pending: Pending,
) -> list[tuple[tuple[str, tuple[str, ...], str], tuple[int, datetime]]]:
    """Hits in key order: every flusher locks access rows in the same order (no deadlock)."""
    return sorted(pending.hits.items(), key=lambda kv: kv[0])


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty.

    Examples:
        >>> percentile([5, 1, 3, 2, 4], 50), percentile([5, 1, 3, 2, 4], 95)
        (3, 5)
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
