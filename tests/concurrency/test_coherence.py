"""Cache coherence across instances: a put or delete on instance A reaches instance B's reads
and B's local cache (what answers in an outage) within a second, by LISTEN/NOTIFY."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from langgraph_hybrid_memory import HybridStore
from langgraph_hybrid_memory.errors import ConfigError
from langgraph_hybrid_memory.hybridstore._invalidation import notice_payload, parse_notice

NS = ("users", "u1", "memories")


def _pair(pg_url: str, tmp_path: Path) -> tuple[HybridStore, HybridStore]:
    a = HybridStore(tmp_path / "a.sqlite", pg_url)
    b = HybridStore(tmp_path / "b.sqlite", pg_url)
    a.setup()
    b.setup()
    assert b._listener is not None and b._listener.wait_listening(10)
    return a, b


def _wait(cond: object, timeout: float = 5.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.005)
    raise AssertionError("not within the timeout")


def test_put_on_a_is_visible_on_b_within_a_second(pg_url: str, tmp_path: Path) -> None:
    a, b = _pair(pg_url, tmp_path)
    try:
        b.warm(("users", "u1"))
        lags_get: list[float] = []
        lags_cache: list[float] = []
        for i in range(40):
            a.put(NS, f"k{i}", {"text": f"fact {i}"})
            t0 = time.monotonic()
            lags_get.append(_wait(lambda i=i: b.get(NS, f"k{i}") is not None))
            # B's cache (the outage answer) follows too, without waiting for cache_max_age.
            lags_cache.append(
                time.monotonic() - t0 + _wait(lambda i=i: b.local.get(NS, f"k{i}") is not None)
            )
        a.delete(NS, "k0")
        _wait(lambda: b.local.get(NS, "k0") is None)
        for lags in (lags_get, lags_cache):
            lags.sort()
            assert lags[int(len(lags) * 0.99) - 1] < 1.0, lags
        assert b.status()["invalidation"] == "listen"
        assert b.status()["invalidations"] >= 40
    finally:
        a.close()
        b.close()


def test_cache_age_mode_has_no_listener(pg_url: str, tmp_path: Path) -> None:
    b = HybridStore(tmp_path / "b.sqlite", pg_url, invalidation="cache_age")
    try:
        b.setup()
        assert b._listener is None
        assert b.status()["invalidation"] == "cache_age"
        with psycopg.connect(pg_url) as conn:
            listeners = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%%'"
            ).fetchone()
        assert listeners == (0,)
    finally:
        b.close()


def test_bad_invalidation_value(tmp_path: Path, pg_url: str) -> None:
    with pytest.raises(ConfigError, match="invalidation"):
        HybridStore(tmp_path / "b.sqlite", pg_url, invalidation="always")  # type: ignore[arg-type]


def test_notice_payloads() -> None:
    own = notice_payload("me", [("users", "u1"), ("users", "u1")])
    assert parse_notice(own, "me") == (False, [])
    assert parse_notice(own, "other") == (True, [("users", "u1")])
    huge = notice_payload("me", [("users", f"u{i}" * 20) for i in range(1000)])
    assert parse_notice(huge, "other") == (True, None)
    assert parse_notice("not json", "other") == (True, None)
