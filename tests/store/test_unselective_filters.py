"""`RecentlyUnselective`: the per-store memory of filters whose count exceeded the exact cutoff
(bounded, expiring, shared by the threads of a sync store). The searches that use it are in
`test_search_plans.py`."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from langgraph_hybrid_memory.store._counts import RecentlyUnselective


def test_least_recently_seen_filter_is_dropped_first() -> None:
    now = [0.0]
    seen = RecentlyUnselective(size=2, seconds=60, clock=lambda: now[0])
    seen.remember("a")
    seen.remember("b")
    assert seen.known("a")  # "a" is now the most recently seen
    seen.remember("c")
    assert (seen.known("a"), seen.known("b"), seen.known("c")) == (True, False, True)
    assert len(seen) == 2


def test_a_verdict_expires_and_remembering_again_renews_it() -> None:
    now = [0.0]
    seen = RecentlyUnselective(size=8, seconds=60, clock=lambda: now[0])
    seen.remember("a")
    now[0] = 59.0
    assert seen.known("a")
    seen.remember("a")
    now[0] = 118.0
    assert seen.known("a")  # renewed at 59
    now[0] = 119.0
    assert not seen.known("a")
    assert len(seen) == 0  # an expired entry is dropped when looked up
    seen.remember("b")
    seen.clear()
    assert not seen.known("b")


def test_threads_share_it_without_losing_the_bound() -> None:
    seen = RecentlyUnselective(size=50, seconds=60)
    start = threading.Barrier(8)

    def work(t: int) -> None:
        start.wait()
        for i in range(2000):
            key = f"f{(t * 7919 + i) % 300}"
            seen.remember(key)
            seen.known(key)
            seen.known(f"f{i % 300}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        for done in [pool.submit(work, t) for t in range(8)]:
            done.result()  # re-raises a worker's exception
    assert len(seen) == 50
    # The last key each thread remembered is among the most recent ones: still known.
    assert any(seen.known(f"f{(t * 7919 + 1999) % 300}") for t in range(8))
