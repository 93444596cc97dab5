"""drgn's source distribution, fetched from PyPI at test time (never copied here).

drgn's ``contrib/`` scripts and its documentation's examples are inputs nobody here
wrote: tests run them under drgn with Debian's DWARF and under kdbg without, on the same
dump. :func:`drgn_source` downloads the sdist of the drgn version installed (the oracle's;
the test extra pins it) with ``pip download`` through the machine's own pip
configuration, unpacks it under ``<cache>/drgn-src/`` and returns the tree.

Usage::

    python -m vmcores.drgn_source          # print the unpacked tree's path
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from vmcores.debian import cache_root, file_lock
from vmcores.oracle import drgn_version

__all__ = ["drgn_source", "contrib_scripts"]


def drgn_source(version: str = "") -> Path:
    """The unpacked source tree of drgn ``version`` (default: the installed one)."""
    version = version or drgn_version()
    root = cache_root() / "drgn-src"
    tree = root / f"drgn-{version}"
    with file_lock(root / ".lock"):
        if (tree / "contrib").is_dir():
            return tree
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps",
                 "-d", tmp, f"drgn=={version}"],
                check=True, stdin=subprocess.DEVNULL,
            )
            archives = sorted(Path(tmp).glob("drgn-*.tar.gz"))
            if len(archives) != 1:
                raise RuntimeError(f"pip download drgn=={version} gave {[a.name for a in archives]}")
            unpack = Path(tmp) / "src"
            with tarfile.open(archives[0]) as tar:
                for member in tar.getmembers():
                    if member.name.startswith("/") or ".." in Path(member.name).parts:
                        raise RuntimeError(f"{archives[0].name}: unsafe member {member.name!r}")
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(unpack, filter="data")
                else:  # a Python without extraction filters: the members were checked above
                    tar.extractall(unpack)
            (src,) = list(unpack.iterdir())
            if tree.exists():
                shutil.rmtree(tree)
            src.rename(tree)
    return tree


def contrib_scripts(version: str = "") -> Path:
    """drgn's ``contrib/`` directory."""
    return drgn_source(version) / "contrib"


if __name__ == "__main__":
    print(drgn_source())
