"""crash's ``bpf`` on the *state* dumps of 5.10, 6.1 and 6.12, whose guest really loaded
BPF (:mod:`vmcores.state_bpf`: two maps, three programs, fds open at the dump).

Truth, in this order:

1. The guest's kernel: each object's ``/proc/PID/fdinfo/FD`` (``prog_type``,
   ``prog_tag``, ``memlock``, ``prog_id``; ``map_type``, ``key_size``, ``value_size``,
   ``max_entries``, ``map_flags``, ``memlock``, ``map_id``), and what
   ``BPF_OBJ_GET_INFO_BY_FD`` handed the loader: the translated instructions (the kernel
   writes each map reference as ``BPF_PSEUDO_MAP_FD`` and the map's ID where memory holds
   the map's address), the JITed bytes and their address, and the wall and boot clocks
   right after the load.  The enum values of program and map types are the kernel's
   stable uapi numbers (``include/uapi/linux/bpf.h``).
2. Debian's crash 8.0.2 with the ``-dbg`` vmlinux on the ELF dumps, line by line, where
   it is right: its ``LOAD_TIME`` adds the load stamp to the boot time of the machine
   crash runs on (``print_boot_time`` reads the host's clocks), so it is wrong on any
   dump taken elsewhere and the kernel's clock is held instead; its ``-d`` prints
   hexadecimal (``cmd_bpf`` sets radix 16 for ``-d`` too); its ``-j`` is gdb's AT&T text
   (kdbg's is capstone's, so addresses, lengths and branch targets are compared, as for
   ``dis``); its ``-s`` is gdb's layout of the structures (kdbg prints them as ``struct``
   does: the top-level numbers are compared).  trixie 6.12 does not open in crash 8.0.2
   (:data:`~vmcores.crash_oracle.CRASH_CANNOT_OPEN`): there the guest's truth alone.
3. On 6.4 and later the kernel's ``memlock`` of a map is ``map->ops->map_mem_usage()``
   (the map's real allocations: 6.12's fdinfo says 2128 bytes for the hash map where
   crash's estimate, the pre-6.4 ``bpf_map_memory_footprint()``, says a page); kdbg
   computes it as the kernel does for these maps, and is held to the fdinfo.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from tests.cli_support import kdbg_commands
from tests.command_checks import BRANCH_TARGET, assert_same_instruction
from tests.conftest import dump_id, resolve_state_dump
from vmcores.crash_oracle import CRASH_CANNOT_OPEN, ask_crash, crash_can_open
from vmcores.debian import SUITES
from vmcores.state import StateDump
from vmcores.state_bpf import bpf_objects

pytestmark = pytest.mark.timeout(1800)

FORMS = ("elf", "kdump-zlib")
STATE_IDS = [(suite, form) for suite in SUITES for form in FORMS]
#: ``enum bpf_prog_type`` and ``enum bpf_map_type`` values of include/uapi/linux/bpf.h (ABI).
PROG_TYPES = {1: "SOCKET_FILTER", 5: "TRACEPOINT"}
MAP_TYPES = {1: "HASH", 2: "ARRAY"}
BPF_LD_IMM_DW = 0x18
BPF_PSEUDO_MAP_FD = 1


def _truth(truth: Path) -> Tuple[Dict[int, Dict[str, str]], Dict[int, Dict[str, str]]]:
    """prog_id -> fdinfo (with ``name``), map_id -> fdinfo (with ``name``)."""
    progs, maps = {}, {}
    for kind, name, info in bpf_objects(truth):
        info = dict(info, name=name)
        if kind == "prog":
            progs[int(info["prog_id"])] = info
        else:
            maps[int(info["map_id"])] = info
    assert len(progs) == 3 and len(maps) == 2, (progs, maps)
    return progs, maps


def _insns(data: bytes) -> List[Tuple[int, int, int, int, int]]:
    """(code, dst, src, off, imm) of each 8-byte instruction."""
    out = []
    for i in range(0, len(data), 8):
        code, regs, off, imm = struct.unpack_from("<BBhi", data, i)
        out.append((code, regs & 0xF, regs >> 4, off, imm))
    return out


def _used_maps(xlated: bytes) -> List[int]:
    """The map IDs the kernel's dump of the translated program references."""
    ins = _insns(xlated)
    return [imm for code, _d, src, _o, imm in ins if code == BPF_LD_IMM_DW and src == BPF_PSEUDO_MAP_FD]


