"""The `lghm` command line: set-up, inspection, erasure and migration of the memory.

Every command has ``--help``; commands whose output a program would read take ``--json``.
It reads the same environment as `open_memory()` (through `MemoryConfig`).
"""

from __future__ import annotations

import typer

from langgraph_hybrid_memory.cli._admin import register as _register_admin
from langgraph_hybrid_memory.cli._context import CliContext
from langgraph_hybrid_memory.cli._forget import register as _register_forget
from langgraph_hybrid_memory.cli._quality_cmds import register as _register_quality
from langgraph_hybrid_memory.cli._serve import register as _register_serve
from langgraph_hybrid_memory.cli._transfer_cmds import register as _register_transfer

__all__ = ["CliContext", "app", "main"]

app = typer.Typer(
    name="lghm",
    help="Set up, inspect and migrate langgraph-hybrid-memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_register_admin(app)
_register_forget(app)
_register_transfer(app)
_register_quality(app)
_register_serve(app)


@app.command()
def demo() -> None:
    """Run the demo: two sessions in two processes; the second recalls what the first learned.

    Uses the configured backends (MEMORY_TYPE; by default the embedded PostgreSQL under
    MEMORY_DATA_DIR) and a scripted offline model, no network: 30 to 60 s, most of it each
    session's process loading the local embedding model.
    """
    from langgraph_hybrid_memory.samples.demo import main as demo_main

    raise typer.Exit(demo_main([]))


def main() -> None:
    """Console-script entry point."""
    app()
