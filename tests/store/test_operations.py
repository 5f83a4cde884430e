"""Operational behaviour: filters agree with `_filters.matches` on random input, concurrent
setup, dead connections, the async store's sync bridge, bulk loading, scale-out layout and
the read replica."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.base import PutOp
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from langgraph_hybrid_memory._filters import matches
from langgraph_hybrid_memory._pg import CONNECTION_KWARGS, get_connection
from langgraph_hybrid_memory.store import PgVectorStore
from langgraph_hybrid_memory.store._sqlfilter import containment
from langgraph_hybrid_memory.store.aio import AsyncPgVectorStore
from tests.store.conftest import MakeStore
from tests.support import FakeEmbeddings

# -- filters: SQL translation == Python semantics ------------------------------------------

_labels = st.sampled_from(["a", "b", "c"])
_text = st.text(alphabet=st.sampled_from("aAbB_%\\é\u20ac\U0001f600 "), max_size=3)
# Integers beyond 2**53 and huge floats have no exact common decimal form in JSON, so Python's
# binary comparison and PostgreSQL's numeric one may legitimately differ there.
_numbers = st.integers(-20, 20) | st.floats(-20, 20, allow_nan=False).map(lambda x: round(x, 2))
_scalars = st.none() | st.booleans() | _numbers | _text
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_labels, inner, max_size=2),
    max_leaves=4,
)
_values = st.dictionaries(_labels, _json, max_size=3)


def _conditions(depth: int = 0) -> st.SearchStrategy[Any]:
    ops = st.one_of(
        st.fixed_dictionaries({"$eq": _json}),
        st.fixed_dictionaries({"$ne": _json}),
        st.fixed_dictionaries({"$gt": _numbers | _text}),
        st.fixed_dictionaries({"$gte": _numbers | _text, "$lt": _numbers | _text}),
        st.fixed_dictionaries({"$lte": _numbers | _text}),
        st.fixed_dictionaries({"$in": st.lists(_json, max_size=3)}),
        st.fixed_dictionaries({"$nin": st.lists(_json, max_size=3)}),
        st.fixed_dictionaries({"$exists": st.booleans()}),
    )
    plain = _scalars | st.lists(_scalars, max_size=2)
    if depth >= 1:
        return ops | plain
    return ops | plain | st.dictionaries(_labels, _conditions(depth + 1), min_size=1, max_size=2)


_filters = st.dictionaries(_labels, _conditions(), min_size=1, max_size=2)


@pytest.fixture
def filter_store(pg_url: str) -> Iterator[PgVectorStore]:
    conn = get_connection(pg_url)
    store = PgVectorStore(conn)
    store.setup()
    yield store
    conn.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.lists(_values, min_size=1, max_size=6), filter=_filters)
def test_sql_filters_agree_with_python_semantics(
    filter_store: PgVectorStore, values: list[dict[str, Any]], filter: dict[str, Any]
) -> None:
    store = filter_store
    store.batch([PutOp(("h",), str(i), v) for i, v in enumerate(values)])
    try:
        got = sorted(int(i.key) for i in store.search(("h",), filter=filter, limit=100))
        want = [i for i, v in enumerate(values) if matches(v, filter)]
        assert got == want, (values, filter)
    finally:
        store.batch([PutOp(("h",), str(i), None) for i in range(len(values))])


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=st.lists(_values, min_size=1, max_size=6), filter=_filters)
def test_containment_is_implied_by_every_match(
    pg_url: str, values: list[dict[str, Any]], filter: dict[str, Any]
) -> None:
    """The selective-filter plan reads candidates through ``value @> containment(filter)``
    (GIN index) before the filter's own SQL: no matching value may fail it."""
    doc = containment(filter)
    if doc is None:
        return
    matching = [v for v in values if matches(v, filter)]
    if not matching:
        return
    with psycopg.connect(pg_url) as conn:
        for v in matching:
            row = conn.execute(
                "SELECT %s::jsonb @> %s::jsonb", (json.dumps(v), json.dumps(doc))
            ).fetchone()
            assert row is not None and row[0], (v, filter, doc)


# -- setup, connections --------------------------------------------------------------------


def test_concurrent_setup_from_many_threads(pg_url: str) -> None:
    index = {"dims": 8, "embed": FakeEmbeddings(8), "fields": ["t"]}
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with PgVectorStore.from_conn_string(pg_url, index=index) as s:  # type: ignore[arg-type]
                s.setup()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM memory.store_migrations").fetchone() == (5,)
        assert conn.execute("SELECT count(*) FROM memory.store_vector_migrations").fetchone() == (
            4,
        )
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
        assert invalid == (0,)


