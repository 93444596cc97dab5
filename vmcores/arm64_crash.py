"""Crash dumps of Debian's arm64 kernels: :mod:`vmcores.crash`'s recipe on the guests of
:mod:`vmcores.arm64`.

Usage::

    python -m vmcores.arm64_crash [SUITE-FLAVOUR ...] [--force]   # bookworm-cloud trixie-cloud

The guest's ``/init`` is the x86 crash guests' (:func:`vmcores.crash._init_script`: the
sleepers, the truth, switch counts around a sysrq-t, the truth stream, ``KDBG-CRASHING``,
the crash) with the truth on the virtconsole (:data:`vmcores.arm64.INIT_COMMON_ARM64`).
Scenarios (:data:`ARM64_SCENARIOS`):

``panic``
    ``echo c > /proc/sysrq-trigger`` from PID 1: on these kernels (6.x)
    ``sysrq_handle_crash`` calls ``panic("sysrq triggered crash")`` itself (no fault).
    The panicking CPU then stops the other one with ``IPI_CPU_STOP`` (``smp_send_stop``:
    the other CPU's trace runs from the IPI handler, ``do_handle_IPI`` ->
    ``local_cpu_stop``, through the interrupt's ``pt_regs`` into whatever it was running
    and marks it offline): arm64's form of a CPU stopped by another, recorded by every
    scenario here.
``oops``
    a write to ``/proc/kdbg_oops`` (the x86 scenario's module, ``vmcores/oops_module``,
    cross-compiled for arm64 by :func:`arm64_oops_module`): the NULL write in
    ``kdbg_oops_crash`` is a data abort taken from EL1 (``el1h_64_sync`` ->
    ``el1h_64_sync_handler`` -> ``el1_abort`` -> ``do_mem_abort`` -> ... ``die``), which
    ``oops=panic`` turns into a panic: the crashed CPU's stack crosses an EL1 exception
    frame (the ``pt_regs`` the vector pushed; the console's ``pc``/``lr``/``sp``/``x29``
    register block) into the module and the system call that wrote to it.

The module is built against Debian's arm64 ``linux-headers-<release>`` and its
``linux-headers-*-common`` (arm64 lists, :class:`vmcores.arm64.Arm64Apt`) with the host's
own amd64 ``linux-kbuild-*`` of the same version (its ``fixdep``/``modpost`` run here;
trixie's through trixie's ``ld.so`` as for x86, :func:`vmcores.crash_module._shim_new_glibc_tools`)
and Debian's cross compiler ``aarch64-linux-gnu-gcc`` (``apt-get install
gcc-aarch64-linux-gnu``, gcc 12 on bookworm): ``make ARCH=arm64
CROSS_COMPILE=aarch64-linux-gnu-`` with :func:`vmcores.crash_module._make_overrides` for a
kernel built by a newer gcc. trixie's headers ship a BTF ``vmlinux``, so its module gets
split BTF; bookworm's do not (no module BTF, as Kbuild says).

Not built here: ``nmi`` (arm64 has no NMI QEMU can inject into these kernels:
Debian's cloud-arm64 configs leave ``CONFIG_ARM64_PSEUDO_NMI`` unset, and QMP
``inject-nmi`` is x86's; the IPI stop above is the arm64 form of a CPU stopped by another).

Layout: ``<cache>/vmcores/arm64/crash/<SUITE-FLAVOUR>-<scenario>/`` holds the dumps
(:data:`vmcores.crash.CRASH_FORMS`), ``truth/`` (as the x86 crash truth, see
``vmcores/README.md``) and ``dumps.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from vmcores.arm64 import (
    ARM64_BOOT_TIMEOUT,
    INIT_COMMON_ARM64,
    KERNELS,
    Arm64Apt,
    Arm64Guest,
    arm64_busybox,
    arm64_dumps_root,
    arm64_kernel,
    arm64_root,
    guest_modules,
    kernel_parts,
)
from vmcores.crash import (
    CRASH_CMDLINE,
    CRASHING,
    MODULE_SCENARIOS,
    TRIGGERS,
    CrashDump,
    _init_script,
    boot_crash_and_dump,
    finish_crash_build,
)
from vmcores.crash_module import (
    MODULE_NAME,
    MODULE_SOURCE,
    ModuleBuildError,
    _headers_packages,
    _make_overrides,
    _module_source_hash,
    _shim_new_glibc_tools,
    _unpack_debs,
    has_section,
    run_module_make,
)
from vmcores.debian import FetchError, KernelFiles, PrivateApt, cache_root, file_lock, kernel_name
from vmcores.dump_index import BuildError, cached_dumps, dump_from_json
from vmcores.initramfs import make_initramfs
from vmcores.qemu import DEFAULT_MEMORY

ARM64_SCENARIOS: Tuple[str, ...] = ("panic", "oops")
"""The crash scenarios built for arm64 (see the module doc for the others)."""

ARM64_EXPECT: Dict[str, str] = {"panic": "Kernel panic - not syncing: sysrq triggered crash",
                                 "oops": "kdbg_oops_crash"}
"""What the console's report after the trigger must contain for the crash to be the
intended one (as :data:`vmcores.crash.TRIGGERS`' second item; arm64 prints return
addresses as they are, so a ``panic()`` call at the end of ``sysrq_handle_crash`` shows as
the next function, ``+0x0``: the panic message is checked instead)."""

ARM64_CRASH_RECIPE = 1
"""Bumped when the arm64 crash guest or dump recipe changes: a build of another recipe is
rebuilt."""


ARM64_MODULE_RECIPE = 1
"""How the arm64 module is built (1: cross gcc, the host's kbuild tools); a module or dump
of another recipe or source is rebuilt."""

CROSS_COMPILE = "aarch64-linux-gnu-"
"""Debian's cross toolchain prefix (``gcc-aarch64-linux-gnu``)."""


def arm64_kernel_headers(kernel: KernelFiles) -> Path:
    """Debian's arm64 build tree for external modules of *kernel* (an arm64 kernel of
    :func:`vmcores.arm64.arm64_kernel`), unpacked once into
    ``<cache>/debian/arm64/<suite>-<flavour>-headers/``: arm64 ``linux-headers-<release>``
    and ``linux-headers-*-common``, and the amd64 ``linux-kbuild-*`` of the same version
    (its tools run on this host). Returns the ``linux-headers-<release>`` directory."""
    top = arm64_root() / f"{kernel.suite}-{kernel.flavour}-headers"
    root = top / "root"
    tree = root / "usr" / "src" / f"linux-headers-{kernel.release}"
    meta_file = top / "headers.json"
    with file_lock(arm64_root() / f".{kernel.suite}-{kernel.flavour}-headers.lock"):
        if meta_file.exists() and (tree / "Makefile").exists():
            meta = json.loads(meta_file.read_text())
            if meta.get("version") == kernel.version:
                _localize_makefile(tree, root)  # (a tree unpacked before KBUILD_OUTPUT was)
                return tree
        top.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=top, prefix=".dl-") as tmp:
            unpack = Path(tmp) / "root"
            arm = Arm64Apt(kernel.suite)
            arm.ensure_lists()
            specs = _headers_packages(arm, kernel)
            kbuild = [p for p in specs[1:] if p.startswith("linux-kbuild-")]
            arch_specs = [p for p in specs if p not in kbuild]
            _unpack_debs(arm, arch_specs, unpack, Path(tmp))
            with file_lock(cache_root() / "debian" / f".apt-{kernel_name(kernel.suite)[0]}.lock"):
                host = PrivateApt(kernel.suite)
                host.ensure_lists()
                host_specs = [f"{p}={kernel.version}" for p in kbuild]
                try:
                    _unpack_debs(host, host_specs, unpack, Path(tmp))
                except FetchError:
                    host.ensure_lists(refresh=True)
                    _unpack_debs(host, host_specs, unpack, Path(tmp))
                if root.exists():
                    shutil.rmtree(root)
                os.replace(unpack, root)
                shims = _shim_new_glibc_tools(host, root, top / "runtime", Path(tmp))
        _localize_makefile(tree, root)
        meta = {"release": kernel.release, "version": kernel.version, "packages": arch_specs,
                "host_packages": host_specs, "glibc_shims": shims, "btf_base": (tree / "vmlinux").exists()}
        meta_file.write_text(json.dumps(meta, indent=1) + "\n")
        return tree


