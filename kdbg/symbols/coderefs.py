"""Data symbols found from the code that uses them.

A kernel without ``CONFIG_KALLSYMS_ALL`` lists no global, but its functions still refer to
them (arm64: ``adrp`` + ``add``/``ldr``; x86-64: RIP-relative and absolute operands;
decoded by :func:`kdbg.arch.code_references`).
:data:`REFERRERS` names, for each global kdbg needs that is neither exported nor in
VMCOREINFO, functions of different translation units that refer to it: the global's address
is the one address in the kernel's data that every one of them forms and that no known
symbol holds. Functions from more than one source file leave out gcc's section anchors
(the first object of one file's data, which its functions share). Fewer than
:data:`MIN_REFERRERS` such functions in kallsyms, or not exactly one address left, and the
global stays unknown (its lookup fails in one line, never with a guess). The globals are
found in :data:`REFERRERS`' order, each one found becoming known to those after it: a
static one whose referrers all share their file's anchor is listed after the anchor.
"""

from __future__ import annotations

from typing import Callable, Collection, Dict, Mapping, Optional, Set, Tuple

from kdbg.errors import KdbgError
from kdbg.symbols.table import SymbolTable

__all__ = ["REFERRERS", "MIN_REFERRERS", "SUCCESSORS", "absent_globals", "code_referenced_symbols"]

#: ``{global: functions that refer to it}``, each list from at least two source files
#: where the global is not static (the same on Debian's 5.10, 6.1 and 6.12; checked
#: against their ``-dbg`` vmlinux by tests/test_arm64_data_symbols.py on arm64, against
#: the guest's kallsyms and drgn by tests/test_x86_data_symbols.py on x86-64).
REFERRERS: Mapping[str, Tuple[str, ...]] = {
    # kernel/module/main.c, kernel/module/kallsyms.c
    "modules": ("find_module_all", "module_kallsyms_lookup_name", "module_kallsyms_on_each_symbol"),
    # kernel/panic.c, kernel/kexec_core.c (6.1) or kernel/crash_core.c (6.12)
    "panic_cpu": ("panic", "nmi_panic", "crash_kexec"),
    # kernel/panic.c only: its anchor is not among the three (each reads tainted_mask itself)
    "tainted_mask": ("add_taint", "test_taint", "get_taint"),
    # mm/slab_common.c: slab_mutex is the other address slab_start/slab_next form
    "slab_caches": ("slab_start", "slab_next", "slab_show"),
    # kernel/time/timekeeping.c only (tk_core is static; sys's date and uptime): no anchor,
    # each forms tk_core itself to read its seqcount, and otherwise members no other one
    # reads (ktime_get_raw: tkr_raw's; ktime_get_resolution_ns: tkr_mono.shift) or data of
    # its own (ktime_mono_to_any: offsets[]). Not getboottime64: x86-64 reads no seqcount.
    "tk_core": ("ktime_mono_to_any", "ktime_get_raw", "ktime_get_resolution_ns"),
    # Linux 6.17 and later (:data:`SUCCESSORS`): tk_core is timekeeper_data[TIMEKEEPER_CORE],
    # TIMEKEEPER_CORE the first of enum timekeeper_ids, so at timekeeper_data's base. There
    # ktime_mono_to_any reads offsets[] alone (7.2's arm64 and x86-64 code form no seqcount
    # address; arm64's shares one of types__nanosleep's with the other two, a wrong "tk_core"),
    # and ktime_get_coarse_real_ts64 reads the seqcount, xtime_sec and coarse_nsec instead.
    "timekeeper_data": ("ktime_get_coarse_real_ts64", "ktime_get_raw", "ktime_get_resolution_ns"),
    # kmem -i's counters (/proc/meminfo's sources). mm/util.c, mm/memcontrol.c, fs/proc/base.c
    "total_swap_pages": ("vm_commit_limit", "mem_cgroup_swap_full", "proc_oom_score"),
    # mm/util.c only; the one that formed kbytes (its file's anchor) before ratio, which
    # vm_commit_limit reads through kbytes's register (+0xc) after a branch
    "sysctl_overcommit_kbytes": ("overcommit_ratio_handler", "vm_commit_limit", "__vm_enough_memory"),
    "sysctl_overcommit_ratio": ("overcommit_kbytes_handler", "vm_commit_limit", "__vm_enough_memory"),
    # mm/util.c, mm/mmap.c, mm/mprotect.c
    "vm_committed_as": ("vm_memory_committed", "insert_vm_struct", "mprotect_fixup"),
    # mm/swapfile.c only (both static): swap_info first; then nr_swapfiles, which the
    # others read under swap_lock (swapcache_free_entries reads it alone)
    "swap_info": ("swap_next", "swapdev_block", "get_swap_device"),
    "nr_swapfiles": ("swapcache_free_entries", "count_swap_pages", "si_swapinfo"),
    # mm/hugetlb.c, ipc/shm.c, fs/hugetlbfs/inode.c; then the count for_each_hstate bounds
    # it by, also from mm/hugetlb_cgroup.c (mm/hugetlb.c's functions share its anchor)
    "hstates": ("size_to_hstate", "newseg", "hugetlbfs_init_fs_context"),
    "hugetlb_max_hstate": ("size_to_hstate", "hugetlb_cgroup_css_offline", "hugetlb_total_pages"),
}
#: ``{global: (its successor, the function that came with the successor)}``: globals a
#: kernel replaced by another, told apart by a function of the same change in kallsyms
#: (this layer sees no BTF: symbols load before types are read). Linux 6.17's
#: auxiliary clocks made ``tk_core`` a macro for ``timekeeper_data[TIMEKEEPER_CORE]`` and
#: added ``ktime_get_clock_ts64`` (both on the tip tree's timers/ptp branch of that merge
#: window). Where kallsyms has the function only the successor is searched, elsewhere only
#: the global; the one not searched is absent from the kernel, not unresolved.
SUCCESSORS: Mapping[str, Tuple[str, str]] = {"tk_core": ("timekeeper_data", "ktime_get_clock_ts64")}
#: How many of a global's referrers kallsyms must list (one function alone forms several
#: addresses: its strings, its file's anchor, the other globals it uses).
MIN_REFERRERS = 2
#: The longest function read (a kallsyms size beyond this is not a function's).
MAX_FUNCTION = 1 << 16


