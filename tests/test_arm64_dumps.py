"""arm64 dumps end to end: Debian's bookworm ``cloud-arm64`` kernel booted under
``qemu-system-aarch64 -M virt -cpu max`` (:mod:`vmcores.arm64`), opened on this x86-64 host.

Ground truth: the guest's own ``/proc/kallsyms``, ``/sys/kernel/btf/vmlinux``, ``/proc``
snapshot and modules list, the kernel package's ``config``, and drgn 0.3.0 with Debian's
arm64 DWARF on the ``elf-paging`` dump (drgn reads arm64 dumps on an x86 host).

The cloud kernel has no ``CONFIG_KALLSYMS_ALL``: kallsyms (in the guest and decoded from
memory alike) holds no data symbol: ``init_task`` and the other exported globals are
recovered from the exported-symbol tables, ``modules`` from the code that uses it
(test_arm64_data_symbols), and so are ``modules`` and ``tk_core`` (sys's date and uptime)
from the code that uses them.
Here the tasks are walked from the address drgn's DWARF gives ``init_task``, with kdbg's
own types and memory, and compared with the guest's ``ps``.
"""

from __future__ import annotations

import json
import re
import struct
from typing import List

import pytest

from kdbg import open_core as open_program
from kdbg.compat.drgn import Object
from kdbg.core.platform import Architecture, machine_of
from kdbg.memory import open_core
from kdbg.symbols.kallsyms.mem import decode_kallsyms
from tests.arm64_support import assert_reads_agree_with_drgn, drgn_answers
from tests.cli_support import run_kdbg
from tests.helpers_support import comm_matches
from tests.kallsyms_truth import assert_matches_truth, truth_vmlinux
from vmcores.arm64 import ARM64_FILTERED_FORMS, arm64_dumps, arm64_kernel
from vmcores.dump_index import Dump
from vmcores.oracle import ORACLE_FORM, Query

pytestmark = pytest.mark.timeout(2400)

KERNEL = "bookworm-cloud"


@pytest.fixture(scope="module")
def dumps() -> List[Dump]:
    """Every dump form of the bookworm cloud-arm64 guest (built when missing), the
    makedumpfile-filtered ones (test_arm64_filtered) included."""
    out = arm64_dumps([KERNEL])
    assert {d.form for d in out} >= {"elf", "elf-paging", "kdump-zlib", "kdump-zlib-flat", *ARM64_FILTERED_FORMS}
    return out


@pytest.fixture(scope="module")
def oracle_dump(dumps: List[Dump]) -> Dump:
    return next(d for d in dumps if d.form == ORACLE_FORM)


def _config_page_size() -> int:
    config = next((arm64_kernel("bookworm", "cloud").root / "boot").glob("config-*")).read_text()
    sizes = [int(k) * 1024 for k in re.findall(r"^CONFIG_ARM64_(\d+)K_PAGES=y$", config, re.M)]
    assert len(sizes) == 1, sizes
    return sizes[0]


def test_every_form_opens_as_arm64_with_the_kernels_page_size(dumps: List[Dump]) -> None:
    """The architecture comes from the ELF header or, for QEMU 7.2's kdump header whose
    machine is "Unknown" with 64 KiB blocks, from VMCOREINFO; the page size is the
    kernel's (its package's config), not the kdump block size."""
    page = _config_page_size()
    for d in dumps:
        qemu_kdump = d.form.startswith("kdump") and "flat" not in d.form and d.tool.startswith("qemu")
        head = d.path.read_bytes()[:4096] if qemu_kdump else b""
        if head:  # the quirk this handles is really there (QEMU's headers, not makedumpfile's)
            assert head[:8] == b"KDUMP   "
            assert head[12 + 65 * 4 : 12 + 65 * 4 + 8] == b"Unknown\0"
            assert struct.unpack_from("<i", head, 12 + 65 * 6 + 6 + 16 + 4)[0] == 65536
        with open_program(str(d.path)) as prog:
            assert prog.platform.arch == Architecture.AARCH64, d.form
            assert machine_of(prog) == "aarch64", d.form  # what every arch question is asked with
            assert prog.memory is not None and prog.memory.page_size == page, d.form


def test_kallsyms_decoded_from_memory_is_the_guests(dumps: List[Dump]) -> None:
    """Every form decodes to exactly the guest's own /proc/kallsyms (vmlinux lines)."""
    for d in dumps:
        with open_core(str(d.path)) as mem:
            assert_matches_truth(decode_kallsyms(mem, use_cache=False), d.truth)


def test_btf_read_from_memory_is_the_guests(dumps: List[Dump]) -> None:
    """The BTF kdbg reads from each dump's memory is /sys/kernel/btf/vmlinux byte for byte
    (found by scanning the image: the cloud kernel's kallsyms has no __start_BTF)."""
    want = (dumps[0].truth / "btf" / "vmlinux").read_bytes()
    for d in dumps:
        with open_program(str(d.path)) as prog:
            assert prog.btf.data == want, d.form


def test_translation_agrees_with_drgn(oracle_dump: Dump, dumps: List[Dump]) -> None:
    """Bytes at kernel-image, linear-map (task_struct), vmalloc (task stacks), module and
    vmemmap addresses read through kdbg's arm64 page-table walk equal drgn's, on every
    form; where drgn faults (kallsyms still lists the freed ``.init.text``) kdbg faults."""
    assert_reads_agree_with_drgn(oracle_dump, dumps)


