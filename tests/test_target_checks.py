"""``--kallsyms`` and ``--btf`` are checked against the dump they are used with.

Ground truth is what each guest reported before it was dumped: its /proc/kallsyms
(``truth/kallsyms``: same boot as the dump) and /sys/kernel/btf/vmlinux
(``truth/btf/vmlinux``), plus bpftool reading those BTF files. Bookworm's panic dump
(``vmcores.crash``) is the same kernel as the bookworm reference dumps but another boot
(KASLR put it elsewhere), whichever kernel the suite serves.
Every case runs the real command line and checks the exit status and the exact one-line
error.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.btf_truth import bpftool_raw, parse_raw
from tests.cli_support import run_kdbg
from tests.conftest import resolve_crash_dump
from tests.kallsyms_truth import truth_vmlinux

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("bookworm", "trixie", "bullseye")
#: Names kdbg compares with VMCOREINFO's SYMBOL() entries (any of them decides).
VMCOREINFO_NAMES = {
    "_stext", "init_uts_ns", "init_top_pgt", "swapper_pg_dir", "node_online_map", "node_data",
    "vmap_area_list", "prb", "printk_rb_static", "clear_seq", "log_buf", "log_buf_len",
    "log_first_idx", "log_next_idx", "kallsyms_names", "kallsyms_num_syms",
    "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets",
    "kallsyms_relative_base", "kallsyms_addresses", "kallsyms_markers",
    "kallsyms_seqs_of_names",
}
START_KERNEL_MAP = 0xFFFFFFFF80000000


def kdbg(*args: str) -> subprocess.CompletedProcess:
    return run_kdbg("-q", *args)


def truth_symbols(truth: Path) -> Dict[str, int]:
    """First address of each vmlinux name in a guest's /proc/kallsyms (``truth/kallsyms``)."""
    out: Dict[str, int] = {}
    for addr, _type, name in truth_vmlinux(truth):
        out.setdefault(name, addr)
    return out


@pytest.fixture(scope="session")
def dumps(reference_dumps_all) -> Dict[str, object]:  # type: ignore[no-untyped-def]
    """One reference dump per suite (makedumpfile's kdump-zlib: small and quick to open)."""
    out = {}
    for d in reference_dumps_all:
        if d.form == "kdump-zlib" and d.tool.startswith("makedumpfile"):
            out[d.suite] = d
    assert sorted(out) == sorted(SUITES), sorted(out)
    return out


def pairs() -> List[Tuple[str, str]]:
    """(dump's suite, other suite) for each suite and the next one."""
    return [(s, SUITES[(i + 1) % len(SUITES)]) for i, s in enumerate(SUITES)]


def one_line(stderr: str) -> str:
    assert stderr.endswith("\n") and stderr.count("\n") == 1, repr(stderr)
    return stderr[:-1]


