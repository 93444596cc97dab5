"""Shared pytest fixtures for kdbg.

The repository root is put on ``sys.path`` so ``import kdbg`` and ``import vmcores`` work
without installing anything.

Fixtures that need real kernels or dumps never skip: when a Debian kernel or a reference
dump is missing it is fetched or built (see ``vmcores/README.md``), and when that fails the
test errors out with the reason.

* ``debian_kernel_factory`` (session): ``factory(suite, flavour="cloud") -> KernelFiles``
  (``.release``, ``.vmlinuz``, ``.modules_dir``, ``.root``), downloading when missing.
* ``reference_dumps_all`` (session): ``list[vmcores.build.Dump]`` for bookworm (6.1),
  trixie (6.12) and bullseye (5.10): every form (``elf``, ``elf-paging``,
  ``kdump-zlib-flat``, ``kdump-zlib``, ...) with ``.suite``, ``.release``, ``.form``,
  ``.tool``, ``.path`` and ``.truth`` (directory of ground truth, see below).
* ``sample_dump`` (session): the small dump committed under ``vmcores/sample/``:
  ``SampleDump(path, truth, release, form)``.
* ``live_guest`` (session): ``run(command, suite="bookworm", **kw) -> LiveResult``
  (``.returncode``, ``.output``, ``.release``): boots the suite's generic kernel, mounts
  the host's ``/`` read-only over 9p, chroots into it and runs the shell *command* in
  this checkout, so e.g. ``python3 -m kdbg -e ...`` runs against the guest's own
  ``/proc/kcore``.  About a minute per call under TCG.

A truth directory holds what the guest itself reported just before it was dumped:
``kallsyms`` (real addresses), ``btf/vmlinux`` and ``btf/<module>`` (raw BTF),
``ps.json`` / ``ps`` (pid, ppid, state, comm of every process), ``proc-stat`` (raw),
``mounts``, ``modules``, ``uname``, ``version``, ``cmdline``, ``iomem``, ``meminfo``,
``dmesg`` (``dmesg`` output in the guest) and ``console.log`` (the serial console).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Callable, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from vmcores.build import Dump, LiveResult, live_test, reference_dumps  # noqa: E402
from vmcores.debian import KernelFiles, debian_kernel  # noqa: E402

SAMPLE_DIR = ROOT / "vmcores" / "sample"


@dataclasses.dataclass(frozen=True)
class SampleDump:
    """The committed sample vmcore: ``path`` to the dump, ``truth`` directory, ``release``."""

    path: Path
    truth: Path
    release: str
    form: str


@pytest.fixture(scope="session")
def debian_kernel_factory() -> Callable[..., KernelFiles]:
    """Return ``factory(suite, flavour="cloud") -> KernelFiles``; fetches when missing."""

    def factory(suite: str, flavour: str = "cloud") -> KernelFiles:
        return debian_kernel(suite, flavour)

    return factory


@pytest.fixture(scope="session")
def reference_dumps_all() -> List[Dump]:
    """Every reference dump of every suite, building missing ones (errors, never skips)."""
    dumps = reference_dumps()
    assert dumps, "vmcores.build produced no dumps"
    return dumps


@pytest.fixture(scope="session")
def sample_dump() -> SampleDump:
    """The small committed sample dump and its truth (``vmcores/sample/``)."""
    info = json.loads((SAMPLE_DIR / "sample.json").read_text())
    return SampleDump(
        path=SAMPLE_DIR / info["file"],
        truth=SAMPLE_DIR / "truth",
        release=info["release"],
        form=info["form"],
    )


@pytest.fixture(scope="session")
def live_guest() -> Callable[..., LiveResult]:
    """Return ``run(command, suite="bookworm", **kw) -> LiveResult`` (see module doc)."""

    def run(command: str, suite: str = "bookworm", **kw: object) -> LiveResult:
        return live_test(command, suite=suite, **kw)  # type: ignore[arg-type]

    return run
