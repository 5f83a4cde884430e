"""Embedding specs and the real offline model."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from langchain_core.embeddings import Embeddings

from langgraph_hybrid_memory import ConfigError
from langgraph_hybrid_memory._embeddings import (
    LocalEmbeddings,
    embedding_dims,
    resolve_embeddings,
)
from tests.support import FakeEmbeddings


def _cos(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_specs_resolve() -> None:
    fake = FakeEmbeddings(dims=8)
    assert resolve_embeddings(fake) is fake
    assert resolve_embeddings(None) is None
    assert resolve_embeddings("none") is None
    assert isinstance(resolve_embeddings("local"), LocalEmbeddings)
    from_func = resolve_embeddings(lambda texts: [[1.0, 0.0] for _ in texts])
    assert isinstance(from_func, Embeddings)
    assert from_func.embed_documents(["a", "b"]) == [[1.0, 0.0], [1.0, 0.0]]


def test_openai_spec_builds_client_without_calling_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    emb = resolve_embeddings("openai:text-embedding-3-large")
    assert emb is not None
    assert embedding_dims(emb) == 3072  # read from the known model table: no network call


@pytest.mark.parametrize("spec", ["cohere:embed-v3", "openai:", "bert", ""])
def test_bad_specs_are_named(spec: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_embeddings(spec)
    assert repr(spec) in str(err.value)


def test_dims_probe_for_unknown_models() -> None:
    assert embedding_dims(FakeEmbeddings(dims=12)) == 12  # FakeEmbeddings exposes .dims
    probe = resolve_embeddings(lambda texts: [[0.5] * 7 for _ in texts])
    assert probe is not None and embedding_dims(probe) == 7


@pytest.mark.quality
def test_local_model_is_real_and_semantic(local_embeddings: LocalEmbeddings) -> None:
    tea, coffee, car = local_embeddings.embed_documents(
        ["I love drinking green tea", "I enjoy a cup of coffee", "The car needs new tyres"]
    )
    assert len(tea) == 384 and embedding_dims(local_embeddings) == 384
    assert abs(math.sqrt(sum(x * x for x in tea)) - 1.0) < 1e-4  # normalised
    assert _cos(tea, coffee) > _cos(tea, car) + 0.1
