"""kdbg on a live arm64 kernel's ``/proc/kcore``: an arm64 guest (``qemu-system-aarch64 -M
virt -cpu max``, TCG, as :mod:`vmcores.arm64` boots it) runs kdbg under Debian's own arm64
Python, against its own memory, and records its own truth in the same boot.

Usage::

    python -m vmcores.arm64_live fetch [SUITE-FLAVOUR ...]            # the arm64 Python
    python -m vmcores.arm64_live run [SUITE-FLAVOUR ...] [--force]    # boot, run, record

**Initramfs.** :func:`vmcores.initramfs.make_initramfs` (busybox, the guest's modules, its
``/init``) followed by a second newc archive (the kernel unpacks concatenated archives
into one root) with

* Debian's arm64 Python of the kernel's suite (:func:`arm64_python`): the closure of
  ``Depends`` (:func:`vmcores.arm64.package_closure`) of ``python3-minimal`` and
  ``libpython3-stdlib``, without :data:`PYTHON_LEFT_OUT` (dpkg, time zones, MIME types,
  ...: nothing kdbg imports needs them), unpacked with ``dpkg-deb -x`` into
  ``<cache>/debian/arm64/python-<suite>/root`` once, documentation and locales removed
  (:data:`PRUNED`); plus Debian's arm64 ``python3-capstone`` and ``libcapstone5`` from
  :data:`CAPSTONE_SUITE` (trixie's 5.0.7; bookworm's own 4.0.2 is older than kdbg's
  ``capstone>=5``; the binding is pure Python over ``ctypes`` and the library needs only
  glibc >= 2.17, so it serves bookworm's Python too);
* kdbg's source from the tree under test (``kdbg/``, and ``plugins/`` as the wheel installs
  it, ``kdbg_plugins``: ``ps`` is one) and its pure-Python dependencies
  (:data:`PURE_DEPENDENCIES`, copied from the host's site-packages; a compiled file among
  them is refused) under ``/opt/kdbg``, on ``PYTHONPATH``.

Nothing is compiled on the host: the guest's Python writes its bytecode into the
initramfs root on the first import (the first kdbg start pays for it).

**Guest script** (:data:`LIVE_SCRIPT`): the x86 guests' sleepers, then ``sleep 3000`` as the
task whose stack ``bt`` shows, a sysrq-t between markers on the console, and for each of
:data:`LIVE_RUNS` one ``python3 -m kdbg -x ...`` (no target: ``/proc/kcore``,
``/proc/kallsyms``, ``/sys/kernel/btf``) with its stdout, stderr, status and time
(``/proc/uptime`` before and after); around ``ps`` every process's ``/proc/PID/stat`` and
context-switch counts, around ``kmem -i`` ``/proc/meminfo``; ``uname -r``,
``/proc/modules``, ``/proc/cpuinfo`` and ``schedule``'s and ``_stext``'s lines of
``/proc/kallsyms``. All of it goes back as one tarball over the
virtconsole (:meth:`vmcores.qemu.Guest.received`).

**Cache.** ``<cache>/vmcores/arm64-live/<SUITE-FLAVOUR>/`` holds ``truth/`` (what the guest
sent, plus ``console.log``) and ``dumps.json`` (one record, form ``live-kcore``, through
:func:`vmcores.dump_index.cached_dumps` like every other build). The record is kept only while
:data:`LIVE_RECIPE`, the kernel package and :func:`source_key` (a SHA-256 of the kdbg
tree, the dependencies copied and the guest script) are the same: kdbg's output is the
output of the code under test, never of an older tree.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from vmcores.arm64 import (
    INIT_COMMON_ARM64,
    KERNELS,
    MODULES,
    SYSRQ_T,
    Arm64Apt,
    Arm64Guest,
    _download_unpack,
    arm64_busybox,
    arm64_kernel,
    arm64_root,
    kernel_parts,
    package_closure,
)
from vmcores.build import _unpack_truth
from vmcores.debian import FetchError, file_lock
from vmcores.dump_index import BuildError, Dump, cached_dumps, dump_from_json, dump_json, finish_build, vmcores_root
from vmcores.initramfs import INIT_SLEEPERS, Cpio, make_initramfs
from vmcores.qemu import READY

LIVE_RECIPE = 1
"""Bumped when the guest, its packages or :data:`LIVE_SCRIPT` change in a way
:func:`source_key` does not see."""

LIVE_FORM = "live-kcore"
"""The :attr:`vmcores.dump_index.Dump.form` of a live run's record (its ``path`` is the truth
directory: there is no dump)."""

PYTHON_ROOTS: Tuple[str, ...] = ("python3-minimal", "libpython3-stdlib")
"""The Python packages whose ``Depends`` closure the guest gets."""

PYTHON_LEFT_OUT: Tuple[str, ...] = (
    "dpkg", "tzdata", "media-types", "mime-support", "netbase", "readline-common", "debconf",
)
"""Packages of that closure the guest does without: dpkg (a ``Depends`` of
``python3-minimal`` for its maintainer scripts), and data files kdbg never reads."""

CAPSTONE_SUITE = "trixie"
"""The suite whose arm64 ``python3-capstone`` (5.0.7, with ``libcapstone5``) every live guest
gets."""

CAPSTONE_ROOTS: Tuple[str, ...] = ("python3-capstone",)
"""Capstone's packages: the binding and (its ``Depends``) the library; libc comes from the
guest's own suite."""

