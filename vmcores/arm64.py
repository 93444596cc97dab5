"""arm64 reference kernels, guests and dumps: Debian's arm64 kernels under
``qemu-system-aarch64 -M virt -cpu max`` (TCG) on the x86-64 host.

Usage::

    python -m vmcores.arm64 fetch [SUITE-FLAVOUR ...] [--dbg]   # kernel, busybox, -dbg vmlinux (default: forky too)
    python -m vmcores.arm64 build [SUITE-FLAVOUR ...] [--force]

Kernels are named ``SUITE-FLAVOUR`` (:data:`KERNELS`: ``bookworm-cloud``,
``trixie-cloud``; :data:`PAGE_SIZE_KERNELS`: ``trixie-16k``; ``trixie-generic`` on request;
:data:`EXTRA_KERNELS`: ``forky-cloud``, built when a test asks for it). The x86-64
recipes (:mod:`vmcores.build`) are untouched: this module reuses their guest, initramfs,
truth and dump functions with an arm64 machine, and keeps
its own cache entries (``<cache>/debian/apt-arm64/``, ``<cache>/debian/arm64/``,
``<cache>/vmcores/arm64/<SUITE-FLAVOUR>/``).

**Packages.** The arm64 packages come from the same mirror apt is configured with
(:func:`vmcores.debian.debian_mirror`), through a private apt state per suite under
``<cache>/debian/apt-arm64/<suite>/`` whose options add ``APT::Architecture=arm64`` and
``APT::Architectures=arm64`` (so ``apt-get update`` fetches only ``binary-arm64`` lists
and ``apt-get download`` takes arm64 packages). The host's dpkg architectures and apt
state are not changed (no ``dpkg --add-architecture``). Per kernel:
``linux-image-<abi>-<flavour>-unsigned`` (from the ``linux-image-<flavour>`` metapackage),
``linux-image-<abi>-<flavour>-dbg`` (only the DWARF vmlinux is unpacked; 322 MB for
trixie's cloud-arm64, 1.03 GB for its generic arm64) and ``busybox-static`` (its static
arm64 busybox: ``/bin`` in bookworm, ``/usr/bin`` in trixie).

**Guest.** ``qemu-system-aarch64 -M virt -cpu max`` (pointer authentication; QEMU 7.2's
``max`` also has FEAT_LPA2, which trixie's 52-bit kernel uses), ``-smp 2``, 128 MB,
``-device vmcoreinfo``; modules ``qemu_fw_cfg``, ``virtio_mmio``, ``virtio_console``
(built in on trixie's generic kernel); the console is the PL011
(``console=ttyAMA0``), the truth stream goes over a ``virtconsole`` (``/dev/hvc0``:
``virt`` has only one UART for the normal world), so the guest's ``/init`` is
:data:`vmcores.initramfs.INIT_COMMON` with ``ttyS1`` replaced by ``hvc0``. The guest records
exactly the x86 guests' truth (:data:`vmcores.initramfs.INIT_DUMP`: uname, version, cmdline,
kallsyms, mounts, modules, vmcoreinfo, iomem, meminfo, cpuinfo, BTF bytes, dmesg, every
``/proc/PID/stat``) plus a sysrq-t between markers on the console.

**Dumps.** :func:`vmcores.dump_forms.qemu_dumps`: ``elf``, ``elf-paging`` and the QEMU kdump
forms this QEMU offers (zlib only; flattened and reassembled with ``makedumpfile -R``).
Then the filtered forms (:data:`ARM64_FILTERED_FORMS`: ``-d 31`` with zlib, lzo and
zstd), made from the ``elf-paging`` dump by Debian's arm64
makedumpfile under ``qemu-aarch64-static`` (:func:`arm64_makedumpfile`): a separate
cached step (:data:`FILTER_RECIPE`), so a cache of QEMU dumps gains them without a boot.
The host's makedumpfile is an x86-64 build (its ``-d`` filter walks the dumped kernel's
page tables and ``struct page`` with its build architecture's layout), so trixie's arm64
build (1.7.6: zlib, lzo and zstd; bookworm's 1.7.2 has no zstd) runs in user-mode
emulation: it and the closure of its ``Depends`` (``perl:any`` left out: it is for
``makedumpfile-R.pl``) are unpacked with ``dpkg-deb -x`` into
``<cache>/debian/arm64/makedumpfile-trixie/root`` once, and run as ``qemu-aarch64-static
-L ROOT -E LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu ROOT/usr/bin/makedumpfile``
(qemu-user named explicitly: no ``binfmt_misc`` registration needed).  Its input is
QEMU's ``-p`` ELF rewritten into ``/proc/vmcore``'s layout
(:func:`vmcores.dump_forms.vmcore_style_elf`); it takes ``PHYS_OFFSET``, ``VA_BITS``,
``kimage_voffset`` and ``swapper_pg_dir`` from VMCOREINFO and filters without a
vmlinux.  One ``-d 31 -z`` run on bookworm-cloud's 128 MB dump took 4 min 38 s at load
24 on this host.

Facts found (bookworm ``6.1.0-50-cloud-arm64`` and trixie ``6.12.117+deb13-arm64``, QEMU
7.2, this loaded 2-CPU host):

* Under TCG bookworm's kernel reaches ``/init`` in about 23 s, trixie's in 17 s (x86:
  about 5 s); the truth stream (base64 through busybox and the virtconsole, 10-30 KB/s
  under load) takes most of the rest: 130 s from QEMU's start to ``KDBG-READY`` for
  bookworm-cloud (2.4 MB), 128 s for trixie-cloud, 305 s for trixie-generic (its kallsyms
  alone is 6 MB); the whole builds 135 s, 145 s and 313 s. The dumps are 128 MB (ELF) and 14-18 MB (kdump-zlib).
* Only bookworm's kernels lack ``CONFIG_KALLSYMS_ALL`` (its generic arm64 flavour too):
  trixie's cloud-arm64 has it (115,774 kallsyms lines), as has its generic arm64 (151,876,
  67,848 of them ``d``). Both trixie kernels are ``CONFIG_ARM64_VA_BITS_52`` with
  ``CONFIG_ARM64_LPA2``: on ``-cpu max`` they run 52-bit kernel addresses
  (``TCR_EL1_T1SZ=0xc``, ``MAX_PHYSMEM_BITS=52``), the linear map at
  ``0xfff0000000000000``, five levels of 4K tables with LPA2 descriptors.
* ``/proc/kallsyms``: 44,802 lines (21,307 ``T``, 23,237 ``t``, 257 ``W``, 1 ``D``); no
  ``_text``, ``init_task``, ``swapper_pg_dir`` or ``modules`` (no ``CONFIG_KALLSYMS_ALL``);
  ``_stext`` is there. VMCOREINFO's ``SYMBOL()`` entries give ``swapper_pg_dir``,
  ``_stext``, ``init_uts_ns``, ``node_online_map``, ``vmap_area_list``, ``mem_section``,
  ``prb``, ``printk_rb_static``, ``clear_seq`` and the ``kallsyms_*`` tables; not
  ``init_task``.
* arm64 VMCOREINFO: ``NUMBER(VA_BITS)=48``, ``NUMBER(TCR_EL1_T1SZ)=0x10``,
  ``NUMBER(kimage_voffset)``, ``NUMBER(PHYS_OFFSET)=0x40000000`` (virt's RAM base),
  ``NUMBER(KERNELPACMASK)=0xffff000000000000``, ``KERNELOFFSET`` (hex, no ``0x``),
  ``NUMBER(MODULES_VADDR|MODULES_END|VMALLOC_START|VMALLOC_END|VMEMMAP_START|VMEMMAP_END)``,
  ``NUMBER(MAX_PHYSMEM_BITS)=48``, ``PAGESIZE=4096``.
* The ELF dumps: ``e_machine`` 183 (``EM_AARCH64``), little-endian; one ``PT_LOAD`` for
  the RAM at physical ``0x40000000``, and QEMU 7.2 writes the same header with ``-p``:
  ``p_vaddr`` equals ``p_paddr`` (no kernel virtual addresses, unlike x86's ``-p``);
  per CPU an ``NT_PRSTATUS``, an ``NT_PRFPREG`` and an ``NT_ARM_PAC_MASK`` (0x405)
  note, then ``VMCOREINFO``.
* forky's ``7.2.12+deb14-cloud-arm64`` (:data:`EXTRA_KERNELS`): the kernel is split
  into ``linux-image-*``, ``linux-binary-*`` (``usr/lib/modules/<release>/vmlinuz``, a raw
  ``Image``) and ``linux-modules-*``, with no ``modules.builtin`` (``virtio_console`` is
  built in: :func:`guest_modules`); ``CONFIG_KALLSYMS_ALL`` (159,338 kallsyms lines), and
  52-bit VA with LPA2 like trixie's, so trixie's makedumpfile 1.7.6 refuses it too
  ("PAGE SIZE 0x1000 and VA Bits 52 not supported": no filtered forms, recorded in
  ``filter_failed``). sysrq-t marks each trace's first frame `` (T)`` (6.13+). Its build
  took 17 min (1021 s to ``KDBG-READY``) at load 15-20 with its two crash guests booting
  beside it (not measured on an idle host).
* trixie's ``6.12.117+deb13-arm64-16k`` (:data:`PAGE_SIZE_KERNELS`; the archive also has
  forky's ``7.2.12+deb14-arm64-16k``, and no 64K flavour): the generic configuration
  (``CONFIG_KALLSYMS_ALL``; ``virtio_console`` built in, ``virtio_mmio`` and
  ``qemu_fw_cfg`` modules) with ``CONFIG_ARM64_16K_PAGES``, ``VA_BITS=52`` with LPA2 and
  ``CONFIG_PGTABLE_LEVELS=4``; on ``-cpu max`` VMCOREINFO says ``PAGESIZE=16384``,
  ``TCR_EL1_T1SZ=0xc``, ``MAX_PHYSMEM_BITS=52``, the linear map at ``0xfff0000000000000``.
  Its build (128 MB, the default) took 82 s at load 2 (``KDBG-READY`` after 81.5 s), its
  crash guests (:mod:`vmcores.arm64_crash`) 142 s (panic, at load 6-12) and 2745 s (oops,
  the module built against its headers first; its truth streamed at 0.8 KB/s at load 18);
  the ``-dbg`` package is a 1.0 GB download (383 MB vmlinux kept). Trixie's makedumpfile 1.7.6
  refuses it ("PAGE SIZE 0x4000 and VA Bits 52 not supported"): no filtered forms.
* QEMU 7.2's kdump header (``disk_dump_header``): ``utsname.machine`` is ``"Unknown"`` and
  ``block_size`` 65536 although the guest uses 4 KiB pages; only ``kdump-zlib`` is
  offered (``query-dump-guest-memory-capability``: ``elf``, ``kdump-zlib``; lzo and
  snappy are not built in).
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

from vmcores.build import _unpack_truth
from vmcores.debian import (
    FetchError,
    KernelFiles,
    PrivateApt,
    _kernel_from_tree,
    _unpack_deb,
    cache_root,
    file_lock,
    package_parts,
    resolve_kernel_package,
    unpack_dbg_vmlinux,
)
from vmcores.dump_forms import makedumpfile_forms, qemu_dumps, vmcore_style_elf
from vmcores.dump_index import BuildError, Dump, cached_dumps, dump_from_json, dump_json, finish_build, vmcores_root
from vmcores.initramfs import INIT_COMMON, INIT_DUMP, make_initramfs
from vmcores.qemu import BOOT_TIMEOUT, DEFAULT_MEMORY, READY, Guest

KERNELS: Tuple[str, ...] = ("bookworm-cloud", "trixie-cloud")
"""The arm64 reference kernels, ``SUITE-FLAVOUR``: bookworm 6.1 ``cloud-arm64`` (no
``CONFIG_KALLSYMS_ALL``) and trixie 6.12 ``cloud-arm64`` (with it, and 52-bit VA with
LPA2). ``trixie-generic`` and ``bookworm-generic`` build on request."""

PAGE_SIZE_KERNELS: Tuple[str, ...] = ("trixie-16k",)
"""arm64 reference kernels with a granule other than 4K: trixie's ``arm64-16k`` (6.12, 16 KiB
pages, ``CONFIG_ARM64_VA_BITS_52`` with LPA2: four levels of 16K tables, 52-bit kernel
addresses on ``-cpu max``). Its dumps, crash dumps and drgn oracle are built and checked as
:data:`KERNELS`' are; the live guests (:mod:`vmcores.arm64_live`) stay on the 4K kernels."""

