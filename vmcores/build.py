"""Build reference vmcores from real Debian kernels booted under QEMU (TCG).

Each kernel boots with a generated busybox initramfs that loads ``qemu_fw_cfg`` (so the
``-device vmcoreinfo`` note reaches the dump), starts a few recognizable processes,
records ground truth (kallsyms, BTF, processes, mounts, modules, uname, dmesg) and streams
it to the host as base64 over a second serial port with a SHA-256.  The host then stops
the guest and dumps it through QMP in every form QEMU supports, and converts the ELF dump
with makedumpfile into further forms.

Usage::

    python -m vmcores [--suite S ...] [--force] [--memory 128M]
    python -m vmcores --crash-only [--suite S ...] [--force]
    python -m vmcores --live-test [--suite S] -- COMMAND ...

Layout under ``<cache>/vmcores/``: ``manifest.json`` (every dump) and per suite
``<suite>/`` with the dumps, ``truth/`` and ``dumps.json``.

This module is the reference recipe (and the shipped sample); its parts live beside it:
:mod:`vmcores.initramfs` (the guest's ``/init`` and modules), :mod:`vmcores.qemu` (the guest
and QMP), :mod:`vmcores.dump_forms` (QEMU's and makedumpfile's forms),
:mod:`vmcores.dump_index` (the :class:`~vmcores.dump_index.Dump` record, ``dumps.json``, the
manifest and the load-or-build loop) and :mod:`vmcores.live` (commands in a live guest).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from vmcores.debian import (
    SUITES,
    cached_kernel,
    debian_kernel,
)
from vmcores.dump_forms import makedumpfile_forms, qemu_dumps, vmcore_style_elf
from vmcores.dump_index import (
    BuildError,
    Dump,
    cached_dumps,
    dump_from_json,
    dump_json,
    finish_build,
    manifest_path,
    rebased_json,
    vmcores_root,
)
from vmcores.initramfs import FW_CFG_MODULES, INIT_DUMP, make_initramfs
from vmcores.qemu import BOOT_TIMEOUT, DEFAULT_MEMORY, READY, Guest


def truth_files(suite: str) -> Path:
    """The truth directory of *suite*'s reference dumps (building them if missing)."""
    dumps = reference_dumps([suite])
    return dumps[0].truth


# --------------------------------------------------------------------------- truth


def parse_proc_stat(text: str) -> List[Dict[str, Any]]:
    """Parse ``/proc/<pid>/stat`` lines into ``{pid, comm, state, ppid}`` dicts."""
    procs = []
    for line in text.splitlines():
        if "(" not in line:
            continue
        pid, rest = line.split(" (", 1)
        comm, tail = rest.rsplit(") ", 1)
        fields = tail.split()
        procs.append({"pid": int(pid), "comm": comm, "state": fields[0], "ppid": int(fields[1])})
    return sorted(procs, key=lambda p: p["pid"])


