"""Fetch real Debian kernels (vmlinuz + modules) without installing them.

The Debian mirror is never hard-coded: it is read at run time from the machine's own apt
configuration (``/etc/apt/sources.list.d/*.sources``, falling back to one-line
``sources.list`` entries).  For every suite a private sources list, lists directory and
package cache are kept under the kdbg cache, so the host's apt state is never touched and
other suites (trixie, bullseye) can be used from a bookworm host.

Usage::

    python -m vmcores.debian fetch [SUITE[@ABI] ...] [--flavour cloud|generic]
    python -m vmcores.debian abis [SUITE ...]       # the ABIs each suite's list has
    python -m vmcores.debian dbg [--modules] [SUITE[@ABI] ...]   # the -dbg vmlinux (and modules)

A suite's kernel is the newest its metapackage names when first fetched (and kept in the
cache); ``KDBG_KERNEL_<SUITE>=<ABI>`` (``KDBG_KERNEL_TRIXIE=6.12.107+deb13``) pins another
ABI the suite still serves, and ``SUITE@ABI`` names one explicitly.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

SUITES: Tuple[str, ...] = ("bookworm", "trixie", "bullseye")
"""Suites the reference dumps are built from (6.1, 6.12, 5.10)."""

EXTRA_SUITES: Tuple[str, ...] = ("forky",)
"""Suites built only when a test asks for them: forky (Debian testing; Linux 7.2 in
2026-12) has a kernel >= 6.15, whose kallsyms offsets are place-relative."""

FLAVOURS: Dict[str, str] = {"cloud": "cloud-amd64", "generic": "amd64"}
"""kdbg flavour name -> Debian kernel flavour suffix."""

KERNEL_ENV = "KDBG_KERNEL_"
"""``KDBG_KERNEL_<SUITE>=<abi>`` (``KDBG_KERNEL_TRIXIE=6.12.107+deb13``) pins a suite's
kernel to that ABI instead of the newest one the suite's metapackage names."""

DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
APT_TIMEOUT = 1800


class FetchError(RuntimeError):
    """A Debian kernel could not be resolved, downloaded or unpacked."""


@dataclasses.dataclass(frozen=True)
class KernelFiles:
    """An unpacked Debian kernel package.

    ``release`` is the ``uname -r`` string, ``vmlinuz`` the bootable image,
    ``modules_dir`` is ``<root>/lib/modules/<release>`` and ``root`` the unpacked tree.
    """

    suite: str
    flavour: str
    release: str
    vmlinuz: Path
    modules_dir: Path
    root: Path
    package: str = ""
    version: str = ""