EXTRA_KERNELS: Tuple[str, ...] = ("forky-cloud",)
"""arm64 kernels built only when a test asks for them (as :data:`vmcores.debian.EXTRA_SUITES`):
forky's Linux 7.2 ``cloud-arm64``, a kernel >= 6.13 whose stacks end in, and mark
exception boundaries with, metadata frame records."""

FLAVOURS: Dict[str, str] = {"cloud": "cloud-arm64", "generic": "arm64", "16k": "arm64-16k"}
"""kdbg flavour -> Debian's arm64 kernel flavour suffix: ``cloud`` (the reference kernels,
no ``CONFIG_KALLSYMS_ALL``: kallsyms lists no data symbols), ``generic`` (with
``CONFIG_KALLSYMS_ALL``, so both cases are in the suite) and ``16k`` (trixie and forky's
``arm64-16k``: the generic configuration with 16 KiB pages)."""

QEMU_AARCH64 = "qemu-system-aarch64"

KERNEL_CMDLINE = "console=ttyAMA0 panic=-1 oops=panic init_on_free=1 cryptomgr.notests"
"""As :data:`vmcores.qemu.KERNEL_CMDLINE`, with the PL011 console."""

INIT_COMMON_ARM64 = INIT_COMMON.replace("ttyS1", "hvc0")
"""The x86 guests' common ``/init`` with the truth stream on the virtconsole."""