def _kill_backends(pg_url: str) -> int:
    dbname = psycopg.conninfo.conninfo_to_dict(pg_url)["dbname"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchall()
    return len(rows)


def test_dead_pooled_connection_is_retried_once(pg_url: str) -> None:
    # No health check on borrow (check=None), so the store itself meets the dead connection.
    pool: ConnectionPool[Any] = ConnectionPool(
        pg_url, kwargs=CONNECTION_KWARGS, min_size=1, max_size=1, open=True
    )
    try:
        s = PgVectorStore(pool)
        s.setup()
        s.put(("a",), "k", {"v": 1})
        assert _kill_backends(pg_url) >= 1
        assert s.get(("a",), "k").value == {"v": 1}  # type: ignore[union-attr]
    finally:
        pool.close()


def test_single_dead_connection_raises(pg_url: str) -> None:
    conn = get_connection(pg_url)
    s = PgVectorStore(conn)
    s.setup()
    _kill_backends(pg_url)
    with pytest.raises(psycopg.OperationalError):
        s.get(("a",), "k")
    conn.close()


async def test_async_pool_retry_and_parallel_calls(pg_url: str) -> None:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        pg_url, kwargs=CONNECTION_KWARGS, min_size=4, max_size=4, open=False
    )
    await pool.open(wait=True)
    async with pool:
        s = AsyncPgVectorStore(pool)
        await s.setup()
        await asyncio.gather(*(s.aput(("p", str(i)), "k", {"i": i}) for i in range(20)))
        _kill_backends(pg_url)
        results = await asyncio.gather(*(s.aget(("p", str(i)), "k") for i in range(20)))
        assert [r.value["i"] for r in results] == list(range(20))  # type: ignore[union-attr]


async def test_async_store_sync_bridge(pg_url: str) -> None:
    async with AsyncPgVectorStore.from_conn_string(pg_url) as s:
        await s.setup()
        with pytest.raises(asyncio.InvalidStateError, match="a\\* methods"):
            s.put(("a",), "k", {"v": 1})
        # From another thread (a sync node of an async graph) the sync API works.
        await asyncio.to_thread(s.put, ("a",), "k", {"v": 1})
        item = await asyncio.to_thread(s.get, ("a",), "k")
        assert item is not None and item.value == {"v": 1}


def test_sync_store_async_methods(pg_url: str) -> None:
    with PgVectorStore.from_conn_string(pg_url) as s:
        s.setup()

        async def main() -> Any:
            await s.aput(("a",), "k", {"v": 1})
            return await s.aget(("a",), "k")

        assert asyncio.run(main()).value == {"v": 1}


# -- bulk ----------------------------------------------------------------------------------


async def test_bulk_put_loads_replaces_and_rebuilds_index(make_store: MakeStore) -> None:
    emb = FakeEmbeddings(16)
    s = await make_store(index={"dims": 16, "embed": emb, "fields": ["t", "tags[*]"]}, ttl={})
    await s.put(("users", "u0"), "k0", {"t": "old text", "tags": ["x", "y", "z"]})
    ops = [
        PutOp(("users", f"u{i % 7}"), f"k{i}", {"t": f"memory number {i}", "tags": ["a"]}, ttl=5)
        for i in range(300)
    ]
    calls = emb.calls
    assert await s.bulk_put([*ops, ops[3]._replace(value={"t": "last wins"})]) == 300
    assert emb.calls == calls + 1
    assert s.sql("SELECT count(*) FROM memory.items") == [(300,)]
    # k0's three old tag vectors were replaced by one tag + one text vector.
    assert s.sql("SELECT count(*) FROM memory.vectors WHERE key = 'k0'") == [(2,)]
    assert (await s.get(("users", "u3"), "k3")).value == {"t": "last wins"}
    assert s.sql("SELECT count(*) FROM memory.items WHERE ttl_minutes = 5") == [(300,)]
    idx = s.sql(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = 'vectors_embedding_idx'"
    )
    assert idx == [(True,)]
    hits = await s.search(("users", "u5"), query="memory number 5", limit=3)
    assert hits[0].key == "k5"
    with pytest.raises(ValueError, match="delete with batch"):
        await s.bulk_put([PutOp(("users", "u1"), "k1", None)])


# -- scale-out layout, replica -------------------------------------------------------------


