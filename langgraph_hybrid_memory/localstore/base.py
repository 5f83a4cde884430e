"""I/O-free logic of `LocalStore`: schema, SQL, validation, batch planning and scoring.

Everything here is pure (no database, no model calls), so it is unit-testable on its own and the
I/O class in ``__init__.py`` only executes what this module prepares.

Storage layout (tables in the shared local SQLite file, all prefixed ``lghm_store`` so they never
clash with langgraph's ``SqliteSaver`` / ``SqliteStore`` tables in the same file):

* ``lghm_store``: one row per item; the namespace is its labels joined with ``.`` (labels cannot
  contain ``.``: langgraph's validation forbids it), the value JSON text, times as Unix seconds.
* ``lghm_store_vectors``: one row per (item, field path) with a float32 vector; deleted with the
  item (foreign key, ``ON DELETE CASCADE``) and replaced whenever the item is written again, so a
  vector never outlives the text it was made from.
* ``lghm_store_fts``: an FTS5 table (``rowid`` = item id) holding the indexed texts, for keyword
  search ranked by BM25; a trigger removes an item's row when the item is deleted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

import numpy as np
import numpy.typing as npt
from langgraph.store.base import (
    IndexConfig,
    MatchCondition,
    Op,
    PutOp,
    SearchOp,
    get_text_at_path,
    tokenize_path,
)

from langgraph_hybrid_memory._quality import CollapseConfig, RankingConfig
from langgraph_hybrid_memory._validation import (
    DEFAULT_LIMITS,
    Limits,
    check_value,
    validate_ops,
)
from langgraph_hybrid_memory.errors import ConfigError

__all__ = [
    "DISTANCE_TYPES",
    "RRF_K",
    "SEARCH_MODES",
    "BatchPlan",
    "DistanceType",
    "LocalIndexConfig",
    "PutPlan",
    "SearchMode",
    "decode_namespace",
    "encode_namespace",
    "fts_query",
    "namespace_matches",
    "namespace_range",
    "plan_batch",
    "rrf_fuse",
    "score_vectors",
]

DistanceType = Literal["cosine", "l2", "inner_product"]
DISTANCE_TYPES: tuple[DistanceType, ...] = get_args(DistanceType)
SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCH_MODES: tuple[SearchMode, ...] = get_args(SearchMode)

RRF_K = 60
"""Reciprocal rank fusion constant (Cormack et al. 2009): score = sum of 1 / (RRF_K + rank)."""

NS_SEP = "."
# Every string that starts with "<ns>." sorts in [ "<ns>.", "<ns>/" ): '/' is the code point after
# '.', and labels cannot contain '.'. A range is index-friendly and needs no LIKE/GLOB escaping,
# so '%', '_', '\', '*', '?' and '[' in labels are plain characters (langgraph issue #8300).
_NS_UPPER = "/"


class LocalIndexConfig(IndexConfig, total=False):
    """Index settings of a `LocalStore` (langgraph's `IndexConfig` plus two keys).

    Keys:
        dims: vector size; read from the model when omitted.
        embed: a LangChain `Embeddings`, a function ``texts -> vectors``, ``"local"`` or
            ``"openai:<model>"``. May be omitted when ``search_mode`` is ``"keyword"``.
        fields: JSON paths to index (langgraph's path syntax); default ``["$"]``, the whole value.
    """

    distance_type: DistanceType
    """How vectors are compared: ``cosine`` (default), ``l2`` or ``inner_product``."""
    search_mode: SearchMode
    """``hybrid`` (default with a model: vector + keyword fused by RRF), ``vector`` or
    ``keyword`` (default without a model)."""
    collapse: bool | CollapseConfig
    """Collapse near-duplicates in search results (see `_quality`); default off."""
    ranking: RankingConfig
    """Blend relevance with recency and importance (see `_quality`); default relevance only."""


VECTORS_OF_ITEMS = "SELECT item_id, embedding FROM lghm_store_vectors WHERE item_id IN "


SCHEMA_VERSION_TABLE = "lghm_store_migrations"

# Local migrations: index = version, each a tuple of statements run in one transaction with its
# version row (``executescript`` would commit the open transaction, so statements run one by one).
# Never edit a shipped one; append.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE IF NOT EXISTS lghm_store (
            id INTEGER PRIMARY KEY,
            namespace TEXT NOT NULL,
            ns_sort BLOB NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            expires_at REAL,
            ttl_minutes REAL,
            UNIQUE (namespace, key)
        )""",
        "CREATE INDEX IF NOT EXISTS lghm_store_expires_idx "
        "ON lghm_store (expires_at) WHERE expires_at IS NOT NULL",
        """CREATE TABLE IF NOT EXISTS lghm_store_vectors (
            item_id INTEGER NOT NULL REFERENCES lghm_store (id) ON DELETE CASCADE,
            field TEXT NOT NULL,
            text_hash TEXT NOT NULL,
            embedding BLOB NOT NULL,
            PRIMARY KEY (item_id, field)
        )""",
        "CREATE VIRTUAL TABLE IF NOT EXISTS lghm_store_fts "
        "USING fts5 (body, tokenize = 'porter unicode61 remove_diacritics 2')",
        """CREATE TRIGGER IF NOT EXISTS lghm_store_fts_on_delete AFTER DELETE ON lghm_store
        BEGIN
            DELETE FROM lghm_store_fts WHERE rowid = old.id;
        END""",
    ),
)