#: Modules the arm64 guest loads: fw_cfg (VMCOREINFO into the dump), the virtio-mmio bus
#: and the virtconsole on it (all modules in Debian's cloud-arm64 kernels).
MODULES = ("qemu_fw_cfg", "virtio_mmio", "virtio_console")


def guest_modules(kernel: KernelFiles) -> Tuple[str, ...]:
    """:data:`MODULES` less those *kernel* builds in. Where the package lists its built-in
    modules (``modules.builtin``) :func:`vmcores.initramfs.module_closure` reads that; forky's
    split packages ship no ``modules.builtin`` (and its cloud-arm64 kernel builds
    ``virtio_console`` in), so there a module with no ``.ko`` in the package is taken as
    built in: a driver truly missing leaves the truth stream silent and the boot fails
    with its timeout, never a guest that runs without it."""
    if (kernel.modules_dir / "modules.builtin").exists():
        return MODULES
    shipped = {p.name.split(".ko")[0].replace("-", "_") for p in kernel.modules_dir.rglob("*.ko*")}
    return tuple(m for m in MODULES if m in shipped)


SYSRQ_T = r"""
echo KDBG-SYSRQ-T-BEGIN > /dev/kmsg
echo t > /proc/sysrq-trigger
echo KDBG-SYSRQ-T-END > /dev/kmsg
"""
"""A sysrq-t (every task's stack as the kernel's unwinder sees it) on the console, before
the truth is sent (the tasks are asleep: their stacks stay what the dump holds)."""

