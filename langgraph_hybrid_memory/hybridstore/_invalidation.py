"""Cache coherence across instances: PostgreSQL `LISTEN/NOTIFY`.

Every write a `HybridStore` sends to PostgreSQL carries a ``pg_notify`` in the same statement
(`WriteGuard.notify`), delivered to listeners when it commits: the payload names the
instance and the namespaces written (or "all" when they would not fit NOTIFY's 8,000 bytes).
One dedicated LISTEN connection per process and database (`InvalidationListener.acquire`,
reference-counted: a process with many stores opens one, not one per store) hands other
instances' notices to the subscribed stores of that schema, which re-read the cached prefixes
they touch,
so the cache follows PostgreSQL within a round trip instead of `cache_max_age` (60 s).

Fallback: when LISTEN is unavailable (PostgreSQL unreachable, or a transaction-mode pooler that
does not deliver notices: pass ``invalidation="cache_age"``), the cache is only as fresh as
`cache_max_age`, as before; `status()["invalidation"]` says which mode is in force.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import psycopg
from psycopg import sql

from langgraph_hybrid_memory._outage import note_down, server_label

__all__ = ["Invalidation", "InvalidationListener", "channel_for", "notice_payload", "parse_notice"]

logger = logging.getLogger(__name__)

Invalidation = Literal["listen", "cache_age"]

# NOTIFY payloads must be shorter than 8,000 bytes.
MAX_PAYLOAD = 7_900

OnChange = Callable[[list[tuple[str, ...]] | None], None]


CHANNEL = "lghm_store"


def channel_for(schema: str) -> str:
    """The NOTIFY channel (one per database; the payload names the schema)."""
    return CHANNEL


def notice_payload(instance: str, namespaces: Sequence[Sequence[str]], schema: str = "") -> str:
    """JSON naming `instance`, `schema` and the written namespaces; ``"all": true`` when too
    long."""
    names = sorted({".".join(ns) for ns in namespaces})
    payload = json.dumps({"i": instance, "s": schema, "ns": names}, separators=(",", ":"))
    if len(payload.encode()) > MAX_PAYLOAD:
        payload = json.dumps({"i": instance, "s": schema, "all": True}, separators=(",", ":"))
    return payload


def parse_notice(
    payload: str, instance: str, schema: str = ""
) -> tuple[bool, list[tuple[str, ...]] | None]:
    """``(relevant, namespaces)`` for the store `instance` on `schema`: not relevant when it
    is its own write or another schema's; ``None`` = anything may have changed."""
    try:
        data = json.loads(payload)
    except ValueError:
        return True, None  # someone else's notice on our channel: be safe, refresh all
    if not isinstance(data, Mapping):
        return True, None
    if data.get("i") == instance or data.get("s", schema) != schema:
        return False, []
    names = data.get("ns")
    if data.get("all") or not isinstance(names, list):
        return True, None
    return True, [tuple(str(n).split(".")) for n in names]


class _Subscriber:
    def __init__(self, schema: str, instance: str, on_change: OnChange) -> None:
        self.schema = schema
        self.instance = instance
        self.on_change = on_change
        self.notices = 0


class InvalidationListener:
    """A daemon thread that LISTENs on the channel and hands other instances' notices to the
    subscribed stores (reconnecting every `retry_interval` seconds while PostgreSQL is
    unreachable). One per process and connection target: use `acquire` / `release`.

    Examples:
        Needs a PostgreSQL server, so not run as a doctest::

            listener, token = InvalidationListener.acquire((url, {}), "memory", "me", print)
            ...
            listener.release(token)
    """

    _shared: ClassVar[dict[str, InvalidationListener]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self, connect_args: tuple[str, Mapping[str, Any]], *, retry_interval: float = 5.0
    ) -> None:
        self._conninfo, kwargs = connect_args
        self._kwargs = {k: v for k, v in kwargs.items() if k != "row_factory"}
        self.channel = CHANNEL
        self.retry_interval = retry_interval
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False
        self._subs: dict[int, _Subscriber] = {}
        self._subs_lock = threading.Lock()
        self._key = ""

    @classmethod
    def acquire(
        cls,
        connect_args: tuple[str, Mapping[str, Any]],
        schema: str,
        instance: str,
        on_change: OnChange,
        *,
        retry_interval: float = 5.0,
    ) -> tuple[InvalidationListener, int]:
        """The process's listener for this target (started on first use) and a subscription
        token for `release`."""
        key = connect_args[0] + "\x00" + repr(sorted(connect_args[1].items()))
        with cls._shared_lock:
            listener = cls._shared.get(key)
            if listener is None:
                listener = cls._shared[key] = cls(connect_args, retry_interval=retry_interval)
                listener._key = key
                listener._thread = threading.Thread(
                    target=listener._loop, name="lghm-store-listen", daemon=True
                )
                listener._thread.start()
            sub = _Subscriber(schema, instance, on_change)
            with listener._subs_lock:
                listener._subs[id(sub)] = sub
        if listener.listening:
            on_change(None)  # notices before the subscription were not seen: re-read all
        return listener, id(sub)

    def release(self, token: int, timeout: float = 5.0) -> None:
        """Drop a subscription; the last one stops the thread and closes the connection."""
        with self._shared_lock:
            with self._subs_lock:
                self._subs.pop(token, None)
                last = not self._subs
            if last and self._shared.get(self._key) is self:
                del self._shared[self._key]
            else:
                last = False
        if last:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(timeout)

    def notices_for(self, token: int) -> int:
        sub = self._subs.get(token)
        return sub.notices if sub is not None else 0

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection is up (otherwise the cache age applies)."""
        return self._listening.is_set()

    def wait_listening(self, timeout: float) -> bool:
        return self._listening.wait(timeout)

    def _each(self) -> list[_Subscriber]:
        with self._subs_lock:
            return list(self._subs.values())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._conninfo, **{**self._kwargs, "autocommit": True}
                ) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self._listening.set()
                    if self._warned:
                        logger.debug(
                            "store_invalidation_listening",
                            extra={"event": "store_invalidation_listening"},
                        )
                        self._warned = False
                    # Notices sent while we were not listening are lost: re-read all.
                    for sub in self._each():
                        sub.on_change(None)
                    while not self._stop.is_set():
                        for notice in conn.notifies(timeout=0.5):
                            self._handle(notice.payload)
            except psycopg.Error as exc:
                self._listening.clear()
                if not self._warned and isinstance(exc, psycopg.OperationalError):
                    # PostgreSQL is away: part of the outage `_outage` reports once.
                    self._warned = True
                    note_down(
                        server_label(self._conninfo),
                        type(exc).__name__,
                        source="listen",
                        event="store_invalidation_unavailable",
                        detail="cached namespaces are refreshed by age until it is back",
                    )
                elif not self._warned:
                    self._warned = True
                    logger.warning(
                        "store_invalidation_unavailable",
                        extra={
                            "event": "store_invalidation_unavailable",
                            "detail": "LISTEN connection lost; cached namespaces are "
                            "refreshed by age until it is back",
                            "error": type(exc).__name__,
                        },
                    )
            except Exception:
                self._listening.clear()
                logger.exception("store invalidation callback failed")
            self._stop.wait(self.retry_interval)
        self._listening.clear()

    def _handle(self, payload: str) -> None:
        for sub in self._each():
            relevant, namespaces = parse_notice(payload, sub.instance, sub.schema)
            if relevant:
                sub.notices += 1
                sub.on_change(namespaces)
