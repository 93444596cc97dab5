"""Which of drgn's ``contrib/`` scripts run on the reference vmcores, with which arguments,
and which cannot and why: the one list the contrib test (``tests/test_drgn_contrib.py``)
and the contrib benchmark (``benchmarks/bench_contrib.py``) share.

A script's arguments are templates: ``{fact}`` is a value drgn (with Debian's DWARF) finds
on the dump (:data:`FACT_QUERIES`) or ``{release}``, the kernel release the guest reported;
``{out}`` is a file the script writes.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

from vmcores.dump_index import Dump
from vmcores.oracle import Query, ask_drgn

__all__ = ["FORMS", "FACT_QUERIES", "RUNS", "CANNOT", "CANNOT_RUNS", "Facts", "script_facts", "script_args"]

#: The dump forms each script runs on: ``(form, tool)``.
FORMS: List[Tuple[str, str]] = [("elf-paging", "qemu"), ("kdump-zlib", "makedumpfile")]

#: What a script's arguments are made of on one dump: values drgn (with DWARF) finds, and
#: ``release``, the kernel release the guest reported (``uname -r``).
Facts = Dict[str, str]

#: drgn expressions whose values some scripts take as arguments (asked on each dump).
FACT_QUERIES = {
    # A struct file PID 1 has open (its standard input).
    "file": "drgn.helpers.linux.pid.find_task(prog, 1).files.fdt.fd[0]",
    # A user address of PID 1 whose page is present: its argument strings.
    "user_vaddr": "drgn.helpers.linux.pid.find_task(prog, 1).mm.arg_start",
}

#: Scripts that run on a vmcore: name -> argument lists (each list is one run), written
#: with ``{fact}`` placeholders from :data:`FACT_QUERIES` and ``{out}`` for a file the
#: script writes.
RUNS: Dict[str, List[List[str]]] = {
    "bpf_inspect.py": [["prog"], ["map"], ["link"], ["prog", "--show-details"]],
    "cgroup.py": [["tree"], ["stat"], ["bpf"]],
    "find_struct_file.py": [["{file}"]],
    "fs_inodes.py": [[], ["/proc"]],
    "gcore.py": [["1", "{out}"]],
    "irq.py": [[]],
    "kcore_list.py": [[]],
    "lsmod.py": [[]],
    "mount.py": [[]],
    "mutex_owner.py": [["module_mutex"]],
    "platform_drivers.py": [[]],
    "ps.py": [[], ["-k"], ["-u"], ["-t", "1", "2"], ["--hierarchy", "1"], ["-c", "2"]],
    "search_kernel_memory.py": [["--string", "{release}"]],
    "show_page_info.py": [["1", "{user_vaddr}"]],
    "slabinfo.py": [[]],
    "tcp_sock.py": [[]],
    "vmallocinfo.py": [[]],
    "vmmap.py": [["1"]],
    "vmstat.py": [[]],
    "pp_leak/ls_pp_leaks.py": [[]],
    # an interface the guests have (lo) and one they lack: drgn's netdev_get_by_name finds and misses
    "pp_leak/scan_tcp_socks.py": [[], ["-i", "lo"], ["-i", "eth9"]],
}

#: Runs of a script in :data:`RUNS` with other arguments that cannot print drgn's output
#: without DWARF: ``(script, arguments) -> why``.
CANNOT_RUNS: Dict[Tuple[str, Tuple[str, ...]], str] = {
    ("ps.py", ("-d",)): "prints each task's stack trace as drgn does with DWARF, with source files, lines and "
    "inline frames (kdbg's frames are ORC's, named by kallsyms: `#0 __schedule+0x34d/0x9e0`)",
}

#: Scripts that cannot run on these vmcores, and why.
CANNOT: Dict[str, str] = {
    "bt_by_pid_and_frame.py": "prints source files and lines and inline frames of a stack trace, and a "
    "frame's local variables: DWARF-only information (kdbg's stack traces are ORC's, named by kallsyms)",
    "pstack.py": "unwinds user-space stacks with the user programs' debug info (DWARF of the binaries)",
    "stack_trace_call_fault.py": "needs a crash through a call to a bad address and DWARF to name its "
    "caller's registers; the guests' crashes are a sysrq panic, a NULL write and an NMI",
    "qemu_mem.py": "reads a running QEMU process's memory on the host (/proc/PID/mem), not a vmcore",
    "ptdrgn.py": "an interactive ptpython shell (ptpython is not a dependency of either debugger)",
    "negdentdelete.py": "deletes negative dentries of a live system through the filesystem; never on a dump",
    "dm_crypt_key.py": "needs a dm-crypt device; the guests have none",
    "btrfs_orphan_subvolumes.py": "needs a mounted btrfs filesystem; the guests have none",
    "btrfs_print_fs_uuids_cache.py": "needs btrfs loaded and a btrfs filesystem; the guests have none",
    "btrfs_tree.py": "a btrfs helper library for interactive use; needs a btrfs filesystem",
    "btrfs_tree_mod_log.py": "needs a btrfs filesystem with a tree mod log; the guests have none",
    "dump_btrfs_bgs.py": "needs a mounted btrfs filesystem; the guests have none",
    "pp_leak/guess_leaky_skbs.py": "takes the bytes of a leaked page_pool page that ls_pp_leaks.py finds; "
    "the guests leak none",
}


def script_facts(dump: Dump, oracle_dump: Dump) -> Facts:
    """The values :data:`RUNS`' templates name, for ``dump``: asked of drgn on
    ``oracle_dump`` (the same boot's ``-p`` ELF dump), ``release`` from the guest's truth."""
    answers = ask_drgn(dump.suite, oracle_dump.path, [Query(k, text) for k, text in FACT_QUERIES.items()])
    facts: Facts = {"release": (dump.truth / "uname").read_text().strip()}
    for key, text in FACT_QUERIES.items():
        rec = answers.records[key]
        if rec["kind"] != "object":
            raise RuntimeError(f"{dump.suite}: drgn could not evaluate {text}: {rec}")
        facts[key] = hex(rec["value"])
    return facts


def script_args(template: List[str], facts: Facts) -> List[str]:
    """One argument list of :data:`RUNS` with its facts filled in (``{out}`` kept)."""
    return [a.format(out="{out}", **facts) for a in template]
