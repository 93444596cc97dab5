"""The pages crash reads when it opens a dump and runs ``sys``, ``log``, ``bt`` and ``bt -a``:
the page group ``kdbg shrink --for crash`` adds to SMALL, so that crash with the kernel's
DWARF ``vmlinux`` opens SMALL as it opens the original.

crash reads far more at start-up than kdbg: its symbols come from the DWARF ``vmlinux``, and
it checks and caches kernel state before its first prompt. Found with ``crash -d4`` (crash
8.0.2 on Debian's 5.10 and 6.1), the group is:

* **the kernel image's data**: ``.data`` (``_sdata`` to ``_edata``), ``.bss`` and the early
  page tables after it (``__bss_start`` to ``_end``), the ORC tables (``__start_orc_unwind_ip``
  to ``__stop_orc_unwind``, ``orc_lookup`` to ``orc_lookup_end``: its ``bt`` unwinds with them)
  and ``.rodata`` (``__start_rodata`` to ``__end_rodata``: ``linux_banner``, which it matches
  against the ``vmlinux``, the flag-name tables, and the strings that zone, module and device
  names point to) without the ``.BTF`` section, which crash does not read (the open phase
  keeps it, unless ``--reduced-btf`` replaces it);
* **the functions it disassembles or checks**: those its x86-64 start-up reads
  (:data:`START_UP_FUNCTIONS`), the entry code, the function of each frame kdbg unwinds on
  those stacks, and every kernel function whose address lies on them (it disassembles the
  one it starts in);
* **the sparse memory model's table of section roots and every root**, whole;
* **each possible CPU's per-CPU area** (``__per_cpu_offset[cpu]`` plus ``__per_cpu_start`` to
  ``__per_cpu_end``: ``cpu_number``, ``current_task``, ``runqueues``, ``cpu_tss_rw`` ...);
* **every task**: the PID IDR's nodes, each ``struct pid`` and each ``struct task_struct``
  whole (crash builds its task table at start), and each CPU's idle task;
* **the stacks ``bt -a`` walks**: the whole task stack of each CPU's active task and of the
  crashed task, and each CPU's IRQ, exception and NMI stacks through their virtual
  addresses (so the page tables of ``cpu_entry_area`` and of ``vmalloc``'d stacks are kept);
* **modules**: each ``struct module`` and every region of the module (crash reads the
  module's symbol table from it);
* **the printk ring buffer** whole (``prb``'s descriptor, info and text rings), wherever the
  kernel allocated it;
* **memory topology**: each online node's ``pglist_data``, and the ``memory`` bus's devices
  (the ``struct memory_block`` and name of each, which crash lists at start).

Everything is read through kdbg's own view of the dump, page by page; a page the original
cannot serve is left out, so it fails in SMALL as it did in the original.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, List, Tuple

from kdbg.core.program import Program
from kdbg.errors import KdbgError
from kdbg.helpers.cpumask import for_each_online_cpu, for_each_possible_cpu
from kdbg.helpers.device import bus_for_each_dev
from kdbg.helpers.mmzone import section_root_table
from kdbg.helpers.module import for_each_module, module_address_regions
from kdbg.helpers.percpu import per_cpu_offset
from kdbg.helpers.pid import for_each_task
from kdbg.helpers.sched import cpu_curr, task_cpu
from kdbg.helpers.stack import StackKind, task_stack_ranges
from kdbg.ui.commands.stack import active_tasks

__all__ = ["START_UP_FUNCTIONS", "read_for_crash"]

#: The functions crash's x86-64 start-up reads: the first bytes of some, to tell whether the
#: kernel was built with frame pointers, and ``common_interrupt``, which gdb disassembles to
#: find how an IRQ links its exception frame; names a kernel lacks are skipped.
START_UP_FUNCTIONS = ("sys_open", "sys_fork", "sys_read", "__x64_sys_open", "__x64_sys_fork", "__x64_sys_read",
                      "do_futex", "do_vfs_ioctl", "vfs_read", "__schedule", "common_interrupt")

#: ``(start, end)`` symbol pairs of the kernel image ranges kept whole (the entry code's
#: text too: ``bt`` disassembles where an exception or IRQ entered the kernel; and the
#: scheduler's, which crash's start-up searches for the return address of a switched-out
#: task).
IMAGE_RANGES = (("_sdata", "_edata"), ("__bss_start", "_end"), ("__start_orc_unwind_ip", "__stop_orc_unwind"),
                ("orc_lookup", "orc_lookup_end"), ("__start_rodata", "__end_rodata"),
                ("__entry_text_start", "__entry_text_end"), ("__irqentry_text_start", "__irqentry_text_end"),
                ("__softirqentry_text_start", "__softirqentry_text_end"), ("__sched_text_start", "__sched_text_end"))

#: Errors a walk of a damaged or partial dump may raise: the group keeps what it can reach.
_WALK_ERRORS = (KdbgError, LookupError, AttributeError, ValueError, OverflowError)


def read_for_crash(prog: Program) -> None:
    """Read (so that a recording memory keeps) every page crash reads at start-up and for
    ``sys``, ``log``, ``bt`` and ``bt -a`` (see the module docstring)."""
    for step in (_image, _section_roots, _per_cpu_areas, _tasks, _stacks, _modules, _printk_ring, _nodes,
                 _memory_blocks):
        with contextlib.suppress(*_WALK_ERRORS):
            step(prog)


def _read_range(prog: Program, start: int, end: int) -> None:
    """Read ``[start, end)`` page by page; pages the dump cannot serve are skipped."""
    page = int(prog["PAGE_SIZE"])
    for address in range(start & ~(page - 1), end, page):
        with contextlib.suppress(KdbgError):
            prog.read(address, page)


def _symbol_range(prog: Program, start: str, end: str) -> Tuple[int, int]:
    return prog.symbol(start).address, prog.symbol(end).address


def _image(prog: Program) -> None:
    skip: List[Tuple[int, int]] = []
    with contextlib.suppress(LookupError):
        skip.append(_symbol_range(prog, "__start_BTF", "__stop_BTF"))
    page = int(prog["PAGE_SIZE"])
    for names in IMAGE_RANGES:
        try:
            start, end = _symbol_range(prog, *names)
        except LookupError:
            continue
        for lo, hi in _without(start, end, skip, page):
            _read_range(prog, lo, hi)
    for name in START_UP_FUNCTIONS:
        with contextlib.suppress(LookupError):
            _read_function(prog, prog.symbol(name).address)


def _without(start: int, end: int, holes: List[Tuple[int, int]], page: int) -> Iterator[Tuple[int, int]]:
    """``[start, end)`` less the whole pages inside each hole."""
    at = start
    for lo, hi in sorted(holes):
        lo_page, hi_page = -(-lo // page) * page, hi // page * page
        if hi_page <= lo_page or hi_page <= at or lo_page >= end:
            continue
        if lo_page > at:
            yield at, lo_page
        at = max(at, hi_page)
    if at < end:
        yield at, end


#: Bytes past a function's end that gdb's disassembler may read (found: the page after
#: ``panic``, which crash's ``bt`` disassembles from its start to the frame's address).
_DISASSEMBLY_SLACK = 4096


def _read_function(prog: Program, address: int) -> None:
    """The kernel function holding ``address``, whole, and the block after it gdb reads."""
    try:
        sym = prog.symbol(address)
    except LookupError:
        return
    _read_range(prog, sym.address, sym.address + max(sym.size or 0, 1) + _DISASSEMBLY_SLACK)


def _section_roots(prog: Program) -> None:
    """The table of section roots and every root, whole: crash reads all of them."""
    table, size = section_root_table(prog)
    if not size:
        return
    _read_range(prog, table, table + size)
    raw = prog.read(table, size)
    page = int(prog["PAGE_SIZE"])
    for i in range(0, size, 8):
        root = int.from_bytes(raw[i:i + 8], "little")
        if root:
            _read_range(prog, root, root + page)


def _per_cpu_areas(prog: Program) -> None:
    start, end = _symbol_range(prog, "__per_cpu_start", "__per_cpu_end")
    for cpu in for_each_possible_cpu(prog):
        base = per_cpu_offset(prog, cpu) + start
        _read_range(prog, base, base + end - start)


def _tasks(prog: Program) -> None:
    size = prog.type("struct task_struct").size or 0
    for task in for_each_task(prog, idle=True):
        with contextlib.suppress(KdbgError):
            prog.read(int(task), size)


def _stacks(prog: Program) -> None:
    """The stacks of each CPU's active task and of the crashed task, and every kernel
    function whose address lies on them."""
    tasks = list(active_tasks(prog))
    with contextlib.suppress(*_WALK_ERRORS):
        tasks.append(prog.crashed_thread().object)
    with contextlib.suppress(*_WALK_ERRORS):
        tasks += [cpu_curr(prog, cpu) for cpu in for_each_online_cpu(prog)]
    seen = set()
    text = _symbol_range(prog, "_stext", "_etext")
    for task in tasks:
        if int(task) in seen:
            continue
        seen.add(int(task))
        with contextlib.suppress(*_WALK_ERRORS):
            for frame in prog.stack_trace(task):
                _read_function(prog, frame.pc)
        with contextlib.suppress(*_WALK_ERRORS):
            for start, end, kind in task_stack_ranges(task, task_cpu(task)):
                if kind is not StackKind.USER:
                    _read_range(prog, start, end)
                    _read_functions_on(prog, start, end, text)


def _read_functions_on(prog: Program, start: int, end: int, text: Tuple[int, int]) -> None:
    """Every kernel function an aligned word of ``[start, end)`` points into."""
    page = int(prog["PAGE_SIZE"])
    done = set()
    for address in range(start & ~(page - 1), end, page):
        try:
            data = prog.read(address, page)
        except KdbgError:
            continue
        for i in range(0, page, 8):
            word = int.from_bytes(data[i:i + 8], "little")
            if text[0] <= word < text[1] and word not in done:
                done.add(word)
                _read_function(prog, word)


def _modules(prog: Program) -> None:
    size = prog.type("struct module").size or 0
    for mod in for_each_module(prog):
        prog.read(int(mod), size)
        for start, length in module_address_regions(mod):
            if length:
                _read_range(prog, start, start + length)


def _printk_ring(prog: Program) -> None:
    prb = prog["prb"]
    desc_ring = prb.desc_ring
    count = 1 << int(desc_ring.count_bits)
    for ring, type_name in ((desc_ring.descs, "struct prb_desc"), (desc_ring.infos, "struct printk_info")):
        start = int(ring)
        _read_range(prog, start, start + count * (prog.type(type_name).size or 0))
    data = int(prb.text_data_ring.data)
    _read_range(prog, data, data + (1 << int(prb.text_data_ring.size_bits)))


def _nodes(prog: Program) -> None:
    size = prog.type("struct pglist_data").size or 0
    try:
        node_data = prog["node_data"]
    except LookupError:  # one node, in .data
        return
    for nid in range(len(node_data)):
        pgdat = int(node_data[nid])
        if pgdat:
            _read_range(prog, pgdat, pgdat + size)


def _memory_blocks(prog: Program) -> None:
    size = prog.type("struct memory_block").size or 0
    offset = prog.type("struct memory_block").member("dev").offset
    for dev in bus_for_each_dev(prog["memory_subsys"].address_of_()):
        prog.read(int(dev) - offset, size)
        with contextlib.suppress(KdbgError):
            prog.read(int(dev.kobj.name), 32)
