"""langgraph-checkpoint-conformance 0.0.2 against both savers (real PostgreSQL, real SQLite).

`AsyncHybridSaver` is run as it is. The sync `HybridSaver` is held to the same suite through
`SyncDriven`, an adapter whose ``a*`` methods call the sync methods directly on the event loop's
thread, so every check exercises the sync code path.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.report import ProgressCallbacks

from langgraph_hybrid_memory import AsyncHybridSaver, HybridSaver


class SyncDriven(HybridSaver):
    """Runs the conformance suite through the sync methods of `HybridSaver`."""

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for item in self.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        self.delete_for_runs(run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        self.copy_thread(source_thread_id, target_thread_id)

    async def aprune(
        self, thread_ids: Sequence[str], *, strategy: str = "keep_latest", keep_last: int = 1
    ) -> None:
        self.prune(thread_ids, strategy=strategy, keep_last=keep_last)


@pytest.fixture
def tmpdir_path() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lghm-conf-") as d:
        yield Path(d)


@pytest.mark.parametrize("cls", [AsyncHybridSaver, SyncDriven], ids=["async", "sync"])
@pytest.mark.parametrize("mode", ["write_behind", "write_through"])
async def test_conformance_full(
    cls: type[HybridSaver], mode: str, pg_url: str, tmp_path: Path
) -> None:
    counter = iter(range(1000))

    @checkpointer_test(name=f"{cls.__name__}-{mode}")
    async def factory() -> AsyncIterator[HybridSaver]:
        # A fresh local file per capability; all share the test's PostgreSQL database.
        saver = cls(
            tmp_path / f"local-{next(counter)}.sqlite", pg_url, mode=mode, flush_namespaces=["*"]
        )
        if isinstance(saver, AsyncHybridSaver):
            await saver.setup()  # a coroutine, as langgraph's async savers' setup
        else:
            saver.setup()
        try:
            yield saver
            # Everything the suite did must also reach PostgreSQL.
            saver.flush(timeout=60)
            assert saver.status()["last_error"] is None
        finally:
            saver.close()

    report = await validate(factory, progress=ProgressCallbacks.quiet())
    failures = {k: v.failures for k, v in report.results.items() if not v.passed}
    assert report.passed_all(), failures
    assert report.conformance_level() == "FULL"
    assert len(report.results) == 8
