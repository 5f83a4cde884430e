"""Multi-host connection strings (libpq failover): accepted, checked, and redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from langgraph_hybrid_memory import MemoryConfig
from langgraph_hybrid_memory._config import redact_conninfo
from langgraph_hybrid_memory.errors import ConfigError

SECRET = "hunter2"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://bob:{SECRET}@a:5432,b:5433/app?target_session_attrs=read-write",
        f"host=a,b port=5432,5433 password={SECRET} dbname=app target_session_attrs=read-write",
        f"postgresql://bob@a,b/app?password={SECRET}&target_session_attrs=primary",
    ],
)
def test_multihost_urls_are_accepted_and_redacted(url: str, tmp_path: Path) -> None:
    cfg = MemoryConfig.from_env({"DATABASE_URL": url}, data_dir=tmp_path)
    assert cfg.database_url == url
    assert SECRET not in redact_conninfo(url) and SECRET not in repr(cfg)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("host=a,b port=1,2,3 dbname=app", "2 host(s) but 3 ports"),
        ("host=a,b dbname=app target_session_attrs=readwrite", "target_session_attrs='readwrite'"),
    ],
)
def test_bad_multihost_urls_name_the_variable(url: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DATABASE_READ_URL") as info:
        MemoryConfig.from_env(
            {"DATABASE_URL": "host=a dbname=app", "DATABASE_READ_URL": url}, data_dir=tmp_path
        )
    assert message in str(info.value)
