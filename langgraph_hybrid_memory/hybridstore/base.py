"""I/O-free logic of `HybridStore`: namespace routing, outbox payloads, merging and SQL.

Nothing here touches a database: the I/O class in ``__init__.py`` executes what this module
prepares, so routing, payload encoding and result merging are unit-testable on their own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
from langgraph.store.base import Item, PutOp, SearchItem
from psycopg import sql

from langgraph_hybrid_memory._embeddings import text_hash
from langgraph_hybrid_memory._migrations import Migration
from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.store._sqlfilter import prefix_condition
from langgraph_hybrid_memory.store.base import BasePgVectorStore

__all__ = [
    "DEFAULT_CACHE_MAX_AGE",
    "DEFAULT_TIER",
    "STORE_KINDS",
    "NamespaceRouter",
    "Tier",
    "decode_payload",
    "encode_payload",
    "merge_items",
    "stream_of",
    "stream_range",
]

Tier = Literal["persistent", "transient"]
TIERS: tuple[Tier, ...] = get_args(Tier)

DEFAULT_TIER: Tier = "persistent"
"""Long-term memory is what a store is for: a namespace nobody classified survives the machine.
Losing a memory silently is worse than one extra PostgreSQL write, so transient is opt-in."""

DEFAULT_CACHE_MAX_AGE = 60.0
"""Seconds after which a namespace's local cache is reloaded from PostgreSQL on the next read."""

DEFAULT_RETRY_INTERVAL = 5.0
"""After a failed PostgreSQL read, seconds during which reads go straight to the cache (so an
outage does not make every read wait for a connection timeout)."""

DEFAULT_TOMBSTONE_RETENTION = 30 * 24 * 3600.0
"""Seconds a delete's tombstone is kept: longer than any outage an outbox is expected to span."""

DEFAULT_REFRESH_LIMIT = 10_000
"""Most items one cache refresh (or `warm`) copies from PostgreSQL."""

KIND_PUT = "store.put"
KIND_DELETE = "store.delete"
STORE_KINDS = (KIND_PUT, KIND_DELETE)
LOG_AS = "store"
STREAM_PREFIX = "store:"
# "store;" is the first string after every "store:..." (';' follows ':').
_STREAM_END = "store;"


# --------------------------------------------------------------------------------------------
# Routing


class NamespaceRouter:
    """Decides the tier of a namespace: the rule with the longest matching prefix wins.

    Rules match whole labels: ``("users",)`` covers ``("users", "u1")`` but not
    ``("users-archive",)``.

    Examples:
        >>> r = NamespaceRouter({("scratch",): "transient", ("scratch", "keep"): "persistent"})
        >>> r.tier(("users", "u1")), r.tier(("scratch", "s1")), r.tier(("scratch", "keep", "x"))
        ('persistent', 'transient', 'persistent')
        >>> r.tier(("scratchpad",))
        'persistent'
        >>> r.is_mixed(("scratch",)), r.is_mixed(("users",)), r.is_mixed(())
        (True, False, True)
    """

    def __init__(
        self,
        routes: Mapping[Sequence[str], Tier] | None = None,
        *,
        default: Tier = DEFAULT_TIER,
    ) -> None:
        if default not in TIERS:
            raise ConfigError(f"default tier must be one of {TIERS}, got {default!r}")
        rules: dict[tuple[str, ...], Tier] = {}
        for prefix, tier in (routes or {}).items():
            if isinstance(prefix, str):
                raise ConfigError(
                    f"route {prefix!r}: a route is a namespace prefix tuple, e.g. ({prefix!r},)"
                )
            labels = tuple(prefix)
            if not labels or not all(isinstance(x, str) and x and "." not in x for x in labels):
                raise ConfigError(
                    f"route {prefix!r}: give a non-empty tuple of labels (strings without '.'); "
                    "use default= for the tier of everything else"
                )
            if tier not in TIERS:
                raise ConfigError(f"route {prefix!r}: tier must be one of {TIERS}, got {tier!r}")
            rules[labels] = tier
        self.routes = rules
        self.default: Tier = default

    def tier(self, namespace: Sequence[str]) -> Tier:
        ns = tuple(namespace)
        for n in range(len(ns), 0, -1):
            found = self.routes.get(ns[:n])
            if found is not None:
                return found
        return self.default

    def is_mixed(self, prefix: Sequence[str]) -> bool:
        """Whether namespaces under `prefix` can land in both tiers."""
        p = tuple(prefix)
        own = self.tier(p)
        return any(
            len(r) > len(p) and r[: len(p)] == p and t != own for r, t in self.routes.items()
        )

    def describe(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "routes": {".".join(k): v for k, v in sorted(self.routes.items())},
        }