INIT_DUMP_ARM64 = INIT_DUMP.replace("dmesg > $T/dmesg\n", SYSRQ_T + "dmesg > $T/dmesg\n", 1)

ARM64_BOOT_TIMEOUT = BOOT_TIMEOUT * 12
"""Seconds from QEMU's start to ``KDBG-READY``: bookworm-cloud needs 130 s on an idle host,
but timed out at 600 s on this 2-CPU host at load 17 (the truth stream crawls through
the virtconsole under TCG); forky-cloud at load 15 took 12.5 min to its truth (``/init``
at 139 s of guest time) and then streamed it at 0.5 KB/s: 1200 s was too short."""

BUILD_RECIPE = 1
"""Bumped when the arm64 guest or dump recipe changes: a build of another recipe is
rebuilt."""

FILTER_RECIPE = 1
"""Bumped when the makedumpfile forms change: they are made again from the recorded ELF
dump (no boot)."""

# --------------------------------------------------------------------------- packages


class Arm64Apt(PrivateApt):
    """A suite's private apt state for arm64 packages (``APT::Architecture=arm64``)."""

    def __init__(self, suite: str) -> None:
        """apt state of *suite* under ``<cache>/debian/apt-arm64/<suite>/``."""
        super().__init__(suite, cache_root() / "debian" / "apt-arm64")

    def options(self) -> List[str]:
        """The private options plus the arm64 architecture."""
        return [*super().options(), "-o", "APT::Architecture=arm64", "-o", "APT::Architectures=arm64"]


def arm64_root() -> Path:
    """``<cache>/debian/arm64``: the unpacked arm64 packages."""
    return cache_root() / "debian" / "arm64"


def _download(apt: Arm64Apt, package: str, dest: Path) -> Path:
    """``apt-get download`` *package* into *dest* (the lists refreshed once when the
    archive has moved on); the ``.deb``."""
    try:
        return apt.download(package, dest)
    except FetchError:
        apt.ensure_lists(refresh=True)
        return apt.download(package, dest)


