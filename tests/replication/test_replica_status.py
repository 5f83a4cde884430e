"""`admin.status` and `lghm status` report the real standby's lag (and a paused replay)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from langgraph_hybrid_memory import MemoryConfig, admin
from tests.cli.test_admin_cli import env_for, invoke
from tests.replication._cluster import ReplicaCluster
from tests.replication.test_read_routing import dbs  # noqa: F401  (fixture)


def test_status_reports_replica_lag(
    cluster: ReplicaCluster,
    dbs: tuple[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    primary, standby = dbs
    cfg = MemoryConfig(
        memory_type="postgres",
        database_url=primary,
        read_url=standby,
        data_dir=tmp_path,
        embeddings="none",
    )
    with admin.AdminContext(cfg) as ctx:
        admin.setup(ctx)
        cluster.wait_caught_up()
        report = admin.status(ctx)
        assert report["replica"]["reachable"] and report["replica"]["in_recovery"]
        assert report["replica"]["lag_seconds"] == 0.0 and not report["replica"]["replay_paused"]
        assert report["healthy"], report["problems"]

        cluster.pause_replay()
        # A write the paused standby cannot replay.
        with psycopg.connect(primary, autocommit=True) as conn:
            conn.execute("CREATE TABLE lag_probe AS SELECT generate_series(1, 1000) AS x")
        report = admin.status(ctx)
        replica = report["replica"]
        assert replica["replay_paused"] and replica["lag_bytes"] > 0
        assert not report["healthy"]
        assert any("replay is paused" in p for p in report["problems"])

    env = env_for(primary, tmp_path, memory_type="postgres")
    env["DATABASE_READ_URL"] = standby
    result = invoke(["status", "--json"], env)
    shown = json.loads(result.output)["replica"]
    assert shown["replay_paused"] and shown["lag_bytes"] > 0
    table = invoke(["status"], env).output
    assert "replica lag (bytes)" in table and "replica replay paused" in table
