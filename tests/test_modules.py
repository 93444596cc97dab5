"""Loadable modules: BTF, symbols, regions, ``for_each_module`` and ``lsmod``.

Ground truth is what each reference guest printed before it was dumped: ``truth/modules``
(``/proc/modules``), the ``[module]`` lines of ``truth/kallsyms`` (``/proc/kallsyms``) and
``truth/btf/<module>`` (``/sys/kernel/btf/<module>``), plus bpftool's reading of that BTF.
Debian's 5.10 (bullseye) builds no module BTF: its modules still give symbols.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from kdbg.errors import TypeNotFoundError
from kdbg.modules import loaded_modules
from kdbg.target import open_core, open_live
from tests.cli_support import clean_env
from tests.conftest import ROOT, resolve_dump

#: (suite, form, tool): each reference suite in an ELF form and a kdump form, a dump
#: filtered by makedumpfile -d 31, and forky's Linux 7.2 (an extra suite, built on first
#: use) as ELF.
DUMPS = [
    (suite, form, "qemu")
    for suite in ("bullseye", "bookworm", "trixie")
    for form in ("elf", "kdump-zlib")
] + [("bookworm", "kdump-zlib-d31", "makedumpfile"), ("forky", "elf", "qemu")]
#: Suites whose kernels build module BTF (CONFIG_DEBUG_INFO_BTF_MODULES).
MODULE_BTF_SUITES = ("bookworm", "trixie", "forky")


def _id(d: Tuple[str, str, str]) -> str:
    return "-".join(d)


def truth_modules(truth: Path) -> List[Dict[str, object]]:
    """``/proc/modules`` lines: name, size, refcount, users, state, base, taints."""
    out = []
    for line in (truth / "modules").read_text().splitlines():
        f = line.split()
        out.append({
            "name": f[0], "size": int(f[1]), "refcount": int(f[2]),
            "users": [u for u in f[3].split(",") if u and u != "-"],
            "state": f[4], "base": int(f[5], 16),
            "taints": f[6].strip("()") if len(f) > 6 else "",
        })
    return out


def truth_module_symbols(truth: Path) -> List[Tuple[int, str, str, str]]:
    """``(address, type, name, module)`` of every ``[module]`` line of /proc/kallsyms."""
    out = []
    for line in (truth / "kallsyms").read_text().splitlines():
        m = re.match(r"^([0-9a-f]+) (\S) (\S+)\t\[(\S+)\]$", line)
        if m and m.group(4) not in ("bpf",) and not m.group(4).startswith("__builtin__"):
            out.append((int(m.group(1), 16), m.group(2), m.group(3), m.group(4)))
    return sorted(out)


@pytest.mark.parametrize("dump", DUMPS, ids=_id)
def test_module_symbols_equal_guest_kallsyms(dump: Tuple[str, str, str]) -> None:
    d = resolve_dump(*dump)
    prog = open_core(str(d.path))
    loaded = loaded_modules(prog)
    assert loaded is not None and not loaded.errors, loaded
    got = sorted((s.address, s.type, s.name, s.module) for s in prog.symbols() if s.module is not None)
    want = truth_module_symbols(d.truth)
    assert want, "the guest listed module symbols"
    assert got == want


@pytest.mark.parametrize("dump", DUMPS, ids=_id)
def test_for_each_module_equals_proc_modules(dump: Tuple[str, str, str]) -> None:
    from kdbg.helpers import find_module, for_each_module, module_address_regions, module_name
    from plugins.lsmod import module_rows

    d = resolve_dump(*dump)
    prog = open_core(str(d.path))
    want = truth_modules(d.truth)
    assert [module_name(m) for m in for_each_module(prog)] == [w["name"] for w in want]
    rows = module_rows(prog)
    for row, w in zip(rows, want, strict=True):
        for key in ("name", "size", "refcount", "users", "state", "base", "taints"):
            assert row[key] == w[key], (key, row, w)
    mod = find_module(prog, want[0]["name"])
    assert mod.value_() == rows[0]["module"]
    assert not find_module(prog, "no_such_module")
    # Regions: drgn's shape; their sizes add up to /proc/modules' size.
    regions = module_address_regions(mod)
    assert sum(n for _, n in regions) == want[0]["size"]
    assert any(start == want[0]["base"] for start, n in regions if n)


@pytest.mark.parametrize("dump", DUMPS, ids=_id)
def test_module_btf_from_memory_is_the_guests(dump: Tuple[str, str, str]) -> None:
    from kdbg.modules import read_module_btfs

    suite = dump[0]
    d = resolve_dump(*dump)
    prog = open_core(str(d.path))
    want = {p.name: p.read_bytes() for p in (d.truth / "btf").iterdir() if p.name != "vmlinux"}
    if suite not in MODULE_BTF_SUITES:
        # Debian's 5.10: no module BTF anywhere (no btf_modules list, no sysfs files).
        assert want == {} and prog.symbol_table.get("btf_modules") is None
        assert loaded_modules(prog).btfs == {}  # type: ignore[union-attr]
        with pytest.raises(TypeNotFoundError):
            prog.type("struct fw_cfg_vmcoreinfo")
        return
    got = dict(read_module_btfs(prog))
    assert set(got) == set(want) == {m["name"] for m in truth_modules(d.truth)}
    for name in want:
        assert got[name] == want[name], name
    assert [b for b in loaded_modules(prog).btfs] == list(got)  # type: ignore[union-attr]
    assert len(prog.all_btfs()) == 1 + len(want)
    assert {m.name: m.btf for m in prog.modules() if m.btf is not None and not m.is_main} == \
        loaded_modules(prog).btfs  # type: ignore[union-attr]


def _bpftool_struct(truth: Path, module: str, name: str) -> Tuple[int, int, List[Tuple[str, int]]]:
    """bpftool's (type id, size, [(member, bit offset)]) of ``struct name`` in a module's
    split BTF on the guest's vmlinux BTF."""
    out = subprocess.run(
        ["bpftool", "-B", str(truth / "btf" / "vmlinux"), "btf", "dump", "file",
         str(truth / "btf" / module), "format", "raw"],
        check=True, capture_output=True, text=True, env=clean_env()).stdout
    m = re.search(rf"^\[(\d+)\] STRUCT '{name}' size=(\d+) vlen=(\d+)\n((?:\t.*\n)*)", out, re.M)
    assert m, f"bpftool shows no struct {name}"
    members = [(mm.group(1), int(mm.group(2)))
               for mm in re.finditer(r"'(\w+)' type_id=\d+ bits_offset=(\d+)", m.group(4))]
    return int(m.group(1)), int(m.group(2)), members


