"""`PgVectorStore`'s index and TTL configuration: the typed dicts users pass, their checking
into a `ResolvedIndex`, and the HNSW defaults (including the calibrated ``ef_search``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, cast

from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    IndexConfig,
    TTLConfig,
    tokenize_path,
)

from langgraph_hybrid_memory._quality import (
    CollapseConfig,
    QualityConfig,
    RankingConfig,
    resolve_quality,
)
from langgraph_hybrid_memory._usage import (
    AccessConfig,
    QueryLogConfig,
    UsageConfig,
    resolve_usage,
)
from langgraph_hybrid_memory.errors import (
    ConfigError,
)

# HNSW indexes `vector` up to 2,000 dimensions and `halfvec` up to 4,000 (pgvector 0.8).
MAX_VECTOR_DIMS = 2000
MAX_HALFVEC_DIMS = 4000

# The HNSW graph and the ef_search used to search it, unless configured. Measured on the
# benchmark's clustered 384-dim data (bench/bench_store.py, with sweeps of ef_search per index;
# recall@10 against exact search, unfiltered / with a 10% metadata filter):
#
# * m=12, ef_construction=88 (the default): 20k vectors 0.993 at ef 200 / 0.990 at 400; 100k
#   0.984 at 307, 0.988 at 350 / 0.985 at 614, 0.986 at 700. Hence 200 at 20k, grown as
#   (vectors / 20k) ** 0.35, doubled for filtered searches. Unfiltered p50 at 100k: about 2.0-2.2x
#   langgraph's PostgresStore at its ef 40 (recall 0.71).
# * m=12, ef_construction=96 reaches 0.988 at 307 (100k); m=12/80 needs 400 for 0.985.
#   pgvector's defaults m=16, ef_construction=64 (and indexes built by earlier versions of this
#   package) need 300 at 20k (0.996) and 526 at 100k (0.986): 3.3x langgraph's latency.
#
# The build settings trade ingest speed for graph quality. Row-by-row `batch` ingest against
# PostgresStore (m=16, ef_construction=64), 20k items: 1.47x as fast at m=12/96, 1.54x at 16/64,
# 1.18x at 16/96. 100k items: 0.96x at 12/96, 1.27x at 12/80 (the graph search of every insert
# grows with the graph and reads more pages than the buffer cache holds); hence 12/88.
EF_CALIBRATION: dict[tuple[int, int], float] = {
    # least (m, ef_construction) of the index -> ef_search at EF_SCALE_ROWS vectors
    (12, 88): 200.0,
    (0, 0): 300.0,
}
EF_SCALE_EXPONENT = 0.35
EF_FILTER_FACTOR = 2.0
EF_SCALE_ROWS = 20000
MAX_EF_SEARCH = 1000
# A filter that at most this many items satisfy (its containment, counted by a bounded probe)
# is searched exactly, filter first through the GIN index on the values: every match scored,
# recall 1.0. More matches: the HNSW index with the iterative scan (see EXACT_FILTER_ROWS's
# measurements in docs/architecture.md, "Search plans per shape"). 2,500, not 1,000: at 100k
# items a 1% filter (1,031 matches) fell just past 1,000 onto the index, at recall 0.934 and
# 21.8 ms, where scoring every match costs about 8 us each.
EXACT_FILTER_ROWS = 2500
# The cutoff grows with the table (`exact_filter_rows`): the filtered HNSW scan's recall falls as
# the graph grows while an exact answer's cost stays per match. 1M items, 10,000 users: a 1%
# filter (10,310 matches) on the index gave recall 0.826 at 68 ms p50; scored exactly, 1.000 at
# 165 ms with the embedded server's 128 MB of shared buffers (16 us per match, most of it
# reading the match's vector page from the OS cache) and about 90 ms with the table in shared
# buffers (5.5 to 8 us). 1.5% of the vectors puts 1M's cutoff at 15,000 and leaves 100k's at
# 2,500, where its 9% filter (9,091 matches) reads the index at recall 0.98. The ceiling, 20,000
# matches (0.1 to 0.3 s of scoring): past it the index's approximate answer is the better trade.
EXACT_FILTER_FRACTION = 0.015
EXACT_FILTER_MAX_ROWS = 20_000
# Filters whose count lately exceeded the cutoff, remembered per store (`_counts`) so that the
# next search with one goes straight to the index: the bounded count reads up to the cutoff's
# number of rows (15,001 at 1M took an unselective search from 33 to 118 ms p50).
UNSELECTIVE_FILTERS_KEPT = 256
# How long a search trusts its cached estimate of the vectors table's size.
ROWS_ESTIMATE_SECONDS = 60.0
DEFAULT_M = 12
DEFAULT_EF_CONSTRUCTION = 88

SearchMode = Literal["vector", "keyword", "hybrid"]
DistanceType = Literal["cosine", "l2", "inner_product"]


class HNSWIndexConfig(TypedDict, total=False):
    """HNSW settings of the vector index."""

    m: int
    """Graph degree (default 12; pgvector's own default is 16): fewer neighbour lists to
    rewrite per insert and to read per search hop."""
    ef_construction: int
    """Candidate list size while building (default 88; pgvector's own default is 64). A
    better-built graph needs a narrower beam for the same recall, so searches are faster;
    row-by-row inserts get slower."""
    ef_search: int
    """Candidate list size while searching (raised to the number of rows a search needs).
    Default (index built with m >= 12 and ef_construction >= 88): 200 up to 20k vectors, then
    scaled by ``(vectors / 20000) ** 0.35`` up to 1000, and doubled for filtered searches
    (recall@10 >= 0.98 on the benchmark's hard data at 20k and 100k; pgvector's own default is
    40). Another index (e.g. pgvector's defaults m=16, ef_construction=64) starts from 300: its
    graph needs the wider beam. A configured value is used as is."""


class PgVectorIndexConfig(IndexConfig, total=False):
    """How `PgVectorStore` indexes items for search.

    ``dims`` and ``embed`` enable vector search; ``fields`` choose the indexed texts (langgraph's
    path syntax, default ``["$"]``, the whole value). ``{"fields": [...], "search_mode":
    "keyword"}`` alone is valid: keyword search with no embedding model.
    """

    distance_type: DistanceType
    """``"cosine"`` (default), ``"l2"`` or ``"inner_product"``."""
    search_mode: SearchMode
    """``"hybrid"`` (default when ``embed`` is set), ``"vector"`` or ``"keyword"``."""
    vector_type: Literal["vector", "halfvec"]
    """Column type; default ``vector`` up to 2,000 dims and ``halfvec`` above (HNSW's limit)."""
    hnsw: HNSWIndexConfig
    """HNSW index settings."""
    ann_index: Literal["hnsw", "none"]
    """``"hnsw"`` (default) or ``"none"`` (always exact search)."""
    text_search_config: str
    """PostgreSQL text search configuration for keyword search (default ``"english"``)."""
    collapse: bool | CollapseConfig
    """Collapse near-duplicates in search results (``_quality``); default off."""
    ranking: RankingConfig
    """Blend relevance with recency and importance (``_quality``); default relevance only."""
    track_access: bool | AccessConfig
    """Count accesses of items on get/search hits, batched (``_usage``); default off."""
    query_log: bool | QueryLogConfig
    """Log every search (``_usage``); default off."""


class PgVectorTTLConfig(TTLConfig, total=False):
    """langgraph's `TTLConfig`. ``omit_expired`` defaults to ``True`` here: an expired item is
    never returned, even before the sweeper deletes it."""


# --------------------------------------------------------------------------------------------
# Configuration


@dataclass
class ResolvedIndex:
    """The index config, checked and with defaults filled in."""

    dims: int | None
    embeddings: Embeddings | None
    fields: list[str]
    tokenized: list[tuple[str, list[str] | Literal["$"]]]
    distance: DistanceType
    mode: SearchMode
    vector_type: Literal["vector", "halfvec"]
    ann: Literal["hnsw", "none"]
    m: int
    ef_construction: int
    ef_search: int | None
    ts_config: str
    quality: QualityConfig = field(default_factory=QualityConfig)
    usage: UsageConfig = field(default_factory=UsageConfig)

    @property
    def has_vectors(self) -> bool:
        return self.dims is not None

    @property
    def uses_vectors(self) -> bool:
        return self.has_vectors and self.mode in ("vector", "hybrid")

    @property
    def uses_keywords(self) -> bool:
        return self.mode in ("keyword", "hybrid")


_TS_CONFIG_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"index[{name!r}] must be a positive integer, got {value!r}")
    return value


def resolve_index(index: Mapping[str, Any] | None, embeddings: Embeddings | None) -> ResolvedIndex:
    """Check an index config (`embeddings` already resolved from ``index["embed"]``)."""
    index = dict(index or {})
    known = set(PgVectorIndexConfig.__annotations__) | {"dims", "embed", "fields"}
    unknown = sorted(set(index) - known)
    if unknown:
        raise ConfigError(
            f"unknown index config key(s) {unknown}; accepted: {', '.join(sorted(known))}"
        )
    dims = index.get("dims")
    if dims is not None:
        dims = _positive_int(dims, "dims")
    if (dims is None) != (embeddings is None):
        raise ConfigError(
            "index needs both 'dims' and 'embed' for vector search (or neither, with "
            "search_mode='keyword')"
        )
    fields = index.get("fields") or ["$"]
    if isinstance(fields, str) or not all(isinstance(f, str) and f for f in fields):
        raise ConfigError(f"index['fields'] must be a list of paths, got {fields!r}")
    distance = index.get("distance_type", "cosine")
    if distance not in ("cosine", "l2", "inner_product"):
        raise ConfigError(
            f"index['distance_type']={distance!r}; use 'cosine', 'l2' or 'inner_product'"
        )
    mode = index.get("search_mode", "hybrid" if dims is not None else "keyword")
    if mode not in ("vector", "keyword", "hybrid"):
        raise ConfigError(f"index['search_mode']={mode!r}; use 'vector', 'keyword' or 'hybrid'")
    if mode != "keyword" and dims is None:
        raise ConfigError(
            f"search_mode={mode!r} needs 'dims' and 'embed'; without an embedding model use "
            "search_mode='keyword'"
        )
    vector_type = index.get("vector_type")
    if vector_type is None:
        vector_type = "halfvec" if dims is not None and dims > MAX_VECTOR_DIMS else "vector"
    if vector_type not in ("vector", "halfvec"):
        raise ConfigError(f"index['vector_type']={vector_type!r}; use 'vector' or 'halfvec'")
    ann = index.get("ann_index", "hnsw")
    if ann not in ("hnsw", "none"):
        raise ConfigError(f"index['ann_index']={ann!r}; use 'hnsw' or 'none'")
    if dims is not None and ann == "hnsw":
        limit = MAX_VECTOR_DIMS if vector_type == "vector" else MAX_HALFVEC_DIMS
        if dims > limit:
            raise ConfigError(
                f"an HNSW index on {vector_type} supports at most {limit} dims, got dims={dims}; "
                "use vector_type='halfvec' (up to 4000) or ann_index='none'"
            )
    hnsw = dict(index.get("hnsw") or {})
    bad = sorted(set(hnsw) - set(HNSWIndexConfig.__annotations__))
    if bad:
        raise ConfigError(
            f"unknown index['hnsw'] key(s) {bad}; accepted: m, ef_construction, ef_search"
        )
    ts_config = index.get("text_search_config", "english")
    if not isinstance(ts_config, str) or not _TS_CONFIG_RE.match(ts_config):
        raise ConfigError(
            f"index['text_search_config']={ts_config!r} is not a text search configuration name"
        )
    return ResolvedIndex(
        dims=dims,
        embeddings=embeddings,
        fields=list(fields),
        tokenized=[(f, "$" if f == "$" else tokenize_path(f)) for f in fields],
        distance=distance,
        mode=mode,
        vector_type=cast(Literal["vector", "halfvec"], vector_type),
        ann=ann,
        m=_positive_int(hnsw.get("m", DEFAULT_M), "hnsw.m"),
        ef_construction=_positive_int(
            hnsw.get("ef_construction", DEFAULT_EF_CONSTRUCTION), "hnsw.ef_construction"
        ),
        ef_search=(
            _positive_int(hnsw["ef_search"], "hnsw.ef_search") if "ef_search" in hnsw else None
        ),
        ts_config=ts_config,
        quality=resolve_quality(index),
        usage=resolve_usage(index),
    )


def validate_schema_name(schema: str) -> str:
    if not isinstance(schema, str) or not schema or len(schema) > 63 or "\x00" in schema:
        raise ConfigError(
            f"schema must be a non-empty name of at most 63 characters, got {schema!r}"
        )
    return schema


def exact_filter_rows(vectors: float) -> int:
    """How many items may contain a search's filter for the search to score every one of them
    exactly (filter first) instead of reading the HNSW index, on a table of about `vectors`
    vectors: `EXACT_FILTER_ROWS`, or `EXACT_FILTER_FRACTION` of the table if that is more, up to
    `EXACT_FILTER_MAX_ROWS`.

    Examples:
        >>> exact_filter_rows(20_000), exact_filter_rows(100_000), exact_filter_rows(1_000_000)
        (2500, 2500, 15000)
        >>> exact_filter_rows(50_000_000)
        20000
    """
    scaled = int(EXACT_FILTER_FRACTION * max(0.0, vectors))
    return max(EXACT_FILTER_ROWS, min(EXACT_FILTER_MAX_ROWS, scaled))


def auto_ef_search(
    rows: float,
    *,
    filtered: bool,
    fetch: int,
    m: int = DEFAULT_M,
    ef_construction: int = DEFAULT_EF_CONSTRUCTION,
) -> int:
    """The default ``hnsw.ef_search`` for an index of about `rows` vectors built with `m` and
    `ef_construction` (see `EF_CALIBRATION`).

    Examples:
        >>> auto_ef_search(5000, filtered=False, fetch=10)
        200
        >>> auto_ef_search(100_000, filtered=False, fetch=10)
        351
        >>> auto_ef_search(100_000, filtered=True, fetch=10)
        702
        >>> auto_ef_search(100_000, filtered=False, fetch=10, m=16, ef_construction=64)
        526
    """
    base = EF_CALIBRATION[max(k for k in EF_CALIBRATION if k[0] <= m and k[1] <= ef_construction)]
    ef = base * max(1.0, rows / EF_SCALE_ROWS) ** EF_SCALE_EXPONENT
    if filtered:
        ef *= EF_FILTER_FACTOR
    return int(min(MAX_EF_SEARCH, max(ef, fetch)))