CREATE_VERSION_TABLE = f"CREATE TABLE IF NOT EXISTS {SCHEMA_VERSION_TABLE} (v INTEGER PRIMARY KEY)"
SELECT_VERSIONS = f"SELECT v FROM {SCHEMA_VERSION_TABLE}"
INSERT_VERSION = f"INSERT INTO {SCHEMA_VERSION_TABLE} (v) VALUES (?)"

_ITEM_COLUMNS = "id, namespace, key, value, created_at, updated_at, ttl_minutes"
_NOT_EXPIRED = "(expires_at IS NULL OR expires_at > ?)"

GET_ITEM = f"SELECT {_ITEM_COLUMNS}, expires_at FROM lghm_store WHERE namespace = ? AND key = ?"
# Searches: the whole store, or one namespace and everything below it (namespace_range).
SEARCH_ALL = f"SELECT {_ITEM_COLUMNS}, expires_at FROM lghm_store"
SEARCH_PREFIX = (
    f"SELECT {_ITEM_COLUMNS}, expires_at FROM lghm_store "
    "WHERE (namespace = ? OR (namespace >= ? AND namespace < ?))"
)
# Newest first; ties (one batch shares one timestamp) by namespace as a tuple, then key, so
# limit/offset pages never skip or repeat an item, in the order PgVectorStore uses.
ORDER_RECENT = " ORDER BY updated_at DESC, ns_sort, key"
IDS_ALL = "SELECT id, expires_at FROM lghm_store"
IDS_PREFIX = (
    "SELECT id, expires_at FROM lghm_store "
    "WHERE (namespace = ? OR (namespace >= ? AND namespace < ?))"
)
VECTORS_ALL = "SELECT item_id, embedding FROM lghm_store_vectors"
VECTORS_PREFIX = (
    "SELECT v.item_id, v.embedding FROM lghm_store_vectors AS v JOIN lghm_store AS s "
    "ON s.id = v.item_id WHERE (s.namespace = ? OR (s.namespace >= ? AND s.namespace < ?))"
)
KEYWORD_SEARCH = (
    "SELECT rowid, bm25(lghm_store_fts) AS rank FROM lghm_store_fts WHERE lghm_store_fts MATCH ?"
)
ITEMS_BY_ID = f"SELECT {_ITEM_COLUMNS}, expires_at FROM lghm_store WHERE id IN "  # + placeholders
NAMESPACES_ALL = "SELECT DISTINCT namespace FROM lghm_store"
NAMESPACES_PREFIX = (
    "SELECT DISTINCT namespace FROM lghm_store "
    "WHERE (namespace = ? OR (namespace >= ? AND namespace < ?))"
)
UPSERT_ITEM = (
    "INSERT INTO lghm_store (namespace, ns_sort, key, value, created_at, updated_at, "
    "expires_at, ttl_minutes) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, "
    "updated_at = excluded.updated_at, expires_at = excluded.expires_at, "
    "ttl_minutes = excluded.ttl_minutes RETURNING id"
)
DELETE_ITEM = "DELETE FROM lghm_store WHERE namespace = ? AND key = ?"
DELETE_VECTORS = "DELETE FROM lghm_store_vectors WHERE item_id = ?"
INSERT_VECTOR = (
    "INSERT INTO lghm_store_vectors (item_id, field, text_hash, embedding) VALUES (?, ?, ?, ?)"
)
DELETE_FTS = "DELETE FROM lghm_store_fts WHERE rowid = ?"
INSERT_FTS = "INSERT INTO lghm_store_fts (rowid, body) VALUES (?, ?)"
REFRESH_TTL = (
    "UPDATE lghm_store SET expires_at = ? + ttl_minutes * 60.0 "
    "WHERE id = ? AND ttl_minutes IS NOT NULL"
)
SWEEP_EXPIRED = (
    "DELETE FROM lghm_store WHERE id IN (SELECT id FROM lghm_store "
    "WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)"
)
VECTOR_SIZE = "SELECT length(embedding) FROM lghm_store_vectors LIMIT 1"


