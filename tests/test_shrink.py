"""``kdbg shrink``: a small vmcore holding only what an analysis read (issue 17).

What must hold, and where its truth comes from:

* The same analysis on SMALL prints what it printed on the original, byte for byte, in a
  fresh process with kdbg's cache off (so every page opening needs comes from SMALL), on
  all three kernels, from QEMU's ELF and makedumpfile's kdump, written as kdump and as ELF,
  and on a crashed dump.
* Independent readers open SMALL: makedumpfile extracts the same log from SMALL as from the
  original; drgn (no DWARF) opens SMALL, reads the kernel's release where VMCOREINFO says
  ``init_uts_ns`` is and finds the guest's ``uname -r``, and where VMCOREINFO has the
  kallsyms entries (6.x), loads the symbol table from SMALL and finds ``init_uts_ns`` there.
* ``--redact``: a process's page (found by drgn with Debian's DWARF on the original, from
  ``mm->arg_start``) is left out and a read of it on SMALL says so; every other byte of an
  analysis page is the original's or zero.
* A page the original could not serve (excluded by ``makedumpfile -d 31``) fails on SMALL
  with the same message.
* Bad input writes nothing: not a dump, a failing analysis, SMALL naming the original.
* ``--reduced-btf``: the same output from the BTF note, and the guest's ``.BTF`` section
  (its kallsyms' ``__start_BTF``, its ``/sys/kernel/btf/vmlinux``) gone from SMALL as
  drgn reads it.
* ``--for crash``: crash (Debian's, with Debian's DWARF ``vmlinux``) prints on SMALL what it
  prints on the original for ``sys``, ``log``, ``bt`` and ``bt -a`` (but the line naming
  the dump file), and makedumpfile extracts the same log; where crash cannot open the
  original (6.12, :data:`vmcores.crash_oracle.CRASH_CANNOT_OPEN`), it cannot open SMALL
  either, and the test says so.
* A command the analysis did not run, on a reduced SMALL, fails with one line naming the
  page or type SMALL lacks and that it is a reduced dump made by kdbg shrink.
* ``-q`` prints nothing.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from kdbg.memory import open_physical
from tests.cli_support import clean_env, run_kdbg
from tests.conftest import SampleDump, dump_id, resolve_crash_dump, resolve_dump
from vmcores.crash import CrashDump
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, CrashOracleError, ask_crash, run_crash
from vmcores.debian import SUITES, debian_dbg_vmlinux
from vmcores.dump_forms import vmcore_style_elf

#: The analysis every case records: tables, a stack, the log, modules.
ANALYSIS = ["-x", "ps", "-x", "bt 1", "-x", "dmesg", "-x", "lsmod"]

#: (suite, form, tool) of the originals: QEMU's paging ELF and makedumpfile's kdump.
ORIGINALS = [(suite, form, tool) for suite in SUITES
             for form, tool in (("elf-paging", "qemu"), ("kdump-zlib", "makedumpfile"))]


def no_cache() -> Dict[str, str]:
    """Nothing from the cache: SMALL must hold everything kdbg opens it with (made when a
    test runs: collecting the module makes no directory)."""
    return clean_env(KDBG_NO_CACHE="1")


def _shrink(original: Path, small: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_kdbg("shrink", str(original), "-o", str(small), *extra, timeout=900)


def _manifest(small: Path) -> dict:
    return json.loads(Path(f"{small}.manifest.json").read_text())


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("out_form", ["kdump", "elf"])
@pytest.mark.parametrize("original", ORIGINALS, ids=dump_id)
def test_same_analysis_prints_the_same_on_small(original: tuple, out_form: str, tmp_path: Path) -> None:
    dump = resolve_dump(*original)
    small = tmp_path / "small"
    shrunk = _shrink(dump.path, small, *(["--elf"] if out_form == "elf" else []), *ANALYSIS)
    assert shrunk.returncode == 0, shrunk.stderr
    before = run_kdbg("-c", str(dump.path), *ANALYSIS)
    after = run_kdbg("-c", str(small), *ANALYSIS, env=no_cache())
    assert before.returncode == 0 and after.returncode == 0, (before.stderr, after.stderr)
    assert after.stdout == before.stdout == shrunk.stdout
    assert "kdbg: warning" not in after.stderr
    # SMALL holds the pages its manifest lists, a quarter of the guest's memory at most
    # (the guests are small; the size target is a benchmark's).
    manifest = _manifest(small)
    kept = [p["pfn"] for p in manifest["kept"]]
    phys = open_physical(str(small))
    try:
        ps = phys.page_size
        for pfn in kept:
            assert len(phys.read(pfn * ps, ps)) == ps
    finally:
        phys.close()
    mem_total = re.search(r"^MemTotal:\s+(\d+) kB", (dump.truth / "meminfo").read_text(), re.M)
    assert mem_total is not None
    assert len(kept) * ps < int(mem_total.group(1)) * 1024 / 4


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("suite", SUITES)
def test_small_of_a_crashed_dump(suite: str, tmp_path: Path) -> None:
    dump = resolve_crash_dump(suite, "oops", "elf-paging")
    small = tmp_path / "small"
    analysis = ["-x", "bt", "-x", "dmesg", "-x", "ps"]
    shrunk = _shrink(dump.path, small, *analysis)
    assert shrunk.returncode == 0, shrunk.stderr
    after = run_kdbg("-c", str(small), *analysis, env=no_cache())
    assert after.returncode == 0, after.stderr
    assert after.stdout == shrunk.stdout


def _makedumpfile_dmesg(path: Path, out: Path) -> str:
    r = subprocess.run(["makedumpfile", "--dump-dmesg", str(path), str(out)], capture_output=True, text=True,
                       timeout=600, env=clean_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"makedumpfile --dump-dmesg {path}: {r.stdout}{r.stderr}"
    return out.read_text(errors="replace")


#: drgn without DWARF on SMALL: the release where VMCOREINFO puts init_uts_ns, and, when
#: VMCOREINFO has the kallsyms entries, init_uts_ns's address from the kallsyms SMALL holds.
_DRGN_CHILD = r"""
import json, re, sys
import drgn
from drgn.helpers.linux.kallsyms import load_vmlinux_kallsyms
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
info = prog["VMCOREINFO"].string_().decode()
address = int(re.search(r"SYMBOL\(init_uts_ns\)=([0-9a-f]+)", info).group(1), 16)
out = {"vmcoreinfo_address": address, "uts": prog.read(address, 400).decode("latin-1"),
       "has_kallsyms": "SYMBOL(kallsyms_names)" in info}
