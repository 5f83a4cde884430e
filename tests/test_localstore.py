"""`LocalStore` behaviour beyond the shared contract: persistence, TTL clock, sweeping, config
errors, sharing the file with langgraph's SqliteSaver, and batching of embedding calls."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.store.base import GetOp, PutOp, SearchOp

from langgraph_hybrid_memory import ConfigError, LocalStore
from langgraph_hybrid_memory._embeddings import LocalEmbeddings
from langgraph_hybrid_memory._filters import matches
from langgraph_hybrid_memory._sqlite import LocalDB
from langgraph_hybrid_memory.localstore import base as b
from tests import store_contract as contract
from tests.support import FakeEmbeddings


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(LocalStore, "_now", staticmethod(c))
    return c


def test_data_survives_reopen_and_is_shared_through_localdb(
    sqlite_path: Path, fake_embeddings: FakeEmbeddings
) -> None:
    index: Any = {"embed": fake_embeddings, "fields": ["text"]}
    with LocalStore.from_conn_string(sqlite_path, index=index) as store:
        store.put(("u", "1"), "tea", {"text": "green tea"})
        assert store.db is LocalDB.open(sqlite_path)  # the process-wide handle
        store.db.close()
    with LocalStore.from_conn_string(sqlite_path, index=index) as store:
        item = store.get(("u", "1"), "tea")
        assert item is not None and item.value == {"text": "green tea"}
        assert [h.key for h in store.search(("u",), query="tea")] == ["tea"]
        assert store.stats()["items"] == 1 and store.stats()["vectors"] == 1


def test_one_embedding_call_per_batch_and_duplicates_embedded_once(
    sqlite_path: Path, fake_embeddings: FakeEmbeddings
) -> None:
    with LocalStore.from_conn_string(
        sqlite_path, index={"embed": fake_embeddings, "fields": ["a", "b"]}
    ) as store:
        store.batch(
            [PutOp(("n",), f"k{i}", {"a": "same text", "b": f"text {i % 3}"}) for i in range(10)]
        )
        assert fake_embeddings.calls == 1
        assert sorted(fake_embeddings.texts) == sorted(["same text", "text 0", "text 1", "text 2"])
        store.put(("n",), "k0", {"a": "x"}, index=False)  # not indexed: no call
        assert fake_embeddings.calls == 1


def test_ttl_refresh_on_read_and_fractional_minutes(sqlite_path: Path, clock: Clock) -> None:
    with LocalStore.from_conn_string(
        sqlite_path, ttl={"refresh_on_read": True, "omit_expired": True}
    ) as store:
        store.put(("t",), "k", {"v": 1}, ttl=0.5)  # 30 seconds
        clock.now += 20
        assert store.get(("t",), "k") is not None  # refreshes: expires 30 s from now
        clock.now += 20
        assert store.get(("t",), "k", refresh_ttl=False) is not None
        clock.now += 20  # 40 s after the refresh
        assert store.get(("t",), "k") is None
        store.put(("t",), "s", {"v": 2}, ttl=1)
        clock.now += 50
        assert [i.key for i in store.search(("t",))] == ["s"]  # a search refreshes too
        clock.now += 50
        assert [i.key for i in store.search(("t",), refresh_ttl=False)] == ["s"]
        clock.now += 11
        assert store.search(("t",)) == []


def test_refresh_on_read_false_in_config(sqlite_path: Path, clock: Clock) -> None:
    with LocalStore.from_conn_string(sqlite_path, ttl={"refresh_on_read": False}) as store:
        store.put(("t",), "k", {"v": 1}, ttl=1)
        clock.now += 40
        assert store.get(("t",), "k") is not None  # the wrapper passes refresh_ttl=False
        clock.now += 40
        assert store.get(("t",), "k") is None


def test_omit_expired_false_shows_items_until_swept(sqlite_path: Path, clock: Clock) -> None:
    with LocalStore.from_conn_string(sqlite_path, ttl={"omit_expired": False}) as store:
        store.put(("t",), "k", {"v": 1}, ttl=1)
        clock.now += 120
        assert store.get(("t",), "k") is not None
        assert store.list_namespaces() == [("t",)]
        assert store.sweep_ttl() == 1
        assert store.get(("t",), "k") is None


def test_sweep_deletes_in_batches_with_vectors_and_keywords(
    sqlite_path: Path, clock: Clock, fake_embeddings: FakeEmbeddings
) -> None:
    store = LocalStore(
        sqlite_path, index={"embed": fake_embeddings, "fields": ["t"]}, sweep_batch_size=3
    )
    try:
        store.batch([PutOp(("x",), f"e{i}", {"t": f"old {i}"}, ttl=1) for i in range(10)])
        store.put(("x",), "keep", {"t": "old keep"})
        clock.now += 61
        assert store.sweep_ttl() == 10
        with store.db.read() as conn:
            assert conn.execute("SELECT count(*) FROM lghm_store_vectors").fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM lghm_store_fts").fetchone() == (1,)
        assert [h.key for h in store.search(("x",), query="old")] == ["keep"]
    finally:
        store.close()


def test_sweeper_thread_starts_and_stops(sqlite_path: Path) -> None:
    store = LocalStore(sqlite_path, ttl={"sweep_interval_minutes": 1})
    swept = threading.Event()
    original = store.sweep_ttl

    def sweep() -> int:
        n = original()
        swept.set()
        return n

    store.sweep_ttl = sweep  # type: ignore[method-assign]
    future = store.start_ttl_sweeper(sweep_interval_minutes=0.0005)  # every 30 ms
    assert swept.wait(30)
    assert store.stop_ttl_sweeper(timeout=30)
    assert future.result(timeout=30) is None
    store.close()


def test_config_errors_are_clear(sqlite_path: Path, fake_embeddings: FakeEmbeddings) -> None:
    with pytest.raises(ConfigError, match="needs an embedding model"):
        LocalStore(sqlite_path, index={"fields": ["t"], "search_mode": "hybrid"})
    with pytest.raises(ConfigError, match="search_mode"):
        LocalStore(sqlite_path, index={"embed": fake_embeddings, "search_mode": "fuzzy"})  # type: ignore[typeddict-item]
    with pytest.raises(ConfigError, match="distance_type"):
        LocalStore(sqlite_path, index={"embed": fake_embeddings, "distance_type": "hamming"})  # type: ignore[typeddict-item]
    with pytest.raises(ConfigError, match="unknown index setting"):
        LocalStore(sqlite_path, index={"embed": fake_embeddings, "feilds": ["t"]})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(ConfigError, match="unknown ttl setting"):
        LocalStore(sqlite_path, ttl={"default": 5})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(ConfigError, match="'local', 'none'"):
        LocalStore(sqlite_path, index={"embed": "bert"})
    keyword_only = LocalStore(sqlite_path, index={"fields": ["t"]})
    assert keyword_only.search_mode == "keyword" and keyword_only.embeddings is None
    keyword_only.close()


def test_bad_ttl_and_limits_raise_before_writing(sqlite_path: Path) -> None:
    with LocalStore.from_conn_string(sqlite_path) as store:
        for ttl in (-1, 0, float("inf"), "5"):
            with pytest.raises(ValueError, match="ttl"):
                store.batch([PutOp(("a",), "ok", {"v": 1}), PutOp(("a",), "k", {"v": 1}, ttl=ttl)])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="limit"):
            store.batch([PutOp(("a",), "ok", {"v": 1}), SearchOp(("a",), limit=-1)])
        with pytest.raises(ValueError, match="key"):
            store.batch([GetOp(("a",), 5)])  # type: ignore[arg-type]
        assert store.get(("a",), "ok") is None


def test_reopening_with_other_dims_is_refused(sqlite_path: Path) -> None:
    with LocalStore.from_conn_string(
        sqlite_path, index={"embed": FakeEmbeddings(dims=8), "fields": ["t"]}
    ) as store:
        store.put(("a",), "k", {"t": "x"})
    with (
        pytest.raises(ConfigError, match="8-dimensional"),
        LocalStore.from_conn_string(sqlite_path, index={"embed": FakeEmbeddings(dims=16)}),
    ):
        pass


@pytest.mark.parametrize("distance", ["l2", "inner_product"])
def test_other_distances_score_like_postgres(sqlite_path: Path, distance: str) -> None:
    emb = FakeEmbeddings(dims=4)
    vectors = {"a": [1.0, 0.0, 0.0, 0.0], "b": [0.0, 3.0, 0.0, 0.0]}
    emb._embed = lambda text: vectors.get(text, [1.0, 1.0, 0.0, 0.0])  # type: ignore[method-assign]
    index: Any = {"embed": emb, "fields": ["t"], "distance_type": distance, "search_mode": "vector"}
    with LocalStore.from_conn_string(sqlite_path, index=index) as store:
        store.put(("d",), "a", {"t": "a"})
        store.put(("d",), "b", {"t": "b"})
        hits = {h.key: h.score for h in store.search(("d",), query="q")}
    if distance == "l2":  # minus the Euclidean distance
        assert hits == pytest.approx({"a": -1.0, "b": -(5**0.5)})
    else:  # the dot product
        assert hits == pytest.approx({"a": 1.0, "b": 3.0})


def test_shares_the_file_with_sqlite_saver(sqlite_path: Path) -> None:
    # SqliteSaver opens its own connection (see docs/architecture.md); WAL + busy_timeout let
    # both write to the same file.
    conn = sqlite3.connect(str(sqlite_path), check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    with LocalStore.from_conn_string(sqlite_path) as store:
        store.put(("a",), "k", {"v": 1})
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"checkpoints", "writes", "lghm_store"} <= tables
        assert store.get(("a",), "k") is not None
    conn.close()


def test_plan_helpers() -> None:
    assert b.decode_namespace(b.encode_namespace(("a", "b c", "%_"))) == ("a", "b c", "%_")
    assert b.literal_prefix([]) == ()
    with pytest.raises(ValueError, match="JSON"):
        b.dump_value({"x": object()}, "here")


@pytest.mark.quality
def test_hybrid_search_with_the_real_model(
    sqlite_path: Path, local_embeddings: LocalEmbeddings
) -> None:
    index: Any = {"embed": local_embeddings, "fields": ["text"]}
    with LocalStore.from_conn_string(sqlite_path, index=index) as store:
        assert store.dims == 384 and store.search_mode == "hybrid"
        store.put(("u",), "tea", {"text": "I love drinking green tea in the morning"})
        store.put(("u",), "car", {"text": "My car needs new tyres"})
        store.put(("u",), "id", {"text": "Customer reference ZX-99812"})
        assert store.search(("u",), query="favourite hot beverage", limit=1)[0].key == "tea"
        assert store.search(("u",), query="ZX-99812", limit=1)[0].key == "id"


@settings(max_examples=300, deadline=None)
@given(values=contract._values, flt=contract._filter)
def test_sql_prefilter_never_drops_a_match(
    values: list[dict[str, Any]], flt: dict[str, Any]
) -> None:
    # The SQL pre-filter may keep extra rows (matches() checks them) but must never drop one.
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER, value TEXT)")
    conn.executemany(
        "INSERT INTO t VALUES (?, ?)", [(i, b.dump_value(v, "v")) for i, v in enumerate(values)]
    )
    where, params = b.prefilter_sql(flt)
    query = "SELECT id FROM t" + (f" WHERE {where}" if where else "")
    kept = {row[0] for row in conn.execute(query, params)}
    assert {i for i, v in enumerate(values) if matches(v, flt)} <= kept
    conn.close()


def test_threads_and_tasks_share_one_store(
    sqlite_path: Path, fake_embeddings: FakeEmbeddings
) -> None:
    store = LocalStore(sqlite_path, index={"embed": fake_embeddings, "fields": ["t"]})
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(30):
                store.put(("w", str(n)), f"k{i}", {"t": f"note {n} {i}"})
                assert store.get(("w", str(n)), f"k{i}") is not None
                store.search(("w",), query=f"note {n}", limit=3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def tasks() -> None:
        await asyncio.gather(
            *(store.aput(("a",), f"k{i}", {"t": f"async {i}"}) for i in range(40)),
            *(store.asearch(("w",), query="note", limit=5) for _ in range(10)),
        )

    asyncio.run(tasks())
    assert errors == []
    assert store.stats()["items"] == 4 * 30 + 40
    assert len(store.search(("w",), limit=1000)) == 120
    store.close()


_WRITER = """
import sys
from langgraph_hybrid_memory import LocalStore
store = LocalStore(sys.argv[1])
for i in range(200):
    store.put(("p", sys.argv[2]), f"k{i}", {"i": i})
    store.search(("p",), filter={"i": i}, limit=2)