def not_expired_clause(sql: str) -> str:
    """Append the "not expired" condition (one extra ``now`` parameter) to a store query."""
    joiner = " AND " if " WHERE " in sql else " WHERE "
    return sql + joiner + _NOT_EXPIRED


_SAFE_FIELD = re.compile(r"^[A-Za-z0-9_]+$")
_MAX_EXACT_INT = 2**53  # larger ints may not survive SQLite's REAL conversion exactly


def _pushable_scalar(value: Any) -> bool:
    if isinstance(value, bool) or isinstance(value, str):
        return True
    if isinstance(value, int):
        return abs(value) <= _MAX_EXACT_INT
    return isinstance(value, float) and math.isfinite(value)


def prefilter_sql(filter: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
    """A SQL condition that keeps every item matching `filter` (and maybe a few more).

    Only a pre-filter: the store still checks each remaining item with `_filters.matches`, so
    results are exactly the shared semantics; this only spares decoding rows that cannot match.
    Covered: top-level equality / ``$eq`` / ``$in`` with scalar operands, and ``$gt $gte $lt
    $lte`` with a number (SQLite orders numbers before text and ignores NULL, so strings, nulls
    and missing fields are never wrongly kept out). Anything else adds no condition.

    Examples:
        >>> sql, params = prefilter_sql({"kind": "fact", "n": {"$gte": 3}, "meta": {"a": 1}})
        >>> sql
        'json_extract(value, ?) = ? AND json_extract(value, ?) >= ?'
        >>> params
        ['$."kind"', 'fact', '$."n"', 3]
    """
    clauses: list[str] = []
    params: list[Any] = []
    for field_name, condition in (filter or {}).items():
        if not _SAFE_FIELD.match(field_name):
            continue
        path = f'$."{field_name}"'
        ops = condition if isinstance(condition, Mapping) else {"$eq": condition}
        if not all(isinstance(k, str) and k.startswith("$") for k in ops):
            continue  # a nested-object match: checked in Python only
        for op, operand in ops.items():
            if op == "$eq" and _pushable_scalar(operand):
                clauses.append("json_extract(value, ?) = ?")
                params += [path, int(operand) if isinstance(operand, bool) else operand]
            elif op == "$in" and operand and all(_pushable_scalar(x) for x in operand):
                clauses.append(f"json_extract(value, ?) IN ({','.join('?' * len(operand))})")
                params += [path, *(int(x) if isinstance(x, bool) else x for x in operand)]
            elif (
                op in _RANGE_SQL
                and isinstance(operand, (int, float))
                and not isinstance(operand, bool)
                and _pushable_scalar(operand)
            ):
                clauses.append(f"json_extract(value, ?) {_RANGE_SQL[op]} ?")
                params += [path, operand]
    return " AND ".join(clauses), params


_RANGE_SQL = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def encode_namespace(namespace: Sequence[str]) -> str:
    """``("users", "u1")`` -> ``"users.u1"`` (labels are validated to contain no ``.``)."""
    return NS_SEP.join(namespace)


def namespace_sort_key(namespace: Sequence[str]) -> bytes:
    """Bytes that sort like the namespace tuple (labels joined by NUL, which labels cannot
    contain; UTF-8 keeps code-point order): ``("a", "b") < ("a-x",)`` although
    ``"a.b" > "a-x"`` as text. PostgreSQL's ``text[] COLLATE "C"`` orders the same way."""
    return b"\x00".join(label.encode("utf-8") for label in namespace)


def decode_namespace(text: str) -> tuple[str, ...]:
    """Inverse of `encode_namespace`."""
    return tuple(text.split(NS_SEP)) if text else ()


def namespace_range(prefix: Sequence[str]) -> tuple[str, str, str]:
    """Parameters ``(exact, low, high)`` selecting `prefix` and the namespaces below it, whole
    labels only: ``("users", "a")`` matches ``("users", "a", ...)`` but never ``("users", "ab")``.

    Examples:
        >>> namespace_range(("users", "john_doe"))
        ('users.john_doe', 'users.john_doe.', 'users.john_doe/')
    """
    exact = encode_namespace(prefix)
    return exact, exact + NS_SEP, exact + _NS_UPPER


def _label_matches(pattern: str, label: str) -> bool:
    return pattern == "*" or pattern == label


def namespace_matches(conditions: Iterable[MatchCondition], namespace: tuple[str, ...]) -> bool:
    """Whether `namespace` satisfies every prefix / suffix condition (``*`` = any one label).

    Examples:
        >>> c = [MatchCondition("prefix", ("users", "*")), MatchCondition("suffix", ("facts",))]
        >>> namespace_matches(c, ("users", "u1", "facts")), namespace_matches(c, ("users", "u1"))
        (True, False)
    """
    for condition in conditions:
        path = tuple(condition.path)
        if len(path) > len(namespace):
            return False
        if condition.match_type == "prefix":
            part = namespace[: len(path)]
        elif condition.match_type == "suffix":
            part = namespace[len(namespace) - len(path) :]
        else:
            raise ValueError(
                f"unsupported namespace match type {condition.match_type!r}; "
                "use 'prefix' or 'suffix'"
            )
        if not all(_label_matches(p, label) for p, label in zip(path, part, strict=True)):
            return False
    return True


def literal_prefix(conditions: Iterable[MatchCondition]) -> tuple[str, ...]:
    """The leading labels every match must have (used to narrow the SQL scan)."""
    best: tuple[str, ...] = ()
    for condition in conditions:
        if condition.match_type != "prefix":
            continue
        labels: list[str] = []
        for label in condition.path:
            if label == "*":
                break
            labels.append(label)
        if len(labels) > len(best):
            best = tuple(labels)
    return best


# --- values and texts --------------------------------------------------------------------------


def dump_value(value: Any, where: str) -> str:
    """JSON text of a stored value; raise `ValueError` naming `where` if it is not pure JSON.

    Strict on purpose: ``json.dumps`` would silently turn ``{1: "a"}`` into ``{"1": "a"}`` and a
    tuple into a list, so a value would not read back as it was written.
    """
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: a store value must be a dict, got {type(value).__name__}")
    _check_json(value, where)
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _check_json(value: Any, where: str) -> None:
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value!r} is not a JSON number; store null or a string")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for k, item in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: object keys must be strings, got {k!r}")
            _check_json(item, f"{where}[{k!r}]")
        return
    raise ValueError(
        f"{where}: {type(value).__name__} is not JSON-serialisable; store only dicts, lists, "
        "strings, numbers, booleans and None (convert it, e.g. to str or isoformat())"
    )