PRUNED: Tuple[str, ...] = (
    "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
    "usr/share/i18n", "usr/share/bug", "usr/lib/aarch64-linux-gnu/gconv", "usr/share/gdb",
)
"""Directories removed from the unpacked packages: documentation, translations and the
character-set converters (kdbg runs with ``LANG=C.UTF-8``)."""

PURE_DEPENDENCIES: Tuple[str, ...] = ("elftools", "prompt_toolkit", "pygments", "wcwidth")
"""kdbg's runtime dependencies (and prompt_toolkit's), pure Python, copied from the host."""

SOURCE_DIR = Path(__file__).resolve().parent.parent
"""The tree under test (its ``kdbg/`` goes into the guest)."""

LIVE_MEMORY = "512M"
"""Guest RAM: the initramfs (about 60 MB with Python) stays in it."""

LIVE_BOOT_TIMEOUT = 2400.0
"""Seconds from QEMU's start to ``KDBG-READY``: a boot, every kdbg start under TCG (the first
also compiles kdbg's and the standard library's bytecode) and the truth stream."""

SECTION = "==KDBG-SECTION "
"""The line kdbg prints (a Python ``-x`` line) before each section of a run's output."""

#: What kdbg runs in the guest: ``(run, options, sections)``, one ``python3 -m kdbg`` per run
#: (each start under TCG costs tens of seconds), each section ``(name, -x lines)``, its output
#: after a :data:`SECTION` line when the run has more than one. ``$SLEEPER`` and ``$INIT_TASK``
#: are the shell's (the ``sleep 3000`` task; PID 1's task address from ``ps 1``).
LIVE_RUNS: Tuple[Tuple[str, str, Tuple[Tuple[str, str], ...]], ...] = (
    ("main", "", (
        ("sys", "-x sys"),
        ("mod", "-x mod"),
        ("bt", '-x "bt $SLEEPER"'),
        ("release", """-x 'p prog["init_uts_ns"].name.release'"""),
        ("percpu", """-x '[(c, per_cpu(prog["cpu_data"], c).reg_midr.value_()) for c in for_each_online_cpu(prog)]'"""),
        ("dis", "-x 'dis schedule 4'"),
        ("ps1", "-x 'ps 1'"),
    )),
    ("ps", "-q --json", (("ps", "-x ps"),)),
    # kmem -i, then kdbg's own peak RSS (the test's bound on what the reader moved)
    ("kmem", "", (("kmem", """-x 'kmem -i' -x 'print(open("/proc/self/status").read())'"""),)),
    ("struct", "", (("struct", '-x "struct task_struct.comm $INIT_TASK"'),)),
)  # fmt: skip


def run_arguments(options: str, sections: Sequence[Tuple[str, str]]) -> str:
    """The shell words of one run's kdbg arguments."""
    if len(sections) == 1:
        return f"{options} {sections[0][1]}".strip()
    return " ".join([options, *(f"-x 'print(\"{SECTION}{name}\")' {args}" for name, args in sections)]).strip()


