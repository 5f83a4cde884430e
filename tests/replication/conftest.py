"""Fixtures of the replication tests: one real primary + hot standby per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.replication._cluster import ReplicaCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[ReplicaCluster]:
    """A primary and a streaming hot standby (started once per module, always torn down)."""
    c = ReplicaCluster()
    try:
        yield c
    finally:
        c.close()
