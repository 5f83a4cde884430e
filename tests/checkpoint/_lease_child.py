"""Child process of the lease tests: runs graph turns on one thread through HybridSaver.

Usage: python -m tests.checkpoint._lease_child SQLITE_PATH POSTGRES_URL THREAD LABEL N
Prints "ack LABEL-i" after each turn that returned and "busy LABEL-i" for a ThreadBusyError;
closes the saver (releasing its lease) at the end. It never starts a server of its own.
"""

from __future__ import annotations

import sys

from langgraph_hybrid_memory import HybridSaver, ThreadBusyError
from tests.checkpoint.test_lease import FAST, _turn


def main() -> None:
    path, url, thread, label, n = sys.argv[1:6]
    with HybridSaver.from_conn_string(path, url, **FAST) as saver:
        saver.setup()
        for i in range(int(n)):
            name = f"{label}-{i}"
            try:
                _turn(saver, thread, name)
            except ThreadBusyError:
                print(f"busy {name}", flush=True)
                continue
            print(f"ack {name}", flush=True)


if __name__ == "__main__":
    main()
