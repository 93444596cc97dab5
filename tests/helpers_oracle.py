"""What drgn 0.3.0 with Debian's DWARF says, through its own helpers, about the printk
buffer, the mounts and the slab caches of a reference dump (its ``elf-paging`` form; every
form of a suite holds the same memory). One cached ``vmcores.oracle.ask_drgn`` call per
suite answers them all.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List

from tests.conftest import resolve_dump
from vmcores.oracle import ORACLE_FORM, Query, ask_drgn

#: Small and middle-sized caches whose allocated objects are counted with drgn's
#: ``slab_cache_for_each_allocated_object`` (a merged name is simply absent).
SLAB_COUNT_CACHES: List[str] = [
    "kmem_cache",
    "kmem_cache_node",
    "task_struct",
    "mm_struct",
    "files_cache",
    "fs_cache",
    "sighand_cache",
    "signal_cache",
    "vm_area_struct",
    "pid",
    "dentry",
    "inode_cache",
    "kmalloc-1k",
    "kmalloc-8k",
]

_SLAB = "__import__('drgn.helpers.linux.slab', fromlist=['_'])"
_PRINTK = "__import__('drgn.helpers.linux.printk', fromlist=['_'])"
_FS = "__import__('drgn.helpers.linux.fs', fromlist=['_'])"

QUERIES: List[Query] = [
    Query("slab.names", f"[s.name.string_().decode() for s in {_SLAB}.for_each_slab_cache(prog)]"),
    Query(
        "slab.counts",
        f"(lambda S: {{n: (None if S.find_slab_cache(prog, n) is None else "
        f"sum(1 for _ in S.slab_cache_for_each_allocated_object(S.find_slab_cache(prog, n), 'void'))) "
        f"for n in {SLAB_COUNT_CACHES!r}}})({_SLAB})",
    ),
    Query(
        "slab.first_objects",
        f"(lambda S: {{n: [o.value_() for o, _ in zip(S.slab_cache_for_each_allocated_object("
        f"S.find_slab_cache(prog, n), 'void'), range(5))] for n in ['task_struct', 'mm_struct']}})({_SLAB})",
    ),
    Query(
        "slab.usage",
        f"(lambda S: {{n: list(S.slab_cache_usage(S.find_slab_cache(prog, n))) "
        f"for n in {SLAB_COUNT_CACHES!r} if S.find_slab_cache(prog, n) is not None}})({_SLAB})",
    ),
    Query(
        "printk.records",
        f"[[r.text.decode('latin-1'), r.facility, r.level, r.seq, r.timestamp, r.caller_tid, r.caller_cpu, "
        f"r.continuation, {{k.decode(): v.decode('latin-1') for k, v in r.context.items()}}] "
        f"for r in {_PRINTK}.get_printk_records(prog)]",
    ),
    Query(
        "fs.mounts",
        f"(lambda F: [[F.mount_src(m).decode(), F.mount_dst(m).decode(), F.mount_fstype(m).decode(), m.value_()] "
        f"for m in F.for_each_mount(prog)])({_FS})",
    ),
    Query(
        "fs.files",
        f"(lambda F, P: {{str(t.pid.value_()): [[fd, F.d_path(f.f_path).decode('latin-1')] "
        f"for fd, f in F.for_each_file(t) if f] for t in P.for_each_task(prog)}})"
        f"({_FS}, __import__('drgn.helpers.linux.pid', fromlist=['_']))",
    ),
    Query(
        "fs.paths",
        f"(lambda F: [F.d_path(F.path_lookup(prog, p)).decode() for p in ['/', '/proc', '/dev/console', "
        f"'/proc/../dev', '/bin/busybox', '/tmp']] + [F.dentry_path(F.path_lookup(prog, '/dev/console').dentry)"
        f".decode()])({_FS})",
    ),
]


@functools.cache
def helper_answers(suite: str) -> Dict[str, Any]:
    """drgn's value for each query key on *suite* (an error record raises)."""
    dump = resolve_dump(suite, ORACLE_FORM, "qemu")
    answers = ask_drgn(suite, dump.path, QUERIES)
    out: Dict[str, Any] = {}
    for key, rec in answers.records.items():
        if rec["kind"] == "error":
            raise AssertionError(f"drgn on {suite}: {key}: {rec['error']}: {rec['message']}")
        out[key] = rec["value"]
    return out
