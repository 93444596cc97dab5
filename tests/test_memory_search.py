"""drgn's memory search (``prog.search_memory``, ``search_memory_u16/u32/u64/word``,
``search_memory_regex``, ``MemorySearchIterator.set_address_range`` and the default-program
functions of the ``drgn`` module) against drgn 0.3.0 with Debian's DWARF on the same dump,
on the three reference kernels: the same matches in the same order, or the same error
class. Then against the guest: the VMCOREINFO note where the guest's
``/sys/kernel/vmcoreinfo`` put it, and its ``/proc/version`` and command line in memory.
Then on makedumpfile's filtered dumps (``-d 31``, kdump and ELF) of the same memory: every
match is one drgn found on the whole dump, and each of drgn's matches not found there is
on a page the filtered dump cannot read.
"""

from __future__ import annotations

from typing import Dict, List

import pytest

from kdbg.errors import FaultError
from tests.helpers_compare import drgn_answers, mismatches, oracle_program
from tests.helpers_support import open_dump
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES

pytestmark = pytest.mark.timeout(1800)

IT = "prog['init_task'].address_"
#: Around ``init_task`` in the kernel image: a virtual range outside the direct map.
NEAR_IT = f"{IT} - 0x100000, {IT} + 0x100000"


def _hex(search: str) -> str:
    return f"[hex(a) for a in {search}]"


def _pairs(search: str) -> str:
    return f"[(hex(a), v) for a, v in {search}]"


def _default(text: str) -> str:
    """``text`` evaluated with ``prog`` as the default program (the ``drgn`` module's
    functions), which is then unset."""
    return f"(drgn.set_default_prog(prog), {text}, drgn.set_default_prog(None))[1]"


CASES: Dict[str, str] = {
    # byte strings: the direct map by default, physical addresses when asked
    "bytes": _hex("prog.search_memory(b'VMCOREINFO')"),
    "bytes_physical": _hex("prog.search_memory(b'VMCOREINFO').set_address_range(physical=True)"),
    "bytes_aligned": _hex("prog.search_memory(b'VMCOREINFO', alignment=4)"),
    "str_aligned": _hex("prog.search_memory('Linux version', alignment=8)"),
    "bytes_direct_map_range": _hex("prog.search_memory(b'VMCOREINFO').set_address_range("
                                   "prog['page_offset_base'].value_(), prog['page_offset_base'].value_() + 0x4000000)"),
    "bytes_image_range": _hex(f"prog.search_memory(b'swapper').set_address_range({NEAR_IT})"),
    "bytes_unmapped_range": _hex("prog.search_memory(b'swapper').set_address_range(0xffffc90000000000, "
                                 "0xffffc90000100000)"),
    "reused": "(lambda it: [[hex(a) for a in it.set_address_range(physical=True)], [hex(a) for a in "
              "it.set_address_range()]])(prog.search_memory(b'VMCOREINFO'))",
    # an integer is a program word; an object is its value, its size and alignment
    "int": _hex(f"prog.search_memory({IT})"),
    "pointer_object": _hex("prog.search_memory(prog['init_task'].tasks.next)"),
    "array_object": _hex("prog.search_memory(prog['init_task'].comm)"),
    "short_object": _hex(f"prog.search_memory(Object(prog, 'unsigned short', prog.read_u16({IT})))"
                         f".set_address_range({NEAR_IT})"),
    # integers: values, ranges, ignored bits
    "word_in_range": _pairs(f"prog.search_memory_word({IT}).set_address_range({NEAR_IT})"),
    "word_range": _pairs(f"prog.search_memory_word(({IT}, {IT} + 0x1000)).set_address_range({NEAR_IT})"),
    "word_poison": _pairs("prog.search_memory_word(0xdead000000000100, 0xdead000000000122)"),
    "word_mask": _pairs("prog.search_memory_word(0xdead000000000000, ignore_mask=0xffff)"),
    "u64": _pairs(f"prog.search_memory_u64({IT}, prog['init_task'].stack.value_())"),
    "u32": _pairs("prog.search_memory_u32(0xdead4ead, 0x8086)"),
    "u16": _pairs("prog.search_memory_u16(0x1234, 0xbeef)"),
    "u16_low_byte": _pairs(f"prog.search_memory_u16(0, ignore_mask=0xff00).set_address_range({IT}, {IT} + 0x400)"),
    "u32_wide_range": _pairs(f"prog.search_memory_u32((1, 0x10000000)).set_address_range({IT}, {IT} + 0x2000)"),
    "u64_one_point_range": _pairs(f"prog.search_memory_u64(({IT}, {IT})).set_address_range({NEAR_IT})"),
    "physical_word": _pairs(f"prog.search_memory_word(({IT} - 0x1000, {IT} + 0x1000)).set_address_range("
                            "0, 0x4000000, physical=True)"),
    # regular expressions
    "regex_bytes": _pairs("prog.search_memory_regex(rb'Linux version [0-9][^ ]*')"),
    "regex_str": _pairs("prog.search_memory_regex('Linux version [0-9.]+')"),
    "regex_physical": _pairs("prog.search_memory_regex(rb'BUILD-ID=[0-9a-f]+').set_address_range(physical=True)"),
    # the drgn module's functions: the default program, or the object's
    "drgn_bytes": _default(_hex("drgn.search_memory(b'VMCOREINFO')")),
    "drgn_word": _default(_pairs("drgn.search_memory_word(0xdead000000000100)")),
    "drgn_u32": _default(_pairs("drgn.search_memory_u32(0x8086)")),
    "drgn_regex": _default(_pairs("drgn.search_memory_regex(rb'BUILD-ID=[0-9a-f]+')")),
    "drgn_object": _hex("drgn.search_memory(prog['init_task'].tasks.next)"),
    # bad arguments: drgn's error classes
    "empty": "list(prog.search_memory(b''))",
    "alignment_3": "list(prog.search_memory(b'x', alignment=3))",
    "alignment_with_int": "list(prog.search_memory(1, alignment=2))",
    "no_values": "list(prog.search_memory_word())",
    "too_big": "list(prog.search_memory_u16(1 << 16))",
    "negative": "list(prog.search_memory_u32(-1))",
    "bad_tuple": "list(prog.search_memory_u16((1, 2, 3)))",
    "float": "list(prog.search_memory(1.5))",
    "min_above_max": "list(prog.search_memory(b'x').set_address_range(5, 4))",
}


