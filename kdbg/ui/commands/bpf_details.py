"""The extra lines of crash's ``bpf -p ID``/``-P`` and ``-m ID``/``-M``: what each program
and map holds besides the table's columns.

A program: ``XLATED`` (``len`` instructions of 8 bytes), ``JITED`` (``jited_len``),
``MEMLOCK`` (``pages`` pages, as ``/proc/PID/fdinfo``'s ``memlock``; crash multiplies in
a 16-bit variable and wraps at 64 KiB, the kernel does not), ``LOAD_TIME`` (the wall
time of ``aux->load_time``, a ``CLOCK_BOOTTIME`` stamp, by the dumped kernel's own
clocks, in UTC; crash adds it to the boot time of the machine crash runs on),
``GPL_COMPATIBLE``, ``NAME`` and ``UID`` (``aux->user``, before 5.11).

A map: ``KEY_SIZE``, ``VALUE_SIZE``, ``MAX_ENTRIES``, ``MEMLOCK`` (``memory.pages`` or
``pages`` where the kernel charged pages, else crash's estimate of the kernel's
``bpf_map_memory_footprint()``: key and value rounded to 8 bytes times the entries, in
pages), ``NAME`` and ``UID``.  From 6.4 on the kernel's ``memlock`` is
``map->ops->map_mem_usage()``, the map's real allocations: kdbg computes it as the kernel
does for hash maps (``htab_map_mem_usage()``, not per CPU) and arrays
(``array_map_mem_usage()``, not per CPU); other types keep crash's estimate.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from kdbg.core.conversions import container_of
from kdbg.errors import KdbgError
from kdbg.helpers.common import has_member
from kdbg.helpers.cpumask import num_possible_cpus
from kdbg.helpers.timekeeping import ktime_get_coarse_boottime_ns, ktime_get_coarse_real_ns

__all__ = ["map_details", "map_lines", "prog_details", "prog_lines"]

#: ``enum bpf_map_type`` values whose value is per CPU, and those holding fds (crash's lists).
_PERCPU_MAPS = {5, 6, 10, 21}
_FD_MAPS = {3, 4, 8, 12, 13}
_LOAD_TIME = "%a %b %d %H:%M:%S %Y"
#: ``BPF_MAP_TYPE_HASH``, ``_LRU_HASH``, ``_ARRAY``; ``BPF_F_NO_PREALLOC``, ``BPF_F_MMAPABLE``.
_HASH, _LRU_HASH, _ARRAY = 1, 9, 2
_NO_PREALLOC, _MMAPABLE = 0x1, 0x400
#: The kernel's ``HASHTAB_MAP_LOCK_COUNT`` (per-CPU ``map_locked`` counters of a hash map).
_HASHTAB_MAP_LOCK_COUNT = 8


def _name(chars: Any) -> str:
    raw = bytes(chars.to_bytes_()).split(b"\0", 1)[0]
    return f'"{raw.decode(errors="replace")}"' if raw else "(unused)"


def _uid(user: Any) -> str:
    try:
        return str(int(user.uid.val)) if int(user) else ""
    except (KdbgError, LookupError):
        return ""


def _page_size(prog: Any) -> int:
    return int(prog["PAGE_SIZE"])


def prog_details(prog: Any, p: Any) -> Dict[str, Any]:
    """``xlated``, ``jited``, ``memlock`` (None: unknown), ``load_time`` (seconds since the
    epoch, None: unknown), ``gpl_compatible``, ``name`` and ``uid`` (``""``: unknown) of
    the ``struct bpf_prog *`` *p*."""
    aux = p.aux
    memlock = int(p.pages) * _page_size(prog) if has_member(prog, "struct bpf_prog", "pages") else None
    load = None
    if has_member(prog, "struct bpf_prog_aux", "load_time"):
        offset = int(ktime_get_coarse_real_ns(prog)) - int(ktime_get_coarse_boottime_ns(prog))
        load = (offset + int(aux.load_time)) // 1_000_000_000
    uid = _uid(aux.user) if has_member(prog, "struct bpf_prog_aux", "user") else ""
    return {"xlated": int(p.len) * 8, "jited": int(p.jited_len), "memlock": memlock, "load_time": load,
            "gpl_compatible": bool(p.gpl_compatible), "name": _name(aux.name), "uid": uid}


def prog_lines(d: Dict[str, Any]) -> List[str]:
    """crash's three lines of :func:`prog_details`."""
    memlock = "(unknown)" if d["memlock"] is None else str(d["memlock"])
    load = "(unknown)" if d["load_time"] is None else time.strftime(_LOAD_TIME, time.gmtime(d["load_time"]))
    return [f"     XLATED: {d['xlated']}  JITED: {d['jited']}  MEMLOCK: {memlock}",
            f"     LOAD_TIME: {load}",
            f"     GPL_COMPATIBLE: {'yes' if d['gpl_compatible'] else 'no'}  NAME: {d['name']}  "
            f"UID: {d['uid'] or '(unknown)'}"]


