"""`_replica` without a server: LSN parsing and the fence's rules."""

from __future__ import annotations

from langgraph_hybrid_memory._replica import UNKNOWN, ReadYourWrites, lag_report, parse_lsn


def test_parse_lsn_orders_like_pg_lsn() -> None:
    assert parse_lsn("0/0") == 0
    assert parse_lsn("0/16B3748") == 0x16B3748
    assert parse_lsn("1/0") == 1 << 32
    assert parse_lsn("1/0") > parse_lsn("0/FFFFFFFF")


def test_fence_holds_until_the_replica_passes_it() -> None:
    ryw = ReadYourWrites()
    assert ryw.replica_ok("0/10")  # no write yet
    ryw.wrote(parse_lsn("0/100"))
    ryw.wrote(parse_lsn("0/50"))  # an older position never lowers the fence
    assert not ryw.replica_ok("0/FF")
    assert ryw.fence == 0x100
    assert ryw.replica_ok("0/100") and ryw.fence is None
    ryw.wrote_unknown()
    assert ryw.fence == UNKNOWN and not ryw.replica_ok("F/0")
    ryw.wrote(5)
    assert ryw.replica_ok(None)  # not in recovery (promoted): it has everything


def test_lag_report() -> None:
    replica = {
        "in_recovery": True,
        "replay_lsn": "0/100",
        "pause_state": "paused",
        "lag_seconds": 1.23456,
    }
    lag = lag_report({"lsn": "0/180"}, replica)
    assert lag == {
        "in_recovery": True,
        "lag_bytes": 0x80,
        "lag_seconds": 1.235,
        "replay_paused": True,
    }
    assert lag_report(None, replica)["lag_bytes"] is None
    promoted = dict(replica, in_recovery=False, pause_state=None, lag_seconds=None)
    assert lag_report({"lsn": "0/180"}, promoted)["lag_bytes"] == 0