if out["has_kallsyms"]:
    prog.register_symbol_finder("kallsyms", load_vmlinux_kallsyms(prog), enable_index=0)
    out["kallsyms_address"] = prog.symbol("init_uts_ns").address
print(json.dumps(out))
"""


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("out_form", ["kdump", "elf"])
@pytest.mark.parametrize("suite", SUITES)
def test_other_readers_open_small(suite: str, out_form: str, tmp_path: Path) -> None:
    dump = resolve_dump(suite, "kdump-zlib", "makedumpfile")
    small = tmp_path / "small"
    shrunk = _shrink(dump.path, small, *(["--elf"] if out_form == "elf" else []), "-x", "dmesg")
    assert shrunk.returncode == 0, shrunk.stderr
    # makedumpfile: the same log from SMALL as from the original.
    assert _makedumpfile_dmesg(small, tmp_path / "small.txt") == _makedumpfile_dmesg(dump.path, tmp_path / "orig.txt")
    # drgn without DWARF.
    r = subprocess.run([sys.executable, "-c", _DRGN_CHILD, str(small)], capture_output=True, text=True,
                       timeout=600, env=clean_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout)
    release = (dump.truth / "uname").read_text().strip()
    assert release in seen["uts"]
    if seen["has_kallsyms"]:
        assert seen["kallsyms_address"] == seen["vmcoreinfo_address"]


#: drgn with Debian's DWARF on the original: the physical page of PID 1's command line.
_ARG_PAGE_CHILD = r"""
import sys
import drgn
from drgn.helpers.linux.mm import follow_phys
from drgn.helpers.linux.pid import find_task
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
mm = find_task(prog, 1).mm
print(follow_phys(mm, mm.arg_start).value_() // prog["PAGE_SIZE"].value_())
"""


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("suite", SUITES)
def test_redact_leaves_out_user_pages_and_unread_bytes(suite: str, tmp_path: Path) -> None:
    dump = resolve_dump(suite, "elf-paging", "qemu")
    small = tmp_path / "small"
    code = "print(cmdline(find_task(1))); print(find_task(1).comm)"
    shrunk = _shrink(dump.path, small, "--redact", "-e", code)
    assert shrunk.returncode == 0, shrunk.stderr
    r = subprocess.run([sys.executable, "-c", _ARG_PAGE_CHILD, str(dump.path), str(debian_dbg_vmlinux(suite))],
                       capture_output=True, text=True, timeout=600, env=clean_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    arg_pfn = int(r.stdout)
    manifest = _manifest(small)
    assert manifest["redacted"] is True
    assert arg_pfn in manifest["user_pages_left_out"]
    assert arg_pfn not in {p["pfn"] for p in manifest["kept"]}
    after = run_kdbg("-c", str(small), "-e", code, env=no_cache())
    assert after.returncode == 1
    assert f"page {arg_pfn:#x} is user memory, which kdbg shrink --redact left out" in after.stderr, after.stderr
    # Every byte of an analysis page is the original's or zero, and at least the bytes
    # read are the original's.
    original, redacted = open_physical(str(dump.path)), open_physical(str(small))
    try:
        ps = original.page_size
        for page in manifest["kept"]:
            a = original.read(page["pfn"] * ps, ps)
            b = redacted.read(page["pfn"] * ps, ps)
            if page["reason"] != "analysis":
                assert a == b
                continue
            same = sum(x == y for x, y in zip(a, b, strict=True))
            assert all(x == y or y == 0 for x, y in zip(a, b, strict=True))
            assert same >= page["bytes_read"]
    finally:
        original.close()
        redacted.close()


_SLAB_PAGES_CHILD = r"""
import json, sys
import drgn
from drgn.helpers.linux.mm import PageSlab, compound_head, pfn_to_page
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
prog.load_debug_info([sys.argv[2]])
print(json.dumps([p for p in json.loads(sys.argv[3]) if PageSlab(compound_head(pfn_to_page(prog, p)))]))
"""


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("suite", SUITES)
def test_redact_keeps_slab_pages(suite: str, tmp_path: Path) -> None:
    """No slab page is left out as user memory (drgn's ``PageSlab`` with Debian's DWARF
    says which pages are slab pages), however its ``struct page`` words read: run H's 6.12
    dump had a slab on a CPU's partial list whose count of slabs (5), where ``page->mapping``
    is, read as an anonymous mapping, and a read of a ``radix_tree_node`` failed on SMALL.
    The analysis reads slab objects (every task, every cache's ``struct kmem_cache``) and the
    user pages of init's arguments."""
    dump = resolve_dump(suite, "elf-paging", "qemu")
    small = tmp_path / "small"
    code = ("print(cmdline(find_task(1)))\nfor t in for_each_task(): print(t.pid, t.comm)\n"
            "for c in for_each_slab_cache(): print(c.name)")
    shrunk = _shrink(dump.path, small, "--redact", "-e", code)
    assert shrunk.returncode == 0, shrunk.stderr
    manifest = _manifest(small)
    left_out = manifest["user_pages_left_out"]
    kept = [p["pfn"] for p in manifest["kept"] if p["reason"] == "analysis"]
    assert left_out and len(kept) > 50, manifest["kept_by_reason"]
    r = subprocess.run([sys.executable, "-c", _SLAB_PAGES_CHILD, str(dump.path), str(debian_dbg_vmlinux(suite)),
                        json.dumps(left_out + kept)], capture_output=True, text=True, timeout=600, env=clean_env(),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    slabs = set(json.loads(r.stdout))
    assert not slabs & set(left_out), sorted(slabs & set(left_out))
    assert len(slabs) > 20  # the analysis read many slab pages: each is kept
    code = code.replace("print(cmdline(find_task(1)))\n", "")  # the arguments are what SMALL leaves out
    after = run_kdbg("-c", str(small), "-e", code, env=no_cache())
    before = run_kdbg("-c", str(dump.path), "-e", code)
    assert before.returncode == 0 and before.stdout.count("\n") > 100, before.stderr
    assert (after.returncode, after.stdout, after.stderr) == (0, before.stdout, ""), after.stderr


@pytest.mark.timeout(1800)
def test_excluded_pages_stay_excluded(tmp_path: Path) -> None:
    dump = resolve_dump("bookworm", "kdump-d31", "makedumpfile")
    phys = open_physical(str(dump.path))
    try:
        excluded = next(pfn for pfn in range(phys.max_physical_address // phys.page_size)
                        if phys.is_present(pfn) and not phys.is_dumped(pfn))  # type: ignore[attr-defined]
        address = excluded * phys.page_size
    finally:
        phys.close()
    code = (f"try:\n    prog.read({address:#x}, 8, True)\nexcept FaultError as e:\n    print('fault:', e)\n"
            "print(find_task(1).comm)")
    small = tmp_path / "small"
    shrunk = _shrink(dump.path, small, "-e", code)
    assert shrunk.returncode == 0, shrunk.stderr
    assert "fault: page excluded from the dump" in shrunk.stdout
    after = run_kdbg("-c", str(small), "-e", code, env=no_cache())
    assert after.stdout == shrunk.stdout


def _no_output(tmp_path: Path) -> List[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("small"))


@pytest.mark.timeout(900)
def test_bad_input_writes_nothing(tmp_path: Path, sample_dump: SampleDump) -> None:
    small = tmp_path / "small"
    not_a_dump = tmp_path / "notes.txt"
    not_a_dump.write_text("not a vmcore\n")
    r = _shrink(not_a_dump, small, "-x", "ps")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown dump format" in r.stderr
    r = _shrink(sample_dump.path, small, "-x", "no-such-command")
    assert r.returncode == 1 and "not written" in r.stderr
    r = _shrink(sample_dump.path, sample_dump.path, "-x", "ps")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = _shrink(sample_dump.path, small)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and re.search(r"one of the arguments -x", r.stderr)
    assert _no_output(tmp_path) == []


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("btf", ["btf-pages", "reduced-btf"])
@pytest.mark.parametrize("suite", SUITES)
def test_report_on_small_is_the_report_on_the_original(suite: str, btf: str, tmp_path: Path) -> None:
    """``--report``: the report of SMALL is the report of the crashed original, with the
    BTF's pages or with the reduced-BTF note (its size against the issue's 4 MB is a
    benchmark's)."""
    dump = resolve_crash_dump(suite, "oops", "elf-paging")
    small = tmp_path / "small"
    shrunk = _shrink(dump.path, small, "--report", *(["--reduced-btf"] if btf == "reduced-btf" else []))
    assert shrunk.returncode == 0, shrunk.stderr
    before = run_kdbg("report", str(dump.path), timeout=900)
    after = run_kdbg("report", str(small), env=no_cache(), timeout=900)
    assert before.returncode == 0 and after.returncode == 0, (before.stderr, after.stderr)
    assert after.stdout == before.stdout == shrunk.stdout
    assert "(cannot be read:" not in after.stdout


#: drgn without DWARF reads each ``[name, address, size]`` of argv[2] from the dump argv[1]
#: (hex, or None where the dump does not hold it).
_DRGN_READS_CHILD = r"""
import json, sys
import drgn
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
out = {}
for name, address, size in json.loads(sys.argv[2]):
    try:
        out[name] = prog.read(address, size).hex()
    except drgn.FaultError:
        out[name] = None
print(json.dumps(out))
"""


def _drgn_reads(core: Path, reads: list) -> dict:
    r = subprocess.run([sys.executable, "-c", _DRGN_READS_CHILD, str(core), json.dumps(reads)], capture_output=True,
                       text=True, timeout=600, env=clean_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


#: drgn without DWARF reads 16 bytes where the dump's VMCOREINFO puts ``kallsyms_names``
#: (hex; None where the dump does not hold them; "absent" without the entry, before 6.0).
_DRGN_KALLSYMS_CHILD = r"""
import json, re, sys
import drgn
prog = drgn.Program()
prog.set_core_dump(sys.argv[1])
m = re.search(r"SYMBOL\(kallsyms_names\)=([0-9a-f]+)", prog["VMCOREINFO"].string_().decode())
try:
    print(json.dumps("absent" if m is None else prog.read(int(m.group(1), 16), 16).hex()))
except drgn.FaultError:
    print(json.dumps(None))
"""


def _drgn_kallsyms_names(core: Path) -> object:
    r = subprocess.run([sys.executable, "-c", _DRGN_KALLSYMS_CHILD, str(core)], capture_output=True, text=True,
                       timeout=600, env=clean_env(), stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("suite", SUITES)
def test_reduced_btf_replaces_the_btf_pages(suite: str, tmp_path: Path) -> None:
    """``--reduced-btf``: the analysis prints the same on SMALL (kdbg's cache off), SMALL
    is smaller than without it, and the kernel's ``.BTF`` section (where the guest's
    kallsyms put ``__start_BTF``, holding the guest's ``/sys/kernel/btf/vmlinux``) is
    no longer in it: drgn reads the section's middle page from the original and from the
    plain SMALL, and finds it excluded from the reduced one. Nor are the kallsyms tables
    (their symbols are in a note): drgn reads the first bytes of ``kallsyms_names`` where
    VMCOREINFO puts them (6.x) from the original and the plain SMALL, not from the
    reduced one."""
    dump = resolve_dump(suite, "elf-paging", "qemu")
    analysis = [*ANALYSIS, "-x", "p prog['init_task'].comm"]
    if suite != "bullseye":  # a type of the qemu_fw_cfg module's BTF, split on the reduced vmlinux BTF
        analysis += ["-x", "ptype struct fw_cfg_sysfs_entry"]
    plain, reduced = tmp_path / "plain", tmp_path / "reduced"
    for small, extra in ((plain, []), (reduced, ["--reduced-btf"])):
        shrunk = _shrink(dump.path, small, *extra, *analysis)
        assert shrunk.returncode == 0, shrunk.stderr
    original = run_kdbg("-c", str(dump.path), *analysis, timeout=900)
    after = run_kdbg("-c", str(reduced), *analysis, env=no_cache(), timeout=900)
    assert original.returncode == 0 and after.returncode == 0, (original.stderr, after.stderr)
    assert after.stdout == original.stdout
    assert reduced.stat().st_size < plain.stat().st_size
    kallsyms = {}
    for line in (dump.truth / "kallsyms").read_text().splitlines():
        address, _type, name = line.split()[:3]
        kallsyms[name] = int(address, 16)
    raw = (dump.truth / "btf" / "vmlinux").read_bytes()
    start = kallsyms["__start_BTF"]
    assert kallsyms["__stop_BTF"] - start == len(raw)
    middle = (start + len(raw) // 2) & ~0xFFF
    expected = raw[middle - start:middle - start + 4096].hex()
    for core, want in ((dump.path, expected), (plain, expected), (reduced, None)):
        assert _drgn_reads(core, [["middle", middle, 4096]]) == {"middle": want}, core
    manifest = _manifest(reduced)["reduced_btf"]
    assert 0 < manifest["types_kept"] < manifest["types"]
    assert manifest["btf_pages_left_out"] >= len(raw) // 4096 - 2
    assert 0 < manifest["symbols_kept"] < manifest["symbols"] and manifest["symbol_pages_left_out"] > 0
    names = _drgn_kallsyms_names(dump.path)
    if suite == "bullseye":  # 5.10's VMCOREINFO has no kallsyms entries
        assert names == "absent"
    else:
        assert isinstance(names, str) and names != "absent"
        assert (_drgn_kallsyms_names(plain), _drgn_kallsyms_names(reduced)) == (names, None)


@pytest.mark.timeout(1800)
def test_reduced_small_says_what_it_lacks(tmp_path: Path) -> None:
    """A command the analysis did not run fails on a ``--reduced-btf`` SMALL with one line
    naming what SMALL lacks and that it is a reduced dump made by kdbg shrink: a page of
    the kernel's ``.BTF`` section (where the guest's kallsyms put it; the note replaces
    those pages), a type the analysis never touched (``struct tcp_sock``: ``ps`` reads
    no socket), and a function and a variable of the guest's kallsyms it never looked up.
    Each answers on the original. And no address is given to a symbol the
    guest's kallsyms does not put there."""
    dump = resolve_dump("bookworm", "elf-paging", "qemu")
    small = tmp_path / "small"
    shrunk = _shrink(dump.path, small, "--reduced-btf", "-x", "ps")
    assert shrunk.returncode == 0, shrunk.stderr
    kallsyms = {}
    for line in (dump.truth / "kallsyms").read_text().splitlines():
        address, _type, name = line.split()[:3]
        kallsyms[name] = int(address, 16)
    middle = (kallsyms["__start_BTF"] + kallsyms["__stop_BTF"]) // 2 & ~0xFFF
    assert "tcp_sendmsg" in kallsyms and "tcp_hashinfo" in kallsyms
    for command, missing in ((f"rd {middle:#x}", f"{middle:#x}"), ("ptype struct tcp_sock", "struct tcp_sock"),
                             ("sym tcp_sendmsg", "tcp_sendmsg"), ('p prog["tcp_hashinfo"]', "tcp_hashinfo")):
        original = run_kdbg("-c", str(dump.path), "-x", command)
        assert original.returncode == 0 and original.stdout, (command, original.stderr)
        after = run_kdbg("-c", str(small), "-x", command, env=no_cache())
        assert (after.returncode, after.stdout) == (1, ""), (command, after.stdout)
        assert after.stderr.count("\n") == 1 and after.stderr.startswith("kdbg: "), after.stderr
        assert missing in after.stderr and "a reduced dump made by kdbg shrink" in after.stderr, after.stderr
        assert "Traceback" not in after.stderr
    # Symbols: the address of a data symbol the analysis did not use is that symbol's (or
    # an alias's) or no symbol's on SMALL, never one the guest's kallsyms puts elsewhere.
    at: Dict[int, set] = {}
    for line in (dump.truth / "kallsyms").read_text().splitlines():
        address, _type, name = line.split()[:3]
        at.setdefault(int(address, 16), set()).add(name)
    data = sorted(a for a in at if kallsyms["_sdata"] <= a < kallsyms["_edata"])[::997]
    code = (f"for a in {data!r}:\n    try:\n        print(prog.symbol(a).name)\n    except LookupError:\n"
            "        print(None)")
    after = run_kdbg("-c", str(small), "-e", code, env=no_cache())
    assert after.returncode == 0, after.stderr
    answers = after.stdout.splitlines()
    assert len(answers) == len(data) >= 10
    for address, name in zip(data, answers, strict=True):
        assert name == "None" or name in at[address], (hex(address), name)


@pytest.mark.timeout(900)
def test_quiet_prints_nothing(tmp_path: Path, sample_dump: SampleDump) -> None:
    """``-q``: neither the analysis's output nor the summary line; SMALL is still written,
    and SMALL gives the output the quiet run kept to itself. An error still prints."""
    small = tmp_path / "small"
    loud = _shrink(sample_dump.path, tmp_path / "loud", "-x", "ps", "-x", "dmesg")
    assert loud.returncode == 0 and loud.stdout and "kdbg: wrote" in loud.stderr, loud.stderr
    quiet = _shrink(sample_dump.path, small, "-q", "-x", "ps", "-x", "dmesg")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    assert small.stat().st_size > 0 and Path(f"{small}.manifest.json").exists()
    after = run_kdbg("-c", str(small), "-x", "ps", "-x", "dmesg", env=no_cache())
    assert after.returncode == 0 and after.stdout == loud.stdout, after.stderr
    failed = _shrink(sample_dump.path, tmp_path / "failed", "-q", "-x", "no-such-command")
    assert failed.returncode == 1 and "not written" in failed.stderr


#: crash's commands on a ``--for crash`` SMALL: what the issue asks crash to run on it.
CRASH_COMMANDS = ["sys", "log", "bt", "bt -a"]

#: The line of crash's ``sys`` that depends on the dump file: its path, and crash's
#: ``[PARTIAL DUMP]`` after a kdump whose header has a dump level (QEMU's 1, SMALL's 31:
#: makedumpfile's -d 31, every kind of page it can leave out).
_DUMPFILE_LINE = re.compile(r"^ *DUMPFILE: .*$", re.M)


def _without_dumpfile(output: str) -> str:
    out, n = _DUMPFILE_LINE.subn("    DUMPFILE: (the dump file)", output)
    assert n == 1, output
    return out


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("crash_dump", [(suite, "panic", "kdump-zlib") for suite in SUITES], ids=dump_id,
                         indirect=True)
def test_crash_reads_small_for_crash(crash_dump: CrashDump, tmp_path: Path) -> None:
    """``--for crash``: crash's sys, log, bt and bt -a on SMALL are crash's on the original
    (the report as the analysis), and makedumpfile extracts the same log."""
    small = tmp_path / "small"
    shrunk = _shrink(crash_dump.path, small, "--for", "crash", "--report", "-q")
    assert (shrunk.returncode, shrunk.stdout, shrunk.stderr) == (0, "", "")
    manifest = _manifest(small)
    assert manifest["for"] == ["crash"] and manifest["kept_by_reason"]["crash"] > 0
    # makedumpfile reads neither QEMU's kdump (its phys_base is wrong) nor QEMU's ELF (its
    # program headers): the log's truth is makedumpfile's of the /proc/vmcore-style copy of
    # the same guest's ELF dump.
    elf = tmp_path / "vmcore.elf"
    vmcore_style_elf(resolve_crash_dump(crash_dump.suite, crash_dump.scenario, "elf-paging").path, elf)
    assert _makedumpfile_dmesg(small, tmp_path / "small.txt") == _makedumpfile_dmesg(elf, tmp_path / "orig.txt")
    elf.unlink()
    vmlinux = debian_dbg_vmlinux(crash_dump.suite)
    try:
        original = ask_crash(crash_dump.suite, crash_dump.path, CRASH_COMMANDS, vmlinux).outputs
    except CrashOracleError:
        # crash 8.0.2 does not open 6.12's dumps at all (vmcores/crash_oracle.py): SMALL
        # cannot be more readable than its original.
        assert crash_dump.suite in CRASH_CANNOT_OPEN
        with pytest.raises(CrashOracleError, match="did not open"):
            run_crash(small, vmlinux, CRASH_COMMANDS)
        return
    on_small = dict(zip(CRASH_COMMANDS, run_crash(small, vmlinux, CRASH_COMMANDS)["outputs"], strict=True))
    for command in CRASH_COMMANDS:
        want, got = original[command], on_small[command]
        if command == "sys":
            line = _DUMPFILE_LINE.search(got)
            assert line is not None and line.group(0).endswith("[PARTIAL DUMP]"), got  # SMALL's dump level
            want, got = _without_dumpfile(want), _without_dumpfile(got)
        assert got == want, command