#: Every process's ``/proc/PID/stat`` line and its voluntary and involuntary context-switch
#: counts (``STAT|VOL NONVOL``), with shell builtins only.
_SNAPSHOT = r"""
snapshot() {
    for d in /proc/[0-9]*; do
        read -r line < $d/stat 2>/dev/null || continue
        v=; n=
        while read -r k val; do
            case $k in voluntary_ctxt_switches:) v=$val;; nonvoluntary_ctxt_switches:) n=$val;; esac
        done < $d/status 2>/dev/null
        echo "$line|$v $n"
    done
}
run() {  # run NAME ARGS...: kdbg on this guest's /proc/kcore
    n=$1; shift
    read -r t0 _ < /proc/uptime
    python3 -m kdbg "$@" > $T/$n.out 2> $T/$n.err < /dev/null
    echo $? > $T/$n.rc
    read -r t1 _ < /proc/uptime
    echo "$t0 $t1" > $T/$n.time
}
"""


def _command_lines() -> str:
    out = []
    for run, options, sections in LIVE_RUNS:
        line = f"run {run} {run_arguments(options, sections)}"
        if run == "ps":
            out += ["snapshot > $T/ps-before", line, "snapshot > $T/ps-after"]
        elif run == "kmem":
            out += ["cat /proc/meminfo > $T/meminfo-before", line, "cat /proc/meminfo > $T/meminfo-after"]
        elif run == "struct":
            out += ["set -- $(grep -E '^ +1 ' $T/main.out)", "INIT_TASK=$4", line]
        else:
            out.append(line)
    return "\n".join(out) + "\n"


LIVE_SCRIPT = INIT_SLEEPERS + r"""
export PATH=/usr/bin:/bin HOME=/tmp/kdbg-home LANG=C.UTF-8 PYTHONPATH=/opt/kdbg
export LD_LIBRARY_PATH=/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu
unset PYTHONDONTWRITEBYTECODE
mkdir -p $HOME
sleep 3000 &
SLEEPER=$!
echo $SLEEPER > $T/sleeper
read -r up _ < /proc/uptime; echo "$up" > $T/uptime-start
uname -r > $T/uname
cat /proc/modules > $T/modules
cat /proc/cpuinfo > $T/cpuinfo
grep -E ' (schedule|_stext)$' /proc/kallsyms > $T/kallsyms-some
python3 -c 'import sys; print(sys.version)' > $T/python 2>&1
sleep 1
""" + SYSRQ_T + _SNAPSHOT + _command_lines() + r"""
read -r up _ < /proc/uptime; echo "$up" > $T/uptime-end
tar -czf /tmp/truth.tgz -C $T .
send /tmp/truth.tgz
echo KDBG-READY
while :; do sleep 100000; done
"""
"""The live guest's ``/init`` after :data:`vmcores.arm64.INIT_COMMON_ARM64`."""


# --------------------------------------------------------------------------- packages


def _prune(root: Path) -> None:
    for rel in PRUNED:
        if (root / rel).is_dir() and not (root / rel).is_symlink():
            shutil.rmtree(root / rel)


def arm64_python(suite: str) -> Tuple[Path, Dict[str, str]]:
    """``(root, {package: version})``: *suite*'s arm64 Python (:data:`PYTHON_ROOTS`' closure)
    and :data:`CAPSTONE_SUITE`'s capstone, unpacked into
    ``<cache>/debian/arm64/python-<suite>/root`` once."""
    top = arm64_root() / f"python-{suite}"
    root = top / "root"
    meta_file = top / "packages.json"
    with file_lock(arm64_root() / f".python-{suite}.lock"):
        if meta_file.exists():
            return root, json.loads(meta_file.read_text())["packages"]
        apt = Arm64Apt(suite)
        apt.ensure_lists()
        packages = {p: f"{suite} {v}" for p, v in package_closure(apt, PYTHON_ROOTS, PYTHON_LEFT_OUT).items()}
        capstone_apt = Arm64Apt(CAPSTONE_SUITE)
        capstone_apt.ensure_lists()
        leave_out = (*PYTHON_LEFT_OUT, "libc6", "python3")
        capstone = package_closure(capstone_apt, CAPSTONE_ROOTS, leave_out)
        if root.exists():
            shutil.rmtree(root)
        for pkg in packages:
            _download_unpack(apt, pkg, root)
        for pkg, version in capstone.items():
            _download_unpack(capstone_apt, pkg, root)
            packages[pkg] = f"{CAPSTONE_SUITE} {version}"
        _prune(root)
        packages = dict(sorted(packages.items()))
        meta = {"suite": suite, "packages": packages, "bytes": _tree_bytes(root)}
        meta_file.write_text(json.dumps(meta, indent=1) + "\n")
        return root, packages