TokenizedFields = list[tuple[str, list[str] | str]]


def tokenize_fields(paths: Sequence[str] | None) -> TokenizedFields:
    """langgraph's ``__tokenized_fields``: ``"$"`` stays whole, other paths are tokenized."""
    return [(p, p) if p == "$" else (p, tokenize_path(p)) for p in (paths or ["$"])]


def texts_for(value: Mapping[str, Any], fields: TokenizedFields) -> list[tuple[str, str]]:
    """``(field name, text)`` pairs to index, named as langgraph's stores name vectors: the path
    itself, or ``"<path>.<i>"`` when the path yields several texts.

    Examples:
        >>> texts_for({"a": "x", "tags": ["t1", "t2"]}, tokenize_fields(["a", "tags[*]"]))
        [('a', 'x'), ('tags[*].0', 't1'), ('tags[*].1', 't2')]
    """
    out: list[tuple[str, str]] = []
    for path, tokens in fields:
        texts = get_text_at_path(value, tokens)
        if len(texts) == 1:
            out.append((path, texts[0]))
        else:
            out.extend((f"{path}.{i}", text) for i, text in enumerate(texts))
    return out


# --- batch planning -----------------------------------------------------------------------------


@dataclass
class PutPlan:
    """One deduplicated write: value None means delete."""

    namespace: tuple[str, ...]
    key: str
    value_json: str | None
    ttl_minutes: float | None
    indexed: bool
    """Whether the item gets FTS text and vectors (index configured and ``index`` is not False)."""
    texts: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class BatchPlan:
    """A validated batch: reads in their original positions, then the writes."""

    ops: list[Op]
    puts: list[PutPlan]
    texts: list[str]
    """Distinct texts of the writes that need vectors (embedded in one call)."""
    queries: list[str]
    """Distinct search queries that need a query vector."""