def _download_unpack(apt: Arm64Apt, package: str, dest: Path, members: Optional[Sequence[str]] = None,
                     wildcards: bool = False) -> None:
    """Download *package* and unpack it (or only *members*, shell patterns with
    *wildcards*) into *dest*."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-dl-") as tmp:
        deb = _download(apt, package, Path(tmp))
        dest.mkdir(parents=True, exist_ok=True)
        if members is None:
            try:
                subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True, capture_output=True, timeout=900)
            except subprocess.CalledProcessError as e:
                raise FetchError(f"dpkg-deb -x {deb}: {e.stderr.decode(errors='replace')}") from e
        else:
            _unpack_deb(deb, dest, members, wildcards)


def arm64_kernel(suite: str = "bookworm", flavour: str = "cloud") -> KernelFiles:
    """*suite*'s newest arm64 kernel of *flavour* (:data:`FLAVOURS`; its metapackage's),
    unpacked into ``<cache>/debian/arm64/<suite>-<flavour>/`` once (a warm cache keeps it)."""
    top = arm64_root() / f"{suite}-{flavour}"
    meta_file = top / "kernel.json"
    with file_lock(arm64_root() / f".{suite}-{flavour}.lock"):
        if meta_file.exists():
            meta = json.loads(meta_file.read_text())
            return _kernel_from_tree(suite, flavour, top / "root", meta)
        apt = Arm64Apt(suite)
        apt.ensure_lists()
        pkg, version = resolve_kernel_package(apt, "cloud", None, FLAVOURS[flavour])
        if (top / "root").exists():
            shutil.rmtree(top / "root")
        for part in package_parts(apt, pkg):  # forky: the image, its linux-binary-* and linux-modules-*
            _download_unpack(apt, part, top / "root")
        meta = {"package": pkg, "version": version, "suite": suite, "flavour": flavour, "arch": "arm64"}
        kf = _kernel_from_tree(suite, flavour, top / "root", meta)
        meta["release"] = kf.release
        meta_file.write_text(json.dumps(meta, indent=1) + "\n")
        return kf


def arm64_dbg_vmlinux(suite: str = "bookworm", flavour: str = "cloud") -> Path:
    """The DWARF vmlinux of :func:`arm64_kernel` (from its ``-dbg`` package of the same
    version; only the vmlinux is unpacked)."""
    kernel = arm64_kernel(suite, flavour)
    top = arm64_root() / f"{suite}-{flavour}-dbg"
    path = top / f"vmlinux-{kernel.release}"
    with file_lock(arm64_root() / f".{suite}-{flavour}-dbg.lock"):
        if path.exists():
            return path
        apt = Arm64Apt(suite)
        apt.ensure_lists()
        top.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=top, prefix=".dl-") as tmp:
            deb = _download(apt, f"linux-image-{kernel.release}-dbg={kernel.version}", Path(tmp))
            scratch = Path(tmp) / "root"
            scratch.mkdir()
            os.replace(unpack_dbg_vmlinux(deb, scratch, kernel.release), path)
        return path


def arm64_busybox(suite: str = "bookworm") -> Path:
    """The static arm64 busybox of *suite*'s ``busybox-static`` package."""
    top = arm64_root() / f"{suite}-busybox"
    path = top / "busybox"
    with file_lock(arm64_root() / f".{suite}-busybox.lock"):
        if path.exists():
            return path
        apt = Arm64Apt(suite)
        apt.ensure_lists()
        scratch = top / ".unpack"
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(parents=True)
        # bookworm: ./bin/busybox; trixie (merged /usr): ./usr/bin/busybox
        _download_unpack(apt, "busybox-static", scratch, ["*bin/busybox"], wildcards=True)
        found = sorted(p for p in scratch.rglob("busybox") if p.is_file() and not p.is_symlink())
        if not found:
            raise FetchError(f"busybox-static of {suite}: no bin/busybox in the package")
        os.replace(found[0], path)
        shutil.rmtree(scratch)
        return path


# --------------------------------------------------------------------------- makedumpfile (arm64, under qemu-user)

MAKEDUMPFILE_SUITE = "trixie"
"""The suite whose arm64 makedumpfile filters every arm64 dump (zlib, lzo and zstd)."""

QEMU_USER = "qemu-aarch64-static"
"""qemu-user for arm64 binaries (Debian ``qemu-user-static``), run explicitly."""

#: The arm64 makedumpfile runs: form name -> options, ``-d 31`` (zero, cache, user and
#: free pages excluded) with each compression Debian's makedumpfile has.  Each run of a
#: 128 MB dump takes about 30 s of emulation on an idle host (4.5 min at load 24), so the
#: container variants the x86 dumps already cover (uncompressed, ELF output, flattened)
#: are not repeated here: what is arm64's own is the filtering (page tables, struct page).
ARM64_MAKEDUMPFILE_FORMS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("kdump-zlib-d31", ("-c", "-d", "31")),
    ("kdump-lzo-d31", ("-l", "-d", "31")),
    ("kdump-zstd-d31", ("-z", "-d", "31")),
)