# ------------------------------------------------------------------ the guest's own view


@pytest.mark.parametrize("state_dump", STATE_IDS, ids=dump_id, indirect=True)
def test_bpf_against_the_guests_fdinfo(state_dump: StateDump) -> None:
    """Every program and map the guest loaded, and no other, with the kernel's own values:
    ID, type, tag, memlock, the maps a program uses (from the kernel's dump of its
    instructions), the translated and JITed sizes, its name, its load time (the guest's
    wall clock right after the load, within the second); key and value sizes, entries,
    flags, memlock and name of each map."""
    truth = state_dump.truth
    progs, maps = _truth(truth)
    r = kdbg_commands(state_dump.path, "bpf -P --json", "bpf -M --json")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    mine_p, mine_m = (json.loads(line) for line in r.stdout.splitlines())
    assert {p["id"] for p in mine_p["progs"]} == set(progs) and mine_p["maps"] == []
    assert {m["id"] for m in mine_m["maps"]} == set(maps) and mine_m["progs"] == []
    for p in mine_p["progs"]:
        t = progs[p["id"]]
        name = t["name"]
        assert p["type"] == PROG_TYPES[int(t["prog_type"])] and p["tag"] == t["prog_tag"], (p, t)
        assert p["memlock"] == int(t["memlock"]) and t["prog_jited"] == "1", (p, t)
        xlated = (truth / "bpf" / f"{name}.xlated").read_bytes()
        assert p["used_maps"] == _used_maps(xlated), (p, t)
        assert p["xlated"] == len(xlated) and p["jited"] == len((truth / "bpf" / f"{name}.jited").read_bytes())
        assert p["name"] == f'"{name}"'
        real, _boot = (float(x) for x in (truth / "bpf" / f"{name}.loaded").read_text().split())
        assert int(real) - 1 <= p["load_time"] <= int(real), (p["load_time"], real)
    for m in mine_m["maps"]:
        t = maps[m["id"]]
        assert m["type"] == MAP_TYPES[int(t["map_type"])] and m["map_flags"] == int(t["map_flags"], 16), (m, t)
        assert (m["key_size"], m["value_size"], m["max_entries"]) == (
            int(t["key_size"]), int(t["value_size"]), int(t["max_entries"])), (m, t)
        assert m["name"] == f'"{t["name"]}"'
        assert m["memlock"] == int(t["memlock"]), (m, t)


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_bpf_code_against_the_kernels_dump_of_it(state_dump: StateDump) -> None:
    """``-T``'s bytes are the kernel's translated instructions (``BPF_OBJ_GET_INFO_BY_FD``)
    but for map references, where memory holds the address of the map whose ID the
    kernel's dump names (and ``-t`` names it ``map[id:N]``); ``-j``'s instructions start at
    the JITed image's address and cover its bytes exactly, and the dump's memory there is
    the JITed code the kernel handed out."""
    truth = state_dump.truth
    progs, _maps = _truth(truth)
    r = kdbg_commands(state_dump.path, "bpf -M --json", "bpf -P --json")
    assert r.returncode == 0, r.stderr
    map_addr = {m["bpf_map"]: m["id"] for m in json.loads(r.stdout.splitlines()[0])["maps"]}
    for pid, t in progs.items():
        name = t["name"]
        want = _insns((truth / "bpf" / f"{name}.xlated").read_bytes())
        r = kdbg_commands(state_dump.path, f"bpf -p {pid} -T", f"bpf -p {pid} -j")
        assert r.returncode == 0 and r.stderr == "", r.stderr
        lines = r.stdout.splitlines()
        code = [bytes.fromhex(line.replace(" ", "")) for line in lines if re.fullmatch(r" {7}[0-9a-f ]+", line)]
        got = _insns(b"".join(code))
        assert len(got) == len(want), name
        refs: List[int] = []
        i = 0
        while i < len(want):
            if want[i][0] == BPF_LD_IMM_DW and want[i][2] == BPF_PSEUDO_MAP_FD:
                addr = (got[i][4] & 0xFFFFFFFF) | (got[i + 1][4] & 0xFFFFFFFF) << 32
                assert map_addr[addr] == want[i][4], (name, i)
                assert got[i][:2] == want[i][:2] and got[i][2] == 0  # the verifier cleared src_reg
                refs.append(want[i][4])
                i += 2
                continue
            assert got[i] == want[i], (name, i, got[i], want[i])
            i += 1
        assert [f"map[id:{m}]" for m in refs] == re.findall(r"map\[id:\d+\]", r.stdout)
        ksym = int((truth / "bpf" / f"{name}.ksym").read_text(), 16)
        jited = (truth / "bpf" / f"{name}.jited").read_bytes()
        text = [ln for ln in lines if re.match(r" {3}0x[0-9a-f]+:\t", ln)]
        addrs = [int(ln.split(":")[0], 16) for ln in text]
        assert addrs[0] == ksym and addrs == sorted(addrs) and addrs[-1] < ksym + len(jited), name
        rd = kdbg_commands(state_dump.path, f"rd -8 {ksym:x} {len(jited)}")
        assert rd.returncode == 0, rd.stderr
        dumped = bytes(int(x, 16) for ln in rd.stdout.splitlines() for x in ln.split(":", 1)[1].split()[:16]
                       if re.fullmatch(r"[0-9a-f]{2}", x))
        assert dumped[:len(jited)] == jited, name


