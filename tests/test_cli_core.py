"""``kdbg -c VMCORE`` on every reference dump: symbols, memory and types from the dump alone.

Ground truth is what each guest kernel itself reported before it was dumped (its
/proc/kallsyms, /proc/version, /sys/kernel/btf/vmlinux), and bpftool and pahole decoding
that BTF.  The dumps are named by a static list (``REFERENCE_DUMP_IDS``) and resolved in a
fixture, so collecting these tests builds nothing.
"""

from __future__ import annotations

import json
import re
import shlex
import struct
import subprocess
from functools import cache
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.btf_truth import bpftool_raw, layout, pahole_struct
from tests.cli_support import run_kdbg
from tests.conftest import REFERENCE_DUMP_IDS, dump_id, resolve_dump
from vmcores.debian import SUITES
from vmcores.dump_index import Dump

ROOT = Path(__file__).resolve().parent.parent
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
    for name, row in zip(SYMBOLS, rows, strict=True):
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
    for name, row in zip(SYMBOLS, rows, strict=True):
        assert [(r["address"], r["type"]) for r in row] == truth[name], name
    version = (dump.truth / "version").read_bytes()
    p = kdbg("-c", str(dump.path), "-x", "rd linux_banner 2")
    assert p.returncode == 0, p.stderr
    words = [w for line in p.stdout.splitlines() for w in line.split(":", 1)[1].split()[:2]]
    assert b"".join(struct.pack("<Q", int(w, 16)) for w in words[:2]) == version[:16]


def test_sample_dump(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """The committed sample answers symbol and type questions."""
    p = kdbg("-c", str(sample_dump.path), "-x", "sym init_task", "-x", "ptype struct list_head")
    assert p.returncode == 0, p.stderr
    addr, letter = truth_kallsyms(sample_dump.truth)["init_task"][0]
    assert p.stdout.splitlines()[0].startswith(f"{addr:016x} ({letter}) init_task")
    assert "struct list_head *next;" in p.stdout


def test_readme_first_command(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """The README's first command, as written (after its install step), prints what the
    sample's guest reported: init_task's kallsyms address, swapper/0, PIDs 1 and 2 with
    their comm, and init's stack from __schedule down to the syscall entry and user mode."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(python3 -m pip install \. && kdbg .*?)\n```", readme)
    assert block, "the README's first code block is not 'pip install . && kdbg ...'"
    words = shlex.split(block.group(1).split("&&", 1)[1])
    assert words[0] == "kdbg" and words[words.index("-c") + 1] == str(sample_dump.path.relative_to(ROOT))
    p = run_kdbg(*words[1:])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    addr, letter = truth_kallsyms(sample_dump.truth)["init_task"][0]
    assert lines[0].startswith(f"{addr:016x} ({letter}) init_task")
    assert lines[1] == '(char [16])"swapper/0"'
    listed = {t["pid"]: t["comm"] for t in json.loads((sample_dump.truth / "ps.json").read_text())}
    rows = [ln[1:].split() for ln in lines if re.match(r"^[ >]\s*[12]\s", ln)]  # ">": on a CPU
    assert [(int(r[0]), r[-1].strip("[]")) for r in rows] == [(1, listed[1]), (2, listed[2])]
    bt = lines[lines.index(next(ln for ln in lines if ln.startswith("PID: 1 "))):]
    assert f'COMMAND: "{listed[1]}"' in bt[0]
    frames = [ln.split("] ", 1)[1] for ln in bt if re.match(r"^ ?#\d+ \[", ln)]
    assert frames[0].startswith("__schedule+") and frames[-1].startswith("entry_SYSCALL_64_after_hwframe+")
    assert "    --- user mode ---" in bt and any(ln.startswith("    RIP: 0033:") for ln in bt)


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