def _localize_makefile(tree: Path, root: Path) -> None:
    """Point the build tree's ``Makefile`` at *root*'s copy of ``/usr/src``: its ``include``
    of the common tree, and (forky's 7.x, whose external-module build checks that the
    directory exists) its ``KBUILD_OUTPUT``. Idempotent."""
    makefile = tree / "Makefile"
    text = makefile.read_text()
    new = re.sub(r"(?m)^(include\s+|KBUILD_OUTPUT\s*:?=\s*)/usr/src/", rf"\g<1>{root}/usr/src/", text)
    if new != text:
        makefile.write_text(new)


def arm64_oops_module(kernel: KernelFiles) -> Path:
    """``kdbg_oops.ko`` cross-compiled for the arm64 *kernel* into
    ``<cache>/vmcores/arm64/crash/module/<release>/`` (with ``module.json``: command,
    compiler, ``source`` hash, ``recipe``, whether it has BTF; ``build.log``), rebuilt when
    the source or recipe changes. A failure raises :class:`vmcores.crash_module.ModuleBuildError`
    naming why (the cross compiler missing: which package to install)."""
    top = arm64_dumps_root() / "crash" / "module" / kernel.release
    ko = top / f"{MODULE_NAME}.ko"
    info_file = top / "module.json"
    src_hash = _module_source_hash()
    gcc = shutil.which(f"{CROSS_COMPILE}gcc")
    if gcc is None:
        raise ModuleBuildError(f"{CROSS_COMPILE}gcc not found: apt-get install gcc-aarch64-linux-gnu")
    top.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(top.parent / f".{kernel.release}.lock"):
        if info_file.exists() and ko.exists():
            old = json.loads(info_file.read_text())
            if (old.get("source"), old.get("version"), old.get("recipe")) == (
                    src_hash, kernel.version, ARM64_MODULE_RECIPE):
                return ko
        headers = arm64_kernel_headers(kernel)
        if top.exists():
            shutil.rmtree(top)
        build = top / "build"
        shutil.copytree(MODULE_SOURCE, build)
        version = subprocess.run([gcc, "--version"], capture_output=True, text=True, timeout=60).stdout
        cross_gcc = version.splitlines()[0] if version else "?"
        overrides = _make_overrides(headers, cross_gcc)
        config = (headers / ".config").read_text(errors="replace")
        if "CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT=" in overrides and re.search(
                r"^CONFIG_DYNAMIC_FTRACE_WITH_CALL_OPS=y", config, re.M):
            # trixie: with ftrace call ops every function needs an 8-byte literal slot in
            # front of it (-fpatchable-function-entry=4,2 aligned by gcc 14's
            # -fmin-function-alignment); gcc 12's fallback does not keep it in the module's
            # text, and insmod hit "kernel BUG at arch/arm64/kernel/patching.c:44" in
            # ftrace_init_nop. The module is built without ftrace entries instead.
            overrides.append("CC_FLAGS_FTRACE=")
        argv = ["make", "-C", str(headers), f"M={build}", "ARCH=arm64", f"CROSS_COMPILE={CROSS_COMPILE}",
                f"CC={CROSS_COMPILE}gcc", *overrides, "modules"]
        info: Dict[str, Any] = {"release": kernel.release, "version": kernel.version, "source": src_hash,
                                "recipe": ARM64_MODULE_RECIPE, "command": " ".join(argv), "gcc": cross_gcc}
        built = build / f"{MODULE_NAME}.ko"
        why = run_module_make(argv, top / "build.log", built)
        if why is not None:
            raise ModuleBuildError(f"building {MODULE_NAME}.ko for {kernel.release} failed: {why}")
        shutil.copy(built, ko)
        info["btf"] = has_section(ko, ".BTF")
        info_file.write_text(json.dumps(info, indent=1) + "\n")
        return ko


