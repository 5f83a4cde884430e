"""MemoryConfig's default embeddings: OpenAI with a key, else local if installed, else none."""

from __future__ import annotations

import logging

import pytest

from langgraph_hybrid_memory import MemoryConfig, _config, _embeddings

SECRET = "sk-test-secret-value-1234"


@pytest.fixture(autouse=True)
def _fresh_log_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "_logged_choices", set())


def test_openai_when_the_key_is_set_and_the_key_is_never_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="langgraph_hybrid_memory")
    cfg = MemoryConfig.from_env({"OPENAI_API_KEY": SECRET})
    assert cfg.openai_api_key_set is True
    assert cfg.embeddings_spec() == "openai:text-embedding-3-small"
    assert SECRET not in repr(cfg) and SECRET not in str(vars(cfg))
    assert SECRET not in caplog.text
    assert "openai:text-embedding-3-small" in caplog.text and "OPENAI_API_KEY is set" in caplog.text


def test_local_when_installed_and_no_key() -> None:
    assert _embeddings.local_embeddings_available()  # the test environment has the extra
    assert MemoryConfig.from_env({"OPENAI_API_KEY": "  "}).embeddings_spec() == "local"


def test_none_without_key_or_local_extra(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Simulates an installation without the `local` extra.
    monkeypatch.setattr(_embeddings, "local_embeddings_available", lambda: False)
    caplog.set_level(logging.INFO, logger="langgraph_hybrid_memory")
    assert MemoryConfig.from_env({}).embeddings_spec() == "none"
    assert "keyword search only" in caplog.text and "[local]" in caplog.text


def test_explicit_setting_wins_and_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="langgraph_hybrid_memory")
    env = {"OPENAI_API_KEY": SECRET, "MEMORY_EMBEDDINGS": "local"}
    assert MemoryConfig.from_env(env).embeddings_spec() == "local"
    assert MemoryConfig.from_env(env, embeddings="none").embeddings_spec() == "none"
    assert caplog.records == []


def test_choice_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="langgraph_hybrid_memory")
    cfg = MemoryConfig.from_env({"OPENAI_API_KEY": SECRET})
    for _ in range(3):
        cfg.embeddings_spec()
    MemoryConfig.from_env({"OPENAI_API_KEY": "other"}).embeddings_spec()
    assert len([r for r in caplog.records if "embeddings:" in r.getMessage()]) == 1


def test_only_from_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert MemoryConfig().openai_api_key_set is False  # the constructor never reads os.environ
    assert MemoryConfig.from_env().openai_api_key_set is True
    monkeypatch.delenv("OPENAI_API_KEY")
    assert MemoryConfig.from_env().openai_api_key_set is False