def test_tasks_and_objects_agree_with_drgn_and_the_guest(oracle_dump: Dump) -> None:
    """From init_task's address (drgn's DWARF: the cloud kernel's kallsyms has none), kdbg
    walks the task list with BTF types alone: the same tasks as drgn, each task's scalars
    printed as drgn prints them (not pointers: drgn names ``init_task+0x468`` from DWARF,
    kdbg has no data symbol there), and the same processes as the guest's own /proc
    snapshot. ``init_uts_ns.name`` (VMCOREINFO's SYMBOL()) prints as drgn prints it."""
    pid_mod = "__import__('drgn.helpers.linux.pid', fromlist=['x'])"
    recs = drgn_answers(oracle_dump, [
        Query("init_task", "prog['init_task'].address_"),
        Query("tasks", f"[t.value_() for t in {pid_mod}.for_each_task(prog)]"),
        Query("strs", f"[(str(t.comm), str(t.pid), str(t.tgid), str(t.flags), str(t.static_prio), str(t.utime)) "
                      f"for t in {pid_mod}.for_each_task(prog)]"),
        Query("uts", "prog['init_uts_ns'].name"),
    ])
    listed = json.loads((oracle_dump.truth / "ps.json").read_text())
    with open_program(str(oracle_dump.path)) as prog:
        task_t = prog.type("struct task_struct")
        init = Object(prog, task_t, address=recs["init_task"]["value"])
        off = task_t.member("tasks").offset
        tasks = [init.address_]
        node = init.tasks.next
        while node.value_() != init.tasks.address_:
            tasks.append(node.value_() - off)
            node = node.next
            assert len(tasks) < 10000
        assert tasks[1:] == recs["tasks"]["value"]  # drgn's for_each_task starts after init_task
        got = []
        for a in tasks[1:]:
            t = Object(prog, task_t, address=a)
            got.append([str(t.comm), str(t.pid), str(t.tgid), str(t.flags), str(t.static_prio), str(t.utime)])
        assert got == recs["strs"]["value"]
        ours = {}
        for a in tasks[1:]:
            t = Object(prog, task_t, address=a)
            ours[int(t.pid)] = (t.comm.string_().decode(), int(t.real_parent.tgid))
        assert listed and not [p for p in listed if p["pid"] not in ours]
        wrong = [(p, ours[p["pid"]]) for p in listed
                 if not comm_matches(p["comm"], ours[p["pid"]][0]) or p["ppid"] != ours[p["pid"]][1]]
        assert not wrong
        assert {"sleep", "kdbg-sleeper", "cat"} <= {c for c, _p in ours.values()}
        assert prog.memory is not None and prog.memory.vmcoreinfo is not None
        uts = Object(prog, "struct uts_namespace", address=prog.memory.vmcoreinfo.symbol("init_uts_ns"))
        assert str(uts.name) == recs["uts"]["str"]
        assert uts.name.release.string_().decode() == (oracle_dump.truth / "uname").read_text().strip()


def test_sys_finds_the_timekeeper_in_code(oracle_dump: Dump) -> None:
    """The cloud kernel's kallsyms lists no global. lsmod runs (``modules`` is found in
    the code that uses it, test_arm64_data_symbols), and so does sys: the timekeeper's
    ``tk_core``, a static that neither VMCOREINFO nor the exported-symbol tables give, is
    found in the code of the functions that read it (:mod:`kdbg.symbols.coderefs`). Its
    address is drgn's (DWARF); sys's date and uptime are what drgn reads from it as the
    kernel's ``ktime_get_real_seconds()`` and ``ktime_get_boottime_seconds()`` compute
    them, and the uptime is no earlier than the guest's last console line."""
    kallsyms = {n for _a, _t, n in truth_vmlinux(oracle_dump.truth)}
    assert "init_task" not in kallsyms and "modules" not in kallsyms and "tk_core" not in kallsyms
    p = run_kdbg("-c", str(oracle_dump.path), "-x", "lsmod")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    tk = "prog['tk_core'].timekeeper"
    recs = drgn_answers(oracle_dump, [
        Query("tk_core", "prog['tk_core'].address_"),
        Query("date", f"{tk}.xtime_sec.value_()"),
        Query("uptime", f"({tk}.tkr_mono.base.value_() + {tk}.offs_boot.value_()"
                        f" + ({tk}.tkr_mono.xtime_nsec.value_() >> {tk}.tkr_mono.shift.value_())) // 10**9"),
    ])
    p = run_kdbg("-q", "-c", str(oracle_dump.path), "--json", "-x", "sys")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    fields = json.loads(p.stdout)
    assert (fields["date"], fields["uptime"]) == (recs["date"]["value"], recs["uptime"]["value"])
    p = run_kdbg("-q", "-c", str(oracle_dump.path), "-e", "hex(prog['tk_core'].address_)")
    assert p.returncode == 0 and p.stdout.strip().strip("'") == hex(recs["tk_core"]["value"]), p.stdout
    stamps = re.findall(r"^\[\s*(\d+)\.\d+\]", (oracle_dump.truth / "console.log").read_text(errors="replace"), re.M)
    assert stamps and fields["uptime"] >= int(stamps[-1])