def arm64_crash_dir(name: str, scenario: str) -> Path:
    """``<cache>/vmcores/arm64/crash/<SUITE-FLAVOUR>-<scenario>``."""
    return arm64_dumps_root() / "crash" / f"{name}-{scenario}"


def build_arm64_crash(name: str, scenario: str = "panic", memory: str = DEFAULT_MEMORY,
                      log: Optional[Any] = None) -> List[CrashDump]:
    """Boot the arm64 kernel *name*, record its truth, crash it as *scenario* and dump it
    (``elf``, ``elf-paging``, ``kdump-zlib-flat``, ``kdump-zlib``). :attr:`CrashDump.suite`
    is *name*."""
    if scenario not in ARM64_SCENARIOS:
        raise ValueError(f"unknown arm64 scenario {scenario!r}; choose from {', '.join(ARM64_SCENARIOS)}")
    say = log or (lambda msg: print(f"[vmcores arm64 crash {name}-{scenario}] {msg}", file=sys.stderr, flush=True))
    t0 = time.monotonic()
    suite, flavour = kernel_parts(name)
    kernel = arm64_kernel(suite, flavour)
    busybox = arm64_busybox(suite)
    final = arm64_crash_dir(name, scenario)
    outdir = final.with_name(f".{final.name}.building")
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    trigger, expect = TRIGGERS[scenario][0], ARM64_EXPECT[scenario]
    info: Dict[str, Any] = {
        "suite": name, "scenario": scenario, "arch": "arm64", "release": kernel.release,
        "package": f"{kernel.package}={kernel.version}", "recipe": ARM64_CRASH_RECIPE, "memory": memory,
        "cmdline": f"{Arm64Guest.kernel_cmdline} {CRASH_CMDLINE}", "trigger": trigger, "crash_pid": 1,
        "dumps": [], "failed": {},
    }  # fmt: skip
    extra: Dict[str, bytes] = {}
    if scenario in MODULE_SCENARIOS:
        ko = arm64_oops_module(kernel)
        extra[f"lib/modules/{MODULE_NAME}.ko"] = ko.read_bytes()
        info["module"] = json.loads((ko.parent / "module.json").read_text())
    initramfs = make_initramfs(kernel, guest_modules(kernel), _init_script(scenario), extra=extra, busybox=busybox,
                               init_common=INIT_COMMON_ARM64)
    work = outdir / "guest"
    made = boot_crash_and_dump(
        lambda: Arm64Guest.boot(kernel, initramfs, work, CRASHING, ARM64_BOOT_TIMEOUT, memory=memory,
                                cmdline=CRASH_CMDLINE),
        outdir, expect, info, say)
    return finish_crash_build(outdir, final, info, made, t0, say)


