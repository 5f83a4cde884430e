"""Progress lines for long pauses (loading the embedding model, creating the data directory).

A new user's first run has pauses of 20 s and more; a silent one looks like a hang. These lines go
to the ``langgraph_hybrid_memory.progress`` logger at INFO when the application has configured
logging (any handler on the way to the root logger: the Agent Server, pytest, a ``basicConfig``),
and straight to stderr otherwise, where Python's default would hide INFO lines.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["progress", "timed"]

logger = logging.getLogger("langgraph_hybrid_memory.progress")


def progress(message: str) -> None:
    """Say `message` (one line) through logging if configured, else on stderr.

    Examples:
        Around a slow step (`timed` does this with the duration)::

            progress("building the HNSW index of 100,000 vectors ...")
    """
    if logger.hasHandlers():
        logger.info(message)
    else:
        print(message, file=sys.stderr, flush=True)


@contextmanager
def timed(what: str) -> Iterator[None]:
    """``loading X ...`` before the block and ``loading X ... done in 21 s`` after it."""
    progress(f"{what} ...")
    start = time.monotonic()
    yield
    progress(f"{what} ... done in {time.monotonic() - start:.1f} s")
