"""The `lghm` command line: set-up, inspection, erasure and migration of the memory.

Every command has ``--help``; commands whose output a program would read take ``--json``.
It reads the same environment as `open_memory()` (through `MemoryConfig`).
"""

from __future__ import annotations

import typer

from langgraph_hybrid_memory.cli._transfer_cmds import register as _register_transfer

__all__ = ["app", "main"]

app = typer.Typer(
    name="lghm",
    help="Set up, inspect and migrate langgraph-hybrid-memory.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_register_transfer(app)


def main() -> None:
    """Console-script entry point."""
    app()
