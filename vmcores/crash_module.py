"""The test modules the crash guests load (``vmcores/oops_module``: ``kdbg_oops``, whose
``/proc/kdbg_oops`` writes through NULL; ``vmcores/lockup_module``: ``kdbg_lockup``, which
hangs or spins for the watchdog scenarios), built out of tree against Debian's own
``linux-headers-<release>`` of the exact kernel with the host's gcc (new-glibc tools of a
newer suite run through that suite's ``ld.so``), with split BTF where the kernel has module
BTF. Each build is kept in ``<cache>/vmcores/crash/module/<release>/`` with its source hash
and :data:`MODULE_RECIPE`, or the reason it failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from vmcores.debian import (
    FetchError,
    KernelFiles,
    PrivateApt,
    cache_root,
    file_lock,
    kernel_name,
)
from vmcores.dump_index import (
    BuildError,
    vmcores_root,
)

MODULE_SOURCE = Path(__file__).resolve().parent / "oops_module"
MODULE_NAME = "kdbg_oops"
MODULE_BUILD_TIMEOUT = 600
MODULE_RECIPE = 2
"""How the module is built (2: with split BTF wherever the kernel has module BTF); a
module or dump made by another recipe is rebuilt, as one of another source is."""
LOCKUP_MODULE = "kdbg_lockup"
#: Each test module's source directory (``<name>.c`` and a ``Kbuild``).
MODULE_SOURCES: Dict[str, Path] = {MODULE_NAME: MODULE_SOURCE,
                                   LOCKUP_MODULE: Path(__file__).resolve().parent / "lockup_module"}
#: The module each scenario's guest loads.


class ModuleBuildError(BuildError):
    """The oops module cannot be built for a kernel (the reason is recorded, not faked)."""


def crash_root() -> Path:
    """``<cache>/vmcores/crash``: where the crash dumps live."""
    return vmcores_root() / "crash"


def _module_source_hash(name: str = MODULE_NAME) -> str:
    h = hashlib.sha256()
    for p in sorted(MODULE_SOURCES[name].iterdir()):
        if p.is_file() and (p.suffix in (".c", ".h") or p.name in ("Kbuild", "Makefile")):
            h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _headers_packages(apt: PrivateApt, kernel: KernelFiles) -> List[str]:
    """``linux-headers-<release>`` (pinned to the kernel's version) and the
    ``linux-headers-*-common`` and ``linux-kbuild-*`` packages it depends on."""
    pkg = f"linux-headers-{kernel.release}"
    spec = f"{pkg}={kernel.version}" if kernel.version else pkg
    depends = apt.show(spec).get("depends", "")
    parts = re.findall(r"\b(linux-(?:headers-[^\s,(|]+-common|kbuild-[^\s,(|]+))", depends)
    if not any("kbuild" in p for p in parts):
        raise ModuleBuildError(f"{pkg}: no linux-kbuild package in its Depends: {depends!r}")
    return [spec, *sorted(set(parts))]


RUNTIME_PACKAGES: Tuple[str, ...] = ("libc6", "libelf1t64", "libelf1", "zlib1g", "libzstd1")
"""The suite's own C library and the libraries its kbuild tools link (those that exist in
the suite), for tools built against a newer glibc than the host's (see
:func:`kernel_headers`)."""

#: ``CONFIG_CC_HAS_*`` symbols of a kernel built with a newer gcc that turn on options the
#: host's older gcc lacks: symbol -> first gcc major that has the option.  Cleared on the
#: make command line, Kbuild falls back to what it uses for older compilers.
GCC_ONLY_OPTIONS: Dict[str, int] = {"CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT": 14}


def _glibc_needed(path: Path) -> Tuple[int, ...]:
    """Highest ``GLIBC_x.y`` version *path* (an ELF executable) needs; () for none/not ELF."""
    best: Tuple[int, ...] = ()
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return ()
            f.seek(0)
            for sec in ELFFile(f).iter_sections():
                if isinstance(sec, GNUVerNeedSection):
                    for _verneed, auxes in sec.iter_versions():
                        for aux in auxes:
                            m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", aux.name)
                            if m:
                                best = max(best, tuple(int(x) for x in m.group(1).split(".")))
    except (ELFError, OSError):
        return ()
    return best


def _host_glibc() -> Tuple[int, ...]:
    m = re.search(r"(\d+(?:\.\d+)+)", os.confstr("CS_GNU_LIBC_VERSION") or "")
    return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)


def _unpack_debs(apt: PrivateApt, specs: Sequence[str], dest: Path, tmp: Path) -> List[str]:
    """``apt-get download`` + ``dpkg-deb -x`` every one of *specs* into *dest*."""
    done = []
    for spec in specs:
        deb = apt.download(spec, tmp / "debs")
        try:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True, capture_output=True, timeout=600)
        except subprocess.CalledProcessError as e:
            raise FetchError(f"dpkg-deb -x {deb}: {e.stderr.decode(errors='replace')}") from e
        deb.unlink()
        done.append(spec)
    return done


def _shim_new_glibc_tools(apt: PrivateApt, root: Path, runtime: Path, tmp: Path) -> List[str]:
    """Make the kbuild tools that need a newer glibc than the host's run with the suite's
    own: its ``libc6`` (and the libraries in :data:`RUNTIME_PACKAGES`) are unpacked into
    *runtime* and each such tool is replaced by a shell script that runs the original
    through that ``ld.so`` with ``--library-path``.  Returns the tools wrapped."""
    host = _host_glibc()
    tools = [
        p
        for p in sorted((root / "usr" / "lib").glob("linux-kbuild-*/**/*"))
        if p.is_file() and not p.is_symlink() and os.access(p, os.X_OK) and _glibc_needed(p) > host
    ]
    if not tools:
        return []
    if runtime.exists():
        shutil.rmtree(runtime)
    specs = []
    for pkg in RUNTIME_PACKAGES:
        try:
            apt.show(pkg)
        except FetchError:
            continue
        specs.append(pkg)
    _unpack_debs(apt, specs, runtime, tmp)
    loaders = [p for p in runtime.rglob("ld-linux-x86-64.so.2") if p.is_file() or p.is_symlink()]
    if not loaders:
        raise ModuleBuildError(f"{apt.suite}'s libc6 has no ld-linux-x86-64.so.2")
    loader = loaders[0].resolve()
    libpath = ":".join(str(d) for d in (runtime / "usr/lib/x86_64-linux-gnu", runtime / "lib/x86_64-linux-gnu"))
    wrapped = []
    for tool in tools:
        real = tool.with_name(tool.name + ".glibc")
        os.replace(tool, real)
        tool.write_text(f'#!/bin/sh\nexec {loader} --library-path {libpath} {real} "$@"\n')
        tool.chmod(0o755)
        wrapped.append(str(tool.relative_to(root)))
    return wrapped


#: Host tools that decompress a bzImage payload, by the payload's first bytes.
PAYLOAD_TOOLS: Tuple[Tuple[bytes, Tuple[str, ...]], ...] = (
    (b"\x02\x21\x4c\x18", ("lz4", "-dc")),
    (b"\x28\xb5\x2f\xfd", ("zstd", "-dc")),
    (b"\xfd7zXZ\x00", ("xz", "-dc")),
    (b"\x1f\x8b", ("gzip", "-dc")),
)


def btf_base_vmlinux(vmlinuz: Path, dest: Path) -> None:
    """Write to *dest* an ELF file holding only the ``.BTF`` section of the kernel in the
    bzImage *vmlinuz*: what Kbuild's ``BTF [M]`` step reads as ``vmlinux`` (``pahole
    --btf_base``, ``resolve_btfids -b``) to give an external module split BTF on the
    kernel's own.  trixie's ``linux-headers`` ship such a file; bookworm's do not (there
    Kbuild says "Skipping BTF generation ... unavailability of vmlinux").

    The payload is found by the boot protocol's ``payload_offset``/``payload_length``
    and decompressed by the host's own tool (:data:`PAYLOAD_TOOLS`, as the kernel's
    ``scripts/extract-vmlinux``), then cut down with ``objcopy --only-section=.BTF``.
    """
    image = vmlinuz.read_bytes()
    if image[0x202:0x206] != b"HdrS":
        raise ModuleBuildError(f"{vmlinuz}: not a bzImage (no HdrS boot header)")
    setup = ((image[0x1F1] or 4) + 1) * 512
    off = setup + int.from_bytes(image[0x248:0x24C], "little")
    payload = image[off : off + int.from_bytes(image[0x24C:0x250], "little")]
    tool = next((t for magic, t in PAYLOAD_TOOLS if payload.startswith(magic)), None)
    if tool is None:
        raise ModuleBuildError(f"{vmlinuz}: payload compressed with an unknown method ({payload[:4].hex()})")
    # the payload ends with the 4-byte decompressed size, which the tool may complain about
    p = subprocess.run(list(tool), input=payload, capture_output=True, timeout=300)
    if p.stdout[:4] != b"\x7fELF":
        raise ModuleBuildError(f"{vmlinuz}: {' '.join(tool)} gave no ELF vmlinux: {p.stderr.decode(errors='replace')}")
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".vmlinux-") as tmp:
        full = Path(tmp) / "vmlinux"
        full.write_bytes(p.stdout)
        q = subprocess.run(["objcopy", "--only-section=.BTF", str(full), str(dest)], capture_output=True,
                           text=True, timeout=300)
        if q.returncode != 0:
            raise ModuleBuildError(f"objcopy --only-section=.BTF {vmlinuz}'s vmlinux: {q.stderr.strip()}")


def kernel_headers(kernel: KernelFiles) -> Path:
    """Debian's build tree for external modules of *kernel*, unpacked (never installed).

    Returns ``<cache>/debian/<suite>-headers/<release>/root/usr/src/linux-headers-<release>``
    from ``linux-headers-<release>``, ``linux-headers-*-common`` and ``linux-kbuild-*``
    (downloaded once with :class:`vmcores.debian.PrivateApt`).  Its ``Makefile`` (which
    includes ``/usr/src/linux-headers-*-common/Makefile``) is pointed at the unpacked copy;
    kbuild tools linked against a newer glibc than the host's run through the suite's own
    ``ld.so`` (:func:`_shim_new_glibc_tools`; trixie's ``objtool`` and ``modpost`` need
    glibc 2.38, this Debian 12 host has 2.36).  A kernel with module BTF gets the
    ``vmlinux`` Kbuild makes the module's split BTF against (:func:`btf_base_vmlinux`)
    where the headers lack one.
    """
    top = cache_root() / "debian" / f"{kernel.suite}-headers" / kernel.release
    root = top / "root"
    tree = root / "usr" / "src" / f"linux-headers-{kernel.release}"
    meta_file = top / "headers.json"
    with file_lock(cache_root() / "debian" / f".{kernel.suite}-headers.lock"):
        if meta_file.exists() and (tree / "Makefile").exists():
            meta = json.loads(meta_file.read_text())
            if meta.get("version") == kernel.version and "glibc_shims" in meta and "btf_base" in meta:
                return tree
        top.mkdir(parents=True, exist_ok=True)
        with file_lock(cache_root() / "debian" / f".apt-{kernel_name(kernel.suite)[0]}.lock"):
            apt = PrivateApt(kernel.suite)
            apt.ensure_lists()
            try:
                packages = _headers_packages(apt, kernel)
            except FetchError:
                apt.ensure_lists(refresh=True)
                packages = _headers_packages(apt, kernel)
            with tempfile.TemporaryDirectory(dir=top, prefix=".dl-") as tmp:
                unpack = Path(tmp) / "root"
                _unpack_debs(apt, packages, unpack, Path(tmp))
                if root.exists():
                    shutil.rmtree(root)
                os.replace(unpack, root)
                shims = _shim_new_glibc_tools(apt, root, top / "runtime", Path(tmp))
        makefile = tree / "Makefile"
        text = makefile.read_text()
        makefile.write_text(re.sub(r"(?m)^(include\s+)/usr/src/", rf"\g<1>{root}/usr/src/", text))
        btf_base = "none"  # no module BTF (5.10), or the vmlinux the headers ship (trixie)
        if re.search(r"^CONFIG_DEBUG_INFO_BTF_MODULES=y", (tree / ".config").read_text(errors="replace"), re.M):
            btf_base = "shipped"
            if not (tree / "vmlinux").exists():
                btf_base_vmlinux(kernel.vmlinuz, tree / "vmlinux")
                btf_base = f"from {kernel.vmlinuz.name}"
        meta = {"release": kernel.release, "version": kernel.version, "packages": packages, "glibc_shims": shims,
                "btf_base": btf_base}
        meta_file.write_text(json.dumps(meta, indent=1) + "\n")
        return tree


def _gcc_major(text: str) -> int:
    m = re.search(r"gcc\S* \(.*?\) (\d+)\.", text) or re.search(r"\b(\d+)\.\d+\.\d+", text)
    return int(m.group(1)) if m else 0


def _make_overrides(tree: Path, host_gcc: str) -> List[str]:
    """make variables that describe the host's toolchain where it is older than the one
    the kernel was built with: ``CONFIG_CC_HAS_X=`` for the options of
    :data:`GCC_ONLY_OPTIONS` that the kernel's gcc had and the host's lacks, and
    ``CONFIG_PAHOLE_VERSION`` of the host's pahole (module BTF is made with flags it
    knows), and ``RESOLVE_BTFIDS=true`` where the headers lack that tool."""
    config = (tree / ".config").read_text(errors="replace")
    out: List[str] = []
    m = re.search(r'^CONFIG_CC_VERSION_TEXT="(.*)"', config, re.M)
    host = _gcc_major(host_gcc)
    if m and _gcc_major(m.group(1)) > host:
        for sym, first in GCC_ONLY_OPTIONS.items():
            if host < first and re.search(rf"^{sym}=y", config, re.M):
                out.append(f"{sym}=")
    m = re.search(r"^CONFIG_PAHOLE_VERSION=(\d+)", config, re.M)
    try:
        v = subprocess.run(["pahole", "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        v = ""
    mv = re.search(r"(\d+)\.(\d+)", v)
    host_pahole = int(mv.group(1)) * 100 + int(mv.group(2)) if mv else 0
    if m and host_pahole and int(m.group(1)) > host_pahole:
        out.append(f"CONFIG_PAHOLE_VERSION={host_pahole}")
    if (tree / "vmlinux").exists() and not (tree / "tools" / "bpf" / "resolve_btfids" / "resolve_btfids").exists():
        # bookworm's linux-kbuild lacks it; for a module it only patches .BTF_ids (BTF_ID()
        # users), which kdbg_oops has none of
        out.append("RESOLVE_BTFIDS=true")
    return out


def has_section(path: Path, name: str) -> bool:
    """Whether the ELF file *path* has a section *name* (a module's ``.BTF``)."""
    with open(path, "rb") as f:
        return ELFFile(f).get_section_by_name(name) is not None


def run_module_make(argv: List[str], log: Path, built: Path) -> Optional[str]:
    """Run a module build (*argv*: ``make ... modules``), its output kept in *log*: ``None``
    when it made *built*, else why not (the last three lines of its output that are not
    make's own, or how it ended)."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=MODULE_BUILD_TIMEOUT)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired:
        out, rc = f"timed out after {MODULE_BUILD_TIMEOUT}s", -1
    except FileNotFoundError:
        out, rc = "make not found: apt-get install make", -1
    log.write_text(out)
    if rc == 0 and built.exists():
        return None
    lines = [ln.strip() for ln in out.splitlines() if ln.strip() and not ln.startswith("make")]
    return "; ".join(lines[-3:]) or f"exit {rc}"


def module_dir(release: str, name: str = MODULE_NAME) -> Path:
    """Where test module *name* is built for *release*: ``<cache>/vmcores/crash/module/<release>/``
    for ``kdbg_oops``, ``.../module/<name>/<release>/`` for the others."""
    top = crash_root() / "module"
    return top / release if name == MODULE_NAME else top / name / release


def oops_module(kernel: KernelFiles) -> Path:
    """``kdbg_oops.ko`` built for *kernel* (:func:`build_module`)."""
    return build_module(kernel, MODULE_NAME)


def build_module(kernel: KernelFiles, name: str) -> Path:
    """Test module *name* (a key of :data:`MODULE_SOURCES`) built for *kernel* (cached;
    rebuilt when the source changes).

    Runs ``make -C <headers> M=<dir> CC=gcc modules`` with the host's gcc against
    :func:`kernel_headers`.  Raises :class:`ModuleBuildError` with the reason when the
    kernel's build tools cannot run here; that failure is cached too (same source, same
    kernel), so it is not retried on every call.
    """
    top = module_dir(kernel.release, name)
    ko = top / f"{name}.ko"
    info_file = top / "module.json"
    src_hash = _module_source_hash(name)
    lock = f".module-{kernel.release}.lock" if name == MODULE_NAME else f".module-{name}-{kernel.release}.lock"
    with file_lock(crash_root() / lock):
        if info_file.exists():
            info = json.loads(info_file.read_text())
            if (info.get("source") == src_hash and info.get("version") == kernel.version
                    and info.get("recipe") == MODULE_RECIPE):
                if info.get("error"):
                    raise ModuleBuildError(info["error"])
                if ko.exists():
                    return ko
        headers = kernel_headers(kernel)
        if top.exists():
            shutil.rmtree(top)
        build = top / "build"
        shutil.copytree(MODULE_SOURCES[name], build)
        gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True)
        host_gcc = gcc.stdout.splitlines()[0] if gcc.stdout else "?"
        argv = ["make", "-C", str(headers), f"M={build}", "CC=gcc", *_make_overrides(headers, host_gcc), "modules"]
        info = {"release": kernel.release, "version": kernel.version, "source": src_hash, "recipe": MODULE_RECIPE,
                "command": " ".join(argv)}
        info["gcc"] = host_gcc
        built = build / f"{name}.ko"
        why = run_module_make(argv, top / "build.log", built)
        if why is not None:
            info["error"] = f"building {name}.ko for {kernel.release} failed: {why}"
            info_file.write_text(json.dumps(info, indent=1) + "\n")
            raise ModuleBuildError(info["error"])
        shutil.copy(built, ko)
        info["btf"] = has_section(ko, ".BTF")
        info_file.write_text(json.dumps(info, indent=1) + "\n")
        return ko


