"""Memory quality at read time: near-duplicates collapsed, relevance blended with recency and
importance. I/O-free; every store of the package calls it on its ranked candidates.

Two settings in a store's ``index`` config switch it on (both off by default, so a store
behaves exactly as langgraph's until asked):

* ``"collapse"``: ``True`` or ``{"threshold": 0.95}``. Candidates whose indexed text has the same
  hash, or whose vectors have a cosine similarity of at least ``threshold``, are one memory: the
  freshest of them (``updated_at``) is returned in the place of the best ranked one. The store
  fetches more candidates until the page holds ``limit`` distinct memories or the scope has no
  more. ``threshold: 1.0`` collapses identical texts only.
* ``"ranking"``: ``{"relevance": 1.0, "recency": 0.0, "importance": 0.0, "half_life_days":
  30.0, "importance_field": "importance"}``: a query's candidates are re-ordered by
  ``relevance * r + recency * 0.5 ** (age / half_life) + importance * i``, where ``r`` is the
  store's score scaled to 0..1 over the candidates and ``i`` the item's importance (the value
  field ``importance_field``, 0..1, missing = ``default_importance``). The returned score is the
  blend.

Why collapsing is opt-in: a threshold that catches a re-worded fact also catches two distinct
facts that are worded alike ("budget 40 euros" / "budget 40 dollars" are 0.9+ similar with
all-MiniLM-L6-v2), so it cannot be shown never to hide a distinct memory.

Examples:
    >>> cfg = resolve_quality({"collapse": {"threshold": 0.9}})
    >>> cfg.collapse_threshold
    0.9
    >>> resolve_quality({"ranking": {"recency": 0.3, "half_life_days": 7}}).recency
    0.3
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt
from langgraph.store.base import PutOp, SearchItem

from langgraph_hybrid_memory._embeddings import text_hash
from langgraph_hybrid_memory.errors import ConfigError, InvalidValueError

__all__ = [
    "QUALITY_INDEX_KEYS",
    "Candidate",
    "CollapseConfig",
    "QualityConfig",
    "RankingConfig",
    "check_importance",
    "cluster",
    "content_hash",
    "fetch_sizes",
    "rank_and_collapse",
    "resolve_quality",
]

QUALITY_INDEX_KEYS = ("collapse", "ranking")
DEFAULT_THRESHOLD = 0.95
# Candidates fetched per wanted result before collapsing; grows x2 while the page is short.
FETCH_FACTOR = 3
FETCH_MIN_EXTRA = 10


class CollapseConfig(TypedDict, total=False):
    """``index["collapse"]``: near-duplicates in a search's results become one."""

    threshold: float
    """Cosine similarity (0 < t <= 1) at or above which two memories are the same; default
    0.95. Identical indexed texts are always the same."""


class RankingConfig(TypedDict, total=False):
    """``index["ranking"]``: blend relevance with recency and importance (default: relevance
    only, the store's own order)."""

    relevance: float
    """Weight of the store's relevance score (scaled 0..1 over the candidates); default 1."""
    recency: float
    """Weight of ``0.5 ** (age / half_life)`` (age since ``updated_at``); default 0."""
    importance: float
    """Weight of the item's importance (0..1); default 0."""
    half_life_days: float
    """Age (days) at which recency counts half; default 30."""
    importance_field: str
    """Top-level value field holding the importance (a number 0..1); default "importance"."""
    default_importance: float
    """Importance of an item without the field; default 0.5."""


@dataclass(frozen=True)
class QualityConfig:
    """The checked ``collapse`` and ``ranking`` settings of an index."""

    collapse_threshold: float | None = None
    relevance: float = 1.0
    recency: float = 0.0
    importance: float = 0.0
    half_life_days: float = 30.0
    importance_field: str = "importance"
    default_importance: float = 0.5
    ranked: bool = False

    @property
    def active(self) -> bool:
        return self.collapse_threshold is not None or self.ranked

    @property
    def needs_vectors(self) -> bool:
        return self.collapse_threshold is not None and self.collapse_threshold < 1.0


def _unit_number(value: Any, name: str, *, low_open: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value > 0 if low_open else value >= 0) and value <= 1:
        return float(value)
    lo = "above 0" if low_open else "from 0"
    raise ConfigError(f"{name} must be a number {lo} to 1, got {value!r}")


