"""`HybridSaver`: checkpoints in a local SQLite file, selected namespaces flushed to PostgreSQL.

See `HybridSaver` for behaviour and `langgraph_hybrid_memory.checkpoint.base` for the row format.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.constants import TASKS
from psycopg import Connection, Cursor
from psycopg.rows import DictRow

from langgraph_hybrid_memory._asyncguard import not_async
from langgraph_hybrid_memory._migrations import run_migrations
from langgraph_hybrid_memory._outage import note_down
from langgraph_hybrid_memory._outbox import (
    DEFAULT_CLOSE_TIMEOUT,
    OutboxEntry,
    PostgresTarget,
    Replicator,
    check_target,
    redact,
)
from langgraph_hybrid_memory._sqlite import LocalDB, Synchronous
from langgraph_hybrid_memory._sweeper import SweeperThread
from langgraph_hybrid_memory.checkpoint import _lease
from langgraph_hybrid_memory.checkpoint import base as b
from langgraph_hybrid_memory.checkpoint._lease import (
    DEFAULT_LEASE_IDLE,
    DEFAULT_LEASE_TTL,
    DEFAULT_LEASE_WAIT,
    ThreadLeases,
    is_fenced,
    keep_branch,
)
from langgraph_hybrid_memory.checkpoint._retention import (
    CheckpointTTLConfig,
    RetentionReport,
    RetentionStatus,
    RetentionTracker,
    validate_ttl,
)
from langgraph_hybrid_memory.checkpoint._retention import (
    sweep_checkpoints as _sweep_checkpoints,
)
from langgraph_hybrid_memory.checkpoint.base import (
    BaseHybridSaver,
    FlushMode,
    HybridSaverStatus,
    NamespaceSelector,
    PruneStrategy,
)
from langgraph_hybrid_memory.errors import ConfigError, FlushTimeoutError, ThreadBusyError

__all__ = [
    "CheckpointTTLConfig",
    "FlushMode",
    "HybridSaver",
    "HybridSaverStatus",
    "PruneStrategy",
    "RetentionReport",
    "RetentionStatus",
]

_LOCAL_HAS_THREAD = "SELECT 1 FROM lghm_checkpoints WHERE thread_id = ? LIMIT 1"
logger = logging.getLogger("langgraph_hybrid_memory")

FLUSH_MODES = ("write_behind", "write_through")
REPLICATOR_OPTIONS = frozenset(
    {
        "max_entries",
        "full_timeout",
        "batch_size",
        "flush_interval",
        "flush_linger",
        "backoff_initial",
        "backoff_max",
        "max_attempts",
        "connect_timeout",
        "pool_max_size",
    }
)


class HybridSaver(BaseHybridSaver):
    """A checkpointer that writes every step to local SQLite and flushes chosen namespaces to
    PostgreSQL in langgraph's `PostgresSaver` format.

    Local tier: tables ``lghm_checkpoints``/``lghm_checkpoint_blobs``/``lghm_checkpoint_writes``
    in the shared local SQLite file (`LocalDB`), which also holds the outbox. Remote tier:
    ``checkpoints``/``checkpoint_blobs``/``checkpoint_writes`` exactly as `PostgresSaver` writes
    them, so a flushed thread reads back through a plain `PostgresSaver` and a thread written by
    `PostgresSaver` is readable here.

    Modes:
        ``write_behind`` (default): a `put` commits the checkpoint and, when its namespace is
        selected, an outbox entry in **one** local transaction, and returns at local-disk speed.
        A background flusher sends outbox batches to PostgreSQL in per-thread order (the order
        they were written locally: a checkpoint before the writes made against it, those writes
        before the next checkpoint, parents before children), each batch in one PostgreSQL
        transaction, idempotently, with retry and exponential backoff.

        ``write_through``: a `put`/`put_writes` also sends its entry (and any older ones) to
        PostgreSQL before returning. If PostgreSQL is unreachable, the call still returns (the
        step is durable locally; the first failure costs up to ``connect_timeout``, later calls
        skip the attempt while PostgreSQL is known to be down), the entry stays in the outbox for
        the background flusher, ``status()["write_through_degraded"]`` is True and a
        ``checkpoint_flush_failed`` event is logged. Use `flush` to wait until PostgreSQL has
        everything.

    Selection (``flush_namespaces``): patterns over ``checkpoint_ns``: ``[""]`` (default) is the
    root graph only, ``["*"]`` every namespace, ``["", "executor:*"]`` adds one subgraph.

    Warning:
        State of an unselected subgraph namespace lives only in the local file. A thread resumed
        on another machine restarts an interrupted unselected subgraph from its beginning (the
        root graph's pending task re-runs it); a subgraph with ``checkpointer=True`` (state kept
        across calls) loses that state there. Select such namespaces if they must survive the
        machine; leaving per-call subgraphs out saves most of the flush traffic.

    Reads are local first. A thread with no checkpoint in the local file (and nothing pending for
    it in the outbox) is read from PostgreSQL (all its checkpoints, blobs and writes), kept
    locally, and logged as ``thread_hydrated_from_postgres``; if PostgreSQL is unreachable the
    local answer (nothing) stands and ``status()`` says so.

    One owner per thread: a run takes the thread's lease in PostgreSQL on its first read or
    write (one round trip, then cached and renewed in the background; see
    `langgraph_hybrid_memory.checkpoint._lease`). Another instance, on this file or another,
    waits up to ``lease_wait`` seconds and then gets `ThreadBusyError`. A local copy left stale
    by another file's run is re-hydrated before the run reads it; offline work on a thread taken
    over meanwhile is refused by epoch and kept locally as a reported conflict branch
    (``status()["thread_conflicts"]``).

    Deletes (`delete_thread`, `delete_for_runs`, `prune`) apply to both tiers, the remote one in
    outbox order, and leave tombstones in PostgreSQL: a flush of data written (on any machine)
    before a delete never brings the deleted checkpoints back.

    Back-pressure: the outbox is bounded (``max_entries``, default 100,000). When it is full a
    `put` waits up to ``full_timeout`` seconds (default 30) for room, then raises
    `OutboxFullError` without writing anything.

    Args:
        local: Path of the local SQLite file, or a `LocalDB` (shared with the store).
        postgres: PostgreSQL URL/conninfo, a `psycopg_pool.ConnectionPool` or a `Connection`
            (autocommit, ``dict_row``; see `langgraph_hybrid_memory._pg`), or an
            `AsyncConnectionPool` (the flusher is a thread, so it opens its own small sync pool
            with the same conninfo and arguments). An `AsyncConnection` is refused with
            `ConfigError`: it cannot be shared with a thread nor reopened without its password.
        serde: Serializer for both tiers (default langgraph's `JsonPlusSerializer`).
        flush_namespaces: Patterns of the namespaces flushed to PostgreSQL.
        mode: ``"write_behind"`` or ``"write_through"``.
        hydrate: Read threads missing locally from PostgreSQL (default True).
        synchronous: Local SQLite ``synchronous`` setting when this saver opens the file.
        close_timeout: How long `close` tries to drain the outbox (seconds, default 5); what
            is left stays in the local file for the next start.
        ttl: Retention policy (`CheckpointTTLConfig`, langgraph-api's checkpointer ``ttl``):
            ``strategy`` ``"delete"`` or ``"keep_latest"``, ``default_ttl`` (minutes since a
            thread's last checkpoint), ``sweep_interval_minutes`` (starts a background sweeper)
            and ``sweep_limit`` (threads per sweep). See `sweep_checkpoints`.
        lease: Hold per-thread leases (default True). False: this instance does not take
            leases and its entries are not fenced (only for a sole writer).
        lease_ttl: Seconds a lease lives in PostgreSQL unless renewed (default 30).
        lease_wait: Seconds to wait for another holder's lease before `ThreadBusyError`
            (default 15; ``MEMORY_LEASE_WAIT`` through the factory).
        lease_idle: Seconds after a thread's last use (and once its entries are in
            PostgreSQL) before the lease is released (default 5); `release_thread` releases
            at once.
        **replicator_options: ``max_entries``, ``full_timeout``, ``batch_size``,
            ``flush_interval``, ``flush_linger``, ``backoff_initial``, ``backoff_max``,
            ``max_attempts``, ``connect_timeout``, ``pool_max_size`` (used when this saver
            creates the file's replicator; see `Replicator`).

    Examples:
        A PostgreSQL server is needed, so this block is not run here::

            from langgraph_hybrid_memory import HybridSaver

            with HybridSaver.from_conn_string(
                "memory.sqlite", "postgresql://user@host/db", flush_namespaces=["", "executor:*"]
            ) as saver:
                saver.setup()
                graph = builder.compile(checkpointer=saver)
                graph.invoke(inputs, {"configurable": {"thread_id": "t1"}})
                saver.flush(timeout=10)   # everything selected so far is in PostgreSQL
                print(saver.status())
    """

    def __init__(
        self,
        local: str | Path | LocalDB,
        postgres: PostgresTarget,
        *,
        serde: SerializerProtocol | None = None,
        flush_namespaces: Sequence[str] = ("",),
        mode: FlushMode = "write_behind",
        hydrate: bool = True,
        synchronous: Synchronous = "FULL",
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
        ttl: CheckpointTTLConfig | None = None,
        lease: bool = True,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        lease_wait: float = DEFAULT_LEASE_WAIT,
        lease_idle: float = DEFAULT_LEASE_IDLE,
        **replicator_options: Any,
    ) -> None:
        self.ttl = validate_ttl(ttl)  # before anything is opened: bad input changes nothing
        _check_lease_times(lease_ttl, lease_wait, lease_idle)
        if mode not in FLUSH_MODES:
            raise ConfigError(f"mode must be one of {FLUSH_MODES}, got {mode!r}")
        unknown = set(replicator_options) - REPLICATOR_OPTIONS
        if unknown:
            raise ConfigError(
                f"unknown HybridSaver option(s) {sorted(unknown)}; accepted: "
                f"{sorted(REPLICATOR_OPTIONS)}"
            )
        check_target(postgres)  # before the local file is opened: bad input changes nothing
        super().__init__(serde=serde)
        self.selector = NamespaceSelector(flush_namespaces)
        self.mode: FlushMode = mode
        self.hydrate = hydrate
        self.close_timeout = close_timeout
        self._owns_db = not isinstance(local, LocalDB)
        self.db = (
            local if isinstance(local, LocalDB) else LocalDB.open(local, synchronous=synchronous)
        )
        self._setup_local()
        self.replicator = Replicator.acquire(self.db, postgres, **replicator_options)
        self.outbox = self.replicator.outbox
        self._file_id = _lease.file_id_of(self.db)
        self.leases: ThreadLeases | None = (
            ThreadLeases(self.db, self.replicator, ttl=lease_ttl, wait=lease_wait, idle=lease_idle)
            if lease
            else None
        )
        # Threads the last lease grant said PostgreSQL does not have: hydration skips its probe.
        self._absent_in_pg: set[str] = set()
        # Threads re-hydrated by their lease grant, for the read tier of the read that follows.
        self._rehydrated: set[str] = set()
        self._remote_ready = False
        self._remote_lock = threading.Lock()
        self._last_read_tier: b.READ_TIERS | None = None
        self._degraded = False
        self._closed = False
        self.replicator.register(
            b.CHECKPOINT_KINDS,
            self._flush_entries,
            log_as=b.LOG_AS,
            prepare=self._prepare_remote,
            stream_key="thread_ids",
            stream_prefix=b.stream_of(""),
        )
        self._retention = RetentionTracker()
        self._ttl_sweeper = SweeperThread(
            lambda: self.sweep_checkpoints()["threads"],
            name="lghm-checkpoint-retention",
            label="checkpoint retention",
        )
        if self.ttl and self.ttl.get("default_ttl") and self.ttl.get("sweep_interval_minutes"):
            self.start_ttl_sweeper()

    # -- construction ------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def from_conn_string(
        cls, sqlite_path: str | Path, postgres_url: str, **options: Any
    ) -> Iterator[HybridSaver]:
        """A saver on `sqlite_path` and `postgres_url`, closed (outbox drained) on exit."""
        saver = cls(sqlite_path, postgres_url, **options)
        try:
            yield saver
        finally:
            saver.close()

    def setup(self) -> None:
        """Create the local tables and run the PostgreSQL migrations (PostgresSaver's numbered
        list in ``checkpoint_migrations``, then ours), under advisory locks.

        A plain ``PostgresSaver.setup()`` afterwards is a no-op. If PostgreSQL is unreachable
        this raises; the flusher also applies the migrations on its first successful connection.
        """
        self._setup_local()
        with self.replicator.connection() as conn:
            self._prepare_remote(conn, force=True)

    def _setup_local(self) -> None:
        with self.db.transaction() as conn:
            conn.execute(b.LOCAL_SCHEMA_TABLE)
            applied = {
                int(r[0])
                for r in conn.execute(b.LOCAL_SELECT_VERSIONS, (b.LOCAL_COMPONENT,)).fetchall()
            }
            for version, statements in enumerate(b.LOCAL_MIGRATIONS):
                if version in applied:
                    continue
                for stmt in statements:
                    conn.execute(stmt)
                conn.execute(b.LOCAL_INSERT_VERSION, (b.LOCAL_COMPONENT, version))

    def _prepare_remote(self, conn: Connection[DictRow], *, force: bool = False) -> None:
        if self._remote_ready and not force:
            return
        with self._remote_lock:
            run_migrations(
                conn, b.POSTGRES_MIGRATIONS, schema="public", table=b.POSTGRES_MIGRATIONS_TABLE
            )
            run_migrations(
                conn, b.HYBRID_MIGRATIONS, schema="public", table=b.HYBRID_MIGRATIONS_TABLE
            )
            self._remote_ready = True

    # -- lifecycle ---------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> None:
        """Return once every selected checkpoint, write and delete so far is in PostgreSQL.

        Raises:
            FlushTimeoutError: not done within `timeout` seconds (nothing is lost).
        """
        self.replicator.flush(timeout, kinds=b.CHECKPOINT_KINDS)

    def close(self) -> int | None:
        """Drain the outbox (up to ``close_timeout`` seconds), then release the file and
        connections. Returns how many outbox entries stay for the next start (logged once as a
        warning when not zero), or None while another part still shares the outbox.

        Whatever could not be sent stays durable in the outbox for the next start.
        """
        if self._closed:
            return None
        self._closed = True
        # One budget for the whole close: the leases' drain and the replicator's share it (two
        # full timeouts one after the other made a close with PostgreSQL down take 10 s for 5).
        deadline = time.monotonic() + self.close_timeout
        self._ttl_sweeper.stop(timeout=self.close_timeout)
        if self.leases is not None:
            self._release_leases(max(0.0, deadline - time.monotonic()))
        left = self.replicator.release(timeout=max(0.1, deadline - time.monotonic()))
        if self._owns_db:
            self.db.close()
        return left

    def _release_leases(self, timeout: float) -> None:
        """Hand the leases back at close, after their threads' entries reached PostgreSQL (a
        thread still pending keeps its lease until it lapses: the next holder must find that
        work in PostgreSQL)."""
        assert self.leases is not None
        try:
            self.flush(timeout=timeout)
        except FlushTimeoutError:
            pass
        self.leases.close(still_pending=lambda t: self.outbox.has_pending(b.stream_of(t)))

    def release_thread(self, thread_id: str, *, timeout: float | None = None) -> bool:
        """Give up this instance's lease on a thread now (e.g. at the end of a run), so that
        another instance can take it without waiting for the idle release.

        Waits up to `timeout` seconds (default ``close_timeout``) for the thread's entries to
        reach PostgreSQL first; returns False (and keeps the lease) if they did not.
        """
        if self.leases is None:
            return True
        thread_id = str(thread_id)
        try:
            self.flush(timeout=self.close_timeout if timeout is None else timeout)
        except FlushTimeoutError:
            return False
        self.leases.release([thread_id])
        return True

    # -- retention ---------------------------------------------------------------------------

    def sweep_checkpoints(
        self, *, now: float | None = None, limit: int | None = None, dry_run: bool = False
    ) -> RetentionReport:
        """Apply the ``ttl`` policy once on both tiers (nothing without ``default_ttl``).

        ``"delete"`` removes each thread whose last checkpoint is older than ``default_ttl``;
        ``"keep_latest"`` keeps each of its namespaces' latest checkpoint (writes and referenced
        blobs included) and deletes the rest; threads using a DeltaChannel are left whole
        (``skipped_delta``). At most ``sweep_limit`` threads (or `limit`), oldest first. Deletes
        go through the outbox and leave tombstones, as `delete_thread` and `prune`. With
        `dry_run`, only count.
        """
        try:
            report = _sweep_checkpoints(self, now=now, limit=limit, dry_run=dry_run)
        except Exception as exc:
            self._retention.record_error(exc)
            raise
        if not dry_run and report["cutoff"] is not None:
            self._retention.record(report)
        return report

    def start_ttl_sweeper(self) -> Any:
        """Start the background retention sweeper (idempotent; stopped by `close`).

        Returns a future that completes when the sweeper stops.

        Raises:
            ConfigError: no ``ttl`` with ``default_ttl`` and ``sweep_interval_minutes``.
        """
        ttl = self.ttl or {}
        interval = ttl.get("sweep_interval_minutes")
        if not ttl.get("default_ttl") or not interval:
            raise ConfigError(
                "start_ttl_sweeper needs ttl={'default_ttl': MINUTES, "
                "'sweep_interval_minutes': MINUTES}"
            )
        return self._ttl_sweeper.start(float(interval))

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        """Stop the background sweeper; True if it stopped within `timeout` seconds."""
        return self._ttl_sweeper.stop(timeout)

    def __enter__(self) -> HybridSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def status(self) -> HybridSaverStatus:
        """Outbox depth, oldest pending age, last flush, last error, last read tier."""
        rep = self.replicator.status()
        return HybridSaverStatus(
            mode=self.mode,
            flush_namespaces=list(self.selector.patterns),
            depth=rep["depth"],
            oldest_pending_age=rep["oldest_pending_age"],
            last_flush_at=rep["last_flush_at"],
            last_error=rep["last_error"],
            postgres_reachable=rep["postgres_reachable"],
            last_read_tier=self._last_read_tier,
            write_through_degraded=self._degraded,
            dead_letters=rep["dead_letters"],
            retention=self._retention.status(self.ttl, running=self._ttl_sweeper.running),
            thread_conflicts=_lease.count_conflicts(self.db),
            leases_held=0 if self.leases is None else self.leases.count(),
        )

    # -- reads -------------------------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint of `config` (latest of its namespace without a ``checkpoint_id``)."""
        configurable = dict(config["configurable"])
        configurable.setdefault("checkpoint_ns", "")
        lookup: RunnableConfig = {"configurable": configurable}
        # A run starts by reading the thread: take its lease first, so the run reads a copy no
        # other instance is moving on (a stale copy is re-hydrated here).
        thread_id = str(configurable["thread_id"])
        self._claim(thread_id)
        found = self._local_tuples(lookup, latest_only=True)
        tier: b.READ_TIERS = "postgres" if self._just_rehydrated(thread_id) else "local"
        if not found and self._hydrate(str(configurable["thread_id"])):
            found = self._local_tuples(lookup, latest_only=True)
            tier = "postgres"
        self._last_read_tier = tier
        return found[0] if found else None

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first; a thread missing locally is hydrated first.

        With ``config=None`` only the local file is listed (PostgreSQL threads not yet hydrated
        here are not included).
        """
        tier: b.READ_TIERS = "local"
        if config is not None and "thread_id" in config.get("configurable", {}):
            if self._hydrate(str(config["configurable"]["thread_id"])):
                tier = "postgres"
        self._last_read_tier = tier
        yield from self._local_tuples(config, filter=filter, before=before, limit=limit)

    def _local_tuples(
        self,
        config: RunnableConfig | None,
        *,
        filter: Mapping[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
        latest_only: bool = False,
    ) -> builtins.list[CheckpointTuple]:
        sql, params, py_filter = b.prepare_local_select(
            config, filter=filter, before=before, limit=limit, latest_only=latest_only
        )
        with self.db.read() as conn:
            rows = conn.execute(sql, params).fetchall()
            if py_filter:
                rows = [
                    r
                    for r in rows
                    if all(
                        b.json_contains(json.loads(r[5]).get(k, _MISSING), v)
                        for k, v in py_filter.items()
                    )
                ]
                if limit is not None:
                    rows = rows[: int(limit)]
            if not rows:
                return []
            keys = b.keys_json((r[0], r[1], r[2]) for r in rows)
            blob_rows = conn.execute(b.LOCAL_SELECT_BLOBS_FOR_KEYS, (keys,)).fetchall()
            write_rows = conn.execute(b.LOCAL_SELECT_WRITES_FOR_KEYS, (keys,)).fetchall()
            # Checkpoints from langgraph before format 4 keep their sends as the parent's
            # TASKS writes; read them as PostgresSaver does, so both tiers agree.
            parents = sorted({(r[0], r[3]) for r in rows if b.needs_pending_sends(r)})
            send_rows = (
                conn.execute(
                    b.LOCAL_SELECT_PENDING_SENDS, (b.dump_json([list(p) for p in parents]), TASKS)
                ).fetchall()
                if parents
                else []
            )
        sends: dict[tuple[str, str], builtins.list[Any]] = {}
        for t, cid, typ, blob in send_rows:
            sends.setdefault((t, cid), []).append(self.serde.loads_typed((typ, blob)))
        blobs: dict[tuple[str, str, str], dict[str, Any]] = {}
        for t, ns, cid, channel, typ, blob in blob_rows:
            if typ == "empty":
                continue
            blobs.setdefault((t, ns, cid), {})[channel] = self.serde.loads_typed((typ, blob))
        writes: dict[tuple[str, str, str], builtins.list[Any]] = {}
        for t, ns, cid, task_id, channel, typ, blob, task_path, idx in write_rows:
            value = self.serde.loads_typed((typ, blob))
            writes.setdefault((t, ns, cid), []).append(
                (task_path, task_id, idx, (task_id, channel, value))
            )
        tuples = []
        for r in rows:
            tup = b.build_tuple(
                r,
                blobs.get((r[0], r[1], r[2]), {}),
                b.sort_writes(writes.get((r[0], r[1], r[2]), [])),
            )
            if r[3] and (r[0], r[3]) in sends and b.needs_pending_sends(r):
                b.migrate_pending_sends(
                    tup.checkpoint, sends[(r[0], r[3])], self.get_next_version(None, None)
                )
            tuples.append(tup)
        return tuples

    # -- writes ------------------------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save a checkpoint locally (and queue it for PostgreSQL if its namespace is selected)."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        parent_id = configurable.get("checkpoint_id")
        copy, blob_values = b.split_checkpoint(checkpoint)
        blob_rows = [
            (thread_id, ns, k, str(v), *self.serde.dumps_typed(blob_values[k]))
            for k, v in new_versions.items()
            if k in blob_values
        ]
        row = (
            thread_id,
            ns,
            checkpoint["id"],
            parent_id,
            None,
            b.dump_json(copy),
            b.metadata_json(config, metadata),
        )
        epoch = self._claim(thread_id, parent=(ns, parent_id))
        payload = None
        if self.selector.matches(ns):
            payload = {
                "t": thread_id,
                "ns": ns,
                "id": checkpoint["id"],
                "blobs": b.new_versions_payload(new_versions, blob_values),
            }
            if epoch is not None:
                payload["e"] = epoch
        self._write(thread_id, b.KIND_PUT, payload, blob_rows, row)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Save a task's pending writes against the checkpoint of `config`."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = configurable["checkpoint_id"]
        rows = [
            (
                thread_id,
                ns,
                checkpoint_id,
                task_id,
                task_path,
                b.write_idx(channel, i),
                channel,
                *self.serde.dumps_typed(value),
            )
            for i, (channel, value) in enumerate(writes)
        ]
        epoch = self._claim(thread_id, parent=(ns, checkpoint_id))
        payload: dict[str, Any] | None = None
        if self.selector.matches(ns):
            payload = {"t": thread_id, "ns": ns, "id": checkpoint_id, "task": task_id}
            if epoch is not None:
                payload["e"] = epoch
        query = b.LOCAL_UPSERT_WRITE if b.writes_query_is_upsert(writes) else b.LOCAL_INSERT_WRITE
        self._write(thread_id, b.KIND_WRITES, payload, None, None, writes=(query, rows))

    # -- the lease ---------------------------------------------------------------------------

    def _claim(self, thread_id: str, *, parent: tuple[str, str | None] | None = None) -> int | None:
        """Hold the thread's lease before a read or write; return the epoch that outbox entries
        carry (None without leases).

        A held lease costs nothing. Otherwise one round trip takes it (waiting up to
        ``lease_wait`` while another instance holds it, then `ThreadBusyError`). If the thread
        moved to another local file since this file owned it, the local copy is re-hydrated from
        PostgreSQL first. A write (`parent` = its namespace and parent checkpoint) that had to
        take the lease after another holder must still continue the thread's latest checkpoint,
        else it is refused: its run read a state that has moved on. While PostgreSQL is
        unreachable the work goes on locally under the last known epoch (fenced later if the
        thread was taken over meanwhile).
        """
        leases = self.leases
        if leases is None:
            return None
        epoch = leases.held_epoch(thread_id)
        if epoch is not None:
            return epoch
        if self.replicator.looks_unreachable():
            return leases.last_epoch(thread_id)
        try:
            if not self._remote_ready:
                with self.replicator.connection() as conn:
                    self._prepare_remote(conn)
            grant = leases.acquire(thread_id)
        except ThreadBusyError:
            raise
        except psycopg.OperationalError as exc:
            self.replicator.note_reachability(False, exc)
            return leases.last_epoch(thread_id)
        except Exception as exc:
            if not _is_pool_timeout(exc):
                raise
            self.replicator.note_reachability(False, exc)
            return leases.last_epoch(thread_id)
        recorded = leases.recorded(thread_id)
        stale = not (recorded == grant.epoch or (recorded is None and grant.epoch == 1))
        if grant.pg_has_thread:
            self._absent_in_pg.discard(thread_id)
        else:
            self._absent_in_pg.add(thread_id)
        if stale and self.hydrate:
            if not self._rehydrate(thread_id, grant):
                leases.forget(thread_id)  # PostgreSQL went away: stay on the old epoch
                return leases.last_epoch(thread_id)
        elif recorded != grant.epoch:
            with self.db.transaction() as conn:
                leases.record(conn, thread_id, grant.epoch)
        if parent is not None and (stale or grant.prev_holder not in (None, leases.holder)):
            ns, expected = parent
            with self.db.read() as conn:
                latest = conn.execute(_lease.LOCAL_LATEST_IN_NS, (thread_id, ns)).fetchone()[0]
            if latest != expected:
                raise ThreadBusyError(
                    f"thread {thread_id!r} moved on while this run was using it (it was held by "
                    f"{grant.prev_holder}): its latest checkpoint is {latest!r}, this write "
                    f"continues {expected!r}. Nothing was written; run again from the latest "
                    "state (the lease is now held here)",
                    thread_id=thread_id,
                    holder=str(grant.prev_holder or ""),
                )
        return grant.epoch

    def _rehydrate(self, thread_id: str, grant: _lease.LeaseGrant) -> bool:
        """Replace a stale local copy by PostgreSQL's; unsent work of older epochs becomes a
        conflict branch. False if PostgreSQL could not be read (nothing changed)."""
        rows: tuple[Any, Any, Any] = ([], [], [])
        if grant.pg_has_thread:
            try:
                rows = self._read_pg_thread(thread_id)
            except psycopg.Error as exc:
                self.replicator.note_reachability(False, exc)
                return False
        checkpoints, blobs, writes = rows
        stream = b.stream_of(thread_id)
        with self.db.transaction() as conn:
            stale = [
                e
                for e in self.outbox.stream_entries(conn, stream)
                if is_fenced(e.payload.get("e"), grant.epoch, self._file_id, self._file_id)
            ]
            by_epoch: dict[int, builtins.list[OutboxEntry]] = {}
            for e in stale:
                by_epoch.setdefault(int(e.payload["e"]), []).append(e)
            for epoch, entries in sorted(by_epoch.items()):
                keep_branch(
                    conn,
                    thread_id,
                    entries,
                    epoch=epoch,
                    pg_epoch=grant.epoch,
                    holder=str(grant.prev_holder or "another instance"),
                    local_file=self.db.path,
                )
            self.outbox.discard(conn, [e.seq for e in stale])
            had_copy = conn.execute(_LOCAL_HAS_THREAD, (thread_id,)).fetchone() is not None or bool(
                stale
            )
            for stmt in b.LOCAL_DELETE_THREAD:
                conn.execute(stmt, (thread_id,))
            self._insert_hydrated(conn, checkpoints, blobs, writes)
            assert self.leases is not None
            self.leases.record(conn, thread_id, grant.epoch)
        if checkpoints:
            self._rehydrated.add(thread_id)
        # A file that never had the thread (a fresh machine) hydrates; one with a copy that
        # another file's epoch left behind re-hydrates.
        event = "thread_rehydrated" if had_copy else "thread_hydrated_from_postgres"
        logger.info(
            event,
            extra={
                "event": event,
                "thread_id": thread_id,
                "epoch": grant.epoch,
                "checkpoints": len(checkpoints),
                "branch_entries": len(stale),
            },
        )
        return True

    def _just_rehydrated(self, thread_id: str) -> bool:
        if thread_id in self._rehydrated:
            self._rehydrated.discard(thread_id)
            return True
        return False

    def _write(
        self,
        thread_id: str,
        kind: str,
        payload: dict[str, Any] | None,
        blob_rows: Sequence[tuple[Any, ...]] | None,
        checkpoint_row: tuple[Any, ...] | None,
        *,
        writes: tuple[str, Sequence[tuple[Any, ...]]] | None = None,
    ) -> None:
        if payload is not None:
            self.outbox.wait_for_room()
        with self.db.transaction() as conn:
            if blob_rows:
                conn.executemany(b.LOCAL_INSERT_BLOB, blob_rows)
            if checkpoint_row is not None:
                conn.execute(b.LOCAL_UPSERT_CHECKPOINT, checkpoint_row)
            if writes is not None and writes[1]:
                conn.executemany(writes[0], writes[1])
            seq = (
                self.outbox.append(conn, b.stream_of(thread_id), kind, payload)
                if payload is not None
                else None
            )
        if seq is not None:
            self._after_append(seq, thread_id)

    def _after_append(self, seq: int, thread_id: str) -> None:
        if self.mode == "write_through":
            ok = self.replicator.flush_now(seq)
            if not ok and not self._degraded:
                logger.warning(
                    "checkpoint_flush_failed",
                    extra={
                        "event": "checkpoint_flush_failed",
                        "thread_ids": [thread_id],
                        "mode": "write_through",
                        "detail": "PostgreSQL unreachable; kept in the local outbox",
                        "error": self.replicator.status()["last_error"],
                    },
                )
            self._degraded = not ok
        else:
            self.replicator.wake()

    # -- deletes and copies ------------------------------------------------------------------

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, blob and write of the thread, on both tiers."""
        thread_id = str(thread_id)
        self.outbox.wait_for_room()
        with self.db.transaction() as conn:
            for stmt in b.LOCAL_DELETE_THREAD:
                conn.execute(stmt, (thread_id,))
            seq = self.outbox.append(
                conn, b.stream_of(thread_id), b.KIND_DELETE_THREAD, {"t": thread_id}
            )
        self._after_append(seq, thread_id)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints whose ``metadata["run_id"]`` is in `run_ids` (and their
        writes), on both tiers."""
        if isinstance(run_ids, str):
            raise TypeError("run_ids must be a sequence of run IDs, not a str")
        run_ids = [str(r) for r in run_ids]
        if not run_ids:
            return
        self.outbox.wait_for_room()
        with self.db.transaction() as conn:
            keys = [
                (r[0], r[1], r[2])
                for r in conn.execute(b.LOCAL_SELECT_FOR_RUNS, (json.dumps(run_ids),)).fetchall()
            ]
            if keys:
                keys_param = b.keys_json(keys)
                conn.execute(b.LOCAL_DELETE_WRITES_BY_KEYS, (keys_param,))
                conn.execute(b.LOCAL_DELETE_CHECKPOINTS_BY_KEYS, (keys_param,))
                for thread_id in sorted({k[0] for k in keys}):
                    conn.execute(b.LOCAL_CLEAR_DANGLING_PARENTS, (thread_id,))
                    conn.execute(b.LOCAL_DELETE_GARBAGE_BLOBS, (thread_id,))
            seq = self.outbox.append(
                conn,
                b.GLOBAL_STREAM,
                b.KIND_DELETE_IDS,
                {"run_ids": run_ids, "keys": [list(k) for k in keys]},
            )
        self._after_append(seq, b.GLOBAL_STREAM)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint (all namespaces, metadata, writes, order) to another thread,
        on both tiers."""
        source, target = str(source_thread_id), str(target_thread_id)
        self._hydrate(source)
        self.outbox.wait_for_room()
        with self.db.transaction() as conn:
            conn.execute(b.LOCAL_COPY_THREAD[0], (target, source))
            conn.execute(b.LOCAL_COPY_THREAD[1], (target, source))
            conn.execute(b.LOCAL_COPY_THREAD[2], (target, source))
            seq = self.outbox.append(
                conn, b.stream_of(target), b.KIND_COPY_THREAD, {"source": source, "target": target}
            )
        self._after_append(seq, target)

    def prune(
        self,
        thread_ids: Sequence[str],
        *,
        strategy: str = "keep_latest",
        keep_last: int = 1,
    ) -> None:
        """Prune threads on both tiers.

        ``"keep_latest"`` keeps the `keep_last` newest checkpoints of each namespace (with their
        writes and the blobs they reference) and deletes the rest; a subgraph call's namespace
        goes with the root checkpoint it started from (as `PostgresSaver.prune`). On a thread
        that uses a DeltaChannel, each kept checkpoint also keeps its ancestors back to the last
        snapshot its delta values are rebuilt from (with their writes), so its state reads back
        the same. ``"delete"`` removes the threads entirely.

        Raises:
            TypeError: `thread_ids` is a single string.
            ValueError: unknown `strategy` or `keep_last` < 1.
        """
        ids = b.validate_prune_args(thread_ids, strategy, keep_last)
        if strategy == "delete":
            for thread_id in ids:
                self.delete_thread(thread_id)
            return
        plans: dict[str, builtins.list[tuple[str, str]]] = {}
        with self.db.read() as conn:
            for thread_id in ids:
                heads = [
                    (r[0], r[1], r[2], bool(r[3]))
                    for r in conn.execute(b.LOCAL_SELECT_THREAD_HEADS, (thread_id,)).fetchall()
                ]
                lineage = None
                if any(h[3] for h in heads):
                    rows = conn.execute(b.LOCAL_SELECT_DELTA_LINEAGE, (thread_id,)).fetchall()
                    lineage = b.delta_lineage(rows)
                plans[thread_id] = b.plan_prune(heads, keep_last=keep_last, lineage=lineage)
        for thread_id in ids:
            self.outbox.wait_for_room()
            doomed = plans[thread_id]
            with self.db.transaction() as conn:
                if doomed:
                    keys_param = b.keys_json((thread_id, ns, cid) for ns, cid in doomed)
                    conn.execute(b.LOCAL_DELETE_WRITES_BY_KEYS, (keys_param,))
                    conn.execute(b.LOCAL_DELETE_CHECKPOINTS_BY_KEYS, (keys_param,))
                    conn.execute(b.LOCAL_CLEAR_DANGLING_PARENTS, (thread_id,))
                    conn.execute(b.LOCAL_DELETE_GARBAGE_BLOBS, (thread_id,))
                conn.execute(b.LOCAL_MARK_PRUNED, (thread_id,))
                seq = self.outbox.append(
                    conn,
                    b.stream_of(thread_id),
                    b.KIND_PRUNE,
                    {"t": thread_id, "keep_last": keep_last, "keys": [list(k) for k in doomed]},
                )
            self._after_append(seq, thread_id)

    # -- async methods: the sync class refuses them clearly -----------------------------------
    # (BaseCheckpointSaver's raise a bare NotImplementedError; AsyncHybridSaver overrides these.)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        not_async(self, "aget_tuple", "AsyncHybridSaver")

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        not_async(self, "alist", "AsyncHybridSaver")
        yield  # pragma: no cover - makes this an async generator, as the base's

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        not_async(self, "aput", "AsyncHybridSaver")

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        not_async(self, "aput_writes", "AsyncHybridSaver")

    def evict_local(self, thread_id: str) -> None:
        """Drop the local copy of a thread (PostgreSQL keeps it); the next read hydrates it.

        Raises:
            RuntimeError: the thread has entries not yet in PostgreSQL (evicting would lose
                them); `flush` first.
        """
        thread_id = str(thread_id)
        with self.db.transaction() as conn:
            if self.outbox.has_pending(b.stream_of(thread_id)):
                raise RuntimeError(
                    f"thread {thread_id!r} has changes not yet in PostgreSQL; call flush() "
                    "before evict_local()"
                )
            for stmt in b.LOCAL_DELETE_THREAD:
                conn.execute(stmt, (thread_id,))

    # -- hydration ---------------------------------------------------------------------------

    def _hydrate(self, thread_id: str) -> bool:
        """Copy a thread missing locally from PostgreSQL; True if something was copied."""
        if not self.hydrate:
            return False
        with self.db.read() as conn:
            if conn.execute(b.LOCAL_THREAD_EXISTS, (thread_id,)).fetchone() is not None:
                return False
        # Something pending for the thread means the local file is ahead of PostgreSQL (e.g. a
        # delete not yet flushed): PostgreSQL's copy must not come back.
        if self.outbox.has_pending(b.stream_of(thread_id)) or self.outbox.has_pending(
            b.GLOBAL_STREAM
        ):
            return False
        if self.replicator.looks_unreachable():
            # The breaker is open: a graph step does not wait for a server known to be down
            # (a thread new here has no copy anywhere we can reach; it starts fresh locally).
            logger.debug(
                "thread_hydration_skipped",
                extra={
                    "event": "thread_hydration_skipped",
                    "thread_id": thread_id,
                    "detail": "PostgreSQL known unreachable (circuit breaker open)",
                },
            )
            return False
        if thread_id in self._absent_in_pg:
            # The lease grant just said PostgreSQL has no checkpoint of it: no probe needed.
            self._absent_in_pg.discard(thread_id)
            return False
        try:
            with self.replicator.connection() as pg:
                # A new thread is the common case: one autocommit probe answers it in a single
                # round trip; only a thread that exists is read in a snapshot transaction.
                if pg.execute(b.PG_THREAD_EXISTS, (thread_id,)).fetchone() is None:
                    return False
            checkpoints, blobs, writes = self._read_pg_thread(thread_id)
            if not checkpoints:
                return False
        except psycopg.errors.UndefinedTable:
            return False  # setup() never ran on this database: nothing to hydrate
        except psycopg.OperationalError as exc:
            self.replicator.note_reachability(False, exc)
            note_down(
                self.replicator.server,
                redact(f"{type(exc).__name__}: {' '.join(str(exc).split())}")[:300],
                source="saver",
                event="thread_hydration_failed",
                local_file=self.db.path,
                thread_id=thread_id,
            )
            return False
        except psycopg.Error as exc:
            self.replicator.note_reachability(False, exc)
            logger.warning(
                "thread_hydration_failed",
                extra={
                    "event": "thread_hydration_failed",
                    "thread_id": thread_id,
                    "error": redact(f"{type(exc).__name__}: {exc}")[:300],
                },
            )
            return False
        with self.db.transaction() as conn:
            if conn.execute(b.LOCAL_THREAD_EXISTS, (thread_id,)).fetchone() is not None:
                return False  # written locally meanwhile: the local file wins
            self._insert_hydrated(conn, checkpoints, blobs, writes)
        logger.info(
            "thread_hydrated_from_postgres",
            extra={
                "event": "thread_hydrated_from_postgres",
                "thread_id": thread_id,
                "checkpoints": len(checkpoints),
                "blobs": len(blobs),
                "writes": len(writes),
            },
        )
        return True

    def _read_pg_thread(self, thread_id: str) -> tuple[Any, Any, Any]:
        """A thread's rows in PostgreSQL, read in one snapshot."""
        with self.replicator.connection() as pg, pg.transaction(), pg.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            checkpoints = cur.execute(b.PG_HYDRATE_CHECKPOINTS, (thread_id,)).fetchall()
            blobs = cur.execute(b.PG_HYDRATE_BLOBS, (thread_id,)).fetchall()
            writes = cur.execute(b.PG_HYDRATE_WRITES, (thread_id,)).fetchall()
        return checkpoints, blobs, writes

    @staticmethod
    def _insert_hydrated(conn: Any, checkpoints: Any, blobs: Any, writes: Any) -> None:
        conn.executemany(
            b.LOCAL_INSERT_HYDRATED_CHECKPOINT,
            [
                (
                    r["thread_id"],
                    r["checkpoint_ns"],
                    r["checkpoint_id"],
                    r["parent_checkpoint_id"],
                    r["type"],
                    r["checkpoint"],
                    r["metadata"],
                )
                for r in checkpoints
            ],
        )
        conn.executemany(
            b.LOCAL_INSERT_BLOB,
            [
                (
                    r["thread_id"],
                    r["checkpoint_ns"],
                    r["channel"],
                    r["version"],
                    r["type"],
                    r["blob"],
                )
                for r in blobs
            ],
        )
        conn.executemany(
            b.LOCAL_INSERT_HYDRATED_WRITE,
            [
                (
                    r["thread_id"],
                    r["checkpoint_ns"],
                    r["checkpoint_id"],
                    r["task_id"],
                    r["task_path"],
                    r["idx"],
                    r["channel"],
                    r["type"],
                    r["blob"],
                )
                for r in writes
            ],
        )

    # -- the flush handler (runs in the replicator, inside one PostgreSQL transaction) --------

    def _flush_entries(
        self, cur: Cursor[DictRow], entries: Sequence[OutboxEntry]
    ) -> Mapping[str, int]:
        return flush_checkpoint_entries(self.db, cur, entries, file_id=self._file_id)


_MISSING = object()


def _is_pool_timeout(exc: BaseException) -> bool:
    from psycopg_pool import PoolTimeout

    return isinstance(exc, PoolTimeout)


def _check_lease_times(ttl: float, wait: float, idle: float) -> None:
    for name, value, low in (
        ("lease_ttl", ttl, 0.1),
        ("lease_wait", wait, 0.0),
        ("lease_idle", idle, 0.0),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= low:
            raise ConfigError(f"{name} must be a number of seconds >= {low:g}, got {value!r}")


def flush_checkpoint_entries(
    db: LocalDB,
    cur: Cursor[DictRow],
    entries: Sequence[OutboxEntry],
    *,
    file_id: str | None = None,
) -> dict[str, int]:
    """Apply checkpoint outbox entries to PostgreSQL, in order, idempotently.

    Puts and writes read their rows from the local file now (a row deleted locally since is
    skipped: its delete entry follows). Consecutive puts/writes are sent with one
    ``executemany`` per table; deletes, prunes and copies are barriers applied in place.
    Tombstones refuse rows written locally before a delete of their thread or checkpoint.

    With `file_id` (the local file's lease origin), entries that carry a lease epoch are fenced:
    the batch's lease rows are read ``FOR SHARE`` and an entry whose epoch PostgreSQL has left
    behind (`is_fenced`) is not sent; its rows are kept locally as a conflict branch
    (`keep_branch`), so it is neither retried nor dead-lettered.
    """
    counts = {"checkpoints": 0, "blobs": 0, "writes": 0, "refused": 0, "deletes": 0, "fenced": 0}
    thread_ids = sorted(
        {str(e.payload["t"]) for e in entries if "t" in e.payload}
        | {str(e.payload["target"]) for e in entries if "target" in e.payload}
    )
    tombstones: dict[tuple[str, str, str], float] = {}
    leases: dict[str, Any] = {}
    if thread_ids:
        for r in cur.execute(b.PG_SELECT_TOMBSTONES, (thread_ids,)).fetchall():
            tombstones[(r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"])] = r["deleted_at"]
        leased = sorted({str(e.payload["t"]) for e in entries if "e" in e.payload})
        if file_id is not None and leased:
            for r in cur.execute(_lease.PG_LOCK_LEASES, (leased,)).fetchall():
                leases[r["thread_id"]] = r
    fenced: dict[str, list[OutboxEntry]] = {}

    def is_stale(entry: OutboxEntry) -> bool:
        p = entry.payload
        row = leases.get(str(p.get("t"))) if "e" in p else None
        if row is None or file_id is None:
            return False
        return is_fenced(p["e"], int(row["epoch"]), row["origin"], file_id)

    def refused(t: str, ns: str, cid: str, created_at: float) -> bool:
        for key in ((t, "", ""), (t, ns, cid)):
            deleted_at = tombstones.get(key)
            if deleted_at is not None and created_at < deleted_at:
                return True
        return False

    # Keys of the puts/writes since the last barrier; their rows are read in bulk when sent.
    ckpt_keys: list[list[str]] = []
    blob_keys: list[list[str]] = []
    write_keys: list[list[str]] = []

    def send() -> None:
        if not (ckpt_keys or write_keys):
            return
        with db.read() as conn:
            ckpts = conn.execute(
                b.LOCAL_SELECT_CHECKPOINT_ROWS_FOR_KEYS, (b.dump_json(ckpt_keys),)
            ).fetchall()
            blobs = conn.execute(
                b.LOCAL_SELECT_BLOB_ROWS_FOR_KEYS, (b.dump_json(blob_keys),)
            ).fetchall()
            writes = conn.execute(
                b.LOCAL_SELECT_TASK_WRITES_FOR_KEYS, (b.dump_json(write_keys),)
            ).fetchall()
        if blobs:
            cur.executemany(b.PG_UPSERT_BLOB, [tuple(r) for r in blobs])
        if ckpts:
            cur.executemany(b.PG_UPSERT_CHECKPOINT, [tuple(r) for r in ckpts])
        if writes:
            cur.executemany(b.PG_UPSERT_WRITE, [tuple(r) for r in writes])
        counts["blobs"] += len(blobs)
        counts["checkpoints"] += len(ckpts)
        counts["writes"] += len(writes)
        ckpt_keys.clear()
        blob_keys.clear()
        write_keys.clear()

    def tombstone(t: str, ns: str, cid: str, at: float) -> None:
        cur.execute(b.PG_UPSERT_TOMBSTONE, (t, ns, cid, at))
        key = (t, ns, cid)
        tombstones[key] = max(tombstones.get(key, at), at)

    for entry in entries:
        p = entry.payload
        if is_stale(entry):
            fenced.setdefault(str(p["t"]), []).append(entry)
            counts["fenced"] += 1
            continue
        if entry.kind in (b.KIND_PUT, b.KIND_WRITES):
            t, ns, cid = p["t"], p["ns"], p["id"]
            if refused(t, ns, cid, entry.created_at):
                counts["refused"] += 1
            elif entry.kind == b.KIND_PUT:
                ckpt_keys.append([t, ns, cid])
                blob_keys.extend([t, ns, channel, version] for channel, version in p["blobs"])
            else:
                write_keys.append([t, ns, cid, p["task"]])
        else:
            send()
            counts["deletes"] += 1
            _apply_barrier(cur, entry, tombstone)
    send()
    if fenced:
        # Recorded locally now; should the PostgreSQL transaction fail, the replay records the
        # same rows again (INSERT OR IGNORE), so this is idempotent.
        with db.transaction() as conn:
            for t, stale in sorted(fenced.items()):
                row = leases[t]
                by_epoch: dict[int, list[OutboxEntry]] = {}
                for e in stale:
                    by_epoch.setdefault(int(e.payload["e"]), []).append(e)
                for epoch, group in sorted(by_epoch.items()):
                    keep_branch(
                        conn,
                        t,
                        group,
                        epoch=epoch,
                        pg_epoch=int(row["epoch"]),
                        holder=str(row["holder"]),
                        local_file=db.path,
                    )
    return counts


def _apply_barrier(cur: Cursor[DictRow], entry: OutboxEntry, tombstone: Any) -> None:
    p = entry.payload
    at = entry.created_at
    if entry.kind == b.KIND_DELETE_THREAD:
        for stmt in b.PG_DELETE_THREAD:
            cur.execute(stmt, (p["t"],))
        tombstone(p["t"], "", "", at)
    elif entry.kind == b.KIND_DELETE_IDS:
        keys = {tuple(k) for k in p["keys"]}
        for r in cur.execute(b.PG_SELECT_FOR_RUNS, (p["run_ids"],)).fetchall():
            keys.add((r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"]))
        _delete_keys(cur, cast("set[tuple[str, str, str]]", keys), tombstone, at)
    elif entry.kind == b.KIND_PRUNE:
        # A concurrent writer would only add newer checkpoints, which the plan keeps anyway.
        prune_postgres_thread(
            cur,
            p["t"],
            keep_last=int(p["keep_last"]),
            also=[(ns, cid) for ns, cid in p["keys"]],
            tombstone=tombstone,
            at=at,
        )
    elif entry.kind == b.KIND_COPY_THREAD:
        for stmt in b.PG_COPY_THREAD:
            cur.execute(stmt, {"source": p["source"], "target": p["target"]})
    else:  # pragma: no cover - registration routes only our kinds here
        raise ValueError(f"unknown checkpoint outbox kind {entry.kind!r}")


def prune_postgres_thread(
    cur: Cursor[DictRow],
    thread_id: str,
    *,
    keep_last: int,
    also: Sequence[tuple[str, str]] = (),
    tombstone: Any = None,
    at: float = 0.0,
) -> int:
    """keep_latest on one thread of PostgreSQL's tables (`plan_prune`, DeltaChannel-aware),
    plus the `also` keys the local tier deleted; tombstones each deleted checkpoint when
    `tombstone` is given, and marks the thread pruned. Returns how many checkpoints went."""
    heads = [
        (r["checkpoint_ns"], r["checkpoint_id"], r["parents"], bool(r["uses_delta"]))
        for r in cur.execute(b.PG_SELECT_THREAD_HEADS, (thread_id,)).fetchall()
    ]
    lineage = None
    if any(h[3] for h in heads):
        rows = cur.execute(b.PG_SELECT_DELTA_LINEAGE, (thread_id,)).fetchall()
        lineage = b.delta_lineage_of_rows(rows)
    plan = b.plan_prune(heads, keep_last=keep_last, lineage=lineage)
    keys = {(thread_id, ns, cid) for ns, cid in plan} | {(thread_id, ns, cid) for ns, cid in also}
    _delete_keys(cur, keys, tombstone or (lambda *_: None), at)
    cur.execute(b.PG_MARK_PRUNED, (thread_id,))
    return len(plan)


def _delete_keys(
    cur: Cursor[DictRow], keys: set[tuple[str, str, str]], tombstone: Any, at: float
) -> None:
    by_thread: dict[str, list[tuple[str, str]]] = {}
    for t, ns, cid in keys:
        by_thread.setdefault(t, []).append((ns, cid))
    for t, pairs in sorted(by_thread.items()):
        for ns, ids in sorted(b.group_by_ns(pairs).items()):
            cur.execute(b.PG_DELETE_WRITES, (t, ns, ids))
            cur.execute(b.PG_DELETE_CHECKPOINTS, (t, ns, ids))
            for cid in ids:
                tombstone(t, ns, cid, at)
        cur.execute(b.PG_CLEAR_DANGLING_PARENTS, (t,))
        cur.execute(b.PG_DELETE_GARBAGE_BLOBS, (t,))
