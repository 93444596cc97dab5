"""The virtualenv the start-up benchmarks measure kdbg in: installed as ``pip install``
leaves it (byte-compiled, not editable), beside drgn from PyPI.

:func:`ensure_venv` creates the virtualenv the first time (``python3 -m venv``, then
``pip install drgn==`` the tests' drgn) and installs this checkout into it on every run (a copy of the
checkout's files, so pip's in-tree build leaves nothing behind in the checkout);
:func:`venv_env` is the environment of a measured process: bytecode writing on (some
shells set ``PYTHONDONTWRITEBYTECODE``, which would make every start recompile), no
``PYTHONPATH`` (the installed package is measured, not the checkout), a private
``$KDBG_CACHE``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict

from vmcores.oracle import drgn_version

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["default_venv", "ensure_venv", "venv_env"]


def default_venv() -> Path:
    """``$KDBG_BENCH_VENV``, else ``${XDG_CACHE_HOME:-~/.cache}/kdbg-bench/venv``."""
    env = os.environ.get("KDBG_BENCH_VENV")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kdbg-bench" / "venv"


def _pip_env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # pip byte-compiles what it installs
    env.pop("PYTHONPATH", None)
    return env


def _copy_checkout(dest: Path) -> None:
    """The checkout's files (tracked and untracked, not ignored) copied to ``dest``."""
    try:
        listing = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                                 check=True, capture_output=True).stdout
        files = [f for f in listing.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
    if not files:  # not a git checkout: everything but build products
        shutil.copytree(ROOT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"))
        return
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def ensure_venv(path: Path, install_kdbg: bool = True) -> Path:
    """The ``bin`` directory of the benchmark virtualenv at ``path``, created with drgn
    the first time; with ``install_kdbg`` this checkout is (re)installed into it."""
    bindir = path / "bin"
    python = bindir / "python"
    if not python.exists():
        print(f"creating the benchmark virtualenv {path} (drgn from PyPI) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        # the drgn the tests' oracle is (pyproject's test extra pins it)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"drgn=={drgn_version()}"], check=True,
                       env=_pip_env())
    if install_kdbg:
        first = subprocess.run([str(python), "-c", "import kdbg"], env=venv_env(""), capture_output=True,
                               cwd=tempfile.gettempdir()).returncode != 0
        with tempfile.TemporaryDirectory(prefix="kdbg-bench-src-") as src:
            _copy_checkout(Path(src))
            # the first time with kdbg's dependencies, then only kdbg itself
            opts = [] if first else ["--force-reinstall", "--no-deps"]
            subprocess.run([str(python), "-m", "pip", "install", "-q", *opts, src], check=True, env=_pip_env())
    where = subprocess.run([str(python), "-c", "import kdbg, drgn; print(kdbg.__file__)"], check=True,
                           capture_output=True, text=True, env=venv_env(""), cwd=tempfile.gettempdir()
                           ).stdout.strip()
    if not where.startswith(str(path)):
        raise SystemExit(f"the benchmark virtualenv imports kdbg from {where}, not from {path}")
    return bindir


def venv_env(cache: str) -> Dict[str, str]:
    """The environment of a measured process (see the module docstring)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPATH", None)
    if cache:
        env["KDBG_CACHE"] = cache
    return env