@pytest.mark.parametrize("suite", SUITES)
def test_search_as_drgn(suite: str) -> None:
    """Every case's matches (or error class) are drgn's; every mismatch is listed."""
    differ = mismatches(suite, CASES)
    assert differ == {}, "\n".join(f"{k}:\n  kdbg {str(o)[:400]}\n  drgn {str(t)[:400]}"
                                   for k, (o, t) in differ.items())
    theirs = drgn_answers(suite, CASES)
    empty = [k for k in ("bytes", "int", "word_in_range", "word_poison", "regex_bytes", "u16_low_byte",
                         "u32_wide_range", "physical_word", "short_object", "drgn_u32") if not theirs[k].get("value")]
    assert not empty, f"{suite}: drgn found nothing for {empty}: the cases test nothing"


@pytest.mark.parametrize("suite", SUITES)
def test_search_finds_what_the_guest_says(suite: str) -> None:
    """The VMCOREINFO note is where the guest's ``/sys/kernel/vmcoreinfo`` says (the note's
    name follows its 12-byte header); the guest's ``/proc/version`` and command line are in
    its memory, the command line at ``saved_command_line``."""
    prog = oracle_program(suite)
    truth = oracle_dump(suite).truth
    note = int((truth / "vmcoreinfo-sysfs").read_text().split()[0], 16)
    assert note + 12 in list(prog.search_memory(b"VMCOREINFO").set_address_range(physical=True))
    version = (truth / "version").read_text().strip().encode()
    assert list(prog.search_memory(version))
    release = version.split()[2]
    found = [m for _a, m in prog.search_memory_regex(rb"Linux version \S+")]
    assert b"Linux version " + release in found, found
    cmdline = (truth / "cmdline").read_text().strip().encode()
    assert prog["saved_command_line"].value_() in list(prog.search_memory(cmdline + b"\0"))


FILTERED = [("kdump-zlib-d31", "makedumpfile"), ("elf-d31", "makedumpfile")]
SUBSET_CASES = {k: CASES[k] for k in ("bytes", "int", "pointer_object", "word_poison", "regex_bytes", "u16")}


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("form,tool", FILTERED)
def test_filtered_dump_finds_what_it_holds(suite: str, form: str, tool: str) -> None:
    """On a filtered dump of the same memory, the matches are drgn's on the whole dump
    less those on pages the filter dropped (which the filtered dump cannot read)."""
    theirs = drgn_answers(suite, SUBSET_CASES)
    prog = open_dump(suite, form, tool)
    problems: List[str] = []
    dropped = 0
    for key, text in SUBSET_CASES.items():
        whole = [a if isinstance(a, str) else a[0] for a in theirs[key]["value"]]
        ours = [a if isinstance(a, str) else a[0] for a in eval(text, {"prog": prog})]  # noqa: S307
        if [a for a in whole if a in set(ours)] != ours:
            problems.append(f"{key}: kdbg found {sorted(set(ours) - set(whole))[:5]} drgn did not, or out of order")
        for address in sorted(set(whole) - set(ours)):
            dropped += 1
            try:
                prog.read(int(address, 16), 1)
            except FaultError:
                continue
            problems.append(f"{key}: {address} is readable on the {form} dump but not found")
    assert not problems, f"{suite} {form}:\n" + "\n".join(problems)
    assert dropped, f"{suite} {form}: the filter dropped no match: the test shows nothing"