# --------------------------------------------------------------------------------------------
# Outbox entries


def stream_of(namespace: Sequence[str]) -> str:
    """The outbox stream of a namespace: writes to one namespace replay in the order made."""
    return STREAM_PREFIX + ".".join(namespace)


def stream_range(prefix: Sequence[str]) -> tuple[str, str, str]:
    """``(exact, low, high)``: the streams of `prefix` and of every namespace below it."""
    if not prefix:
        return "", STREAM_PREFIX, _STREAM_END
    exact = stream_of(prefix)
    return exact, exact + ".", exact + "/"


def _pack(vector: Sequence[float]) -> str:
    # float32 is what PostgreSQL's vector type keeps, so nothing is lost on the way.
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def _unpack(data: str) -> list[float]:
    out: list[float] = np.frombuffer(base64.b64decode(data), dtype="<f4").astype(float).tolist()
    return out


def encode_payload(
    op: PutOp, vectors: Mapping[str, Sequence[float]] | None = None
) -> tuple[str, dict[str, Any]]:
    """The outbox ``(kind, payload)`` of a persistent write.

    A put carries its value, ``index`` and ``ttl`` and the vectors of its texts (keyed by
    `text_hash`), so a replay needs neither the embedding model nor the network to it.

    Examples:
        >>> kind, payload = encode_payload(PutOp(("u", "1"), "k", {"t": "hi"}, None, 5.0))
        >>> kind, payload["ns"], payload["ttl"]
        ('store.put', ['u', '1'], 5.0)
        >>> decode_payload(kind, payload)
        PutOp(namespace=('u', '1'), key='k', value={'t': 'hi'}, index=None, ttl=5.0)
    """
    if op.value is None:
        return KIND_DELETE, {"ns": list(op.namespace), "key": op.key}
    payload: dict[str, Any] = {
        "ns": list(op.namespace),
        "key": op.key,
        "value": json.dumps(op.value, ensure_ascii=False, separators=(",", ":")),
        "index": op.index if op.index is None or op.index is False else list(op.index),
        "ttl": op.ttl,
    }
    if vectors:
        payload["vec"] = {text_hash(t): _pack(v) for t, v in vectors.items()}
    return KIND_PUT, payload


def decode_payload(kind: str, payload: Mapping[str, Any]) -> PutOp:
    ns = tuple(payload["ns"])
    if kind == KIND_DELETE:
        return PutOp(ns, payload["key"], None)
    return PutOp(ns, payload["key"], json.loads(payload["value"]), payload["index"], payload["ttl"])


def payload_vectors(payload: Mapping[str, Any]) -> dict[str, list[float]]:
    """The vectors a put payload carries, by `text_hash`."""
    return {h: _unpack(v) for h, v in (payload.get("vec") or {}).items()}


# --------------------------------------------------------------------------------------------
# Merging the two tiers' answers


def recent_key(item: Item) -> tuple[float, tuple[str, ...], str]:
    """Newest first, then namespace tuple, then key: the order both stores page in."""
    return (-item.updated_at.timestamp(), tuple(item.namespace), item.key)


def ranked_key(item: SearchItem) -> tuple[float, tuple[str, ...], str]:
    return (
        -(item.score if item.score is not None else float("-inf")),
        tuple(item.namespace),
        item.key,
    )


def merge_items(
    parts: Iterable[Sequence[SearchItem]], *, ranked: bool, limit: int, offset: int
) -> list[SearchItem]:
    """One page from several sorted lists, each the top ``offset + limit`` of its tier.

    The first ``offset + limit`` items of the union are within the first ``offset + limit`` of
    each list, so taking that many from each is enough.
    """
    seen: dict[tuple[tuple[str, ...], str], SearchItem] = {}
    for part in parts:
        for item in part:
            seen.setdefault((tuple(item.namespace), item.key), item)
    key = ranked_key if ranked else recent_key
    return sorted(seen.values(), key=key)[offset : offset + limit]


# --------------------------------------------------------------------------------------------
# SQL: local (the outbox in the shared file) and remote (tombstones, cache refresh)

