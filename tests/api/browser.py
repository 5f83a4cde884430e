"""Finding (or installing) Debian's chromium for the inspector's browser test.

Playwright's own browser download is not used: the test drives the system's ``chromium``
(``apt-get install -y chromium`` when it is missing and this process may install packages).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def find_or_install_chromium() -> tuple[Path | None, str]:
    """The chromium executable, or None and the reason there is none."""
    if CHROMIUM.exists():
        return CHROMIUM, "found"
    if shutil.which("apt-get") is None:
        return None, "no /usr/bin/chromium and no apt-get to install it"
    if os.geteuid() != 0:
        return None, "no /usr/bin/chromium, and installing it needs root (apt-get install chromium)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["apt-get", *args], env=env, capture_output=True, text=True, timeout=900
        )

    done = apt("install", "-y", "chromium")
    if done.returncode != 0:  # a fresh machine may have no package lists yet
        apt("update")
        done = apt("install", "-y", "chromium")
    if done.returncode == 0 and CHROMIUM.exists():
        return CHROMIUM, "installed with apt-get"
    tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
    return None, f"apt-get install chromium failed: {tail[0]}"
