"""MemoryConfig: environment parsing, validation and secret hygiene."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from langgraph_hybrid_memory import ConfigError, MemoryConfig
from langgraph_hybrid_memory._config import redact_conninfo


def test_defaults_from_empty_environment() -> None:
    cfg = MemoryConfig.from_env({})
    assert cfg.memory_type == "hybrid"
    assert cfg.database_url is None
    assert cfg.uses_embedded_postgres
    assert cfg.pool_size == 20
    assert cfg.data_dir == Path(".memory").absolute()
    assert cfg.sqlite_path == Path(".memory").absolute() / "memory.sqlite"
    assert cfg.embeddings is None


@pytest.mark.parametrize("value", ["hybrid", "postgres", "sqlite", "memory", " SQLite "])
def test_memory_type_accepted(value: str) -> None:
    assert MemoryConfig.from_env({"MEMORY_TYPE": value}).memory_type == value.strip().lower()


def test_memory_type_rejected_names_variable_and_choices() -> None:
    with pytest.raises(ConfigError) as err:
        MemoryConfig.from_env({"MEMORY_TYPE": "redis"})
    message = str(err.value)
    assert "MEMORY_TYPE='redis'" in message
    for choice in ("hybrid", "postgres", "sqlite", "memory"):
        assert choice in message


def test_explicit_arguments_beat_environment(tmp_path: Path) -> None:
    env = {"MEMORY_TYPE": "postgres", "MEMORY_DATA_DIR": "/elsewhere", "POSTGRES_POOL_SIZE": "5"}
    cfg = MemoryConfig.from_env(env, memory_type="sqlite", data_dir=tmp_path)
    assert cfg.memory_type == "sqlite"
    assert cfg.data_dir == tmp_path
    assert cfg.pool_size == 5


def test_unknown_override_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown MemoryConfig setting"):
        MemoryConfig.from_env({}, memroy_type="sqlite")


def test_database_url_wins_over_parts() -> None:
    env = {"DATABASE_URL": "postgresql://a@h1/db1", "POSTGRES_HOST": "h2"}
    assert MemoryConfig.from_env(env).database_url == "postgresql://a@h1/db1"


def test_url_from_parts_quotes_and_maps_ssl() -> None:
    env = {
        "POSTGRES_HOST": "db.internal",
        "POSTGRES_PORT": "6432",
        "POSTGRES_DB": "agents",
        "POSTGRES_USER": "app",
        "POSTGRES_PASSWORD": "p@ss:w/rd",
        "POSTGRES_SSL": "true",
    }
    cfg = MemoryConfig.from_env(env)
    assert cfg.database_url == (
        "postgresql://app:p%40ss%3Aw%2Frd@db.internal:6432/agents?sslmode=require"
    )
    assert not cfg.uses_embedded_postgres


@pytest.mark.parametrize(
    ("value", "mode"), [("false", "disable"), ("verify-full", "verify-full"), ("1", "require")]
)
def test_ssl_values(value: str, mode: str) -> None:
    cfg = MemoryConfig.from_env({"POSTGRES_HOST": "h", "POSTGRES_SSL": value})
    assert cfg.database_url is not None and cfg.database_url.endswith(f"sslmode={mode}")


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"POSTGRES_HOST": "h", "POSTGRES_SSL": "maybe"}, "POSTGRES_SSL='maybe'"),
        ({"POSTGRES_HOST": "h", "POSTGRES_PORT": "54x"}, "POSTGRES_PORT='54x'"),
        ({"POSTGRES_HOST": "h", "POSTGRES_PORT": "70000"}, "POSTGRES_PORT='70000'"),
        ({"POSTGRES_USER": "app"}, "without POSTGRES_HOST"),
        ({"POSTGRES_POOL_SIZE": "many"}, "POSTGRES_POOL_SIZE='many'"),
        ({"POSTGRES_POOL_SIZE": "0"}, "POSTGRES_POOL_SIZE=0"),
        ({"MEMORY_EMBEDDINGS": "bert"}, "MEMORY_EMBEDDINGS='bert'"),
        ({"DATABASE_URL": "mysql://u:pw@h/db"}, "scheme 'mysql'"),
        ({"DATABASE_URL": "postgresql+psycopg://u:pw@h/db"}, "Remove the '+driver' part"),
        ({"DATABASE_READ_URL": "nonsense=="}, "DATABASE_READ_URL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        MemoryConfig.from_env(env)
    assert fragment in str(err.value)


@pytest.mark.parametrize("env_value", ["local", "none", "openai:text-embedding-3-small"])
def test_embeddings_specs(env_value: str) -> None:
    assert MemoryConfig.from_env({"MEMORY_EMBEDDINGS": env_value}).embeddings == env_value


def test_password_never_in_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cr3t-Value"
    caplog.set_level(logging.DEBUG)
    cfg = MemoryConfig.from_env(
        {
            "DATABASE_URL": f"postgresql://bob:{secret}@db/app",
            "DATABASE_READ_URL": f"host=replica password={secret} dbname=app",
        }
    )
    assert secret not in repr(cfg)
    assert secret not in str(cfg)
    assert "bob:***@db" in repr(cfg)
    assert "password=***" in repr(cfg)
    with pytest.raises(ConfigError) as err:
        MemoryConfig.from_env({"DATABASE_URL": f"postgresql://bob:{secret}@db/app?bogus_option=1"})
    assert secret not in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None
    with pytest.raises(ConfigError) as err2:
        MemoryConfig.from_env(
            {"POSTGRES_HOST": "h", "POSTGRES_PASSWORD": secret, "POSTGRES_SSL": "bogus"}
        )
    assert secret not in str(err2.value)
    assert secret not in caplog.text


@pytest.mark.parametrize(
    ("conninfo", "expected"),
    [
        ("postgresql://bob:pw@db:5432/app", "postgresql://bob:***@db:5432/app"),
        ("postgresql://bob@db/app", "postgresql://bob@db/app"),
        ("postgresql://db/app?user=u&password=pw", "postgresql://db/app?user=u&password=***"),
        ("host=db password=pw dbname=app", "host=db password=*** dbname=app"),
        ("not a = valid == string", "<unparsable connection string>"),
    ],
)
def test_redact_conninfo(conninfo: str, expected: str) -> None:
    assert redact_conninfo(conninfo) == expected


def test_with_overrides_revalidates() -> None:
    cfg = MemoryConfig()
    assert cfg.with_overrides(memory_type="memory").memory_type == "memory"
    with pytest.raises(ConfigError):
        cfg.with_overrides(pool_size=-1)
