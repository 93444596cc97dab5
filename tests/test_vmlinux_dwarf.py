"""One pass over a DWARF file gives both the variables (the declaration table's truth) and
the zero-length array declarations (the zero-length list's truth), and the kdbg cache then
serves both without reading the DWARF again (``tools.vmlinux_dwarf``: each used to be a
pass of its own over a kernel's DWARF, a minute or two each). The declarations expected
are the C source's own, compiled here by gcc (DWARF 4 and 5)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, List

import pytest

import tools.vmlinux_dwarf as vd
from tests.cli_support import clean_env
from tools.dwarf_globals import iter_dwarf_variables
from tools.zero_length_arrays import dwarf_zero_length

pytestmark = pytest.mark.timeout(300)

SOURCE = r"""
struct gnu { int n; long data[0]; };
struct c99 { int n; char tail[]; };
struct nested { int kind; union { struct { int a; int zero[0]; }; struct { int b; int flex[]; }; }; };
struct plain { int x[4]; };
typedef struct gnu gnu_t;
struct holder { gnu_t *g; struct c99 *c; };
struct gnu g1;
struct c99 *c1;
struct nested n1;
struct plain p1;
static struct holder h1;
int counter = 3;
struct holder *get(void) { return &h1; }
int main(void) { return get() != 0; }
"""


@pytest.fixture(params=[["-gdwarf-4"], ["-gdwarf-5"]], ids=["dwarf4", "dwarf5"])
def obj(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KDBG_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "zl.c"
    src.write_text(SOURCE)
    out = tmp_path / "zl"  # linked, as a vmlinux is (an object's DWARF holds relocations)
    subprocess.run(["gcc", *request.param, "-o", str(out), str(src)], check=True, env=clean_env(), timeout=120)
    return out


def test_declarations_as_the_source_writes_them(obj: Path) -> None:
    got = vd.zero_length_declarations(obj)
    assert got == {
        "struct gnu.data": "[0]",
        "struct c99.tail": "[]",
        "struct {a,zero}.zero": "[0]",
        "struct {b,flex}.flex": "[]",
    }
    assert vd.zero_length_declarations(obj, ["struct gnu", "struct plain"]) == {"struct gnu.data": "[0]"}
    assert dwarf_zero_length(obj, {"struct nested"}) == {"struct {a,zero}.zero": "[0]", "struct {b,flex}.flex": "[]"}


def test_one_pass_for_both_then_the_cache(obj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passes: List[Path] = []

    def counted(path: Path, containers: Any = None) -> Any:
        passes.append(path)
        return iter_dwarf_variables(path, containers)

    monkeypatch.setattr(vd, "iter_dwarf_variables", counted)
    names = {v.name for v in vd.dwarf_variables(obj) if v.address is not None}
    assert {"g1", "c1", "n1", "p1", "h1", "counter"} <= names
    assert [v.name for v in vd.dwarf_variables(obj)] == [v.name for v in iter_dwarf_variables(obj)]
    assert vd.zero_length_declarations(obj)["struct gnu.data"] == "[0]"
    assert passes == [obj]  # the variables' pass made the declarations too; then the cache