@pytest.mark.parametrize("suite", MODULE_BTF_SUITES)
def test_module_type_resolves(suite: str) -> None:
    assert shutil.which("bpftool"), "bpftool is installed by .ci/run"
    d = resolve_dump(suite, "elf", "qemu")
    prog = open_core(str(d.path))
    t = prog.type("struct fw_cfg_vmcoreinfo")  # not in vmlinux: found in qemu_fw_cfg's BTF
    tid, size, members = _bpftool_struct(d.truth, "qemu_fw_cfg", "fw_cfg_vmcoreinfo")
    assert (t.id, t.sizeof()) == (tid, size)
    assert [(m.name, m.bit_offset) for m in t.members] == members  # type: ignore[attr-defined]
    with pytest.raises(TypeNotFoundError):
        prog.btf.lookup("struct fw_cfg_vmcoreinfo")
    # A module global, typed by the shipped table's entries of its module (generated from
    # the module's DWARF .ko): at the guest's kallsyms address, holding QEMU's fw_cfg
    # revision (3: the traditional and the DMA interface, docs/specs/fw_cfg).
    rev = prog["fw_cfg_rev"]
    want = {n: a for a, _t, n, _m in truth_module_symbols(d.truth)}
    assert rev.address_ == want["fw_cfg_rev"] and rev.value_() == 3