PENDING_UNDER_SQL = (
    "SELECT 1 FROM lghm_outbox WHERE kind IN (?, ?) "
    "AND (stream = ? OR (stream >= ? AND stream < ?)) LIMIT 1"
)
COUNT_PENDING_SQL = "SELECT count(*) FROM lghm_outbox WHERE kind IN (?, ?)"
LOCAL_KEYS_UNDER_SQL = (
    "SELECT namespace, key FROM lghm_store "
    "WHERE (namespace = ? OR (namespace >= ? AND namespace < ?))"
)
LOCAL_KEYS_ALL_SQL = "SELECT namespace, key FROM lghm_store"
LOCAL_SET_TIMES_SQL = (
    "UPDATE lghm_store SET created_at = ?, updated_at = ?, expires_at = ? "
    "WHERE namespace = ? AND key = ?"
)
LOCAL_EXPIRED_SQL = (
    "SELECT namespace FROM lghm_store WHERE expires_at IS NOT NULL AND expires_at <= ?"
)

TOMBSTONES_TABLE = "store_tombstones"
HYBRID_MIGRATIONS_TABLE = "hybrid_store_migrations"
HYBRID_MIGRATIONS = [
    Migration(
        """CREATE TABLE IF NOT EXISTS store_tombstones (
            scope text NOT NULL,
            namespace text[] COLLATE "C" NOT NULL,
            key text NOT NULL,
            deleted_at double precision NOT NULL,
            PRIMARY KEY (scope, namespace, key)
        )""",
        description="tombstones: a replayed put older than a delete is refused",
    ),
]


def prepare_delete_old_tombstones(schema: str) -> sql.Composed:
    """Drop tombstones older than a cutoff (Unix seconds).

    Rows a replay holds are skipped (``SKIP LOCKED``, invariant 9): the sweep waits for no row,
    so it cannot close a lock cycle with a replay writing tombstones of several keys; a skipped
    tombstone goes at the next sweep."""
    return sql.SQL(
        "DELETE FROM {t} t USING (SELECT scope, namespace, key FROM {t} WHERE deleted_at < %s "
        "FOR UPDATE SKIP LOCKED) old WHERE t.scope = old.scope AND t.namespace = old.namespace "
        "AND t.key = old.key"
    ).format(t=sql.Identifier(schema, TOMBSTONES_TABLE))


@dataclass(frozen=True)
class RemoteRow:
    """One item read from PostgreSQL for the cache, with its times as Unix seconds."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: float
    updated_at: float
    expires_at: float | None
    ttl_minutes: float | None


def prepare_refresh_items(
    store: BasePgVectorStore, prefix: Sequence[str], limit: int
) -> tuple[sql.Composed, list[Any]]:
    """Live items under `prefix` in PostgreSQL (times as Unix seconds), for the cache."""
    cond, params = prefix_condition("i", prefix, store.scope_depth)
    query = sql.SQL(
        "SELECT i.namespace, i.key, i.value, extract(epoch FROM i.created_at) AS created, "
        "extract(epoch FROM i.updated_at) AS updated, extract(epoch FROM i.expires_at) AS expires, "
        "i.ttl_minutes FROM {items} i WHERE {cond} AND {alive} "
        "ORDER BY i.updated_at DESC, i.namespace, i.key LIMIT %s"
    ).format(items=store._t_items, cond=cond, alive=store._alive("i"))
    return query, [*params, limit]


def prepare_refresh_vectors(
    store: BasePgVectorStore, prefix: Sequence[str]
) -> tuple[sql.Composed, list[Any]]:
    """The stored vectors under `prefix`, so a refresh copies them instead of re-embedding."""
    cond, params = prefix_condition("v", prefix, store.scope_depth)
    query = sql.SQL(
        "SELECT v.namespace, v.key, v.field, v.embedding::real[] AS emb FROM {vectors} v "
        "WHERE {cond}"
    ).format(vectors=store._t_vectors, cond=cond)
    return query, params


def remote_row(row: Mapping[str, Any]) -> RemoteRow:
    return RemoteRow(
        namespace=tuple(row["namespace"]),
        key=row["key"],
        value=row["value"],
        created_at=float(row["created"]),
        updated_at=float(row["updated"]),
        expires_at=None if row["expires"] is None else float(row["expires"]),
        ttl_minutes=row["ttl_minutes"],
    )