ARM64_FILTERED_FORMS: Tuple[str, ...] = tuple(f for f, _o in ARM64_MAKEDUMPFILE_FORMS)
"""Every filtered form an arm64 build makes."""


def _depends(fields: Dict[str, str]) -> List[str]:
    """The packages of a stanza's ``Pre-Depends`` and ``Depends`` (first alternative,
    version and architecture qualifiers dropped; ``:any`` ones, tools of another
    architecture, skipped)."""
    out = []
    for clause in (fields.get("pre-depends", "") + "," + fields.get("depends", "")).split(","):
        first = clause.split("|")[0].strip()
        m = re.match(r"([a-z0-9][a-z0-9+.-]*)(:\S+)?", first)
        if m and m.group(2) != ":any":
            out.append(m.group(1))
    return out


def package_closure(apt: PrivateApt, roots: Sequence[str], leave_out: Sequence[str] = ()) -> Dict[str, str]:
    """*roots* and everything they depend on, through *apt*'s ``show``
    (:class:`vmcores.debian.PrivateApt`): ``{package: version}``, sorted; the packages of
    *leave_out* (and what only they would pull in) are not followed."""
    seen: Dict[str, str] = {}
    todo = list(roots)
    while todo:
        pkg = todo.pop()
        if pkg in seen or pkg in leave_out:
            continue
        fields = apt.show(pkg)
        seen[pkg] = fields.get("version", "")
        todo.extend(d for d in _depends(fields) if d not in seen)
    return dict(sorted(seen.items()))


def _lib_dirs(root: Path) -> List[str]:
    return [f"/{d}" for d in ("usr/lib/aarch64-linux-gnu", "lib/aarch64-linux-gnu") if (root / d).is_dir()]


def arm64_makedumpfile(suite: str = MAKEDUMPFILE_SUITE) -> List[str]:
    """The command line prefix that runs *suite*'s arm64 makedumpfile on this host
    (its sysroot unpacked once under ``<cache>/debian/arm64/makedumpfile-<suite>/``)."""
    if shutil.which(QEMU_USER) is None:
        raise BuildError(f"{QEMU_USER} not found: install Debian's qemu-user-static")
    top = arm64_root() / f"makedumpfile-{suite}"
    root = top / "root"
    meta_file = top / "packages.json"
    with file_lock(arm64_root() / f".makedumpfile-{suite}.lock"):
        if not meta_file.exists():
            apt = Arm64Apt(suite)
            apt.ensure_lists()
            packages = package_closure(apt, ["makedumpfile"])
            if root.exists():
                shutil.rmtree(root)
            for pkg in packages:
                _download_unpack(apt, pkg, root)
            # merged /usr: the ELF interpreter is /lib/ld-linux-aarch64.so.1
            if not (root / "lib").exists():
                (root / "lib").symlink_to("usr/lib")
            meta = {"suite": suite, "packages": packages}
            meta_file.write_text(json.dumps(meta, indent=1) + "\n")
    binary = next((p for d in ("usr/bin", "usr/sbin", "sbin") if (p := root / d / "makedumpfile").is_file()), None)
    if binary is None:
        raise FetchError(f"{suite}'s arm64 makedumpfile package has no bin/makedumpfile")
    env = "LD_LIBRARY_PATH=" + ":".join(_lib_dirs(root))
    return [QEMU_USER, "-L", str(root), "-E", env, str(binary)]


def makedumpfile_version(command: Sequence[str]) -> str:
    """``makedumpfile -v``'s first line (``makedumpfile: version 1.7.6 (...)``)."""
    p = subprocess.run([*command, "-v"], capture_output=True, text=True, timeout=120)
    lines = (p.stdout + p.stderr).strip().splitlines()
    return lines[0] if lines else f"exit {p.returncode}"


def arm64_filtered_dumps(elf_paging: Path, outdir: Path) -> Tuple[List[Tuple[str, str, Path]], Dict[str, str]]:
    """The filtered forms (:data:`ARM64_MAKEDUMPFILE_FORMS`) of QEMU's arm64 ``-p`` ELF
    dump *elf_paging*, written into *outdir* by Debian's arm64 makedumpfile under
    qemu-user; returns ``(form, tool, path)`` of each made and what
    failed (``{what: why}``)."""
    command = arm64_makedumpfile()
    note = f" [{MAKEDUMPFILE_SUITE} arm64, {QEMU_USER}]"
    vmcore_elf = outdir / "vmcore-style.elf"
    vmcore_style_elf(elf_paging, vmcore_elf)
    try:
        return makedumpfile_forms(vmcore_elf, outdir, ARM64_MAKEDUMPFILE_FORMS, command, note, flat=False)
    finally:
        vmcore_elf.unlink(missing_ok=True)


