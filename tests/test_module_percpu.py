"""A loadable module's per-CPU variable, read from the ``oops`` crash dumps.

``vmcores/oops_module/kdbg_oops.c`` has ``DEFINE_PER_CPU(struct kdbg_oops_pcpu,
kdbg_oops_pcpu)`` with fields that differ per CPU, set at load for every possible CPU; the
load prints, for each CPU, the address of that CPU's copy (``%px``: the real one) and its
fields.  Ground truth is that console line and the guest's own ``/proc/kallsyms`` (the
module's per-CPU symbol: its ``mod->percpu`` offset).  Where the kernel has module BTF
(6.1, 6.12; the module is built with split BTF on the kernel's, ``dumps.json``
``module.btf``), ``prog["kdbg_oops_pcpu"]`` is typed from the module's BTF; on 5.10 it is an
untyped symbol until declared.  drgn, given Debian's DWARF vmlinux and the module's own
DWARF (the built ``kdbg_oops.ko``), reads the same copies from the ELF dump.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest

import kdbg
from kdbg.errors import UntypedSymbolError
from kdbg.helpers.cpumask import cpu_possible_mask, for_each_cpu
from kdbg.helpers.percpu import per_cpu, per_cpu_ptr
from kdbg.modules import loaded_modules
from tests.conftest import resolve_crash_dump
from vmcores.crash import crash_dir
from vmcores.crash_module import MODULE_NAME, crash_root
from vmcores.debian import SUITES, debian_dbg_vmlinux

VARIABLE = "kdbg_oops_pcpu"
FORMS = ("elf", "kdump-zlib")
MODULE_BTF = {"bookworm": True, "trixie": True, "bullseye": False}
"""Whether the kernel has module BTF (Debian's 5.10 is built without it)."""
DECLARATION = f"unsigned long {VARIABLE}[3];"
"""5.10: the struct is not in vmlinux BTF, so it is declared as its three words (``int
cpu`` and its padding, which the zeroed per-CPU copy leaves 0; ``magic``; ``tag``)."""

PCPU_LINE = re.compile(r"kdbg_oops: pcpu cpu(\d+) ([0-9a-f]{16}) cpu=(\d+) magic=(\d+) tag=(0x[0-9a-f]+)")


class Copy(NamedTuple):
    """One CPU's copy as the module printed it at load."""

    address: int
    cpu: int
    magic: int
    tag: int


def console_copies(truth: Path) -> Dict[int, Copy]:
    """``{cpu: Copy}`` from the module's load lines on the serial console."""
    out: Dict[int, Copy] = {}
    for m in PCPU_LINE.finditer((truth / "console.log").read_text(errors="replace")):
        out[int(m.group(1))] = Copy(int(m.group(2), 16), int(m.group(3)), int(m.group(4)), int(m.group(5), 16))
    return out


def kallsyms_address(truth: Path, name: str, module: str) -> int:
    """The address the guest's ``/proc/kallsyms`` gave module *module*'s symbol *name*."""
    for line in (truth / "kallsyms").read_text(errors="replace").splitlines():
        f = line.split()
        if len(f) >= 4 and f[2] == name and f[3] == f"[{module}]":
            return int(f[0], 16)
    raise AssertionError(f"{name} [{module}] is not in the guest's kallsyms")


DUMP_IDS = [(suite, form) for suite in SUITES for form in FORMS]


@pytest.fixture(scope="module", params=DUMP_IDS, ids=[f"{s}-oops-{f}" for s, f in DUMP_IDS])
def oops(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """``(suite, truth dir, Program)`` of one ``oops`` crash dump."""
    suite, form = request.param
    dump = resolve_crash_dump(suite, "oops", form)
    prog = kdbg.open_core(str(dump.path))
    yield suite, dump.truth, prog
    prog.close()


def _module_info(suite: str) -> Dict[str, object]:
    return dict(json.loads((crash_dir(suite, "oops") / "dumps.json").read_text())["module"])


def test_console_has_every_cpu(oops) -> None:  # type: ignore[no-untyped-def]
    suite, truth, prog = oops
    copies = console_copies(truth)
    assert sorted(copies) == list(for_each_cpu(cpu_possible_mask(prog)))
    assert len(copies) >= 2, "the guests have 2 CPUs: the per-CPU values must differ"
    for cpu, c in copies.items():
        assert (c.cpu, c.magic, c.tag) == (cpu, cpu * 1000 + 7, 0x6B64626700000000 + cpu)


def test_module_btf_as_expected(oops) -> None:  # type: ignore[no-untyped-def]
    suite, _truth, prog = oops
    assert _module_info(suite)["btf"] is MODULE_BTF[suite]
    loaded = loaded_modules(prog)
    assert loaded is not None
    assert (MODULE_NAME in loaded.btfs) is MODULE_BTF[suite]


def _variable(suite: str, prog: kdbg.Program) -> kdbg.Object:
    if MODULE_BTF[suite]:
        return prog[VARIABLE]
    if DECLARATION not in prog.declarations:
        with pytest.raises(UntypedSymbolError) as e:
            prog[VARIABLE]
        assert "declare it" in str(e.value) and "\n" not in str(e.value)
        prog.declare(DECLARATION)
    return prog[VARIABLE]


def test_variable_is_at_the_module_percpu_symbol(oops) -> None:  # type: ignore[no-untyped-def]
    suite, truth, prog = oops
    var = _variable(suite, prog)
    assert var.address_ == kallsyms_address(truth, VARIABLE, MODULE_NAME)


def test_typed_from_module_btf(oops) -> None:  # type: ignore[no-untyped-def]
    suite, _truth, prog = oops
    var = _variable(suite, prog)
    if not MODULE_BTF[suite]:  # typed by the declaration only
        assert var.type_.type_name() == "unsigned long [3]"
        return
    loaded = loaded_modules(prog)
    assert loaded is not None
    assert var.type_.btf is loaded.btfs[MODULE_NAME]
    assert var.type_.type_name() == "struct kdbg_oops_pcpu"
    assert [m.name for m in var.type_.members] == ["cpu", "magic", "tag"]
    assert kdbg.sizeof(var.type_) == 24


def test_per_cpu_matches_console(oops) -> None:  # type: ignore[no-untyped-def]
    suite, truth, prog = oops
    var = _variable(suite, prog)
    copies = console_copies(truth)
    got: List[Copy] = []
    for cpu in sorted(copies):
        copy = per_cpu(var, cpu)
        if MODULE_BTF[suite]:
            got.append(Copy(copy.address_, int(copy.cpu), int(copy.magic), int(copy.tag)))
        else:
            got.append(Copy(copy.address_, int(copy[0]) & 0xFFFFFFFF, int(copy[1]), int(copy[2])))
            assert int(copy[0]) >> 32 == 0
    assert got == [copies[cpu] for cpu in sorted(copies)]


def test_per_cpu_ptr_matches_console(oops) -> None:  # type: ignore[no-untyped-def]
    suite, truth, prog = oops
    ptr = _variable(suite, prog).address_of_()
    for cpu, c in console_copies(truth).items():
        p = per_cpu_ptr(ptr, cpu)
        assert int(p) == c.address
        assert p.type_ == ptr.type_
        if MODULE_BTF[suite]:
            assert int(p[0].magic) == c.magic and int(p.tag) == c.tag
        else:
            assert int(p[0][1]) == c.magic and int(p[0][2]) == c.tag


def test_per_cpu_with_the_guest_kallsyms(oops) -> None:  # type: ignore[no-untyped-def]
    """With the guest's own ``/proc/kallsyms`` as the symbol file (it lists the module's
    symbols already), the module's BTF still types the variable."""
    suite, truth, prog = oops
    other = kdbg.open_core(prog.description, kallsyms=str(truth / "kallsyms"))
    try:
        if MODULE_BTF[suite]:
            var = other[VARIABLE]
            assert var.type_.type_name() == "struct kdbg_oops_pcpu"
        else:
            with pytest.raises(UntypedSymbolError, match="declare it"):
                other[VARIABLE]
            other.declare(DECLARATION)
            var = other[VARIABLE]
        for cpu, c in console_copies(truth).items():
            assert per_cpu(var, cpu).address_ == c.address
            magic = per_cpu(var, cpu).magic if MODULE_BTF[suite] else per_cpu(var, cpu)[1]
            assert int(magic) == c.magic
    finally:
        other.close()


@pytest.mark.parametrize("suite", SUITES)
def test_drgn_with_module_dwarf_agrees(suite: str) -> None:
    """drgn (DWARF of vmlinux and of the built module) reads every CPU's copy where the
    console says it is, with the fields it printed; kdbg reads the same."""
    import drgn
    from drgn.helpers.linux.percpu import per_cpu as drgn_per_cpu

    dump = resolve_crash_dump(suite, "oops", "elf-paging")
    ko = crash_root() / "module" / dump.release / f"{MODULE_NAME}.ko"
    dprog = drgn.Program()
    dprog.set_core_dump(str(dump.path))
    dprog.load_debug_info([str(debian_dbg_vmlinux(suite)), str(ko)])
    dvar = dprog[VARIABLE]
    assert dvar.type_.type_name() == "struct kdbg_oops_pcpu"
    prog = kdbg.open_core(str(dump.path))
    try:
        var = _variable(suite, prog)
        assert var.address_ == dvar.address_
        for cpu, c in console_copies(dump.truth).items():
            d = drgn_per_cpu(dvar, cpu)
            assert Copy(d.address_, d.cpu.value_(), d.magic.value_(), d.tag.value_()) == c
            assert per_cpu(var, cpu).address_ == d.address_
    finally:
        prog.close()