async def test_primary_keys_lead_with_scope(make_store: MakeStore) -> None:
    s = await make_store(index={"dims": 8, "embed": FakeEmbeddings(8)}, scope_depth=2)
    pk = (
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)"
    )
    assert [r[0] for r in s.sql(pk, ("memory.items",))] == ["scope", "namespace", "key"]
    assert [r[0] for r in s.sql(pk, ("memory.vectors",))] == ["scope", "namespace", "key", "field"]
    await s.put(("users", "u1", "memories"), "k", {"text": "x"})
    await s.put(("docs",), "k", {"text": "x"})
    assert sorted(s.sql("SELECT scope FROM memory.items")) == [("docs",), ("users.u1",)]
    assert sorted(s.sql("SELECT scope FROM memory.vectors")) == [("docs",), ("users.u1",)]


def test_reads_go_to_the_read_connection(pg_url: str, pg_server_url: str) -> None:
    # A second database stands in for a replica: what the store reads must come from it.
    import uuid

    from tests.conftest import _with_dbname

    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    replica_url = _with_dbname(pg_server_url, name)
    try:
        with PgVectorStore.from_conn_string(replica_url) as r:
            r.setup()
            r.put(("a",), "k", {"from": "replica"})
        with PgVectorStore.from_conn_string(pg_url, read_conn_string=replica_url) as s:
            s.setup()
            s.put(("a",), "k", {"from": "primary"})
            assert s.get(("a",), "k").value == {"from": "replica"}  # type: ignore[union-attr]
            assert s.search(("a",))[0].value == {"from": "replica"}
        with PgVectorStore.from_conn_string(pg_url) as s:
            assert s.get(("a",), "k").value == {"from": "primary"}  # type: ignore[union-attr]
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.mark.slow
def test_store_recovers_after_a_server_restart(private_pg: Any) -> None:
    """Outage: calls fail clearly while the server is down and work again once it is back,
    on the same store and pool (dead connections are replaced, not reused)."""
    # A short pool timeout so the outage shows quickly; health-checked as _pg.make_pool does.
    with ConnectionPool(
        private_pg.url,
        kwargs={**CONNECTION_KWARGS, "connect_timeout": 2},
        min_size=1,
        max_size=2,
        timeout=3,
        check=ConnectionPool.check_connection,
    ) as pool:
        s = PgVectorStore(pool)
        s.setup()
        s.put(("a",), "k", {"v": 1})
        private_pg.stop()
        with pytest.raises(psycopg.OperationalError):
            s.get(("a",), "k")
        private_pg.start()
        # The pool reconnects in the background with backoff: wait for it (bounded).
        deadline = time.monotonic() + 60
        while True:
            try:
                item = s.get(("a",), "k")
                break
            except psycopg_pool.PoolTimeout:
                if time.monotonic() > deadline:
                    raise
        assert item is not None and item.value == {"v": 1}
        s.put(("a",), "k2", {"v": 2})
        assert len(s.search(("a",))) == 2


def _index_pages_read(s: Any, query: str, index: str) -> int:
    """Pages the index scans of `index` in `query`'s plan touched (EXPLAIN ANALYZE)."""
    plan = s.sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query)[0][0][0]["Plan"]
    total, nodes = 0, [plan]
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        if node.get("Index Name") == index:
            total += node["Shared Hit Blocks"] + node["Shared Read Blocks"]
    return total


async def test_bulk_put_leaves_no_gin_pending_list(make_store: MakeStore) -> None:
    """The GIN indexes a load maintains row by row hold its rows in their pending lists, which
    every keyword or containment lookup reads through until a vacuum: `bulk_put` merges them."""
    s = await make_store(index={"fields": ["t"], "search_mode": "keyword"})
    await s.bulk_put(PutOp(("big",), f"k{i}", {"t": "filler words"}) for i in range(2000))
    # A load below the rebuild ratio maintains the value index too.
    await s.bulk_put(
        PutOp(("users", f"u{i % 7}"), f"j{i}", {"t": f"note {i} about things", "tag": f"t{i}"})
        for i in range(300)
    )
    tsv = "SELECT key FROM memory.items WHERE tsv @@ 'absentword'::tsquery"
    value = """SELECT key FROM memory.items WHERE value @> '{"tag": "absent"}'"""
    assert _index_pages_read(s, tsv, "items_tsv_idx") <= 3
    assert _index_pages_read(s, value, "items_value_idx") <= 3
