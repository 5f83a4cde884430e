"""The ``make demo`` story: a plan-and-execute agent that remembers a user across processes.

Session 1 (one process, a new thread) teaches the agent facts about a user; session 2 (another
process, another new thread) plans with those facts, recalled from the store in PostgreSQL; then
it prints where each piece of state lives and the memory status. It uses the configured backends
(by default the embedded PostgreSQL + pgvector under ``MEMORY_DATA_DIR``, default ``.memory``) and
a scripted offline model: no set-up, no network; 30 to 60 s, most of it each session's process
loading the local embedding model.

    python examples/demo.py
"""

from langgraph_hybrid_memory.samples.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