# ----------------------------------------------------------------------------- crash


_LOAD = re.compile(r"^ {5}LOAD_TIME: .*$")
_JIT = re.compile(r"^ {3}0x([0-9a-f]+):\t(\S+)(?: +(.*?))? ?$")
_CRASH_MEMBER = re.compile(r"^  (\w+) = (-?(?:0x[0-9a-f]+|\d+)),$")
_KDBG_MEMBER = re.compile(r"^\t\.(\w+) = \([^)]*\)(-?(?:0x[0-9a-f]+|\d+)),$")


def _plain(text: str) -> List[str]:
    """Lines without trailing blanks, ``LOAD_TIME`` masked (crash's is the host's clock)."""
    return [_LOAD.sub("     LOAD_TIME: -", line.rstrip()) for line in text.splitlines()]


def _split(text: str) -> Tuple[List[str], List[str]]:
    """(the lines up to the first blank after the details, the rest)."""
    lines = _plain(text)
    cut = next((i for i, line in enumerate(lines) if not line and i > 1), len(lines))
    return lines[:cut], lines[cut + 1:]


def _numbers(lines: List[str], pattern: re.Pattern[str]) -> Dict[str, int]:
    out = {}
    for line in lines:
        m = pattern.match(line)
        if m:
            out[m.group(1)] = int(m.group(2), 0)
    return out


def _jit_rows(lines: List[str]) -> List[Tuple[int, str, str]]:
    rows = []
    for line in lines:
        m = _JIT.match(line)
        assert m, line
        rows.append((int(m.group(1), 16), m.group(2), m.group(3) or ""))
    return rows


