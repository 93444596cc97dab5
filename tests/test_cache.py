"""kdbg.cache: the one on-disk cache (location, integrity, bound, temporaries, sudo)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from kdbg import cache


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache root selected through ``$KDBG_CACHE``."""
    d = tmp_path / "cache"
    monkeypatch.setenv("KDBG_CACHE", str(d))
    monkeypatch.delenv("KDBG_NO_CACHE", raising=False)
    monkeypatch.delenv("KDBG_CACHE_MAX", raising=False)
    return d


def _entries(root: Path) -> List[Path]:
    return sorted(root.glob("*/*.kce"))


def test_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KDBG_NO_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == str(tmp_path / "explicit")
    monkeypatch.delenv("KDBG_CACHE")
    assert cache.cache_root() == str(tmp_path / "xdg" / "kdbg")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_root() == str(tmp_path / "home" / ".cache" / "kdbg")
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("KDBG_NO_CACHE", "1")
    assert cache.cache_root() is None
    monkeypatch.setenv("KDBG_NO_CACHE", "0")
    assert cache.cache_root() == str(tmp_path / "explicit")
    # Relative settings are made absolute (a later chdir must not move the cache).
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KDBG_CACHE", "rel")
    assert cache.cache_root() == str(tmp_path / "rel")


def test_no_cache_stores_nothing(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDBG_NO_CACHE", "1")
    cache.store("kallsyms", "k", b"payload")
    assert cache.load("kallsyms", "k") is None
    assert not root.exists()


def test_round_trip_and_kinds_apart(root: Path) -> None:
    assert cache.load("btf", "key") is None
    cache.store("btf", "key", b"\x00abc" * 1000)
    cache.store("header", "key", b"other")
    assert cache.load("btf", "key") == b"\x00abc" * 1000
    assert cache.load("header", "key") == b"other"
    assert cache.load("btf", "key2") is None
    cache.store("btf", "key", b"new")  # replaces
    assert cache.load("btf", "key") == b"new"
    assert len(_entries(root)) == 2
    assert not [p for p in root.rglob(".kce-tmp-*")]


def test_bad_kind_is_a_programming_error(root: Path) -> None:
    with pytest.raises(ValueError, match="cache kind"):
        cache.store("../evil", "k", b"x")
    with pytest.raises(ValueError, match="cache kind"):
        cache.load("", "k")


@pytest.mark.parametrize("damage", ["flip-payload", "flip-key", "truncate", "empty", "magic"])
def test_corrupt_entry_is_a_miss(root: Path, damage: str) -> None:
    payload = bytes(range(256)) * 64
    cache.store("kallsyms", "build-id:abc", payload)
    (path,) = _entries(root)
    data = bytearray(path.read_bytes())
    if damage == "flip-payload":
        data[-100] ^= 1
    elif damage == "flip-key":
        data[45] ^= 1
    elif damage == "truncate":
        del data[-1:]
    elif damage == "empty":
        del data[:]
    else:
        data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    assert cache.load("kallsyms", "build-id:abc") is None


def test_key_collision_is_a_miss(root: Path) -> None:
    """An intact entry written for another key, found at this key's path, is not served."""
    cache.store("kallsyms", "key-a", b"answer for a")
    cache.store("kallsyms", "key-b", b"answer for b")
    a, b = (cache._entry_path(str(root), "kallsyms", k) for k in ("key-a", "key-b"))
    shutil.copyfile(a, b)  # as if key-b hashed to key-a's file name
    assert cache.load("kallsyms", "key-b") is None
    assert cache.load("kallsyms", "key-a") == b"answer for a"


def test_bound_evicts_least_recently_used(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDBG_CACHE_MAX", "10K")
    assert cache.max_bytes() == 10 << 10
    blob = b"x" * 3000
    now = time.time()
    for i in range(3):
        cache.store("btf", f"k{i}", blob)
        os.utime(cache._entry_path(str(root), "btf", f"k{i}"), (now - 100 + i, now - 100 + i))
    assert cache.load("btf", "k0") == blob  # k0 is now the most recently used
    cache.store("btf", "k3", blob)  # 4 x ~3 KiB > 10 KiB: the oldest-used (k1) goes
    assert cache.load("btf", "k1") is None
    for k in ("k0", "k2", "k3"):
        assert cache.load("btf", k) == blob
    total = sum(p.stat().st_size for p in _entries(root))
    assert total <= 10 << 10
    # A payload larger than the bound is refused outright and evicts nothing.
    cache.store("btf", "huge", b"y" * (11 << 10))
    assert cache.load("btf", "huge") is None
    assert len(_entries(root)) == 3


def test_bound_leaves_foreign_files_alone(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the cache's own entries are counted and evicted (vmcores/ shares the root)."""
    monkeypatch.setenv("KDBG_CACHE_MAX", "1K")
    foreign = root / "vmcores" / "bookworm" / "dump.elf"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"z" * 4096)
    tmpish = root / "vmcores" / ".tmp-build"
    tmpish.write_bytes(b"t")
    os.utime(tmpish, (1, 1))
    cache.store("btf", "k", b"x" * 100)
    assert cache.load("btf", "k") == b"x" * 100
    assert foreign.exists() and tmpish.exists()


def test_stale_temporaries_removed(root: Path) -> None:
    cache.store("btf", "k", b"x")
    stale = root / "btf" / ".kce-tmp-dead"
    fresh = root / "btf" / ".kce-tmp-live"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.store("btf", "k2", b"y")
    assert not stale.exists()
    assert fresh.exists()  # may belong to a writer running now


def test_failed_write_leaves_no_temporary(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(src: object, dst: object, **dir_fds: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.os, "replace", fail)
    cache.store("btf", "k", b"x" * 100)  # does not raise
    monkeypatch.undo()
    assert not list(root.rglob(".kce-tmp-*"))
    assert cache.load("btf", "k") is None


def test_unwritable_root_is_harmless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("KDBG_CACHE", str(blocker / "sub"))
    monkeypatch.delenv("KDBG_NO_CACHE", raising=False)
    cache.store("btf", "k", b"x")
    assert cache.load("btf", "k") is None


FAKE_UID, FAKE_GID = 54321, 54322


def _as_root_under_sudo(monkeypatch: pytest.MonkeyPatch, home: Path) -> List[Tuple[str, int, int]]:
    """Pretend to be root run by ``sudo`` from user FAKE_UID whose home is ``home``.

    When the test really runs as root, ``home`` is given to FAKE_UID and chown is real;
    otherwise geteuid, stat ownership of ``home`` and chown are faked.  Returns the list
    of chown calls the cache made.
    """
    monkeypatch.setenv("SUDO_UID", str(FAKE_UID))
    monkeypatch.setenv("SUDO_GID", str(FAKE_GID))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KDBG_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("KDBG_NO_CACHE", raising=False)
    calls: List[Tuple[str, int, int]] = []
    real_fchown = os.fchown
    if os.geteuid() == 0:
        os.chown(home, FAKE_UID, FAKE_GID)

        def fchown(fd: int, uid: int, gid: int) -> None:
            calls.append((os.readlink(f"/proc/self/fd/{fd}"), uid, gid))
            real_fchown(fd, uid, gid)
    else:
        real_stat = os.stat
        monkeypatch.setattr(cache.os, "geteuid", lambda: 0)

        class Owned:
            def __init__(self, st: os.stat_result, uid: int) -> None:
                self.st_uid = uid
                self.st_mode = st.st_mode

        def stat(path: str, *a: object, **k: object) -> object:
            st = real_stat(path, *a, **k)  # type: ignore[arg-type]
            return Owned(st, FAKE_UID) if os.path.abspath(path) == str(home) else st

        def fchown(fd: int, uid: int, gid: int) -> None:
            calls.append((os.readlink(f"/proc/self/fd/{fd}"), uid, gid))

        monkeypatch.setattr(cache.os, "stat", stat)
        # the files are this (non-root) user's: for trust, let that user stand for root
        me = os.getuid()
        monkeypatch.setattr(cache.trust, "trusted_uids", lambda invoking=False: frozenset({0, me}))
    monkeypatch.setattr(cache.os, "fchown", fchown)
    return calls


def test_sudo_writes_user_owned_files_in_their_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    really_root = os.geteuid() == 0
    calls = _as_root_under_sudo(monkeypatch, home)
    cache.store("btf", "k", b"x" * 10)
    if really_root:  # root stores for the user, but loads nothing the user could have written
        assert cache.load("btf", "k") is None
    created = [home / ".cache", home / ".cache" / "kdbg", home / ".cache" / "kdbg" / "btf"]
    chowned = {p for p, _, _ in calls}
    for d in created:
        assert str(d) in chowned, f"{d} left root-owned"
    (entry,) = _entries(home / ".cache" / "kdbg")
    # The temporary was chowned before it was renamed to the entry.
    assert any(os.path.dirname(p) == str(entry.parent) and ".kce-tmp-" in p for p in chowned)
    assert all((uid, gid) == (FAKE_UID, FAKE_GID) for _, uid, gid in calls)
    if really_root:
        for p in [*created, entry]:
            st = p.stat()
            assert (st.st_uid, st.st_gid) == (FAKE_UID, FAKE_GID), p


def test_sudo_leaves_roots_own_cache_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache root outside the invoking user's tree (root's own) keeps root's files."""
    home = tmp_path / "home"
    home.mkdir()
    calls = _as_root_under_sudo(monkeypatch, home)
    elsewhere = tmp_path / "roots-cache"
    monkeypatch.setenv("KDBG_CACHE", str(elsewhere))
    cache.store("btf", "k", b"x")
    assert cache.load("btf", "k") == b"x"
    assert calls == []
