"""The ``-dbg`` package of a kernel is downloaded once for both of its products
(:func:`vmcores.debian.debian_dbg_vmlinux` and :func:`vmcores.debian.debian_dbg_modules`),
and deleted once both are unpacked (CI time: each used to download the 280-300 MB package
for itself). The package here is a small one made with ``dpkg-deb`` of the same layout;
apt's download is replaced by copying it, counted."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

import vmcores.debian as debian
from tests.cli_support import clean_env
from vmcores.debian import KernelFiles

RELEASE = "6.1.0-99-cloud-amd64"


def _fake_deb(where: Path) -> Path:
    root = where / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: linux-image-{RELEASE}-dbg\nVersion: 6.1.999-1\nArchitecture: amd64\n"
        "Maintainer: nobody <nobody@localhost>\nDescription: test\n"
    )
    boot = root / "usr/lib/debug/boot"
    boot.mkdir(parents=True)
    (boot / f"vmlinux-{RELEASE}").write_bytes(b"\x7fELF vmlinux")
    ko = root / f"usr/lib/debug/lib/modules/{RELEASE}/kernel/fs"
    ko.mkdir(parents=True)
    (ko / "foo.ko").write_bytes(b"\x7fELF foo")
    deb = where / f"linux-image-{RELEASE}-dbg_6.1.999-1_amd64.deb"
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(root), str(deb)], check=True, capture_output=True,
                   env=clean_env(), timeout=120)  # fmt: skip
    return deb


@pytest.fixture
def fake_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """A kdbg cache of its own, a kernel that needs no network, and an apt whose
    ``download`` copies the small package (each call recorded)."""
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path / "cache"))
    deb = _fake_deb(tmp_path)
    kernel = KernelFiles("bookworm", "cloud", RELEASE, tmp_path / "vmlinuz", tmp_path / "mods", tmp_path,
                         f"linux-image-{RELEASE}", "6.1.999-1")  # fmt: skip
    monkeypatch.setattr(debian, "debian_kernel", lambda suite, flavour="cloud": kernel)
    monkeypatch.setattr(debian.PrivateApt, "ensure_lists", lambda self, refresh=False: None)
    calls: List[str] = []

    def download(self: debian.PrivateApt, package: str, dest: Path) -> Path:
        calls.append(package)
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(deb, dest / deb.name))

    monkeypatch.setattr(debian.PrivateApt, "download", download)
    return calls


def test_one_download_for_vmlinux_and_modules(fake_apt: List[str]) -> None:
    vmlinux = debian.debian_dbg_vmlinux("bookworm")
    assert vmlinux.read_bytes() == b"\x7fELF vmlinux"
    deb_dir = debian.cache_root() / "debian" / "bookworm-cloud-dbg-deb"
    assert any(deb_dir.glob("*.deb"))  # kept for the modules
    modules = debian.debian_dbg_modules("bookworm")
    assert (modules / "kernel" / "fs" / "foo.ko").read_bytes() == b"\x7fELF foo"
    assert fake_apt == [f"linux-image-{RELEASE}-dbg=6.1.999-1"]
    assert not deb_dir.exists()  # both unpacked: the package is gone
    assert debian.debian_dbg_vmlinux("bookworm") == vmlinux
    assert debian.debian_dbg_modules("bookworm") == modules
    assert len(fake_apt) == 1


def test_modules_first_then_vmlinux(fake_apt: List[str]) -> None:
    modules = debian.debian_dbg_modules("bookworm")
    assert (modules / "kernel" / "fs" / "foo.ko").exists()
    assert debian.debian_dbg_vmlinux("bookworm").read_bytes() == b"\x7fELF vmlinux"
    assert len(fake_apt) == 1
    assert not (debian.cache_root() / "debian" / "bookworm-cloud-dbg-deb").exists()


def test_a_damaged_download_is_fetched_again(fake_apt: List[str]) -> None:
    debian.debian_dbg_vmlinux("bookworm")
    deb_dir = debian.cache_root() / "debian" / "bookworm-cloud-dbg-deb"
    for deb in deb_dir.glob("*.deb"):
        deb.unlink()  # an interrupted cache: the record without the file
    assert (debian.debian_dbg_modules("bookworm") / "kernel" / "fs" / "foo.ko").exists()
    assert len(fake_apt) == 2