def _estimate(prog: Any, m: Any) -> int:
    """crash's ``bpf_map_memory_size()``: the kernel's ``bpf_map_memory_footprint()``."""
    kind, value, key, entries = int(m.map_type), int(m.value_size), int(m.key_size), int(m.max_entries)
    if kind in _PERCPU_MAPS:
        value = -(-value // 8) * 8 * num_possible_cpus(prog)
    elif kind in _FD_MAPS:
        value = 4
    size = -(-(key + value) // 8) * 8
    page = _page_size(prog)
    return -(-(entries * size) // page) * page


def _sizeof(prog: Any, name: str) -> int:
    return int(prog.type(name).size)


def _mem_usage(prog: Any, m: Any) -> Optional[int]:
    """The kernel's ``map_mem_usage()`` (6.4 and later) of a hash map or an array that is
    not per CPU; None for the other types."""
    kind, flags, cpus = int(m.map_type), int(m.map_flags), num_possible_cpus(prog)
    if kind in (_HASH, _LRU_HASH):
        h = container_of(m, "struct bpf_htab", "map")
        usage = _sizeof(prog, "struct bpf_htab") + _sizeof(prog, "struct bucket") * int(h.n_buckets)
        usage += 4 * cpus * _HASHTAB_MAP_LOCK_COUNT
        elem = int(h.elem_size)
        if not flags & _NO_PREALLOC:
            lru = kind == _LRU_HASH
            usage += elem * (int(m.max_entries) + (0 if lru else cpus)) + (0 if lru else 8 * cpus)
        elif bool(h.use_percpu_counter):
            return None
        else:
            usage += (elem + _sizeof(prog, "struct llist_node")) * int(h.count.counter)
        return usage
    if kind == _ARRAY:
        a = container_of(m, "struct bpf_array", "map")
        head, body = _sizeof(prog, "struct bpf_array"), int(m.max_entries) * int(a.elem_size)
        if flags & _MMAPABLE:
            page = _page_size(prog)
            return -(-head // page) * page + -(-body // page) * page
        return head + body
    return None


def map_details(prog: Any, m: Any) -> Dict[str, Any]:
    """``key_size``, ``value_size``, ``max_entries``, ``memlock``, ``name`` and ``uid``
    (``""``: unused) of the ``struct bpf_map *`` *m*."""
    if has_member(prog, "struct bpf_map", "memory"):
        memlock, user = int(m.memory.pages) * _page_size(prog), m.memory.user
    elif has_member(prog, "struct bpf_map", "pages"):
        memlock, user = int(m.pages) * _page_size(prog), m.user
    else:
        usage = _mem_usage(prog, m) if has_member(prog, "struct bpf_map_ops", "map_mem_usage") else None
        memlock, user = (_estimate(prog, m) if usage is None else usage), None
    return {"key_size": int(m.key_size), "value_size": int(m.value_size), "max_entries": int(m.max_entries),
            "memlock": memlock, "name": _name(m.name), "uid": _uid(user) if user is not None else ""}


def map_lines(d: Dict[str, Any]) -> List[str]:
    """crash's two lines of :func:`map_details`."""
    return [f"     KEY_SIZE: {d['key_size']}  VALUE_SIZE: {d['value_size']}  MAX_ENTRIES: {d['max_entries']}  "
            f"MEMLOCK: {d['memlock']}",
            f"     NAME: {d['name']}  UID: {d['uid'] or '(unused)'}"]