def _function(table: SymbolTable, name: str) -> Optional[Tuple[int, int]]:
    """``(address, size)`` of the one vmlinux text symbol ``name``, or ``None`` (absent,
    ambiguous, or of unknown size)."""
    syms = [s for s in table.lookup_all(name, "vmlinux") if s.type in "TtWw"] if name in table else []
    if len(syms) != 1 or syms[0].size is None or not 0 < syms[0].size <= MAX_FUNCTION:
        return None
    return syms[0].address, syms[0].size


def absent_globals(table: SymbolTable) -> Set[str]:
    """The globals of :data:`REFERRERS` the kernel of ``table`` (its kallsyms) does not
    have: by :data:`SUCCESSORS`, the old one where kallsyms has the function that came with
    its successor, else the successor."""
    out: Set[str] = set()
    for old, (new, marker) in SUCCESSORS.items():
        out.add(old if marker in table else new)
    return out


def code_referenced_symbols(table: SymbolTable, read: Callable[[int, int], bytes],
                            decode: Callable[[bytes, int], Set[int]], data: Tuple[int, int],
                            known: Collection[int], names: Collection[str]) -> Tuple[Dict[str, int], Dict[str, str]]:
    """``({name: address}, {name: why not})`` for the globals of :data:`REFERRERS` in
    ``names``: the one address in ``data`` (``[start, end)``: the image past its text)
    that ``decode`` finds in the code of each referrer and that is none of ``known``
    (the addresses of the symbols known already). The globals :func:`absent_globals`
    names are not searched (and not said unresolved)."""
    found: Dict[str, int] = {}
    why: Dict[str, str] = {}
    refs: Dict[str, Optional[Set[int]]] = {}
    lo, hi = data
    known = set(known)
    absent = absent_globals(table)
    for name in (n for n in REFERRERS if n in names and n not in absent):
        referrers = REFERRERS[name]
        sets = []
        for fn in referrers:
            if fn not in refs:
                where = _function(table, fn)
                refs[fn] = None
                if where is not None:
                    try:
                        code = read(*where)
                    except KdbgError:
                        code = b""
                    if code:
                        refs[fn] = {a for a in decode(code, where[0]) if lo <= a < hi}
            got = refs[fn]
            if got is not None:
                sets.append(got - known)
        if len(sets) < MIN_REFERRERS:
            why[name] = f"{len(sets)} of its referrers ({', '.join(referrers)}) readable in kallsyms"
            continue
        common = set.intersection(*sets)
        if len(common) != 1:
            why[name] = f"{len(common)} addresses common to {', '.join(referrers)}"
            continue
        found[name] = common.pop()
        known.add(found[name])
    return found, why