def write_kallsyms(path: Path, lines: List[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# ---------------------------------------------------------------------------- kallsyms


@pytest.mark.parametrize("suite", SUITES)
def test_kallsyms_of_the_same_boot_is_accepted(dumps, suite: str) -> None:  # type: ignore[no-untyped-def]
    d = dumps[suite]
    p = kdbg("-c", str(d.path), "--kallsyms", str(d.truth / "kallsyms"), "-x", "sym init_task")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert int(p.stdout.split()[0], 16) == truth_symbols(d.truth)["init_task"]


def test_sample_kallsyms_of_its_own_boot_is_accepted(sample_dump) -> None:  # type: ignore[no-untyped-def]
    p = kdbg("-c", str(sample_dump.path), "--kallsyms", str(sample_dump.truth / "kallsyms"), "-x", "sym init_task")
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.split()[0], 16) == truth_symbols(sample_dump.truth)["init_task"]


def _refusal(file: Path, there: int, dump: int, name: str = "_stext") -> str:
    return (
        f"kdbg: kallsyms file {file} is not this dump's: {name} is {there:#x} there but {dump:#x} "
        "in the dump's VMCOREINFO (a kallsyms file from another boot or kernel?)"
    )


@pytest.mark.parametrize("suite,other", pairs())
def test_kallsyms_of_another_kernel_is_refused(dumps, suite: str, other: str) -> None:  # type: ignore[no-untyped-def]
    d, o = dumps[suite], dumps[other]
    mine, theirs = truth_symbols(d.truth), truth_symbols(o.truth)
    assert mine["_stext"] != theirs["_stext"]
    p = kdbg("-c", str(d.path), "--kallsyms", str(o.truth / "kallsyms"), "-x", "sym init_task")
    assert p.returncode == 2
    assert p.stdout == ""
    assert one_line(p.stderr) == _refusal(o.truth / "kallsyms", theirs["_stext"], mine["_stext"])


def test_kallsyms_of_another_boot_of_the_same_kernel_is_refused(dumps) -> None:  # type: ignore[no-untyped-def]
    """The bookworm reference dump and bookworm's panic dump run the same kernel (whichever
    the suite serves), booted twice."""
    d = dumps["bookworm"]
    other = resolve_crash_dump("bookworm", "panic", "kdump-zlib")
    assert (d.truth / "uname").read_text() == (other.truth / "uname").read_text()
    mine, theirs = truth_symbols(other.truth), truth_symbols(d.truth)
    assert mine["_stext"] != theirs["_stext"]
    p = kdbg("-c", str(other.path), "--kallsyms", str(d.truth / "kallsyms"), "-x", "sym init_task")
    assert p.returncode == 2
    assert one_line(p.stderr) == _refusal(d.truth / "kallsyms", theirs["_stext"], mine["_stext"])


def _shifted(lines: List[str], shift: int) -> List[str]:
    """Kernel-image and module addresses moved by ``shift``, as another KASLR slide would."""
    out = []
    for line in lines:
        parts = line.split(maxsplit=1)
        addr = int(parts[0], 16)
        if addr >= START_KERNEL_MAP:
            addr += shift
        out.append(f"{addr:016x} {parts[1]}")
    return out


@pytest.mark.parametrize("suite", SUITES)
def test_kallsyms_shifted_like_kaslr_is_refused(dumps, suite: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = dumps[suite]
    shift = 0x2A00000  # KASLR slides the image in 2 MiB steps
    f = write_kallsyms(tmp_path / "kallsyms", _shifted((d.truth / "kallsyms").read_text().splitlines(), shift))
    mine = truth_symbols(d.truth)
    p = kdbg("-c", str(d.path), "--kallsyms", str(f), "-x", "sym init_task")
    assert p.returncode == 2
    assert one_line(p.stderr) == _refusal(f, mine["_stext"] + shift, mine["_stext"])


@pytest.mark.parametrize("suite", SUITES)
def test_kallsyms_without_vmcoreinfo_names_checked_by_kerneloffset(dumps, suite: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With none of VMCOREINFO's SYMBOL() names in the file, _text must sit where the
    dump's KERNELOFFSET puts it: the same file shifted is refused, unshifted accepted."""
    d = dumps[suite]
    kept = [
        line for line in (d.truth / "kallsyms").read_text().splitlines()
        if line.split()[2] not in VMCOREINFO_NAMES
    ]
    same = write_kallsyms(tmp_path / "same", kept)
    p = kdbg("-c", str(d.path), "--kallsyms", str(same), "-x", "sym init_task")
    assert p.returncode == 0, p.stderr
    shift = 0x200000
    moved = write_kallsyms(tmp_path / "moved", _shifted(kept, shift))
    text = truth_symbols(d.truth)["_text"]
    p = kdbg("-c", str(d.path), "--kallsyms", str(moved), "-x", "sym init_task")
    assert p.returncode == 2
    assert one_line(p.stderr) == (
        f"kdbg: kallsyms file {moved} is not this dump's: _text is {text + shift:#x} there but the "
        f"dump's KERNELOFFSET puts it at {text:#x} (a kallsyms file from another boot?)"
    )


@pytest.mark.parametrize("suite", SUITES)
def test_kallsyms_banner_must_read_the_dumps_release(dumps, suite: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without VMCOREINFO's names and _text, linux_banner decides: the dump's own address
    passes; pointing it at linux_proc_banner (another string) is refused."""
    d = dumps[suite]
    truth = truth_symbols(d.truth)
    kept = [
        line for line in (d.truth / "kallsyms").read_text().splitlines()
        if line.split()[2] not in VMCOREINFO_NAMES | {"_text"}
    ]
    p = kdbg("-c", str(d.path), "--kallsyms", str(write_kallsyms(tmp_path / "ok", kept)), "-x", "sym init_task")
    assert p.returncode == 0, p.stderr
    bad = [
        f"{truth['linux_proc_banner']:016x} D linux_banner" if line.split()[2] == "linux_banner" else line
        for line in kept
    ]
    f = write_kallsyms(tmp_path / "bad", bad)
    release = (d.truth / "uname").read_text().strip()
    p = kdbg("-c", str(d.path), "--kallsyms", str(f), "-x", "sym init_task")
    assert p.returncode == 2
    assert re.fullmatch(
        rf"kdbg: kallsyms file {re.escape(str(f))} is not this dump's: linux_banner there reads "
        rf"'[^\n]*', not the dump's release {re.escape(release)} \(a kallsyms file from another kernel\?\)",
        one_line(p.stderr),
    ), p.stderr


# ---------------------------------------------------------------------------- BTF


@pytest.mark.parametrize("suite", SUITES)
def test_btf_of_the_dumps_kernel_is_accepted(dumps, suite: str) -> None:  # type: ignore[no-untyped-def]
    d = dumps[suite]
    p = kdbg("-c", str(d.path), "--btf", str(d.truth / "btf" / "vmlinux"), "-x", "ptype struct list_head")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    assert p.stdout.startswith("struct list_head {")


def test_btf_of_the_same_kernel_from_another_boot_is_accepted(dumps) -> None:  # type: ignore[no-untyped-def]
    d = dumps["bookworm"]
    other = resolve_crash_dump("bookworm", "panic", "kdump-zlib")
    assert (d.truth / "uname").read_text() == (other.truth / "uname").read_text()
    p = kdbg("-c", str(other.path), "--btf", str(d.truth / "btf" / "vmlinux"), "-x", "ptype struct list_head")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


@pytest.mark.parametrize("suite,other", pairs())
def test_btf_of_another_kernel_is_refused(dumps, suite: str, other: str) -> None:  # type: ignore[no-untyped-def]
    d, o = dumps[suite], dumps[other]
    syms = truth_symbols(d.truth)
    own = syms["__stop_BTF"] - syms["__start_BTF"]
    given = o.truth / "btf" / "vmlinux"
    p = kdbg("-c", str(d.path), "--btf", str(given), "-x", "ptype struct list_head")
    assert p.returncode == 2
    assert p.stdout == ""
    assert one_line(p.stderr) == (
        f"kdbg: BTF file {given} is not the BTF of this dump's kernel: {given.stat().st_size} bytes, "
        f"the dump's own (__start_BTF..__stop_BTF) is {own} bytes"
    )


@pytest.mark.parametrize("suite", SUITES)
def test_btf_of_the_same_size_with_other_bytes_is_refused(dumps, suite: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One type renamed (still valid BTF, same size): not the dump's kernel's BTF."""
    d = dumps[suite]
    data = bytearray((d.truth / "btf" / "vmlinux").read_bytes())
    at = data.index(b"\0task_struct\0") + 1
    data[at] = ord("T")
    f = tmp_path / "vmlinux"
    f.write_bytes(bytes(data))
    p = kdbg("-c", str(d.path), "--btf", str(f), "-x", "ptype struct list_head")
    assert p.returncode == 2
    assert one_line(p.stderr) == (
        f"kdbg: BTF file {f} is not the BTF of this dump's kernel: same size, but it differs "
        f"from the dump's own BTF from byte {at:#x} on"
    )


def _layout(btf: Path, kind: str, name: str, member: str) -> int:
    """``sizeof`` (``member`` empty) or ``offsetof`` of a direct member, per bpftool."""
    for t in parse_raw(bpftool_raw(btf)).values():
        if t.kind == kind.upper() and t.name == name:
            if not member:
                return int(t.attrs["size"])
            for line in t.lines:
                m = re.match(rf"^'{re.escape(member)}' type_id=\d+ bits_offset=(\d+)", line)
                if m:
                    return int(m.group(1)) // 8
    raise AssertionError(f"bpftool shows no {kind} {name} {member} in {btf}")


@pytest.mark.parametrize("suite,other", pairs())
def test_btf_layouts_checked_when_the_dumps_btf_cannot_be_found(dumps, suite: str, other: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A kallsyms file without __start_BTF/__stop_BTF hides the dump's own BTF: the BTF
    given must then agree with VMCOREINFO's SIZE()/OFFSET() entries. The dump's kernel's
    own BTF does; another kernel's is refused on a size or offset, and bpftool confirms both
    values (the dump's kernel's BTF agrees with its VMCOREINFO)."""
    d, o = dumps[suite], dumps[other]
    kept = [
        line for line in (d.truth / "kallsyms").read_text().splitlines()
        if line.split()[2] not in ("__start_BTF", "__stop_BTF")
    ]
    ks = write_kallsyms(tmp_path / "kallsyms", kept)
    own = d.truth / "btf" / "vmlinux"
    p = kdbg("-c", str(d.path), "--kallsyms", str(ks), "--btf", str(own), "-x", "ptype struct list_head")
    assert p.returncode == 0, p.stderr
    given = o.truth / "btf" / "vmlinux"
    p = kdbg("-c", str(d.path), "--kallsyms", str(ks), "--btf", str(given), "-x", "ptype struct list_head")
    assert p.returncode == 2
    m = re.fullmatch(
        rf"kdbg: BTF file {re.escape(str(given))} is not the BTF of this dump's kernel: "
        r"(?:sizeof\((struct|union) (\w+)\)|offsetof\((struct|union) (\w+), (\w+)\)) "
        r"is (\d+) in it but (\d+) in the dump's VMCOREINFO",
        one_line(p.stderr),
    )
    assert m, p.stderr
    kind, name = m.group(1) or m.group(3), m.group(2) or m.group(4)
    member, got, want = m.group(5) or "", int(m.group(6)), int(m.group(7))
    assert got != want
    assert _layout(given, kind, name, member) == got
    assert _layout(own, kind, name, member) == want