def _tree_bytes(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


# --------------------------------------------------------------------------- initramfs


def _walk(top: Path) -> Iterator[Path]:
    """Every path under *top* (directories before their contents, symlinks not followed),
    without ``__pycache__``."""
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in dirnames + sorted(filenames):
            yield Path(dirpath, name)


def _add_tree(c: Cpio, src: Path, dest: str) -> None:
    """*src*'s files, directories and symlinks under *dest* in *c* (modes kept)."""
    for p in _walk(src):
        name = f"{dest}/{p.relative_to(src)}".strip("/")
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            c.symlink(name, os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            c.mkdir(name)
        elif stat.S_ISREG(st.st_mode):
            c.file(name, p.read_bytes(), stat.S_IMODE(st.st_mode))


def pure_dependencies() -> Dict[str, Path]:
    """``{package: directory}`` of :data:`PURE_DEPENDENCIES` in the host's Python; a
    compiled extension among their files is a :class:`BuildError`."""
    out = {}
    for name in PURE_DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise BuildError(f"{name} is not installed on the host: pip install kdbg's dependencies")
        path = Path(next(iter(spec.submodule_search_locations)))
        compiled = [p for p in path.rglob("*") if p.suffix in (".so", ".pyd")]
        if compiled:
            raise BuildError(f"{name} is not pure Python: {compiled[0]}")
        out[name] = path
    return out


def _trees() -> List[Tuple[Path, str]]:
    """``(source, destination)`` of what goes under ``/opt/kdbg``."""
    return [(SOURCE_DIR / "kdbg", "opt/kdbg/kdbg"), (SOURCE_DIR / "plugins", "opt/kdbg/kdbg_plugins"),
            *((p, f"opt/kdbg/{n}") for n, p in pure_dependencies().items())]


def source_key() -> str:
    """SHA-256 of every file that goes under ``/opt/kdbg`` (path and bytes) and of
    :data:`LIVE_SCRIPT`: a live run is kept only for the tree it ran."""
    h = hashlib.sha256(LIVE_SCRIPT.encode())
    for src, dest in _trees():
        for p in _walk(src):
            if p.is_file() and not p.is_symlink():
                h.update(f"\0{dest}/{p.relative_to(src)}\0".encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def live_initramfs(kernel: Any, busybox: Path, python_root: Path) -> bytes:
    """The live guest's initramfs: :func:`vmcores.initramfs.make_initramfs`'s archive, then one
    with the arm64 Python, kdbg and its dependencies."""
    base = make_initramfs(kernel, MODULES, LIVE_SCRIPT, busybox=busybox, init_common=INIT_COMMON_ARM64)
    c = Cpio()
    _add_tree(c, python_root, "")
    # merged /usr (trixie): the ELF interpreter is /lib/ld-linux-aarch64.so.1
    for p in sorted((python_root / "usr" / "lib").glob("ld-linux-*")):
        if not (python_root / "lib" / p.name).exists():
            c.symlink(f"lib/{p.name}", f"/usr/lib/{p.name}")
    for src, dest in _trees():
        _add_tree(c, src, dest)
    return base + c.getvalue()


# --------------------------------------------------------------------------- run


def live_root() -> Path:
    """``<cache>/vmcores/arm64-live``."""
    return vmcores_root() / "arm64-live"


def run_live(name: str, log: Optional[Any] = None) -> List[Dump]:
    """Boot the arm64 kernel *name* (``SUITE-FLAVOUR``) with :func:`live_initramfs`, let it
    run :data:`LIVE_SCRIPT` and record what it sent into ``<cache>/vmcores/arm64-live/<name>/``
    (replaced only once complete)."""
    say = log or (lambda msg: print(f"[vmcores arm64-live {name}] {msg}", file=sys.stderr, flush=True))
    t0 = time.monotonic()
    suite, flavour = kernel_parts(name)
    kernel = arm64_kernel(suite, flavour)
    busybox = arm64_busybox(suite)
    python_root, packages = arm64_python(suite)
    key = source_key()
    initramfs = live_initramfs(kernel, busybox, python_root)
    say(f"kernel {kernel.release}, initramfs {len(initramfs) >> 20} MB ({time.monotonic() - t0:.1f}s)")
    final = live_root() / name
    outdir = final.with_name(f".{final.name}.building")
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    work = outdir / "guest"
    truth = outdir / "truth"
    t_boot = time.monotonic()
    with Arm64Guest.boot(kernel, initramfs, work, READY, LIVE_BOOT_TIMEOUT, memory=LIVE_MEMORY) as g:
        seconds = time.monotonic() - t_boot
        say(f"guest done after {seconds:.1f}s")
        _unpack_truth(g.received(), truth)
    shutil.copy(work / "console.log", truth / "console.log")
    shutil.rmtree(work)
    release = (truth / "uname").read_text().strip()
    if release != kernel.release:
        raise BuildError(f"guest uname -r {release!r} != package release {kernel.release!r}")
    dump = Dump(name, release, LIVE_FORM, "kdbg", final / "truth", final / "truth")
    info: Dict[str, Any] = {
        "suite": name,
        "arch": "arm64",
        "release": release,
        "package": f"{kernel.package}={kernel.version}",
        "recipe": LIVE_RECIPE,
        "source_key": key,
        "memory": LIVE_MEMORY,
        "initramfs_bytes": len(initramfs),
        "python_packages": packages,
        "guest_seconds": round(seconds, 1),
        "build_seconds": round(time.monotonic() - t0, 1),
        "dumps": [dump_json(dump, final)],
    }
    finish_build(outdir, final, info)
    say(f"done ({time.monotonic() - t0:.1f}s)")
    return [dump]


def live_info(name: str) -> Dict[str, Any]:
    """The recorded ``dumps.json`` of *name*'s live run (its timings, packages, sizes)."""
    return json.loads((live_root() / name / "dumps.json").read_text())


def _load(name: str) -> Optional[List[Dump]]:
    """The recorded live run of *name*, or None when it must run (again)."""
    try:
        info = live_info(name)
        dumps = [dump_from_json(Dump, d, live_root() / name) for d in info["dumps"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.get("recipe") != LIVE_RECIPE or info.get("source_key") != source_key():
        return None
    try:
        meta = json.loads((arm64_root() / name / "kernel.json").read_text())
    except (OSError, ValueError):
        return None
    if info.get("package") != f"{meta.get('package')}={meta.get('version')}":
        return None
    return dumps if all(d.truth.is_dir() for d in dumps) else None


def live_runs(kernels: Sequence[str] = KERNELS, build: bool = True, force: bool = False) -> List[Dump]:
    """The live runs of *kernels* (one record each; :attr:`Dump.truth` is what the guest
    sent), made when missing or made by another tree."""
    for name in kernels:
        kernel_parts(name)
    return cached_dumps(
        kernels, lambda name: live_root() / f".{name}.lock", _load, run_live,
        lambda name: f"no arm64 live run for {name}: run python -m vmcores.arm64_live run {name}",
        None, build, force)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``python -m vmcores.arm64_live``."""
    ap = argparse.ArgumentParser(prog="python -m vmcores.arm64_live", description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=("fetch", "run"))
    ap.add_argument("kernels", nargs="*", default=list(KERNELS), metavar="SUITE-FLAVOUR")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    try:
        for name in args.kernels:
            try:
                suite, _flavour = kernel_parts(name)
            except ValueError as e:
                ap.error(str(e))
            if args.cmd == "fetch":
                root, packages = arm64_python(suite)
                print(f"{name}\t{root}\t{len(packages)} packages, {_tree_bytes(root) >> 20} MB")
            else:
                for d in live_runs([name], force=args.force):
                    info = live_info(name)
                    print(f"{d.suite}\t{d.release}\t{d.truth}\t[{info['guest_seconds']} s in the guest]")
    except (BuildError, FetchError) as e:
        print(f"vmcores.arm64_live: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
