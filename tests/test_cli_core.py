"""``kdbg -c VMCORE`` on every reference dump: symbols, memory and types from the dump alone.

Ground truth is what each guest kernel itself reported before it was dumped (its
/proc/kallsyms, /proc/version, /sys/kernel/btf/vmlinux), and bpftool and pahole decoding
that BTF.  The dumps are named by a static list (``REFERENCE_DUMP_IDS``) and resolved in a
fixture, so collecting these tests builds nothing.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from functools import cache
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.btf_truth import bpftool_raw, layout, pahole_struct
from tests.cli_support import run_kdbg
from tests.conftest import REFERENCE_DUMP_IDS, dump_id, resolve_dump
from vmcores.build import Dump
from vmcores.debian import SUITES

SYMBOLS = ["init_task", "_stext", "linux_banner", "init_top_pgt", "__start_BTF", "schedule"]


def kdbg(*args: str) -> subprocess.CompletedProcess:
    return run_kdbg("-q", *args)


@cache
def truth_kallsyms(truth: Path) -> Dict[str, List[Tuple[int, str]]]:
    out: Dict[str, List[Tuple[int, str]]] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.setdefault(parts[2], []).append((int(parts[0], 16), parts[1]))
    return out


@cache
def pahole_layout(truth: Path, struct: str) -> List[tuple]:
    """pahole's layout of *struct* in the guest's own BTF (independent of kdbg)."""
    lay = layout(pahole_struct(truth / "btf" / "vmlinux", struct))
    assert len(lay) > 100, lay  # task_struct: a few hundred members on every kernel
    return lay


@pytest.mark.parametrize("reference_dump", REFERENCE_DUMP_IDS, ids=dump_id, indirect=True)
def test_sym_from_dump_matches_guest_kallsyms(reference_dump: Dump) -> None:
    dump = reference_dump
    p = kdbg("-c", str(dump.path), "--json", *[a for s in SYMBOLS for a in ("-x", f"sym {s}")])
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(rows) == len(SYMBOLS), p.stdout
    truth = truth_kallsyms(dump.truth)
    for name, row in zip(SYMBOLS, rows):
        assert [(r["address"], r["type"]) for r in row] == truth[name], name


@pytest.mark.parametrize("reference_dump", REFERENCE_DUMP_IDS, ids=dump_id, indirect=True)
def test_rd_and_ptype_from_dump(reference_dump: Dump) -> None:
    dump = reference_dump
    version = (dump.truth / "version").read_bytes()
    words = (len(version) + 7) // 8
    p = kdbg("-c", str(dump.path), "-x", f"rd linux_banner {words}", "-x", "ptype struct task_struct")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    data = b""
    for line in lines[: (words + 1) // 2]:
        m = re.match(r"^([0-9a-f]{16}):  ((?:[0-9a-f]{16} ?)+)", line)
        assert m, line
        data += b"".join(struct.pack("<Q", int(w, 16)) for w in m.group(2).split())
    # /proc/version is linux_banner as printed: the dump holds the same bytes
    assert data[: len(version)] == version
    # ptype from the dump's BTF lays task_struct out as pahole reads the guest's BTF
    assert layout("\n".join(lines[(words + 1) // 2 :])) == pahole_layout(dump.truth, "task_struct")


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_btf_from_dump_is_the_guests(suite: str) -> None:
    """The BTF read out of the dump decodes exactly as bpftool decodes the guest's
    /sys/kernel/btf/vmlinux."""
    dump = resolve_dump(suite, "elf", "qemu")
    p = kdbg("-c", str(dump.path), "-x", "btf dump --format raw")
    assert p.returncode == 0, p.stderr
    assert p.stdout == bpftool_raw(dump.truth / "btf" / "vmlinux")


def test_place_relative_kernel(tmp_path: Path) -> None:
    """A >= 6.15 kernel (Debian forky's, an extra suite built on first use): symbols from the
    dump's place-relative kallsyms and memory at them, as the guest reported them."""
    dump = resolve_dump("forky", "kdump-zlib", "qemu")
    p = kdbg("-c", str(dump.path), "--json", *[a for s in SYMBOLS for a in ("-x", f"sym {s}")])
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(rows) == len(SYMBOLS), p.stdout
    truth = truth_kallsyms(dump.truth)
    for name, row in zip(SYMBOLS, rows):
        assert [(r["address"], r["type"]) for r in row] == truth[name], name
    version = (dump.truth / "version").read_bytes()
    p = kdbg("-c", str(dump.path), "-x", "rd linux_banner 2")
    assert p.returncode == 0, p.stderr
    words = [w for line in p.stdout.splitlines() for w in line.split(":", 1)[1].split()[:2]]
    assert b"".join(struct.pack("<Q", int(w, 16)) for w in words[:2]) == version[:16]


def test_sample_dump(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """The README's command works on the committed sample."""
    p = kdbg("-c", str(sample_dump.path), "-x", "sym init_task", "-x", "ptype struct list_head")
    assert p.returncode == 0, p.stderr
    addr, letter = truth_kallsyms(sample_dump.truth)["init_task"][0]
    assert p.stdout.splitlines()[0].startswith(f"{addr:016x} ({letter}) init_task")
    assert "struct list_head *next;" in p.stdout


def test_bad_core_is_one_line_exit_2(tmp_path: Path) -> None:
    src = resolve_dump("bookworm", "elf", "qemu").path
    cases = {
        "empty": b"",
        "garbage": b"\x00garbage" * 100,
        "truncated-elf": src.read_bytes()[:3000] if src.stat().st_size < 1 << 30 else b"\x7fELF",
    }
    for name, data in cases.items():
        f = tmp_path / name
        f.write_bytes(data)
        p = kdbg("-c", str(f), "-x", "sym init_task")
        assert p.returncode == 2, (name, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("kdbg: "), (name, p.stderr)


def test_unmapped_address_is_a_fault() -> None:
    dump = resolve_dump("bookworm", "elf", "qemu")
    p = kdbg("-c", str(dump.path), "-x", "rd 0x10 2")
    assert p.returncode == 1
    assert p.stderr.strip().startswith("kdbg: ") and "0x10" in p.stderr