# --------------------------------------------------------------------------- guest


class Arm64Guest(Guest):
    """A ``-M virt -cpu max`` guest: PL011 console, truth over a virtconsole."""

    qemu = QEMU_AARCH64
    qemu_package = "qemu-system-arm"
    machine_args = ("-M", "virt", "-cpu", "max")
    serial_args = (
        "-serial", "chardev:con",
        "-device", "virtio-serial-device", "-device", "virtconsole,chardev=data",
    )  # fmt: skip
    kernel_cmdline = KERNEL_CMDLINE


def arm64_dumps_root() -> Path:
    """``<cache>/vmcores/arm64``."""
    return vmcores_root() / "arm64"


def kernel_parts(name: str) -> Tuple[str, str]:
    """``(suite, flavour)`` of an arm64 kernel name ``SUITE-FLAVOUR`` (``ValueError``)."""
    suite, _, flavour = name.partition("-")
    if not re.fullmatch(r"[a-z]+", suite) or flavour not in FLAVOURS:
        raise ValueError(f"bad arm64 kernel name {name!r}: SUITE-FLAVOUR, flavour one of {sorted(FLAVOURS)}")
    return suite, flavour


def build_arm64(name: str = "bookworm-cloud", memory: str = DEFAULT_MEMORY,
                log: Optional[Any] = None) -> List[Dump]:
    """Boot the arm64 kernel *name* (``SUITE-FLAVOUR``), record its truth and write the
    QEMU dump forms into ``<cache>/vmcores/arm64/<name>/`` (replaced only once a build is
    complete). :attr:`Dump.suite` is *name*."""
    say = log or (lambda msg: print(f"[vmcores arm64 {name}] {msg}", file=sys.stderr, flush=True))
    t0 = time.monotonic()
    suite, flavour = kernel_parts(name)
    kernel = arm64_kernel(suite, flavour)
    busybox = arm64_busybox(suite)
    say(f"kernel {kernel.release} ({time.monotonic() - t0:.1f}s)")
    final = arm64_dumps_root() / name
    outdir = final.with_name(f".{final.name}.building")
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    work = outdir / "guest"
    initramfs = make_initramfs(kernel, guest_modules(kernel), INIT_DUMP_ARM64, busybox=busybox,
                               init_common=INIT_COMMON_ARM64)
    truth = outdir / "truth"
    t_boot = time.monotonic()
    with Arm64Guest.boot(kernel, initramfs, work, READY, ARM64_BOOT_TIMEOUT, memory=memory) as g:
        ready = time.monotonic() - t_boot
        say(f"guest ready after {ready:.1f}s")
        _unpack_truth(g.received(), truth)
        assert g.qmp is not None
        made, failed, qemu_formats = qemu_dumps(g.qmp, outdir)
    shutil.copy(work / "console.log", truth / "console.log")
    (work / "initramfs.cpio").unlink(missing_ok=True)
    release = (truth / "uname").read_text().strip()
    if release != kernel.release:
        raise BuildError(f"guest uname -r {release!r} != package release {kernel.release!r}")
    dumps = [Dump(name, release, f, t, final / p.name, final / "truth") for f, t, p in made]
    info: Dict[str, Any] = {
        "suite": name,
        "arch": "arm64",
        "release": release,
        "package": f"{kernel.package}={kernel.version}",
        "recipe": BUILD_RECIPE,
        "memory": memory,
        "qemu_formats": qemu_formats,
        "boot_seconds": round(ready, 1),
        "build_seconds": round(time.monotonic() - t0, 1),
        "dumps": [dump_json(d, final) for d in dumps],
        "failed": failed,
    }
    info["dumps"] = [{**j, "size": p.stat().st_size} for j, (_f, _t, p) in zip(info["dumps"], made, strict=True)]
    finish_build(outdir, final, info)
    say(f"done ({time.monotonic() - t0:.1f}s)")
    return dumps


