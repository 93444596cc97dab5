"""Running the ``kdbg`` command line from tests: one way for every test file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent


def run_kdbg(*args: str, cwd: Optional[Path] = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m kdbg ARGS...`` in this checkout with no stdin; stdout and stderr
    captured as text. The exit status is the caller's to check."""
    return subprocess.run([sys.executable, "-m", "kdbg", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, cwd=cwd, timeout=timeout)