def _check_ttl(ttl: Any, where: str) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl):
        raise ValueError(f"{where}: ttl must be a number of minutes or None, got {ttl!r}")
    if ttl <= 0:
        raise ValueError(f"{where}: ttl must be positive (minutes), got {ttl!r}; use delete()")
    return float(ttl)


def plan_batch(
    ops: Iterable[Op],
    *,
    fields: TokenizedFields | None,
    vectors: bool,
    limits: Limits = DEFAULT_LIMITS,
) -> BatchPlan:
    """Validate every op and prepare the batch; raise before anything is executed.

    Args:
        ops: the batch.
        fields: the store's tokenized index fields, or None when the store has no index.
        vectors: whether writes and searches need vectors (an embedding model is configured).

    Raises:
        InvalidInputError: (`_validation.validate_ops`) a bad namespace, key, value, query,
            filter, ttl, limit or offset, or an unknown op; nothing is executed.
    """
    # The package's one validator: the same refusals, with the same errors, as every store.
    op_list = validate_ops(ops, limits)
    puts: dict[tuple[tuple[str, ...], str], PutPlan] = {}
    queries: dict[str, None] = {}
    for i, op in enumerate(op_list):
        where = f"op {i} ({type(op).__name__})"
        if isinstance(op, SearchOp):
            if op.query and fields is not None and vectors:
                queries[op.query] = None
        elif isinstance(op, PutOp):
            ttl = _check_ttl(op.ttl, where)
            if op.value is None:
                puts.pop((op.namespace, op.key), None)
                puts[(op.namespace, op.key)] = PutPlan(op.namespace, op.key, None, None, False)
                continue
            value_json = check_value(op.namespace, op.key, op.value, limits)
            indexed = fields is not None and op.index is not False
            texts: list[tuple[str, str]] = []
            if indexed:
                if op.index is None:
                    op_fields = fields
                else:
                    op_fields = tokenize_fields(cast(list[str], op.index))
                texts = texts_for(op.value, op_fields or [])
            # Last write per (namespace, key) wins, as in langgraph's stores.
            puts.pop((op.namespace, op.key), None)
            puts[(op.namespace, op.key)] = PutPlan(
                op.namespace, op.key, value_json, ttl, indexed, texts
            )
    texts_needed: dict[str, None] = {}
    if vectors:
        for put in puts.values():
            for _, text in put.texts:
                texts_needed[text] = None
    return BatchPlan(op_list, list(puts.values()), list(texts_needed), list(queries))


def check_vectors(vectors: Sequence[Sequence[float]], count: int, dims: int, what: str) -> None:
    """Raise `ValueError` unless there are `count` finite vectors of `dims` numbers."""
    if len(vectors) != count:
        raise ValueError(
            f"the embedding model returned {len(vectors)} vectors for {count} {what}; "
            "it must return one vector per text"
        )
    for vector in vectors:
        if len(vector) != dims:
            raise ConfigError(
                f"the embedding model returned a {len(vector)}-dimensional vector but the index "
                f"has dims={dims}; set index['dims'] to the model's size ({len(vector)}) or use "
                "the model the index was built with"
            )
        if not all(math.isfinite(x) for x in vector):
            raise ValueError(f"the embedding model returned a non-finite number for {what}")