def resolve_quality(index: Mapping[str, Any] | None) -> QualityConfig:
    """Check ``index["collapse"]`` and ``index["ranking"]``; `ConfigError` names the setting."""
    index = index or {}
    collapse = index.get("collapse")
    threshold: float | None = None
    if collapse is True:
        threshold = DEFAULT_THRESHOLD
    elif isinstance(collapse, Mapping):
        bad = sorted(set(collapse) - set(CollapseConfig.__annotations__))
        if bad:
            raise ConfigError(f"unknown index['collapse'] key(s) {bad}; accepted: threshold")
        threshold = _unit_number(
            collapse.get("threshold", DEFAULT_THRESHOLD),
            "index['collapse']['threshold']",
            low_open=True,
        )
    elif collapse not in (None, False):
        raise ConfigError(
            f"index['collapse'] must be True, False or {{'threshold': t}}, got {collapse!r}"
        )
    ranking = index.get("ranking")
    if ranking is None:
        return QualityConfig(collapse_threshold=threshold)
    if not isinstance(ranking, Mapping):
        raise ConfigError(f"index['ranking'] must be a dict (RankingConfig), got {ranking!r}")
    bad = sorted(set(ranking) - set(RankingConfig.__annotations__))
    if bad:
        raise ConfigError(
            f"unknown index['ranking'] key(s) {bad}; accepted: "
            + ", ".join(sorted(RankingConfig.__annotations__))
        )
    weights = {
        k: _unit_number(ranking.get(k, d), f"index['ranking'][{k!r}]")
        for k, d in (("relevance", 1.0), ("recency", 0.0), ("importance", 0.0))
    }
    if sum(weights.values()) <= 0:
        raise ConfigError(
            "index['ranking'] needs a weight above 0 (relevance, recency, importance)"
        )
    half_life = ranking.get("half_life_days", 30.0)
    if (
        not isinstance(half_life, int | float)
        or isinstance(half_life, bool)
        or not math.isfinite(half_life)
        or half_life <= 0
    ):
        raise ConfigError(
            f"index['ranking']['half_life_days'] must be a positive number of days, got "
            f"{half_life!r}"
        )
    fld = ranking.get("importance_field", "importance")
    if not isinstance(fld, str) or not fld:
        raise ConfigError(
            f"index['ranking']['importance_field'] must be a non-empty string, got {fld!r}"
        )
    return QualityConfig(
        collapse_threshold=threshold,
        half_life_days=float(half_life),
        importance_field=fld,
        default_importance=_unit_number(
            ranking.get("default_importance", 0.5), "index['ranking']['default_importance']"
        ),
        ranked=True,
        **weights,
    )


def check_importance(ops: Sequence[Any], cfg: QualityConfig) -> None:
    """Refuse a put whose importance field is not a number from 0 to 1 (before any write)."""
    if not cfg.ranked:
        return
    for op in ops:
        if not isinstance(op, PutOp) or op.value is None or not isinstance(op.value, Mapping):
            continue
        if cfg.importance_field not in op.value:
            continue
        v = op.value[cfg.importance_field]
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float)
            or not math.isfinite(v)
            or not 0 <= v <= 1
        ):
            raise InvalidValueError(
                f"put {tuple(op.namespace)!r} key {op.key!r}: value[{cfg.importance_field!r}] "
                f"(index['ranking']['importance_field']) must be a number from 0 to 1, got {v!r}"
            )


def content_hash(texts: Sequence[str]) -> str:
    """One hash for an item's indexed texts (their order kept): equal texts, equal hash."""
    return text_hash("\x1f".join(texts))


@dataclass
class Candidate:
    """One ranked search result with what collapsing and ranking need."""

    item: SearchItem
    hash: str
    vector: npt.NDArray[np.float32] | None = None
    extra: Any = field(default=None, compare=False)
    """Whatever the store needs back (its row, its id)."""


def fetch_sizes(want: int) -> int:
    """The first candidate fetch for a page of `want` results."""
    return max(want * FETCH_FACTOR, want + FETCH_MIN_EXTRA)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def _blend(cands: list[Candidate], cfg: QualityConfig, now: datetime) -> list[Candidate]:
    scores = [c.item.score for c in cands]
    known = [s for s in scores if s is not None]
    lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
    out: list[tuple[float, int, Candidate]] = []
    for n, c in enumerate(cands):
        s = c.item.score
        rel = 1.0 if s is None or hi == lo else (s - lo) / (hi - lo)
        age_days = max(0.0, (now - _aware(c.item.updated_at)).total_seconds() / 86400.0)
        rec = 0.5 ** (age_days / cfg.half_life_days)
        imp_raw = c.item.value.get(cfg.importance_field, cfg.default_importance)
        imp = float(imp_raw) if isinstance(imp_raw, int | float) else cfg.default_importance
        blended = cfg.relevance * rel + cfg.recency * rec + cfg.importance * imp
        c.item.score = blended
        out.append((blended, n, c))
    out.sort(key=lambda t: (-t[0], t[1]))
    return [c for _, _, c in out]


def _unit(v: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def cluster(cands: Sequence[Candidate], threshold: float | None) -> list[list[Candidate]]:
    """Group candidates (in order) into duplicates: same hash, or cosine >= `threshold` with
    the group's first member. Groups come in the order of their first member."""
    groups: list[list[Candidate]] = []
    by_hash: dict[str, int] = {}
    heads: list[npt.NDArray[np.float32] | None] = []
    limit = 2.0 if threshold is None else threshold  # above any cosine: hashes only
    use_vec = limit < 1.0
    for c in cands:
        g = by_hash.get(c.hash)
        if g is None and use_vec and c.vector is not None:
            v = _unit(c.vector)
            for n, h in enumerate(heads):
                if h is not None and h.shape == v.shape and float(h @ v) >= limit:
                    g = n
                    break
        if g is None:
            g = len(groups)
            groups.append([])
            heads.append(_unit(c.vector) if use_vec and c.vector is not None else None)
        groups[g].append(c)
        by_hash.setdefault(c.hash, g)
    return groups


def rank_and_collapse(
    cands: list[Candidate], cfg: QualityConfig, *, query: bool, now: datetime | None = None
) -> list[Candidate]:
    """Re-rank (with a query and ``ranking`` set), then collapse (with ``collapse`` set): the
    freshest member of each group stands in the place of its best ranked member, with that
    member's score."""
    if cfg.ranked and query:
        cands = _blend(cands, cfg, now or datetime.now(timezone.utc))
    if cfg.collapse_threshold is None:
        return cands
    out: list[Candidate] = []
    for group in cluster(cands, cfg.collapse_threshold):
        head = group[0]
        fresh = max(group, key=lambda c: _aware(c.item.updated_at))
        if fresh is not head:
            fresh.item.score = head.item.score
        out.append(fresh)
    return out
