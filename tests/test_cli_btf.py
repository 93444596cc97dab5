"""The command line for types: ``kdbg --btf ... -x 'ptype ...' / 'btf dump' / 'btf min'``.

Run as a user would (a subprocess), checked against bpftool and gcc.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from tests.btf_truth import bpftool_raw

HOST_BTF = "/sys/kernel/btf/vmlinux"


def kdbg(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "kdbg", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"kdbg {args} exited {p.returncode}: {p.stderr}")
    return p


def test_ptype_struct() -> None:
    out = kdbg("--btf", HOST_BTF, "-x", "ptype struct list_head").stdout
    assert out.splitlines()[0] == "struct list_head {"
    assert "struct list_head *next;" in out and "/* size: 16, members: 2 */" in out


def test_ptype_function_and_bare_name() -> None:
    p = kdbg("--btf", HOST_BTF, "-x", "ptype vfs_read", "-x", "ptype task_struct")
    lines = p.stdout.splitlines()
    assert lines[0] == "ssize_t vfs_read(struct file *file, char *buf, size_t count, loff_t *pos);"
    assert lines[1] == "struct task_struct {"


def test_raw_dump_equals_bpftool() -> None:
    assert kdbg("--btf", HOST_BTF, "-x", "btf dump --format raw").stdout == bpftool_raw(Path(HOST_BTF))


def test_raw_dump_of_named_types() -> None:
    out = kdbg("--btf", HOST_BTF, "-x", "btf dump --format raw struct list_head").stdout
    truth = bpftool_raw(Path(HOST_BTF)).splitlines()
    start = next(i for i, line in enumerate(truth) if " STRUCT 'list_head' " in line)
    assert out.splitlines() == truth[start : start + 3]


def test_btf_min_is_accepted_by_bpftool(tmp_path: Path) -> None:
    out = tmp_path / "min.btf"
    p = kdbg("--btf", HOST_BTF, "-x", f"btf min struct task_struct -o {out}")
    assert "wrote" in p.stderr
    raw = bpftool_raw(out)
    assert "STRUCT 'task_struct' size=" in raw
    # re-read by kdbg: same layout as the full BTF
    full = kdbg("--btf", HOST_BTF, "-x", "ptype struct task_struct").stdout
    small = kdbg("--btf", str(out), "-x", "ptype struct task_struct").stdout
    assert small == full


def test_header_compiles_with_gcc(tmp_path: Path) -> None:
    h = tmp_path / "vmlinux.h"
    h.write_text(kdbg("--btf", HOST_BTF, "-x", "btf dump --format c").stdout)
    subprocess.run(["gcc", "-fsyntax-only", "-x", "c", str(h)], check=True)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--btf", "/nonexistent.btf"], "No such file"),
        (["--btf", "{trunc}"], "runs past the data"),
        (["--btf", "{garbage}"], "not BTF"),
        (["--btf", "{badversion}"], "unsupported version"),
    ],
)
def test_bad_btf_one_line_exit_2(tmp_path: Path, args: List[str], message: str) -> None:
    data = Path(HOST_BTF).read_bytes()
    files = {
        "{trunc}": data[:5000],
        "{garbage}": b"hello world" * 10,
        "{badversion}": data[:2] + b"\x07" + data[3:],
    }
    real = []
    for a in args:
        if a in files:
            f = tmp_path / a.strip("{}")
            f.write_bytes(files[a])
            a = str(f)
        real.append(a)
    p = kdbg(*real, "-x", "ptype struct list_head", check=False)
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kdbg: ") and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_unknown_type_exit_1() -> None:
    p = kdbg("--btf", HOST_BTF, "-x", "ptype struct no_such_thing", check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == "kdbg: unknown type 'struct no_such_thing'"


def test_bad_usage_exit_2() -> None:
    p = kdbg("--no-such-flag", check=False)
    assert p.returncode == 2 and p.stderr.startswith("kdbg: ")
    p = kdbg("--btf", HOST_BTF, "-x", "btf dump --format pdf", check=False)
    assert p.returncode == 1 and "invalid choice" in p.stderr


def test_live_host_without_kcore_says_memory_unavailable() -> None:
    """This machine has no /proc/kcore: kdbg still starts with types and symbols."""
    assert not Path("/proc/kcore").exists()
    p = kdbg("-x", "ptype struct list_head")
    assert "struct list_head {" in p.stdout
    notices = [line for line in p.stderr.splitlines() if "kcore" in line]
    assert len(notices) == 1, p.stderr