def _unpack_truth(payload: bytes, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as tf:
        for member in tf.getmembers():
            if not (member.isfile() or member.isdir()) or ".." in member.name.split("/"):
                continue
            tf.extract(member, dest)
    stat_file = dest / "proc-stat"
    if stat_file.exists():
        procs = parse_proc_stat(stat_file.read_text(errors="replace"))
        (dest / "ps.json").write_text(json.dumps(procs, indent=1) + "\n")
        (dest / "ps").write_text("".join(f"{p['pid']} {p['ppid']} {p['state']} {p['comm']}\n" for p in procs))


# --------------------------------------------------------------------------- dumps


def build_suite(
    suite: str,
    memory: str = DEFAULT_MEMORY,
    log: Optional[Any] = None,
    outdir: Optional[Path] = None,
) -> List[Dump]:
    """Boot *suite*'s cloud kernel, record truth and write every dump form; return them.

    Writes into *outdir* (default ``<cache>/vmcores/<suite>``), replacing what was there
    only once the new build is complete (built in a sibling directory, then renamed).
    """
    say = log or (lambda msg: print(f"[vmcores {suite}] {msg}", file=sys.stderr, flush=True))
    t0 = time.monotonic()
    kernel = debian_kernel(suite, "cloud")
    say(f"kernel {kernel.release} ({time.monotonic() - t0:.1f}s)")
    final = outdir or vmcores_root() / suite
    outdir = final.with_name(f".{final.name}.building")
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    work = outdir / "guest"
    initramfs = make_initramfs(kernel, FW_CFG_MODULES, INIT_DUMP)
    truth = outdir / "truth"
    t_boot = time.monotonic()
    with Guest.boot(kernel, initramfs, work, READY, BOOT_TIMEOUT, memory=memory) as g:
        say(f"guest ready after {time.monotonic() - t_boot:.1f}s")
        _unpack_truth(g.received(), truth)
        assert g.qmp is not None
        made, failed, qemu_formats = qemu_dumps(g.qmp, outdir)
    shutil.copy(work / "console.log", truth / "console.log")
    (work / "initramfs.cpio").unlink(missing_ok=True)
    say(f"QEMU dumps done ({time.monotonic() - t_boot:.1f}s)")
    vmcore_elf = outdir / "vmcore-style.elf"
    vmcore_style_elf(outdir / "qemu.elf-paging", vmcore_elf)
    more, more_failed = makedumpfile_forms(vmcore_elf, outdir)
    vmcore_elf.unlink()
    made += more
    failed.update(more_failed)
    say(f"makedumpfile done ({time.monotonic() - t0:.1f}s total)")
    release = (truth / "uname").read_text().strip()
    if release != kernel.release:
        raise BuildError(f"guest uname -r {release!r} != package release {kernel.release!r}")
    dumps = [Dump(suite, release, f, t, final / p.name, final / "truth") for f, t, p in made]
    info: Dict[str, Any] = {
        "suite": suite,
        "release": release,
        "package": f"{kernel.package}={kernel.version}",
        "memory": memory,
        "qemu_formats": qemu_formats,
        "build_seconds": round(time.monotonic() - t0, 1),
        "dumps": [dump_json(d, final) for d in dumps],
        "failed": failed,
    }
    info["dumps"] = [{**j, "size": p.stat().st_size} for j, (_f, _t, p) in zip(info["dumps"], made, strict=True)]
    finish_build(outdir, final, info)
    return dumps


def _load_suite(suite: str) -> Optional[List[Dump]]:
    f = vmcores_root() / suite / "dumps.json"
    if not f.exists():
        return None
    try:
        info = json.loads(f.read_text())
        dumps = [dump_from_json(Dump, d, f.parent) for d in info["dumps"]]
    except (ValueError, KeyError, TypeError):
        return None
    if not dumps or not all(d.path.exists() for d in dumps):
        return None
    if not (dumps[0].truth / "kallsyms").exists():
        return None
    if not built_from_current_kernel(suite, info):
        return None
    return dumps


def built_from_current_kernel(suite: str, info: Dict[str, Any]) -> bool:
    """Whether a build record (``dumps.json``: its ``package``) was made from the kernel
    :func:`vmcores.debian.debian_kernel` gives *suite* now (a pinned ABI changed, or the
    kernel cache was refetched: the dumps are rebuilt)."""
    kernel = cached_kernel(suite, "cloud")
    return kernel is not None and info.get("package") == f"{kernel.package}={kernel.version}"


def _write_manifest() -> None:
    suites = {}
    root = vmcores_root()
    for index in sorted(root.glob("*/dumps.json")):
        with contextlib.suppress(ValueError):
            info = json.loads(index.read_text())
            info["dumps"] = [rebased_json(d, index.parent, root) for d in info["dumps"]]
            suites[info["suite"]] = info
    manifest = {  # paths relative to the manifest's directory, as each dumps.json's are
        "dumps": [d for s in suites.values() for d in s["dumps"]],
        "suites": {s: {k: v for k, v in info.items() if k != "dumps"} for s, info in suites.items()},
    }
    # a temporary file of this process's own: two sessions sharing a cache may both write
    tmp = manifest_path().with_name(f"manifest.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    os.replace(tmp, manifest_path())


def reference_dumps(
    suites: Optional[Sequence[str]] = None,
    forms: Optional[Sequence[str]] = None,
    build: bool = True,
    force: bool = False,
    memory: str = DEFAULT_MEMORY,
) -> List[Dump]:
    """All reference dumps of *suites* (default: bookworm, trixie, bullseye).

    Missing suites are built (``build=True``) or raise :class:`BuildError`.  *forms*
    filters by :attr:`Dump.form`.  Several processes may call this at once: builds are
    serialized per suite with a lock file (:func:`cached_dumps`).
    """
    return cached_dumps(
        suites or SUITES, lambda suite: vmcores_root() / f".{suite}.lock", _load_suite,
        lambda suite: build_suite(suite, memory=memory),
        lambda suite: f"no reference dumps for {suite}: run python -m vmcores",
        forms, build, force, (manifest_path(), _write_manifest))


def suite_dumps_main(argv: Optional[Sequence[str]], module: str, doc: str,
                     dumps: Callable[..., Sequence[Dump]], memory: bool = True) -> int:
    """The command line of a ``python -m vmcores.MODULE`` that builds one family of dumps
    per suite (:mod:`vmcores.disk`, :mod:`vmcores.state`): ``--suite`` (repeatable),
    ``--force``, ``--memory`` (with *memory*); one line per dump, as ``dumps(suites,
    force=..., memory=...)`` gives them; a :class:`BuildError` is one line and exit 1."""
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=doc.split("\n")[0])
    ap.add_argument("--suite", action="append", choices=SUITES, help=f"repeatable; default {', '.join(SUITES)}")
    ap.add_argument("--force", action="store_true", help="rebuild even if the dumps exist")
    if memory:
        ap.add_argument("--memory", default=DEFAULT_MEMORY, help=f"guest RAM (default {DEFAULT_MEMORY})")
    args = ap.parse_args(argv)
    try:
        for d in dumps(args.suite, force=args.force, memory=args.memory if memory else DEFAULT_MEMORY):
            print(f"{d.suite}\t{d.release}\t{d.form:16}\t{d.path}\t[{d.tool}]")
    except BuildError as e:
        print(f"{module}: {e}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- sample

SAMPLE_DIR = Path(__file__).resolve().parent / "sample"
SAMPLE_SUITE = "bookworm"
SAMPLE_MEMORY = "96M"
SAMPLE_FORM = "kdump-zlib"
SAMPLE_TRUTH_FILES = (
    "kallsyms", "btf", "ps", "ps.json", "proc-stat", "mounts", "modules", "uname", "version",
    "cmdline", "iomem", "meminfo", "dmesg", "console.log", "vmcoreinfo-sysfs",
)  # fmt: skip


def build_sample(dest: Path = SAMPLE_DIR, memory: str = SAMPLE_MEMORY) -> Path:
    """Rebuild the committed sample (bookworm cloud, kdump zlib, small RAM) in *dest*."""
    with tempfile.TemporaryDirectory(prefix="kdbg-sample-", dir=vmcores_root()) as tmp:
        dumps = build_suite(SAMPLE_SUITE, memory=memory, outdir=Path(tmp) / "out")
        dump = next(d for d in dumps if d.form == SAMPLE_FORM and "qemu" in d.tool)
        for old in dest.glob("*.kdump"):
            old.unlink()
        if (dest / "truth").exists():
            shutil.rmtree(dest / "truth")
        (dest / "truth").mkdir(parents=True)
        for name in SAMPLE_TRUTH_FILES:
            src = dump.truth / name
            if src.is_dir():
                shutil.copytree(src, dest / "truth" / name)
            elif src.exists():
                shutil.copy(src, dest / "truth" / name)
        name = f"{SAMPLE_SUITE}-{dump.release}.kdump"
        shutil.copy(dump.path, dest / name)
        os.chmod(dest / name, 0o644)
        info = {
            "file": name,
            "suite": SAMPLE_SUITE,
            "release": dump.release,
            "form": SAMPLE_FORM,
            "tool": dump.tool,
            "memory": memory,
            "kernel_cmdline": (dump.truth / "cmdline").read_text().strip(),
            "size": (dest / name).stat().st_size,
        }
        (dest / "sample.json").write_text(json.dumps(info, indent=1) + "\n")
    return dest / name


if __name__ == "__main__":
    sys.exit("vmcores.build: the command line is python -m vmcores (it builds the crash dumps too)")