@pytest.mark.parametrize("dump", DUMPS, ids=_id)
def test_module_addresses_symbolize(dump: Tuple[str, str, str]) -> None:
    d = resolve_dump(*dump)
    prog = open_core(str(d.path))
    want = truth_modules(d.truth)[0]
    syms = [s for s in truth_module_symbols(d.truth) if s[3] == want["name"]]
    exit_addr = next(a for a, t, n, m in syms if n == "fw_cfg_sysfs_exit")
    hit = prog.symbolize_address(exit_addr + 1)
    assert hit is not None and hit[1] == 1
    assert prog.symbol(hit[0]).address == exit_addr
    exit_sym = prog.symbol(exit_addr)
    assert (exit_sym.name, exit_sym.address, exit_sym.module) == (hit[0], exit_addr, want["name"])
    assert prog.symbol("fw_cfg_sysfs_exit").module == want["name"]
    # Each symbol's address names a symbol of its module at that very address.
    for addr, _t, _n, mod in syms:
        s = prog.symbol(addr)
        assert (s.address, s.module) == (addr, mod)
    # Exact regions from struct module: the text base is where /proc/modules says, the
    # last byte of a region is still the module's, the byte after it no module's.
    regions = prog.module(want["name"]).address_ranges
    assert regions and any(lo == want["base"] for lo, _ in regions)
    assert sum(hi - lo for lo, hi in regions) == want["size"]
    top = max(hi for _, hi in regions)
    assert prog.symbol(top - 1).module == want["name"]
    assert prog.symbolize_address(top) is None
    # The printer symbolizes pointers into a module: the driver's probe function (a module
    # global, typed by the shipped table).
    driver = prog["fw_cfg_sysfs_driver"]
    by_name = {n: a for a, _t, n, _m in syms}
    assert driver.address_ == by_name["fw_cfg_sysfs_driver"]
    assert str(driver.probe) == ("(int (*)(struct platform_device *))fw_cfg_sysfs_probe+0x0 = "
                                 f"{by_name['fw_cfg_sysfs_probe']:#x}")


