"""Typed objects on the real reference dumps, checked against what the guest itself said.

Every suite (5.10, 6.1, 6.12) in ELF and kdump form: ``init_task.comm`` prints exactly as
drgn prints it, walking ``init_task.tasks`` by hand with ``container_of`` finds every
(pid, comm) of the guest's ``ps`` (a kernel thread's ``/proc`` comm may be longer than
the 15 characters ``task_struct.comm`` holds, or carry a ``+workqueue`` or ``-workqueue`` suffix),
``init_uts_ns`` gives the guest's ``uname -r``, per-CPU variables sit at the offsets the
guest's ``/proc/kallsyms`` lists, functions at their addresses. Unreadable addresses raise
``FaultError`` naming the address, while printing a structure that holds a garbage pointer
prints the pointer. ``init_task`` and ``init_uts_ns`` are not BTF VARs (only per-CPU
variables are), so the tests declare them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

import kdbg
from kdbg import FaultError, Object, UntypedSymbolError, container_of
from kdbg.core.program import Program
from tests.cli_support import clean_env
from tests.conftest import ROOT, dump_id
from tests.helpers_support import comm_matches

DUMPS = [(suite, form, "qemu") for suite in ("bookworm", "trixie", "bullseye") for form in ("elf", "kdump-zlib")]
BAD = 0xDEAD000000000000


@pytest.fixture(scope="module")
def opened(reference_dump: object) -> Iterator[Tuple[Program, Path]]:
    prog = kdbg.open_core(str(reference_dump.path))  # type: ignore[attr-defined]
    prog.declare("struct task_struct init_task; struct uts_namespace init_uts_ns;")
    yield prog, reference_dump.truth  # type: ignore[attr-defined]
    prog.close()


def truth_kallsyms(truth: Path) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        if "\t" not in line:
            addr, _typ, name = line.split(" ")
            out.setdefault(name, int(addr, 16))
    return out


dumps = pytest.mark.parametrize("reference_dump", DUMPS, ids=dump_id, indirect=True)


@dumps
def test_comm_from_the_command_line(reference_dump: object) -> None:
    code = 'prog.declare("struct task_struct init_task;") or prog["init_task"].comm'
    r = subprocess.run(
        [sys.executable, "-m", "kdbg", "-c", str(reference_dump.path), "-e", code],  # type: ignore[attr-defined]
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=clean_env(),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == '(char [16])"swapper/0"\n'


@dumps
def test_init_task_members(opened: Tuple[Program, Path]) -> None:
    prog, _truth = opened
    init = prog["init_task"]
    assert str(init.pid) == "(pid_t)0"
    assert init.comm.string_() == b"swapper/0"
    assert init.pid.value_() == 0 and int(init.pid) == 0
    assert init.type_.type_name() == "struct task_struct"
    text = str(init)
    assert text.startswith("(struct task_struct){\n\t.thread_info = (struct thread_info){\n\t\t.flags = ")
    assert '\t.comm = (char [16])"swapper/0",\n' in text
    assert str(init.address_of_()).startswith(
        f"*(struct task_struct *)(init_task+0x0 = {init.address_:#x}) = {{\n\t.thread_info = (struct thread_info){{\n")


@dumps
def test_task_list_walk_matches_ps(opened: Tuple[Program, Path]) -> None:
    prog, truth = opened
    init = prog["init_task"]
    head = init.tasks.address_of_()
    pos = init.tasks.next
    ours: Dict[int, str] = {}
    for _ in range(100_000):
        if pos == head:
            break
        task = container_of(pos, "struct task_struct", "tasks")
        ours[int(task.pid)] = task.comm.string_().decode()
        pos = task.tasks.next
    else:
        raise AssertionError("task list does not end")
    listed: List[dict] = json.loads((truth / "ps.json").read_text())
    missing = [p for p in listed if p["pid"] not in ours]
    assert not missing
    wrong = [(p["pid"], p["comm"], ours[p["pid"]]) for p in listed if not comm_matches(p["comm"], ours[p["pid"]])]
    assert not wrong
    assert ours[1] == "init"


@dumps
def test_uts_release(opened: Tuple[Program, Path]) -> None:
    prog, truth = opened
    release = prog["init_uts_ns"].name.release
    assert release.string_().decode() == (truth / "uname").read_text().strip()
    assert str(release) == f'(char [65])"{(truth / "uname").read_text().strip()}"'


@dumps
def test_per_cpu_variable_and_function(opened: Tuple[Program, Path]) -> None:
    prog, truth = opened
    syms = truth_kallsyms(truth)
    if "runqueues" not in prog.btf_variables():  # 5.10's BTF has no VARs at all
        prog.declare("struct rq runqueues;")
    rq = prog["runqueues"]
    assert rq.type_.type_name() == "struct rq"
    assert rq.address_ == syms["runqueues"]
    assert prog.variable("runqueues").address_ == rq.address_
    f = prog.function("vfs_read")
    assert f.address_ == syms["vfs_read"]
    assert re.fullmatch(r"\(ssize_t \(struct file \*file, char \*buf, size_t count, loff_t \*pos\)\)0x[0-9a-f]+",
                        str(f)), str(f)
    assert str(f.address_of_()).endswith(f")vfs_read+0x0 = {syms['vfs_read']:#x}")
    assert prog["vfs_read"].address_ == f.address_
    assert str(prog.constant("PIDTYPE_TGID")) == "(enum pid_type)PIDTYPE_TGID"
    assert prog["PIDTYPE_TGID"].value_() == 1


@dumps
def test_reads(opened: Tuple[Program, Path]) -> None:
    prog, _truth = opened
    init = prog["init_task"]
    addr = init.tasks.address_
    assert prog.read_u64(addr) == int(init.tasks.next) == prog.read_word(addr)
    raw = prog.read(addr, 8)
    assert prog.read_u8(addr) == raw[0]
    assert prog.read_u16(addr) == int.from_bytes(raw[:2], "little")
    assert prog.read_u32(addr) == int.from_bytes(raw[:4], "little")
    # one read for the whole object; members slice it
    calls: List[Tuple[int, int]] = []
    real = prog.read

    def counting(address: int, size: int, physical: bool = False) -> bytes:
        calls.append((address, size))
        return real(address, size, physical)

    prog.read = counting  # type: ignore[method-assign]
    try:
        task = prog["init_task"]
        value = task.read_()
        assert calls == [(task.address_, task.type_.sizeof())]
        assert (task.pid.value_(), task.comm.string_(), task.tasks.next.value_(), task.se.load.weight.value_()) == (
            value.pid.value_(), value.comm.string_(), value.tasks.next.value_(), value.se.load.weight.value_())
        assert len(calls) == 1
    finally:
        del prog.read


@dumps
def test_faults_and_garbage_pointers(opened: Tuple[Program, Path]) -> None:
    prog, _truth = opened
    bad = Object(prog, "struct list_head", address=BAD)
    with pytest.raises(FaultError) as e:
        bad.value_()
    assert e.value.address == BAD and f"{BAD:#x}" in str(e.value)
    with pytest.raises(FaultError):
        str(bad)
    with pytest.raises(FaultError):
        prog.read(BAD + 8, 4)
    assert str(Object(prog, "struct list_head *", BAD)) == f"(struct list_head *){BAD:#x}"
    assert str(Object(prog, "char *", BAD)) == f"(char *){BAD:#x}"
    # a structure holding garbage pointers prints them; dereferencing it shows the pointer
    head = Object(prog, "struct list_head", value={"next": BAD, "prev": BAD + 8})
    assert str(head) == ("(struct list_head){\n"
                         f"\t.next = (struct list_head *){BAD:#x},\n"
                         f"\t.prev = (struct list_head *){BAD + 8:#x},\n}}")
    name = Object(prog, "struct qstr", value={"name": BAD})
    assert f"\t.name = (const unsigned char *){BAD:#x},\n" in str(name)
    with pytest.raises(FaultError):
        head.next.next.value_()


def test_untyped_symbol_says_how_to_declare(btf618_path: Path, tmp_path: Path) -> None:
    ks = tmp_path / "kallsyms"
    ks.write_text("ffffffff81000000 T _stext\nffffffff82000000 D kdbg_untyped_var\nffffffff83000000 B _end\n")
    prog = kdbg.open_files(btf=[str(btf618_path)], kallsyms=str(ks))
    with pytest.raises(UntypedSymbolError) as e:
        prog["kdbg_untyped_var"]
    msg = str(e.value)
    assert "\n" not in msg and "prog.declare(" in msg and "kdbg_untyped_var" in msg
    prog.declare("struct list_head kdbg_untyped_var;")
    v = prog["kdbg_untyped_var"]
    assert v.type_.type_name() == "struct list_head" and v.address_ == 0xFFFFFFFF82000000
    with pytest.raises(kdbg.ObjectNotFoundError):
        prog["kdbg_no_such_name"]


def test_p_whatis_ptype_of_expressions(sample_dump: object) -> None:
    core = str(sample_dump.path)  # type: ignore[attr-defined]
    r = subprocess.run(
        [sys.executable, "-m", "kdbg", "-c", core,
         "-x", 'p prog.declare("struct task_struct init_task;") or prog["init_task"].comm',
         "-x", 'p prog.constant("PIDTYPE_TGID")',
         "-x", "whatis prog['runqueues'].nr_running",
         "-x", "ptype prog['runqueues'].cfs.load",
         "-x", "ptype struct load_weight"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, env=clean_env(),
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    assert out[:3] == ['(char [16])"swapper/0"', "(enum pid_type)PIDTYPE_TGID", "type = unsigned int"]
    rest = "\n".join(out[3:])
    half = rest.index("};") + 2
    assert rest[:half].startswith("struct load_weight {") and rest[:half] + "\n" == rest[half + 1:]
    bad = subprocess.run([sys.executable, "-m", "kdbg", "-c", core, "-x", "p no_such_name"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, env=clean_env())
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "NameError" in bad.stderr
