"""The generator's fast scan for top-level variables (``tools.dwarf_globals._DieSkipper``)
finds exactly the ``DW_TAG_variable`` children of each CU's top DIE that pyelftools finds
by parsing every DIE, and so the struct and union ones the same pass hands to the
zero-length-array reader (``tools.vmlinux_dwarf``), on objects gcc builds here (DWARF 4 and 5, static and global
variables among types, functions with bodies and nested scopes)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest
from elftools.elf.elffile import ELFFile

from tests.cli_support import clean_env
from tools.dwarf_globals import _DieSkipper

pytestmark = pytest.mark.timeout(300)

SOURCE = r"""
#include <stddef.h>
struct inner { int a; char b[3]; union { long l; void *p; } u; unsigned bf : 3; };
struct outer { struct inner in[4]; struct outer *next; void (*fn)(int, ...); };
enum colour { RED = -1, GREEN = 1u << 31 };
typedef struct outer outer_t;
static int counter;
int table[16] = {1, 2, 3};
const char *const names[] = {"a", "bb", "ccc"};
outer_t head = { .next = &head };
static struct { int x; enum colour c; } anon_static = { 3, GREEN };
extern int declared_elsewhere;
_Thread_local long per_thread;
static int helper(struct inner *p, int n) {
    static int calls;
    int sum = 0;
    for (int i = 0; i < n; i++) { struct inner tmp = p[i]; sum += tmp.a + calls++; }
    return sum + declared_elsewhere;
}
int use(void) { return helper(head.in, 4) + counter + anon_static.x + (int)per_thread; }
double vals[2][3] = {{1.0}};
"""


TAGS = ("DW_TAG_variable", "DW_TAG_structure_type", "DW_TAG_union_type")


def _by_pyelftools(path: Path) -> List[Tuple[str, str, int]]:
    out = []
    with open(path, "rb") as f:
        dwarf = ELFFile(f).get_dwarf_info(relocate_dwarf_sections=False)
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            out += [(cu.get_top_DIE().attributes["DW_AT_name"].value.decode(), d.tag, d.offset)
                    for d in top.iter_children() if d.tag in TAGS]
    return out


def _by_skipper(path: Path) -> List[Tuple[str, str, int]]:
    out = []
    with open(path, "rb") as f:
        dwarf = ELFFile(f).get_dwarf_info(relocate_dwarf_sections=False)
        data = dwarf.debug_info_sec.stream.getvalue()
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            out += [(top.attributes["DW_AT_name"].value.decode(), tag, at)
                    for tag, at in _DieSkipper(data, cu).top_children(top, TAGS)]
    return out


@pytest.mark.parametrize("flags", [["-gdwarf-4"], ["-gdwarf-5"], ["-gdwarf-5", "-O2"], ["-gdwarf-4", "-g3"]])
def test_skipper_finds_what_pyelftools_finds(tmp_path: Path, flags: List[str]) -> None:
    src = tmp_path / "vars.c"
    src.write_text(SOURCE)
    obj = tmp_path / "vars.o"
    subprocess.run(["gcc", "-c", *flags, "-o", str(obj), str(src)], check=True, env=clean_env(), timeout=120)
    want = _by_pyelftools(obj)
    assert sum(1 for _cu, tag, _at in want if tag == "DW_TAG_variable") >= 8  # globals, statics, the extern
    assert sum(1 for _cu, tag, _at in want if tag != "DW_TAG_variable") >= 3  # inner, outer, the anonymous one
    assert _by_skipper(obj) == want


@pytest.mark.parametrize("flags", [["-gdwarf-4"], ["-gdwarf-5"]])
def test_names_read_from_the_bytes_are_pyelftools_names(tmp_path: Path, flags: List[str]) -> None:
    """The name and declaration flag the skipper reads of a top-level DIE (to pass a struct
    or union on only once per name) are what pyelftools parses (or it says it cannot)."""
    src = tmp_path / "vars.c"
    src.write_text(SOURCE + "struct later; struct later *fwd; struct ab { int a; }; struct ab ab_var;\n")
    exe = tmp_path / "vars.so"  # linked: an object's .debug_str offsets are relocations
    subprocess.run(["gcc", *flags, "-shared", "-fPIC", "-o", str(exe), str(src)], check=True, env=clean_env(),
                   timeout=120)  # fmt: skip
    read = 0
    with open(exe, "rb") as f:
        dwarf = ELFFile(f).get_dwarf_info(relocate_dwarf_sections=False)
        data = dwarf.debug_info_sec.stream.getvalue()
        strings = dwarf.debug_str_sec.stream.getvalue()
        for cu in dwarf.iter_CUs():
            top = cu.get_top_DIE()
            skipper = _DieSkipper(data, cu)
            for d in top.iter_children():
                if d.tag not in TAGS:
                    continue
                got = skipper.name_of(d.offset, strings)
                if got is None:
                    continue
                read += 1
                name = d.attributes["DW_AT_name"].value.decode() if "DW_AT_name" in d.attributes else ""
                assert got == (name, "DW_AT_declaration" in d.attributes), d
    assert read >= 10
