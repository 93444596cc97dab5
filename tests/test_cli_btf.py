"""The command line for types: ``kdbg --btf ... -x 'ptype ...' / 'btf dump' / 'btf min'``.

Run as a user would (a subprocess), checked against bpftool, pahole and gcc.  The BTF is
Linux 6.18's, shipped as ``tests/data/vmlinux-6.18.btf.xz``, never the running kernel's.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import List

import pytest

from tests.btf_truth import bpftool_raw, layout, pahole_struct
from tests.cli_support import clean_env, run_kdbg

SAMPLE_KALLSYMS = Path(__file__).resolve().parent.parent / "vmcores" / "sample" / "truth" / "kallsyms"


@pytest.fixture(scope="module")
def btf(btf618_path: Path) -> str:
    """Path of the shipped Linux 6.18 BTF, as a command-line argument."""
    return str(btf618_path)


def kdbg(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = run_kdbg(*args)
    if check and p.returncode != 0:
        raise AssertionError(f"kdbg {args} exited {p.returncode}: {p.stderr}")
    return p


def test_ptype_struct(btf: str) -> None:
    out = kdbg("--btf", btf, "-x", "ptype struct list_head").stdout
    assert out.splitlines()[0] == "struct list_head {"
    assert "struct list_head *next;" in out and "/* size: 16, members: 2 */" in out


def test_ptype_function_and_bare_name(btf: str) -> None:
    p = kdbg("--btf", btf, "-x", "ptype vfs_read", "-x", "ptype task_struct")
    lines = p.stdout.splitlines()
    assert lines[0] == "ssize_t vfs_read(struct file *file, char *buf, size_t count, loff_t *pos);"
    assert lines[1] == "struct task_struct {"


def test_raw_dump_equals_bpftool(btf: str) -> None:
    assert kdbg("--btf", btf, "-x", "btf dump --format raw").stdout == bpftool_raw(Path(btf))


def test_raw_dump_of_named_types(btf: str) -> None:
    out = kdbg("--btf", btf, "-x", "btf dump --format raw struct list_head").stdout
    truth = bpftool_raw(Path(btf)).splitlines()
    start = next(i for i, line in enumerate(truth) if " STRUCT 'list_head' " in line)
    assert out.splitlines() == truth[start : start + 3]


@pytest.mark.parametrize("struct", ["task_struct", "sk_buff"])
def test_btf_min_keeps_the_layout(btf: str, tmp_path: Path, struct: str) -> None:
    """``btf min`` writes BTF that bpftool accepts and in which pahole finds the same
    layout as in the full BTF; kdbg's ptype of it agrees with pahole too."""
    out = tmp_path / "min.btf"
    p = kdbg("--btf", btf, "-x", f"btf min struct {struct} -o {out}")
    assert "wrote" in p.stderr
    raw = bpftool_raw(out)
    assert f"STRUCT '{struct}' size=" in raw
    assert raw.count("\n[") < bpftool_raw(Path(btf)).count("\n[") // 10  # reduced
    full = layout(pahole_struct(Path(btf), struct))
    assert len(full) > 100
    assert layout(pahole_struct(out, struct)) == full
    small = kdbg("--btf", str(out), "-x", f"ptype struct {struct}").stdout
    assert layout(small) == full


def test_header_compiles_with_gcc(btf: str, tmp_path: Path) -> None:
    h = tmp_path / "vmlinux.h"
    h.write_text(kdbg("--btf", btf, "-x", "btf dump --format c").stdout)
    subprocess.run(["gcc", "-fsyntax-only", "-x", "c", str(h)], check=True, env=clean_env())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--btf", "/nonexistent.btf"], "No such file"),
        (["--btf", "{trunc}"], "runs past the data"),
        (["--btf", "{garbage}"], "not BTF"),
        (["--btf", "{badversion}"], "unsupported version"),
    ],
)
def test_bad_btf_one_line_exit_2(btf618_bytes: bytes, tmp_path: Path, args: List[str], message: str) -> None:
    data = btf618_bytes
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


def test_unknown_type_exit_1(btf: str) -> None:
    p = kdbg("--btf", btf, "-x", "ptype struct no_such_thing", check=False)
    assert p.returncode == 1
    assert p.stderr.strip() == "kdbg: ptype: could not find 'struct no_such_thing'"


def test_bad_usage_exit_2(btf: str) -> None:
    p = kdbg("--no-such-flag", check=False)
    assert p.returncode == 2 and p.stderr.startswith("kdbg: ")
    p = kdbg("--btf", btf, "-x", "btf dump --format pdf", check=False)
    assert p.returncode == 1 and "invalid choice" in p.stderr


def test_live_kernel_without_kcore_says_memory_unavailable(
    btf: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A live kernel whose kcore cannot be opened: kdbg still starts with types and
    symbols, says once that memory is unavailable and why, and a read fails in one line.

    The command line has no option naming the kcore path (the contract's live target is
    /proc/kcore), so the live target is opened in-process through ``open_live(kcore=...)``
    aimed at a path that does not exist, and with the shipped BTF and a guest's kallsyms in
    place of the host's, so the outcome does not depend on this host.
    """
    import kdbg.target
    from kdbg.ui import cli

    missing = tmp_path / "no" / "kcore"
    monkeypatch.setattr(
        kdbg.target, "open_live",
        functools.partial(kdbg.target.open_live, btf=[btf], kallsyms=str(SAMPLE_KALLSYMS), kcore=str(missing)),
    )  # fmt: skip
    addr = next(ln.split()[0] for ln in SAMPLE_KALLSYMS.read_text().splitlines() if ln.endswith(" init_task"))

    assert cli.main(["-x", "ptype struct list_head", "-x", "sym init_task"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("struct list_head {\n") and f"{addr} (D) init_task" in out, out
    notices = err.strip().splitlines()
    assert len(notices) == 1 and notices[0].startswith("kdbg: "), err
    assert f"{missing} does not exist" in notices[0] and "memory is unavailable" in notices[0]

    # A memory read on a target without memory is a target error (CoreError): exit 2.
    assert cli.main(["-q", "-x", "rd init_task 2"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and lines[0].startswith("kdbg: "), err
    assert "memory is unavailable" in lines[0] and str(missing) in lines[0], err
    assert lines[0].count("unavailable") == 1, err