store.close()
"""


def test_two_processes_write_the_same_file(sqlite_path: Path) -> None:
    # WAL + busy_timeout: a second process waits for the write lock instead of failing with
    # "database is locked".
    import subprocess
    import sys

    with LocalStore.from_conn_string(sqlite_path):  # tables exist before both start
        pass
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(sqlite_path), name])
        for name in ("a", "b")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with LocalStore.from_conn_string(sqlite_path) as store:
        assert len(store.search(("p",), limit=1000)) == 400


def test_ties_order_by_namespace_tuple_then_key(sqlite_path: Path) -> None:
    with LocalStore.from_conn_string(sqlite_path) as store:
        store.batch(
            [
                PutOp(("p", "a-b"), "k1", {"v": 1}),
                PutOp(("p", "a", "b"), "k2", {"v": 2}),
                PutOp(("p", "a", "b"), "k1", {"v": 3}),
                PutOp(("p", "a"), "z", {"v": 4}),
            ]
        )
        order = [(i.namespace, i.key) for i in store.search(("p",))]
    # as tuples ("p", "a") < ("p", "a", "b") < ("p", "a-b"), although "p.a-b" < "p.a.b" as text
    assert order == [
        (("p", "a"), "z"),
        (("p", "a", "b"), "k1"),
        (("p", "a", "b"), "k2"),
        (("p", "a-b"), "k1"),
    ]


def test_vectors_keep_the_text_hash_of_their_text(
    sqlite_path: Path, fake_embeddings: FakeEmbeddings
) -> None:
    from langgraph_hybrid_memory._embeddings import text_hash

    with LocalStore.from_conn_string(
        sqlite_path, index={"embed": fake_embeddings, "fields": ["a", "tags[*]"]}
    ) as store:
        store.put(("n",), "k", {"a": "first text", "tags": ["x", "y"]})
        with store.db.read() as conn:
            rows = dict(conn.execute("SELECT field, text_hash FROM lghm_store_vectors"))
    assert rows == {
        "a": text_hash("first text"),
        "tags[*].0": text_hash("x"),
        "tags[*].1": text_hash("y"),
    }
    assert text_hash("x") == hashlib.sha256(b"x").hexdigest()


def test_transfer_engine_copies_items_both_ways(sqlite_path: Path, tmp_path: Path) -> None:
    from langgraph.store.memory import InMemoryStore

    from langgraph_hybrid_memory._transfer import copy_items

    with LocalStore.from_conn_string(sqlite_path) as source:
        source.batch([PutOp(("u", str(i % 3)), f"k{i}", {"i": i}) for i in range(250)])
        middle = InMemoryStore()
        assert copy_items(source, middle).items == 250
        with LocalStore.from_conn_string(tmp_path / "copy.sqlite") as target:
            assert copy_items(middle, target).items == 250
            got = target.get(("u", "1"), "k1")
            assert got is not None and got.value == {"i": 1}
            assert target.stats()["items"] == 250


def test_sweeper_start_is_idempotent_and_stops_when_its_future_is_cancelled(
    sqlite_path: Path,
) -> None:
    store = LocalStore(sqlite_path, ttl={"sweep_interval_minutes": 10})
    try:
        future = store.start_ttl_sweeper()
        # As langgraph's stores: a second start returns the running sweeper's future.
        assert store.start_ttl_sweeper() is future
        assert future.cancel()
        assert store.stop_ttl_sweeper(timeout=30)
        store.start_ttl_sweeper()  # stopped: may start again
    finally:
        store.close()