@pytest.mark.parametrize("dump", [("bullseye", "kdump-zlib", "qemu"), ("trixie", "kdump-zlib", "qemu")], ids=_id)
def test_lsmod_command(dump: Tuple[str, str, str]) -> None:
    d = resolve_dump(*dump)
    want = truth_modules(d.truth)
    run = subprocess.run([sys.executable, "-m", "kdbg", "-c", str(d.path), "--json", "-x", "lsmod"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean_env())
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert [{k: r[k] for k in w} for r, w in zip(rows, want, strict=True)] == want and len(rows) == len(want)
    run = subprocess.run([sys.executable, "-m", "kdbg", "-c", str(d.path), "-x", "lsmod"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean_env())
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[:4] == ["MODULE", "NAME", "BASE", "SIZE"]
    for line, w in zip(lines[1:], want, strict=True):
        f = line.split()
        assert (f[1], int(f[2], 16), int(f[3])) == (w["name"], w["base"], w["size"])
    bad = subprocess.run([sys.executable, "-m", "kdbg", "-c", str(d.path), "-x", "lsmod extra"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean_env())
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "lsmod" in bad.stderr


@pytest.mark.parametrize("suite", MODULE_BTF_SUITES)
def test_live_module_btf_from_sysfs_dir(suite: str, tmp_path: Path) -> None:
    """open_live() loads every module file of /sys/kernel/btf as split BTF: a fake sysfs
    directory of the guest's own files, with its /proc/kallsyms (no kcore here)."""
    truth = resolve_dump(suite, "elf", "qemu").truth
    sysfs = tmp_path / "btf"
    shutil.copytree(truth / "btf", sysfs)
    prog = open_live(kallsyms=str(truth / "kallsyms"), kcore=str(tmp_path / "no-kcore"),
                     sysfs_btf=str(sysfs))
    assert prog.memory is None
    t = prog.type("struct fw_cfg_vmcoreinfo")
    tid, size, _ = _bpftool_struct(truth, "qemu_fw_cfg", "fw_cfg_vmcoreinfo")
    assert (t.id, t.sizeof()) == (tid, size)
    btfs = prog.all_btfs()
    assert len(btfs) == 2 and btfs[1].base is btfs[0] and prog.module("qemu_fw_cfg").btf is btfs[1]
    # /proc/kallsyms lists the module's symbols itself; they symbolize by its ranges.
    s = prog.symbol("fw_cfg_sysfs_exit")
    assert s.module == "qemu_fw_cfg" and prog.symbol(s.address + 1) == s
    # Explicit --btf files replace the sysfs directory, modules and all.
    only = open_live(btf=[str(sysfs / "vmlinux")], kallsyms=str(truth / "kallsyms"),
                     kcore=str(tmp_path / "no-kcore"), sysfs_btf=str(sysfs))
    with pytest.raises(TypeNotFoundError):
        only.type("struct fw_cfg_vmcoreinfo")


LIVE_SCRIPT = r"""
echo '==MODULES'; cat /proc/modules
echo '==SYSFS'; ls /sys/kernel/btf
echo '==LSMOD'; python3 -m kdbg -q --json -x lsmod
echo '==PY'; python3 - <<'PY'
import os
import kdbg.target as p
from kdbg.modules import read_module_btfs
prog = p.open_live()
assert prog.memory is not None, prog.memory_unavailable
from kdbg.modules import loaded_modules
loaded = loaded_modules(prog)
print("errors", loaded.errors)
files = {n: open("/sys/kernel/btf/" + n, "rb").read() for n in os.listdir("/sys/kernel/btf") if n != "vmlinux"}
mem = dict(read_module_btfs(prog))
print("btf-files", sorted(files) == sorted(loaded.btfs), len(files))
print("btf-memory-equal", mem == files, len(mem))
import collections
from kdbg.helpers.module import for_each_module, module_kallsyms, module_name
want = collections.defaultdict(list)
for line in open("/proc/kallsyms"):
    if "\t[" in line:
        a, t, rest = line.split(" ", 2)
        n, mod = rest.rstrip("\n").split("\t")
        want[mod.strip("[]")].append((int(a, 16), t, n))
bad, total, upper = 0, 0, 0
for mod in for_each_module(prog):
    name = module_name(mod)
    got = sorted((s.address, s.type, s.name) for s in module_kallsyms(mod))
    total += len(got)
    upper += sum(1 for s in got if s[1].isupper())
    if got != sorted(want[name]):
        bad += 1
        print("symdiff", name, sorted(set(got) ^ set(want[name]))[:5])
print("symbols-equal", bad == 0, total, upper)
for name in sorted(loaded.regions):
    lo = min(a for a, _ in loaded.regions[name])
    print("region", name, hex(lo), sum(b - a for a, b in loaded.regions[name]))
PY
echo '==END'
"""


@pytest.mark.live(LIVE_SCRIPT, suite="bookworm")
def test_live_modules_in_guest(live_result) -> None:  # type: ignore[no-untyped-def]
    """In a guest with the 9p/virtio modules loaded: lsmod equals /proc/modules, every
    /sys/kernel/btf/<module> loads as split BTF, the btf_modules list in /proc/kcore
    holds the same bytes, and each module's kallsyms read from memory equals its
    /proc/kallsyms lines (exported symbols in upper case)."""
    res = live_result
    assert res.returncode == 0, res.output[-3000:]
    text = res.output.replace("\r\n", "\n")
    sec = {m.group(1): m.group(2) for m in re.finditer(r"^==(\w+)\n(.*?)(?=^==\w+\n)", text, re.S | re.M)}
    procmods = [line.split() for line in sec["MODULES"].splitlines() if line.strip()]
    assert procmods, "the live guest has modules loaded"
    rows = json.loads(sec["LSMOD"].strip().splitlines()[-1])
    assert [(r["name"], r["size"], r["base"]) for r in rows] == \
        [(f[0], int(f[1]), int(f[5], 16)) for f in procmods]
    py = sec["PY"]
    assert "errors []" in py, py
    assert "btf-files True" in py and "btf-memory-equal True" in py, py
    # Module symbols read from each struct module's kallsyms equal /proc/kallsyms, the
    # exported ones (upper case there) included.
    m = re.search(r"^symbols-equal (\w+) (\d+) (\d+)$", py, re.M)
    assert m and m.group(1) == "True" and int(m.group(2)) > 100 and int(m.group(3)) > 0, py
    regions = {f[1]: (int(f[2], 16), int(f[3])) for f in (line.split() for line in py.splitlines())
               if f and f[0] == "region"}
    for f in procmods:
        assert regions[f[0]] == (int(f[5], 16), int(f[1])), f


@pytest.mark.parametrize("suite", ["bullseye", "bookworm", "trixie"])
def test_module_helpers_agree_with_drgn(suite: str) -> None:
    """drgn 0.3.0 with the kernel's Debian DWARF vmlinux, on the same ELF dump: the same
    modules at the same addresses, the same regions, per-CPU region, taints and
    address_to_module."""
    from kdbg.helpers import (
        address_to_module,
        for_each_module,
        module_address_regions,
        module_name,
        module_percpu_region,
        module_taints,
    )
    from vmcores.oracle import drgn_eval

    d = resolve_dump(suite, "elf", "qemu")
    m = '__import__("drgn.helpers.linux.module", fromlist=["x"])'
    want = drgn_eval(suite, d.path, (
        f"[(x.name.string_().decode(), x.value_(), {m}.module_address_regions(x), "
        f"list({m}.module_percpu_region(x)), {m}.module_taints(x), "
        f"{m}.address_to_module(prog, {m}.module_address_regions(x)[0][0] + 5).value_()) "
        f"for x in {m}.for_each_module(prog)]"))
    prog = open_core(str(d.path))
    got = [[module_name(x), x.value_(), [list(r) for r in module_address_regions(x)],
            list(module_percpu_region(x)), module_taints(x),
            address_to_module(prog, module_address_regions(x)[0][0] + 5).value_()]
           for x in for_each_module(prog)]
    assert got == want
    assert not address_to_module(prog, prog.symbol("init_task").address)


@pytest.mark.parametrize("suite", ["bullseye", "trixie"])
def test_sym_command_finds_module_symbols(suite: str) -> None:
    """``sym NAME`` and ``sym ADDRESS`` on a vmcore reach the modules' symbols."""
    d = resolve_dump(suite, "kdump-zlib", "qemu")
    want = {n: (a, t, m) for a, t, n, m in truth_module_symbols(d.truth)}
    addr, letter, mod = want["fw_cfg_sysfs_exit"]
    run = subprocess.run([sys.executable, "-m", "kdbg", "-c", str(d.path), "--json",
                          "-x", "sym fw_cfg_sysfs_exit", "-x", f"sym {addr + 3:x}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean_env())
    assert run.returncode == 0, run.stderr
    by_name, by_address = (json.loads(line) for line in run.stdout.splitlines())
    assert [(r["address"], r["type"], r["module"]) for r in by_name] == [(addr, letter, mod)]
    assert [(r["name"], r["offset"], r["module"]) for r in by_address] == [("fw_cfg_sysfs_exit", 3, mod)]


def test_lsmod_without_memory_is_one_line() -> None:
    """Files only (BTF and kallsyms of a guest): lsmod says memory is unavailable."""
    truth = resolve_dump("trixie", "elf", "qemu").truth
    run = subprocess.run([sys.executable, "-m", "kdbg", "--btf", str(truth / "btf" / "vmlinux"),
                          "--kallsyms", str(truth / "kallsyms"), "-x", "lsmod"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean_env())
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "memory is unavailable" in run.stderr