def cache_root() -> Path:
    """The kdbg cache: ``$KDBG_CACHE``, else ``$XDG_CACHE_HOME/kdbg``, else ``~/.cache/kdbg``."""
    env = os.environ.get("KDBG_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kdbg"


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on *path* (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- mirror


def _parse_deb822(text: str) -> List[Dict[str, str]]:
    stanzas: List[Dict[str, str]] = []
    cur: Dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if cur:
                stanzas.append(cur)
            cur, key = {}, ""
            continue
        if line[0] in " \t" and key:
            cur[key] += "\n" + line.strip()
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            cur[key] = value.strip()
    if cur:
        stanzas.append(cur)
    return stanzas


def debian_mirror() -> Tuple[str, str]:
    """Return ``(uri, keyring)`` of the machine's main Debian archive from its apt config.

    The main archive is the ``deb`` source whose suites include a plain release name
    (not ``-security``/``-updates``).  Raises :class:`FetchError` when none is configured.
    """
    candidates: List[Tuple[str, str]] = []
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = Path(f).read_text()
        except OSError:
            continue
        for st in _parse_deb822(text):
            if "deb" not in st.get("types", "").split():
                continue
            if st.get("enabled", "yes").lower() == "no":
                continue
            suites = st.get("suites", "").split()
            if not any("-" not in s and "/" not in s for s in suites):
                continue
            keyring = st.get("signed-by", "") or DEFAULT_KEYRING
            if "\n" in keyring or not keyring.startswith("/"):
                keyring = DEFAULT_KEYRING
            for uri in st.get("uris", "").split():
                if "security" not in uri:
                    candidates.append((uri.rstrip("/"), keyring))
    legacy = [
        Path("/etc/apt/sources.list"),
        *map(Path, glob.glob("/etc/apt/sources.list.d/*.list")),
    ]
    for path in legacy:
        try:
            lines = path.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            m = re.match(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and "-" not in m.group(2) and "security" not in m.group(1):
                candidates.append((m.group(1).rstrip("/"), DEFAULT_KEYRING))
    for uri, keyring in candidates:
        if re.search(r"/debian$", uri):
            return uri, keyring
    if candidates:
        return candidates[0]
    raise FetchError("no Debian archive found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list")


# --------------------------------------------------------------------------- private apt


def kernel_name(name: str) -> Tuple[str, Optional[str]]:
    """``(apt suite, pinned ABI or None)`` of a kernel name: a suite (``trixie``: its
    newest kernel, or the ABI ``KDBG_KERNEL_TRIXIE`` pins) or a suite and an ABI
    (``trixie@6.12.107+deb13``: that kernel, whatever the environment says).
    ``ValueError`` for anything else."""
    suite, at, abi = name.partition("@")
    if not re.fullmatch(r"[a-z]+", suite):
        raise ValueError(f"bad suite name {suite!r}")
    if not at:
        abi = os.environ.get(KERNEL_ENV + suite.upper(), "").strip()
    if abi and not re.fullmatch(r"[0-9][0-9A-Za-z.+~-]*", abi):
        raise ValueError(f"bad kernel ABI {abi!r} for {suite}")
    return suite, abi or None


class PrivateApt:
    """apt-get / apt-cache restricted to one suite through private configuration."""

    def __init__(self, suite: str, base: Optional[Path] = None) -> None:
        """apt state of *suite* (a kernel name such as ``trixie@6.12.107+deb13`` means its
        suite)."""
        suite = kernel_name(suite)[0]
        self.suite = suite
        self.dir = (base or cache_root() / "debian" / "apt") / suite
        self.sources = self.dir / "sources.list"
        self.lists = self.dir / "lists"
        self.cache = self.dir / "cache"
        self.status = self.dir / "status"

    def options(self) -> List[str]:
        """The ``-o`` options that make apt use only this private state."""
        return [
            "-o", f"Dir::Etc::sourcelist={self.sources}",
            "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={self.lists}",
            "-o", f"Dir::State::status={self.status}",
            "-o", f"Dir::Cache={self.cache}",
            "-o", "APT::Sandbox::User=root",
            "-o", "Acquire::Retries=3",
            "-o", "APT::Get::List-Cleanup=0",
        ]  # fmt: skip

    def _run(self, argv: Sequence[str], cwd: Optional[Path] = None) -> str:
        try:
            proc = subprocess.run(
                list(argv),
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT,
            )
        except subprocess.TimeoutExpired as e:
            raise FetchError(f"{argv[0]} timed out after {APT_TIMEOUT}s: {' '.join(argv)}") from e
        except FileNotFoundError as e:
            raise FetchError(f"{argv[0]} not found; this needs Debian's apt") from e
        if proc.returncode != 0:
            raise FetchError(
                f"{' '.join([*argv[:1], *argv[-2:]])} failed ({proc.returncode}):\n"
                + (proc.stderr or proc.stdout).strip()[-2000:]
            )
        return proc.stdout

    def ensure_lists(self, refresh: bool = False) -> None:
        """Write the private sources list and run ``apt-get update`` if lists are missing."""
        uri, keyring = debian_mirror()
        self.lists.joinpath("partial").mkdir(parents=True, exist_ok=True)
        self.cache.joinpath("archives", "partial").mkdir(parents=True, exist_ok=True)
        if not self.status.exists():
            self.status.write_text("")
        line = f"deb [signed-by={keyring}] {uri} {self.suite} main\n"
        changed = not self.sources.exists() or self.sources.read_text() != line
        if changed:
            self.sources.write_text(line)
        have = any(self.lists.glob("*_Packages*"))
        if refresh or changed or not have:
            self._run(["apt-get", "-q", *self.options(), "update"])
            if not any(self.lists.glob("*_Packages*")):
                raise FetchError(f"apt-get update fetched no package list for {self.suite} from {uri}")

    def package_names(self, prefix: str) -> List[str]:
        """Every package name of the suite's list that starts with *prefix*
        (``apt-cache pkgnames``)."""
        out = self._run(["apt-cache", *self.options(), "pkgnames", prefix])
        return sorted(set(out.split()))

    def show(self, package: str) -> Dict[str, str]:
        """Fields of the candidate version of *package* (``apt-cache show``, first stanza)."""
        out = self._run(["apt-cache", *self.options(), "show", "--no-all-versions", package])
        stanzas = _parse_deb822(out)
        if not stanzas:
            raise FetchError(f"apt-cache show {package}: nothing in {self.suite}")
        return stanzas[0]

    def download(self, package: str, dest: Path) -> Path:
        """``apt-get download`` *package* into *dest*; return the .deb path."""
        dest.mkdir(parents=True, exist_ok=True)
        before = set(dest.glob("*.deb"))
        self._run(["apt-get", "-q", *self.options(), "download", package], cwd=dest)
        new = sorted(set(dest.glob(f"{package.replace('+', '%2b')}_*.deb")) - before) or sorted(
            set(dest.glob("*.deb")) - before
        )
        if not new:
            raise FetchError(f"apt-get download {package} produced no .deb in {dest}")
        return new[-1]


def package_parts(apt: PrivateApt, package: str) -> List[str]:
    """The packages holding *package*'s files: itself, or, where Debian splits a kernel
    (forky and newer backports: ``linux-image-*`` depends on ``linux-binary-*`` with the
    vmlinuz and ``linux-modules-*`` with the modules), those."""
    depends = apt.show(package).get("depends", "")
    parts = re.findall(r"\b(linux-(?:binary|modules)-[^\s,(|]+)", depends)
    return [package] + sorted(set(parts))


def abi_order(abi: str) -> Tuple[int, ...]:
    """Sort key of a kernel ABI (``6.12.107+deb13`` after ``6.12.99+deb13``)."""
    return tuple(int(n) for n in re.findall(r"\d+", abi))


def kernel_abis(apt: PrivateApt, flavour: str = "cloud") -> List[str]:
    """Every kernel ABI of *flavour* the suite's package list has with its ``-dbg``
    package (the DWARF the oracle needs), newest first: ``["6.12.117+deb13",
    "6.12.107+deb13"]``."""
    suffix = FLAVOURS[flavour]
    pattern = re.compile(r"linux-image-([0-9][^\s]*?)-" + re.escape(suffix) + r"-dbg")
    abis = {m.group(1) for name in apt.package_names("linux-image-") if (m := pattern.fullmatch(name))}
    return sorted(abis, key=abi_order, reverse=True)


def suite_kernel_abis(suite: str, flavour: str = "cloud") -> List[str]:
    """:func:`kernel_abis` of *suite* (its private package list, fetched when missing)."""
    with file_lock(cache_root() / "debian" / f".apt-{kernel_name(suite)[0]}.lock"):
        apt = PrivateApt(suite)
        apt.ensure_lists()
        return kernel_abis(apt, flavour)


def resolve_kernel_package(
    apt: PrivateApt, flavour: str, abi: Optional[str] = None, suffix: Optional[str] = None
) -> Tuple[str, str]:
    """``linux-image-<abi>-<flav>-unsigned`` (or the signed one where a suite has no
    unsigned package) of a suite: of *abi* when given, else the newest, which the suite's
    metapackage names. *suffix* is the Debian flavour suffix when it is not
    ``FLAVOURS[flavour]`` (``cloud-arm64``: :mod:`vmcores.arm64`).

    Returns ``(package, version)``.
    """
    suffix = suffix or FLAVOURS[flavour]
    if abi is None:
        meta = apt.show(f"linux-image-{suffix}")
        m = re.search(r"linux-image-(\S+?)-" + re.escape(suffix) + r"(?:-unsigned)?\b", meta.get("depends", ""))
        if not m:
            raise FetchError(f"cannot find the kernel ABI in linux-image-{suffix} Depends: {meta.get('depends')!r}")
        abi = m.group(1)
    for pkg in (f"linux-image-{abi}-{suffix}-unsigned", f"linux-image-{abi}-{suffix}"):
        try:
            info = apt.show(pkg)
        except FetchError:
            continue
        return pkg, info.get("version", "")
    raise FetchError(f"neither linux-image-{abi}-{suffix}-unsigned nor signed exists in {apt.suite}")


# --------------------------------------------------------------------------- public


def _kernel_from_tree(suite: str, flavour: str, root: Path, meta: Dict[str, str]) -> KernelFiles:
    mods = sorted((root / "lib" / "modules").glob("*")) or sorted((root / "usr" / "lib" / "modules").glob("*"))
    if not mods:
        raise FetchError(f"{root}: no [usr/]lib/modules/<release> in the unpacked package")
    release = mods[-1].name
    vmlinuz = root / "boot" / f"vmlinuz-{release}"
    if not vmlinuz.exists():  # forky and newer: /usr/lib/modules/<release>/vmlinuz
        vmlinuz = mods[-1] / "vmlinuz"
    if not vmlinuz.exists():
        raise FetchError(f"neither boot/vmlinuz-{release} nor {vmlinuz} in the unpacked package")
    return KernelFiles(
        suite=suite,
        flavour=flavour,
        release=release,
        vmlinuz=vmlinuz,
        modules_dir=mods[-1],
        root=root,
        package=meta.get("package", ""),
        version=meta.get("version", ""),
    )


def kernel_key(suite: str, flavour: str = "cloud") -> str:
    """The name under which the cache keeps the kernel named *suite* (and its ``-dbg``
    files): the suite's own (``trixie``), and for ``SUITE@ABI`` the suite's own too when
    that entry holds exactly that ABI (so naming the current kernel by its ABI fetches
    nothing again), else ``SUITE@ABI``."""
    apt_suite, abi = kernel_name(suite)
    if "@" not in suite or abi is None:
        return suite
    try:
        meta = json.loads((cache_root() / "debian" / f"{apt_suite}-{flavour}" / "kernel.json").read_text())
    except (OSError, ValueError):
        return suite
    return apt_suite if meta.get("release") == f"{abi}-{FLAVOURS[flavour]}" else suite


def cached_kernel(suite: str, flavour: str = "cloud") -> Optional[KernelFiles]:
    """The kernel :func:`debian_kernel` would return, if the cache holds it (no network,
    no lock): ``None`` when it is missing or is another ABI than the one pinned."""
    _apt_suite, abi = kernel_name(suite)
    top = cache_root() / "debian" / f"{kernel_key(suite, flavour)}-{flavour}"
    try:
        meta = json.loads((top / "kernel.json").read_text())
        kf = _kernel_from_tree(suite, flavour, top / "root", meta)
    except (OSError, ValueError, FetchError):
        return None
    if abi is not None and kf.release != f"{abi}-{FLAVOURS[flavour]}":
        return None
    return kf


def debian_kernel(suite: str, flavour: str = "cloud") -> KernelFiles:
    """Return *suite*'s Debian kernel of *flavour* (``cloud`` or ``generic``).

    *suite* is a kernel name (:func:`kernel_name`): ``trixie`` is the newest kernel the
    suite's metapackage names, or the ABI ``KDBG_KERNEL_TRIXIE`` pins;
    ``trixie@6.12.107+deb13`` is that ABI. Downloads and unpacks it into
    ``<cache>/debian/<suite>-<flavour>/`` only when missing (or when it holds another ABI
    than the one pinned); afterwards no network is needed.  An unpinned name keeps the
    kernel it first fetched, so a warm cache does not follow the archive.  Safe to call
    from several processes at once.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}; choose from {sorted(FLAVOURS)}")
    apt_suite, abi = kernel_name(suite)
    want_release = None if abi is None else f"{abi}-{FLAVOURS[flavour]}"
    key = kernel_key(suite, flavour)
    top = cache_root() / "debian" / f"{key}-{flavour}"
    meta_file = top / "kernel.json"
    root = top / "root"
    with file_lock(cache_root() / "debian" / f".{key}-{flavour}.lock"):
        kf = cached_kernel(suite, flavour)
        if kf is not None:
            return kf
        with file_lock(cache_root() / "debian" / f".apt-{apt_suite}.lock"):
            apt = PrivateApt(apt_suite)
            apt.ensure_lists()
            try:
                pkg, version = resolve_kernel_package(apt, flavour, abi)
            except FetchError:
                apt.ensure_lists(refresh=True)
                pkg, version = resolve_kernel_package(apt, flavour, abi)
            top.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=top.parent, prefix=f".{suite}-dl-") as tmp:
                unpack = Path(tmp) / "root"
                for part in package_parts(apt, pkg):
                    deb = apt.download(part, Path(tmp) / part)
                    try:
                        subprocess.run(
                            ["dpkg-deb", "-x", str(deb), str(unpack)],
                            check=True,
                            capture_output=True,
                            timeout=600,
                        )
                    except subprocess.CalledProcessError as e:
                        raise FetchError(f"dpkg-deb -x {deb}: {e.stderr.decode(errors='replace')}") from e
                meta_file.unlink(missing_ok=True)
                if root.exists():
                    shutil.rmtree(root)  # another ABI, or an interrupted or failed earlier fetch
                os.replace(unpack, root)
        meta = {"package": pkg, "version": version, "suite": suite, "flavour": flavour}
        kf = _kernel_from_tree(suite, flavour, root, meta)
        if want_release not in (None, kf.release):
            raise FetchError(f"{pkg} unpacked release {kf.release}, not {want_release}")
        meta["release"] = kf.release
        meta_file.write_text(json.dumps(meta, indent=1) + "\n")
        return kf


def _unpack_deb(deb: Path, dest: Path, members: Sequence[str], wildcards: bool = False) -> None:
    """Unpack ``members`` of the package ``deb`` into ``dest`` (``dpkg-deb --fsys-tarfile``
    into ``tar -x``; ``wildcards``: members are shell patterns)."""
    argv = ["tar", "-x", "-C", str(dest)] + (["--wildcards"] if wildcards else []) + list(members)
    try:
        with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as dd:
            subprocess.run(argv, stdin=dd.stdout, check=True, capture_output=True, timeout=900)
            if dd.stdout:
                dd.stdout.close()
            if dd.wait(timeout=900) != 0:
                raise FetchError(f"dpkg-deb --fsys-tarfile {deb} failed ({dd.returncode})")
    except subprocess.CalledProcessError as e:
        err = e.stderr.decode(errors="replace").strip()
        raise FetchError(f"tar -x {' '.join(members)} from {deb}: {err}") from e
    except subprocess.TimeoutExpired as e:
        raise FetchError(f"unpacking {deb} timed out") from e


def unpack_dbg_vmlinux(deb: Path, scratch: Path, release: str) -> Path:
    """Unpack only the DWARF vmlinux of *release* from its ``-dbg`` package *deb* into
    *scratch* and return its path there: ``usr/lib/debug/boot/vmlinux-<release>``, or,
    where that is a symlink (forky and newer: into ``usr/lib/debug/lib/modules``), the
    file it names."""
    member = f"./usr/lib/debug/boot/vmlinux-{release}"
    for _hop in range(3):
        _unpack_deb(deb, scratch, [member])
        if not (scratch / member).is_symlink():
            break
        target = os.readlink(scratch / member)
        member = "./" + os.path.normpath(os.path.join(os.path.dirname(member[2:]), target))
    return scratch / member


def _dbg_deb(suite: str, kernel: KernelFiles, key: str) -> Path:
    """The ``linux-image-<release>-dbg`` package of *kernel* (*suite*'s, cached as *key*),
    downloaded once into ``<cache>/debian/<key>-cloud-dbg-deb/`` for both
    :func:`debian_dbg_vmlinux` and :func:`debian_dbg_modules` (it was downloaded once for
    each: 280-300 MB twice per kernel); :func:`_dbg_package` removes it once both are
    unpacked. The caller holds that directory's lock."""
    top = cache_root() / "debian" / f"{key}-cloud-dbg-deb"
    meta_file = top / "deb.json"
    want = {"release": kernel.release, "version": kernel.version}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads(meta_file.read_text())
        deb = top / str(meta.get("file", ""))
        if {k: meta.get(k) for k in want} == want and deb.is_file():
            return deb
    if top.exists():
        shutil.rmtree(top)  # another kernel's, or an interrupted download
    top.mkdir(parents=True)
    pkg = f"linux-image-{kernel.release}-dbg"
    spec = f"{pkg}={kernel.version}" if kernel.version else pkg
    with file_lock(cache_root() / "debian" / f".apt-{kernel_name(suite)[0]}.lock"):
        apt = PrivateApt(suite)
        apt.ensure_lists()
        try:
            deb = apt.download(spec, top)
        except FetchError:
            apt.ensure_lists(refresh=True)
            deb = apt.download(spec, top)
    meta_file.write_text(json.dumps({**want, "package": pkg, "file": deb.name}, indent=1) + "\n")
    return deb


#: The products of a ``-dbg`` package (:func:`_dbg_package`'s *name*).
_DBG_PRODUCTS = ("dbg", "dbg-modules")


def _dbg_package(suite: str, name: str, result: Callable[[KernelFiles, Path], Path],
                 unpack: Callable[[KernelFiles, Path, Path, Path], None]) -> Path:
    """What :func:`debian_dbg_vmlinux` and :func:`debian_dbg_modules` share: the
    ``linux-image-<release>-dbg`` package of *suite*'s reference (cloud) kernel
    (:func:`_dbg_deb`: one download for both), unpacked into
    ``<cache>/debian/<suite>-cloud-<name>/`` (``top``) by ``unpack(kernel, deb, scratch,
    top)``; ``result(kernel, top)`` is the path returned, reused while ``dbg.json`` names
    the same kernel. Locked against other processes; the package is deleted once both
    products of it are unpacked."""
    kernel = debian_kernel(suite, "cloud")
    key = kernel_key(suite, "cloud")
    debian = cache_root() / "debian"
    top = debian / f"{key}-cloud-{name}"
    path = result(kernel, top)
    meta = {"package": f"linux-image-{kernel.release}-dbg", "version": kernel.version, "release": kernel.release,
            "suite": suite}  # fmt: skip

    def unpacked(product: str) -> bool:
        try:
            have = json.loads((debian / f"{key}-cloud-{product}" / "dbg.json").read_text())
        except (OSError, ValueError):
            return False
        return have.get("release") == kernel.release and have.get("version") == kernel.version

    with file_lock(debian / f".{key}-cloud-{name}.lock"):
        if unpacked(name) and path.exists():
            return path
        top.mkdir(parents=True, exist_ok=True)
        with file_lock(debian / f".{key}-cloud-dbg-deb.lock"):
            deb = _dbg_deb(suite, kernel, key)
            with tempfile.TemporaryDirectory(dir=top, prefix=".dl-") as tmp:
                scratch = Path(tmp) / "root"
                scratch.mkdir()
                unpack(kernel, deb, scratch, top)
            (top / "dbg.json").write_text(json.dumps(meta, indent=1) + "\n")
            if all(unpacked(p) for p in _DBG_PRODUCTS):
                shutil.rmtree(deb.parent)
        return path


def debian_dbg_vmlinux(suite: str) -> Path:
    """Return the DWARF ``vmlinux`` of *suite*'s reference (cloud) kernel.

    The kernel is the one :func:`debian_kernel` (``flavour="cloud"``) returns, which the
    reference dumps boot; its ``linux-image-<release>-dbg`` package, of exactly that
    kernel's version, is downloaded once (:func:`_dbg_deb`, shared with
    :func:`debian_dbg_modules`) and only ``usr/lib/debug/boot/vmlinux-<release>`` is
    unpacked into ``<cache>/debian/<suite>-cloud-dbg/``.  Safe to call from several
    processes at once; afterwards no network is needed.
    """

    def unpack(kernel: KernelFiles, deb: Path, scratch: Path, top: Path) -> None:
        os.replace(unpack_dbg_vmlinux(deb, scratch, kernel.release), top / f"vmlinux-{kernel.release}")

    return _dbg_package(suite, "dbg", lambda kernel, top: top / f"vmlinux-{kernel.release}", unpack)


def debian_dbg_modules(suite: str) -> Path:
    """Return the directory of the DWARF module files of *suite*'s reference (cloud) kernel.

    The same ``linux-image-<release>-dbg`` package as :func:`debian_dbg_vmlinux` (of
    exactly the kernel :func:`debian_kernel` returns, the same download: :func:`_dbg_deb`)
    has only its ``*.ko`` files (``usr/lib/debug/lib/modules/<release>/kernel/**``, every
    module of that kernel) unpacked, into ``<cache>/debian/<suite>-cloud-dbg-modules/<release>/``
    (the vmlinux cache is not touched; the package is deleted once both are unpacked).  The directory returned holds
    ``kernel/**/*.ko`` as in ``/lib/modules/<release>``.  Safe to call from several
    processes at once; afterwards no network is needed.
    """

    def unpack(kernel: KernelFiles, deb: Path, scratch: Path, top: Path) -> None:
        _unpack_deb(deb, scratch, ["*.ko"], wildcards=True)
        found = sorted(scratch.rglob(f"{kernel.release}/kernel"))
        if not found:
            raise FetchError(f"{deb}: no <...>/{kernel.release}/kernel/**/*.ko in the package")
        moddir = top / kernel.release
        if moddir.exists():
            shutil.rmtree(moddir)
        moddir.mkdir()
        os.replace(found[0], moddir / "kernel")

    return _dbg_package(suite, "dbg-modules", lambda kernel, top: top / kernel.release, unpack)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: ``python -m vmcores.debian fetch|abis|dbg [SUITE ...]`` (module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m vmcores.debian", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download and unpack kernels, print their paths")
    f.add_argument("suites", nargs="*", default=list(SUITES), metavar="SUITE",
                   help="a suite (its newest kernel, or the ABI KDBG_KERNEL_<SUITE> pins) or SUITE@ABI")
    f.add_argument("--flavour", choices=sorted(FLAVOURS), default="cloud")
    a = sub.add_parser("abis", help="list the kernel ABIs each suite's package list has, newest first")
    a.add_argument("suites", nargs="*", default=list(SUITES), metavar="SUITE")
    a.add_argument("--flavour", choices=sorted(FLAVOURS), default="cloud")
    d = sub.add_parser("dbg", help="download each kernel's -dbg package, unpack its DWARF vmlinux (what the "
                       "drgn oracle and the declaration tools read), print the paths")
    d.add_argument("suites", nargs="*", default=list(SUITES), metavar="SUITE",
                   help="a suite or SUITE@ABI (its cloud kernel, as debian_dbg_vmlinux takes it)")
    d.add_argument("--modules", action="store_true", help="also unpack its DWARF modules (one download for both)")
    args = ap.parse_args(argv)
    rc = 0
    if args.cmd == "dbg":
        for suite in args.suites:
            try:
                print(f"{suite}\t{debian_dbg_vmlinux(suite)}", flush=True)
                if args.modules:
                    print(f"{suite}\t{debian_dbg_modules(suite)}", flush=True)
            except (FetchError, ValueError) as e:
                print(f"vmcores.debian: {suite}: {e}", file=sys.stderr)
                rc = 1
        return rc
    if args.cmd == "abis":
        for suite in args.suites:
            try:
                print(suite, " ".join(suite_kernel_abis(suite, args.flavour)))
            except (FetchError, ValueError) as e:
                print(f"vmcores.debian: {suite}: {e}", file=sys.stderr)
                rc = 1
        return rc
    for suite in args.suites:
        try:
            k = debian_kernel(suite, args.flavour)
        except (FetchError, ValueError) as e:
            print(f"vmcores.debian: {suite}: {e}", file=sys.stderr)
            rc = 1
            continue
        print(f"{k.suite}\t{k.flavour}\t{k.release}\t{k.package}={k.version}")
        print(f"  vmlinuz  {k.vmlinuz}")
        print(f"  modules  {k.modules_dir}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