def to_blob(vector: Sequence[float]) -> bytes:
    """float32 little-endian bytes of a vector."""
    return np.asarray(vector, dtype="<f4").tobytes()


def score_vectors(
    query: npt.NDArray[np.float32], matrix: npt.NDArray[np.float32], distance: DistanceType
) -> npt.NDArray[np.float64]:
    """Similarity of each row of `matrix` to `query`, higher is better, as PostgresStore scores:
    cosine similarity, minus the Euclidean distance (``l2``) or the dot product.

    Examples:
        >>> q = np.array([1.0, 0.0], dtype=np.float32)
        >>> m = np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32)
        >>> [round(float(x), 3) for x in score_vectors(q, m, "cosine")]
        [1.0, 0.0]
        >>> [round(float(x), 3) for x in score_vectors(q, m, "l2")]
        [-0.0, -2.236]
        >>> [round(float(x), 3) for x in score_vectors(q, m, "inner_product")]
        [1.0, 0.0]
    """
    # float32 like the stored vectors (pgvector's `vector` is float32 too); the error over a few
    # thousand dimensions stays near 1e-6, and it halves the memory traffic of a scan.
    q = np.asarray(query, dtype=np.float32)
    m = np.asarray(matrix, dtype=np.float32)
    if distance == "l2":
        return np.asarray(-np.linalg.norm(m - q, axis=1), dtype=np.float64)
    dots = m @ q
    if distance == "inner_product":
        return np.asarray(dots, dtype=np.float64)
    norms = np.linalg.norm(m, axis=1) * np.linalg.norm(q)
    out = np.zeros(dots.shape, dtype=np.float64)
    np.divide(dots, norms, out=out, where=norms > 0)
    return out


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str | None:
    """An FTS5 query matching any word of `text` (each quoted, so no FTS syntax leaks through).

    Examples:
        >>> fts_query('green tea "AND" near(x)')
        '"green" OR "tea" OR "AND" OR "near" OR "x"'
        >>> fts_query("?!") is None
        True
    """
    words = list(dict.fromkeys(_WORD.findall(text)))
    if not words:
        return None
    return " OR ".join(f'"{w}"' for w in words)


def rrf_fuse(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: each id scores ``sum(1 / (k + rank))`` over the rankings it appears
    in (rank starts at 1); best first, ties by first appearance.

    Examples:
        >>> [(i, round(s, 5)) for i, s in rrf_fuse([[1, 2, 3], [3, 1]])]
        [(1, 0.03252), (3, 0.03227), (2, 0.01613)]
    """
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item_id in enumerate(ranking, start=1):
            scores[item_id] = scores.get(item_id, 0.0) + 1.0 / (k + rank)
    order = {item_id: i for i, item_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def resolve_search_mode(index: Mapping[str, Any], has_model: bool) -> SearchMode:
    """The search mode of an index config; raise `ConfigError` if it cannot work."""
    mode = index.get("search_mode")
    if mode is None:
        return "hybrid" if has_model else "keyword"
    if mode not in SEARCH_MODES:
        raise ConfigError(
            f"index['search_mode']={mode!r} is not supported; use one of: {', '.join(SEARCH_MODES)}"
        )
    if mode != "keyword" and not has_model:
        raise ConfigError(
            f"index['search_mode']={mode!r} needs an embedding model: set index['embed'] "
            "(e.g. 'local' or 'openai:text-embedding-3-small'), or use search_mode='keyword'"
        )
    return mode  # type: ignore[no-any-return]


def resolve_distance(index: Mapping[str, Any]) -> DistanceType:
    distance = index.get("distance_type", "cosine")
    if distance not in DISTANCE_TYPES:
        raise ConfigError(
            f"index['distance_type']={distance!r} is not supported; "
            f"use one of: {', '.join(DISTANCE_TYPES)}"
        )
    return distance  # type: ignore[no-any-return]