def _load(name: str, filtered: bool = True) -> Optional[List[Dump]]:
    """The recorded dumps of *name*, or None when they must be (re)built; with
    *filtered*, also when the makedumpfile forms of this :data:`FILTER_RECIPE` are not
    recorded yet (:func:`add_filtered_dumps` adds them without booting again)."""
    f = arm64_dumps_root() / name / "dumps.json"
    try:
        info = json.loads(f.read_text())
        dumps = [dump_from_json(Dump, d, f.parent) for d in info["dumps"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if info.get("recipe") != BUILD_RECIPE or not dumps or not all(d.path.exists() for d in dumps):
        return None
    if filtered and info.get("filter_recipe") != FILTER_RECIPE:
        return None
    kernel_meta = arm64_root() / name / "kernel.json"
    try:
        meta = json.loads(kernel_meta.read_text())
    except (OSError, ValueError):
        return None
    if info.get("package") != f"{meta.get('package')}={meta.get('version')}":
        return None
    return dumps


def add_filtered_dumps(name: str) -> List[Dump]:
    """Make the makedumpfile forms of *name*'s recorded QEMU dumps (from its
    ``elf-paging`` dump, :func:`arm64_filtered_dumps`), record them in its
    ``dumps.json`` (with :data:`FILTER_RECIPE`, the makedumpfile version and what failed
    as ``filter_failed``) and return every dump of *name*.  Caller holds *name*'s lock."""
    final = arm64_dumps_root() / name
    info = json.loads((final / "dumps.json").read_text())
    records = [r for r in info["dumps"] if r["form"] not in ARM64_FILTERED_FORMS]
    dumps = [dump_from_json(Dump, r, final) for r in records]
    elf = next(d for d in dumps if d.form == "elf-paging")
    t0 = time.monotonic()
    made, failed = arm64_filtered_dumps(elf.path, final)
    new = [Dump(name, elf.release, f, t, p, elf.truth) for f, t, p in made]
    info["dumps"] = records + [{**dump_json(d, final), "size": d.path.stat().st_size} for d in new]
    info["filter_failed"] = failed
    info["filter_recipe"] = FILTER_RECIPE
    info["makedumpfile"] = makedumpfile_version(arm64_makedumpfile())
    info["filter_seconds"] = round(time.monotonic() - t0, 1)
    tmp = final / f"dumps.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    os.replace(tmp, final / "dumps.json")
    return dumps + new


def arm64_dumps(kernels: Sequence[str] = KERNELS, forms: Optional[Sequence[str]] = None,
                build: bool = True, force: bool = False) -> List[Dump]:
    """The arm64 reference dumps of *kernels* (``SUITE-FLAVOUR``; built when missing,
    the QEMU forms by one boot, then the makedumpfile forms from its ELF dump), filtered
    by *forms*."""
    for name in kernels:
        kernel_parts(name)

    def make(name: str) -> List[Dump]:
        if force or _load(name, filtered=False) is None:
            build_arm64(name)
        return add_filtered_dumps(name)

    return cached_dumps(
        kernels, lambda name: arm64_dumps_root() / f".{name}.lock", _load, make,
        lambda name: f"no arm64 dumps for {name}: run python -m vmcores.arm64 build {name}", forms, build, force)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line of ``python -m vmcores.arm64``."""
    ap = argparse.ArgumentParser(prog="python -m vmcores.arm64", description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=("fetch", "build"))
    ap.add_argument("kernels", nargs="*", metavar="SUITE-FLAVOUR",
                    help="default: build the reference kernels; fetch those and the extra ones the tests ask for")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--dbg", action="store_true", help="fetch: also the -dbg vmlinux")
    args = ap.parse_args(argv)
    try:
        # fetch (CI runs it beside the guests) prefetches what forky's tests would download
        for name in args.kernels or list(KERNELS + PAGE_SIZE_KERNELS + (EXTRA_KERNELS if args.cmd == "fetch" else ())):
            try:
                suite, flavour = kernel_parts(name)
            except ValueError as e:
                ap.error(str(e))
            if args.cmd == "fetch":
                k = arm64_kernel(suite, flavour)
                print(f"{name}\t{k.release}\t{k.package}={k.version}\n  vmlinuz {k.vmlinuz}")
                print(f"  busybox {arm64_busybox(suite)}")
                if args.dbg:
                    print(f"  dbg     {arm64_dbg_vmlinux(suite, flavour)}")
            else:
                for d in arm64_dumps([name], force=args.force):
                    print(f"{d.suite}\t{d.release}\t{d.form:18}\t{d.path}\t[{d.tool}]")
    except (BuildError, FetchError) as e:
        print(f"vmcores.arm64: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