@pytest.mark.parametrize("state_dump", [(s, "elf") for s in SUITES], ids=dump_id, indirect=True)
def test_bpf_against_crash(state_dump: StateDump) -> None:
    """crash 8.0.2 with DWARF: ``bpf``, ``-P``, ``-M``, ``-p ID``, ``-m ID``, ``-t``, ``-T``
    line for line (``LOAD_TIME`` masked: see the module doc); ``-j``: the same
    instruction addresses, mnemonics (up to capstone's size suffix; gdb's padding
    ``data16 ... xchg %ax,%ax`` is capstone's ``nop``) and branch targets with their names;
    ``-s``, ``-s -x``, ``-s -d``: the same top-level numbers of ``struct bpf_prog``,
    ``bpf_prog_aux`` and ``bpf_map``."""
    if not crash_can_open(state_dump.suite):
        assert state_dump.suite in CRASH_CANNOT_OPEN
        return
    progs, maps = _truth(state_dump.truth)
    exact = ["bpf", "bpf -P", "bpf -M"] + [f"bpf -p {p}" for p in progs] + [f"bpf -m {m}" for m in maps] + \
        [f"bpf -p {p} -t" for p in progs] + [f"bpf -p {p} -T" for p in progs]
    jit = [f"bpf -p {p} -j" for p in progs]
    structs = [f"bpf -p {p} -s" for p in progs] + [f"bpf -m {m} -s -x" for m in maps] + \
        [f"bpf -p {min(progs)} -s -d"]
    theirs = ask_crash(state_dump.suite, state_dump.path, exact + jit + structs).outputs
    for cmd in exact + jit + structs:
        r = kdbg_commands(state_dump.path, cmd)
        assert r.returncode == 0 and r.stderr == "", (cmd, r.stderr)
        if cmd in exact:
            assert _plain(r.stdout) == _plain(theirs[cmd]), cmd
            continue
        (head, mine), (their_head, gdb) = _split(r.stdout), _split(theirs[cmd])
        assert head == their_head, cmd
        if cmd in jit:
            mine_rows, gdb_rows = _jit_rows([x for x in mine if x]), _jit_rows([x for x in gdb if x])
            assert [a for a, *_ in mine_rows] == [a for a, *_ in gdb_rows], cmd
            for (a, m1, o1), (_a, m2, o2) in zip(mine_rows, gdb_rows, strict=True):
                assert_same_instruction((cmd, hex(a)), (m1, o1), (m2, o2))
                # a JITed program branches and calls directly only
                assert not m2.startswith(("j", "call")) or BRANCH_TARGET.search(o2), (cmd, hex(a), o2)
            continue
        ours, gdbs = _numbers(mine, _KDBG_MEMBER), _numbers(gdb, _CRASH_MEMBER)
        common = set(ours) & set(gdbs)
        # gdb's /x writes a negative int as its two's complement (numa_node = 0xffffffff), kdbg as -0x1
        differ = {k: (ours[k], gdbs[k]) for k in common
                  if ours[k] != gdbs[k] and not (ours[k] < 0 and gdbs[k] in (ours[k] % (1 << 32), ours[k] % (1 << 64)))}
        assert len(common) >= 5 and differ == {}, (cmd, differ)
        if "-d" in cmd:  # crash's -d is hexadecimal; kdbg's decimal, as crash's help says
            assert any(re.fullmatch(r"  len = 0x[0-9a-f]+,", x) for x in gdb), cmd
            assert any(re.fullmatch(r"\t\.len = \(u32\)\d+,", x) for x in mine), cmd


# -------------------------------------------------------------------------- bad input


def test_bpf_bad_input_and_help() -> None:
    """Each option crash refuses alone is one line with exit status 1, and the next
    command runs; ``help bpf`` names every option."""
    path = resolve_state_dump("bullseye", "kdump-zlib").path
    for cmd, says in (("bpf -j", "-j option only applicable"), ("bpf -t", "-t option only applicable"),
                      ("bpf -T", "-t option only applicable"), ("bpf -s", "-s option requires"),
                      ("bpf -p 1 -x", "-x option requires -s"), ("bpf -p 1 -s -x -d", "mutually exclusive"),
                      ("bpf -p 99", "invalid program ID: 99"), ("bpf -m 99 -s", "invalid map ID: 99")):
        r = kdbg_commands(path, cmd, "bpf -m 1")
        assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and says in r.stderr, (cmd, r.stderr)
        assert "Traceback" not in r.stderr and "KEY_SIZE:" in r.stdout, (cmd, r.stdout)
    r = kdbg_commands(path, "help bpf")
    assert r.returncode == 0 and all(o in r.stdout for o in ("-p", "-P", "-m", "-M", "-t", "-T", "-j", "-s", "-x",
                                                               "-d", "--json"))
