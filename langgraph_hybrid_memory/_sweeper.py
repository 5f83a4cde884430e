"""The TTL sweeper thread of the stores that sweep from a thread (`PgVectorStore`, `LocalStore`).

`AsyncPgVectorStore` sweeps from an asyncio task instead (`store/aio.py`).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable

__all__ = ["SweeperThread"]

logger = logging.getLogger("langgraph_hybrid_memory")


class SweeperThread:
    """Calls `sweep` every `interval_minutes` in a daemon thread until `stop`.

    A failed sweep is logged and the loop goes on: the next one may succeed (a restarted server,
    a file no longer locked).

    Examples:
        >>> calls = []
        >>> sweeper = SweeperThread(lambda: calls.append(1) or 0, name="doc-sweeper", label="doc")
        >>> done = sweeper.start(interval_minutes=0.0001)
        >>> sweeper.stop(timeout=5), done.result(timeout=5)
        (True, None)
    """

    def __init__(self, sweep: Callable[[], int], *, name: str, label: str) -> None:
        self._sweep = sweep
        self._name = name
        self._label = label
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._done: concurrent.futures.Future[None] | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, interval_minutes: float) -> concurrent.futures.Future[None]:
        """Start sweeping. Returns a future that completes when the sweeper stops; cancelling
        it stops the sweeper. Idempotent, as langgraph's stores: while a sweeper runs, another
        call returns its future and starts nothing.
        """
        if self.running and self._done is not None and not self._done.done():
            return self._done
        if self.running:  # cancelled, still finishing its current sweep
            self.stop()
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        stop = self._stop
        stop.clear()
        done.add_done_callback(lambda f: stop.set() if f.cancelled() else None)

        def loop() -> None:
            try:
                while not stop.wait(interval_minutes * 60.0):
                    try:
                        swept = self._sweep()
                        if swept:
                            logger.info(
                                "%s TTL sweeper deleted %d expired items", self._label, swept
                            )
                    except Exception:
                        logger.exception("%s TTL sweep failed", self._label)
            finally:
                if not done.done():
                    done.set_result(None)

        self._thread = threading.Thread(target=loop, name=self._name, daemon=True)
        self._done = done
        self._thread.start()
        return done

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread; True if it stopped within `timeout` seconds (or was not running)."""
        if self._thread is None:
            return True
        self._stop.set()
        self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        if stopped:
            self._thread = None
        return stopped
