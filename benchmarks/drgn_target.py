"""What the benchmarks that race drgn + DWARF share: the dump both read and the
environment of kdbg's child processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Tuple

ROOT = Path(__file__).resolve().parent.parent


def default_dump(suite: str = "bookworm") -> Tuple[str, str]:
    """``(dump, vmlinux)``: the suite's ``elf-paging`` reference dump (drgn cannot read the
    kdump forms) and Debian's DWARF vmlinux of the same kernel."""
    from vmcores.build import reference_dumps
    from vmcores.debian import debian_dbg_vmlinux

    dumps = [d for d in reference_dumps(suites=[suite]) if d.form == "elf-paging"]
    if not dumps:
        raise SystemExit(f"no {suite} elf-paging reference dump (python3 -m vmcores.build)")
    return str(dumps[0].path), str(debian_dbg_vmlinux(suite))


def child_env(cache: str) -> Dict[str, str]:
    """The environment of a measured kdbg process: bytecode caches on (this machine's
    shell turns them off), a private ``KDBG_CACHE``, this checkout importable."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["KDBG_CACHE"] = cache
    env["PYTHONPATH"] = str(ROOT)
    return env