def _load(name: str, scenario: str) -> Optional[List[CrashDump]]:
    """The recorded dumps of one kernel's scenario, or None when a build is needed (none,
    another recipe, another kernel package, a file missing)."""
    try:
        home = arm64_crash_dir(name, scenario)
        info = json.loads((home / "dumps.json").read_text())
        dumps = [dump_from_json(CrashDump, d, home) for d in info["dumps"]]
        meta = json.loads((arm64_root() / name / "kernel.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.get("recipe") != ARM64_CRASH_RECIPE or not dumps or not all(d.path.exists() for d in dumps):
        return None
    if info.get("package") != f"{meta.get('package')}={meta.get('version')}":
        return None
    if not (dumps[0].truth / "console.log").exists():
        return None
    built = info.get("module") or {}
    if scenario in MODULE_SCENARIOS and (built.get("source"), built.get("recipe")) != (
            _module_source_hash(), ARM64_MODULE_RECIPE):
        return None  # dumped with another kdbg_oops.c or build of it: rebuild
    return dumps


def arm64_crash_dumps(kernels: Sequence[str] = KERNELS, scenarios: Sequence[str] = ARM64_SCENARIOS,
                      forms: Optional[Sequence[str]] = None, build: bool = True,
                      force: bool = False) -> List[CrashDump]:
    """The arm64 crash dumps of *kernels* x *scenarios* (built when missing, one build at
    a time per kernel and scenario), filtered by *forms*."""
    keys = [(name, scenario) for name in kernels for scenario in scenarios]
    for name, scenario in keys:
        kernel_parts(name)
        if scenario not in ARM64_SCENARIOS:
            raise ValueError(f"unknown arm64 scenario {scenario!r}; choose from {', '.join(ARM64_SCENARIOS)}")
    return cached_dumps(
        keys, lambda key: arm64_dumps_root() / "crash" / f".{key[0]}-{key[1]}.lock", lambda key: _load(*key),
        lambda key: build_arm64_crash(*key),
        lambda key: f"no arm64 {key[1]} dumps for {key[0]}: run python -m vmcores.arm64_crash",
        forms, build, force)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``python -m vmcores.arm64_crash``."""
    ap = argparse.ArgumentParser(prog="python -m vmcores.arm64_crash", description=__doc__.split("\n")[0])
    ap.add_argument("kernels", nargs="*", default=list(KERNELS), metavar="SUITE-FLAVOUR")
    ap.add_argument("--scenario", action="append", choices=ARM64_SCENARIOS, help="repeatable; default all")
    ap.add_argument("--force", action="store_true", help="rebuild even if the dumps exist")
    args = ap.parse_args(argv)
    for name in args.kernels:
        try:
            kernel_parts(name)
        except ValueError as e:
            ap.error(str(e))
    try:
        for d in arm64_crash_dumps(args.kernels, args.scenario or ARM64_SCENARIOS, force=args.force):
            print(f"{d.suite}\t{d.release}\t{d.scenario}\t{d.form:16}\t{d.path}\t[{d.tool}]")
    except (BuildError, FetchError) as e:
        print(f"vmcores.arm64_crash: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
