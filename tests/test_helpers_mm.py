"""The memory-management helpers (``kdbg.helpers.mm``) against drgn 0.3.0 with Debian's
DWARF on the same memory (the ``elf-paging`` dump; kdbg also reads the ``kdump-zlib``
dump of the same guest), and against what the guest itself recorded: ``/proc/iomem``
(System RAM and the kernel image's physical place) and ``/proc/meminfo`` (``MemTotal``).

The addresses: ``init_task`` (kernel image data), ``schedule`` (kernel text), the first
tasks of ``for_each_task`` (slab objects), their ``task->stack`` (vmalloc'd), each CPU's
runqueue (per-CPU area, direct map) and pfns taken from the guest's System RAM ranges.
For each, drgn's conversions and page-flag answers; for the whole memory map, drgn's
slab pages, the pages on the buddy allocator's free lists (walked by drgn: every such
page and no other is ``PageBuddy``) and the decoded flags of every distinct flags value.

Where kdbg differs from drgn on purpose (``kdbg.helpers.mm`` explains it): drgn's
``virt_to_phys`` is direct-map arithmetic on any address; kdbg's follows the kernel's
``__pa()`` for kernel-image addresses (checked against drgn's page-table walk
``follow_phys(init_mm, ...)`` and the guest's iomem "Kernel code" range) and refuses any
other non-direct-map address with a one-line error, where drgn's number is not the
address's page (checked against drgn's ``vmalloc_to_pfn``).
"""

from __future__ import annotations

import functools
import itertools
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from kdbg.core.object import Object
from kdbg.core.program import Program
from kdbg.errors import KdbgError
from kdbg.helpers import mm as M
from kdbg.helpers.cpumask import for_each_possible_cpu
from kdbg.helpers.percpu import per_cpu
from kdbg.helpers.pid import for_each_task
from tests.conftest import resolve_dump
from tests.helpers_support import open_dump
from vmcores.debian import SUITES
from vmcores.oracle import ORACLE_FORM, Query, ask_drgn

FORMS = [ORACLE_FORM, "kdump-zlib"]
#: drgn's page-flag predicates compared page by page (drgn has no PageBuddy).
PREDICATES = ["PageSlab", "PageCompound", "PageHead", "PageTail", "PageReserved", "PageLRU", "PageActive",
              "PageDirty", "PageUptodate", "PageLocked", "PageWriteback", "PagePrivate", "PageSwapBacked",
              "PageReferenced", "PageWorkingset", "PageUnevictable", "PageMlocked", "PageError",
              "PageOwnerPriv1", "PageChecked", "PageMappedToDisk", "PageReclaim", "PageReadahead",
              "PageIdle", "PageYoung", "PageHWPoison", "PageIsolated", "PageReported", "PageWaiters"]
NTASKS = 6

# Run by drgn (exec'd inside the oracle's eval): ``pfns`` is pasted in; the answer is ``result``.
_DRGN = r'''
import drgn.helpers.linux.mm as M
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.cpumask import for_each_possible_cpu
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.nodemask import for_each_online_node

def info(p):
    return {"page": p.value_(), "pfn": M.page_to_pfn(p).value_(), "phys": M.page_to_phys(p).value_(),
            "virt": M.page_to_virt(p).value_(), "flags": M.page_flags(p).value_(),
            "decoded": M.decode_page_flags(p), "head": M.compound_head(p).value_(),
            "order": M.compound_order(M.compound_head(p)).value_(),
            "pred": {n: bool(getattr(M, n)(p)) for n in PREDICATES}}

def direct(a):
    return {"phys": M.virt_to_phys(prog, a).value_(), "pfn": M.virt_to_pfn(prog, a).value_(),
            "page": info(M.virt_to_page(prog, a)), "in_direct_map": M.in_direct_map(prog, a)}

init_mm = prog["init_mm"].address_of_()
def walked(a):
    return {"follow_phys": M.follow_phys(init_mm, a).value_(), "page": info(M.follow_page(init_mm, a)),
            "virt_to_phys": M.virt_to_phys(prog, a).value_()}

tasks = list(for_each_task(prog))[:NTASKS]
rqs = [per_cpu(prog["runqueues"], c).address_ for c in for_each_possible_cpu(prog)]
member = "buddy_list" if prog.type("struct page").has_member("buddy_list") else "lru"
free = []
for nid in for_each_online_node(prog):
    for z in prog["node_data"][nid].node_zones:
        for o in range(z.free_area.type_.length):
            fl = z.free_area[o].free_list
            for mt in range(fl.type_.length):
                if not fl[mt].next:  # a zone that was never initialized (no memory)
                    continue
                free += [p.value_() for p in list_for_each_entry("struct page", fl[mt].address_of_(), member)]
slab, values = [], set()
for p in M.for_each_page(prog):
    f = M.page_flags(p).value_()
    values.add(f)
    if M.PageSlab(p):
        slab.append(p.value_())
result = {
    "max_pfn": prog["max_pfn"].value_(), "totalram": M.totalram_pages(prog),
    "init_task": prog["init_task"].address_, "text": prog.symbol("schedule").address,
    "tasks": [t.value_() for t in tasks], "stacks": [t.stack.value_() for t in tasks], "rqs": rqs,
    "direct": {str(a): direct(a) for a in [t.value_() for t in tasks] + rqs},
    "image": {str(a): walked(a) for a in [prog["init_task"].address_, prog.symbol("schedule").address]},
    "stack": {str(t.stack.value_()): {"virt_to_pfn": M.virt_to_pfn(prog, t.stack).value_(),
                                      "vmalloc_to_pfn": M.vmalloc_to_pfn(prog, t.stack).value_(),
                                      "vmalloc_to_page": M.vmalloc_to_page(prog, t.stack).value_()}
              for t in tasks},
    "pfns": {str(n): {"page": info(M.pfn_to_page(prog, n)), "virt": M.pfn_to_virt(prog, n).value_(),
                      "phys_to_page": M.phys_to_page(prog, (n << 12) | 0x123).value_(),
                      "phys_to_virt": M.phys_to_virt(prog, (n << 12) | 0x123).value_()} for n in PFNS},
    "free": free, "slab": slab,
    "decoded": {str(v): M.decode_page_flags_value(prog, v) for v in values},
    "ranges": [[s, e] for s, e, _ in M.for_each_valid_page_range(prog)],
}
'''


def _iomem(truth: Path) -> List[Tuple[int, int, str]]:
    """``(start, end inclusive, name)`` of every line of the guest's ``/proc/iomem``."""
    out = []
    for line in (truth / "iomem").read_text().splitlines():
        m = re.match(r"\s*([0-9a-f]+)-([0-9a-f]+) : (.*)", line)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3)))
    return out


def _sample_pfns(truth: Path) -> List[int]:
    """First, middle and last pfn of each System RAM range, and the first of the kernel code."""
    pfns = []
    for start, end, name in _iomem(truth):
        if name == "System RAM":
            first, last = -(-start // 4096), (end + 1) // 4096 - 1
            pfns += [first, (first + last) // 2, last]
        elif name == "Kernel code":
            pfns.append(start // 4096)
    return sorted(set(pfns))


@functools.cache
def drgn_answers(suite: str) -> Dict[str, Any]:
    """drgn's answers on *suite* (one cached oracle run)."""
    dump = resolve_dump(suite, ORACLE_FORM, "qemu")
    src = _DRGN.replace("NTASKS", str(NTASKS)).replace("PREDICATES", repr(PREDICATES)).replace(
        "PFNS", repr(_sample_pfns(dump.truth)))
    text = f"(lambda ns: (exec({src!r}, ns), ns['result'])[1])({{'prog': prog}})"
    rec = ask_drgn(suite, dump.path, [Query("mm", text)]).records["mm"]
    if rec["kind"] == "error":
        raise AssertionError(f"drgn on {suite}: {rec['error']}: {rec['message']}")
    return rec["value"]  # type: ignore[no-any-return]


def _open(suite: str, form: str) -> Program:
    return open_dump(suite, form, "qemu")


def _info(p: Object) -> Dict[str, Any]:
    """kdbg's answers for a page, as drgn's ``info()``."""
    head = M.compound_head(p)
    return {"page": int(p), "pfn": int(M.page_to_pfn(p)), "phys": int(M.page_to_phys(p)),
            "virt": int(M.page_to_virt(p)), "flags": int(M.page_flags(p)), "decoded": M.decode_page_flags(p),
            "head": int(head), "order": int(M.compound_order(head)),
            "pred": {n: getattr(M, n)(p) for n in PREDICATES}}


CASES = [(s, f) for s in SUITES for f in FORMS]


def _id(case: Tuple[str, str]) -> str:
    return "-".join(case)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_addresses_are_drgns(case: Tuple[str, str]) -> None:
    """kdbg finds the same sample addresses as drgn (init_task, schedule, tasks, stacks,
    runqueues), max_pfn, and totalram_pages as drgn and as the guest's MemTotal."""
    suite, form = case
    prog = _open(suite, form)
    want = drgn_answers(suite)
    tasks = list(itertools.islice(for_each_task(prog), NTASKS))
    assert [int(t) for t in tasks] == want["tasks"]
    assert [int(t.stack) for t in tasks] == want["stacks"]
    assert [per_cpu(prog["runqueues"], c).address_ for c in for_each_possible_cpu(prog)] == want["rqs"]
    assert prog["init_task"].address_ == want["init_task"]
    assert prog.symbol("schedule").address == want["text"]
    assert int(prog["max_pfn"]) == want["max_pfn"]
    assert M.totalram_pages(prog) == want["totalram"]
    meminfo = (resolve_dump(suite, form, "qemu").truth / "meminfo").read_text()
    mem_total = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.M)
    assert mem_total is not None and M.totalram_pages(prog) * 4 == int(mem_total.group(1))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_direct_map_addresses_equal_drgn(case: Tuple[str, str]) -> None:
    """Slab objects (task_structs) and runqueues: virt_to_phys, virt_to_pfn,
    virt_to_page and, of that page, page_to_pfn/phys/virt, the flags raw and decoded,
    compound_head, compound_order and every predicate, as drgn; a task_struct's head
    page is a slab page, a runqueue's (the static per-CPU area) is not."""
    suite, form = case
    prog = _open(suite, form)
    want = drgn_answers(suite)
    for a in want["tasks"] + want["rqs"]:
        w = want["direct"][str(a)]
        assert int(M.virt_to_phys(prog, a)) == w["phys"]
        assert int(M.virt_to_pfn(prog, a)) == w["pfn"]
        assert M.in_direct_map(prog, a) is w["in_direct_map"] is True
        page = M.virt_to_page(prog, a)
        assert _info(page) == w["page"], hex(a)
        assert int(M.pfn_to_page(prog, w["pfn"])) == int(page)
        assert int(M.phys_to_virt(prog, w["phys"])) == a
    for a in want["tasks"]:
        head = M.compound_head(M.virt_to_page(prog, a))
        assert M.PageSlab(head) and M.PageHead(head) and not M.PageBuddy(head)
        if suite != "bullseye":  # folios since 5.16
            folio = M.page_folio(M.virt_to_page(prog, a))
            assert folio.type_.type_name() == "struct folio *" and int(folio) == int(head)
            assert int(M.folio_page(folio, 1)) == int(head) + prog.type("struct page").sizeof()
    for a in want["rqs"]:
        assert not M.PageSlab(M.compound_head(M.virt_to_page(prog, a)))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_kernel_image_addresses(case: Tuple[str, str]) -> None:
    """init_task and schedule: virt_to_phys is drgn's page-table walk (follow_phys) and
    lies in the guest's iomem "Kernel code" / "Kernel data" ranges; the page is drgn's
    follow_page, reserved (the kernel image), not slab; drgn's own virt_to_phys (direct-map
    arithmetic) is something else."""
    suite, form = case
    prog = _open(suite, form)
    want = drgn_answers(suite)
    iomem = {name: (s, e) for s, e, name in _iomem(resolve_dump(suite, form, "qemu").truth)}
    for a, where in ((want["text"], "Kernel code"), (want["init_task"], "Kernel data")):
        w = want["image"][str(a)]
        pa = int(M.virt_to_phys(prog, a))
        assert pa == w["follow_phys"] != w["virt_to_phys"]
        assert iomem[where][0] <= pa <= iomem[where][1]
        page = M.virt_to_page(prog, a)
        assert _info(page) == w["page"]
        assert M.PageReserved(page) and not M.PageSlab(page) and not M.PageBuddy(page)
        assert int(M.vmalloc_to_pfn(prog, a)) == pa >> 12
        assert not M.in_direct_map(prog, a)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_vmalloc_stack(case: Tuple[str, str]) -> None:
    """task->stack is vmalloc'd: virt_to_page refuses it in one line naming it (drgn's
    arithmetic gives no page of that stack: its pfn is beyond max_pfn or another page);
    vmalloc_to_page/pfn are drgn's."""
    suite, form = case
    prog = _open(suite, form)
    want = drgn_answers(suite)
    for s in want["stacks"]:
        w = want["stack"][str(s)]
        assert w["virt_to_pfn"] >= want["max_pfn"] or w["virt_to_pfn"] != w["vmalloc_to_pfn"]
        for f in (M.virt_to_page, M.virt_to_pfn, M.virt_to_phys):
            with pytest.raises(M.InvalidAddressError, match=f"{s:#x}") as e:
                f(prog, s)
            assert isinstance(e.value, ValueError) and "\n" not in str(e.value)
        assert int(M.vmalloc_to_pfn(prog, s)) == w["vmalloc_to_pfn"]
        assert int(M.vmalloc_to_page(prog, s)) == w["vmalloc_to_page"]


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_iomem_pfns_equal_drgn(case: Tuple[str, str]) -> None:
    """Pfns at the ends and middle of each System RAM range of the guest's iomem, and
    the kernel code's first: pfn_to_page, pfn_to_virt, phys_to_page, phys_to_virt and the
    page's answers, as drgn; the kernel code page is reserved."""
    suite, form = case
    prog = _open(suite, form)
    want = drgn_answers(suite)
    truth = resolve_dump(suite, form, "qemu").truth
    pfns = _sample_pfns(truth)
    assert [int(k) for k in want["pfns"]] == pfns
    for n in pfns:
        w = want["pfns"][str(n)]
        page = M.pfn_to_page(prog, n)
        assert _info(page) == w["page"], n
        assert int(M.pfn_to_virt(prog, n)) == w["virt"]
        assert int(M.phys_to_page(prog, (n << 12) | 0x123)) == w["phys_to_page"]
        assert int(M.phys_to_virt(prog, (n << 12) | 0x123)) == w["phys_to_virt"]
        assert int(M.PFN_PHYS(prog, n)) == n << 12 and int(M.PHYS_PFN(prog, (n << 12) | 5)) == n
    code = [s for s, _e, name in _iomem(truth) if name == "Kernel code"][0] >> 12
    assert M.PageReserved(M.pfn_to_page(prog, code))


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_whole_memory_map(case: Tuple[str, str]) -> None:
    """Over for_each_page: the slab pages are drgn's PageSlab pages, the PageBuddy pages
    are exactly the pages on the zones' free lists (walked by drgn), every flags value
    decodes as drgn decodes it, and the pages are drgn's valid pages below max_pfn."""
    suite, form = case
    prog = _open(suite, form)
    want = drgn_answers(suite)
    max_pfn = want["max_pfn"]
    slab, buddy, values = [], [], set()
    pages = 0
    for p in M.for_each_page(prog):
        pages += 1
        values.add(int(M.page_flags(p)))
        if M.PageSlab(p):
            slab.append(int(p))
        if M.PageBuddy(p):
            buddy.append(int(p))
    assert pages == max_pfn
    valid = set()
    for s, e in want["ranges"]:
        valid.update(range(s, min(e, max_pfn)))
    assert valid == set(range(max_pfn))
    vmemmap = int(M.pfn_to_page(prog, 0))
    size = prog.type("struct page").sizeof()
    drgn_slab = [a for a in want["slab"] if (a - vmemmap) // size < max_pfn]
    assert slab == drgn_slab and len(slab) > 100
    assert sorted(buddy) == sorted(want["free"]) and len(buddy) > 10
    for v in values:
        assert M.decode_page_flags_value(prog, v) == want["decoded"][str(v)]


@pytest.mark.parametrize("suite", SUITES)
def test_bad_input_is_one_line(suite: str) -> None:
    """A pfn at or beyond max_pfn, a physical address beyond memory, an address outside
    the direct map and the image, a pointer that is no struct page of the memory map:
    each a one-line InvalidAddressError (a ValueError, a KdbgError) naming the value."""
    prog = _open(suite, "kdump-zlib")
    max_pfn = int(prog["max_pfn"])
    vmemmap = int(M.pfn_to_page(prog, 0))
    cases = [
        (lambda: M.pfn_to_page(prog, max_pfn), f"{max_pfn:#x}"),
        (lambda: M.pfn_to_virt(prog, 1 << 40), f"{1 << 40:#x}"),
        (lambda: M.phys_to_page(prog, max_pfn << 12), f"{max_pfn:#x}"),
        (lambda: M.phys_to_virt(prog, max_pfn << 12), f"{max_pfn << 12:#x}"),
        (lambda: M.virt_to_page(prog, 0x1000), "0x1000"),
        (lambda: M.virt_to_phys(prog, vmemmap), f"{vmemmap:#x}"),
        (lambda: M.page_to_pfn(Object(prog, "struct page *", vmemmap + 3)), f"{vmemmap + 3:#x}"),
        (lambda: M.page_to_pfn(Object(prog, "struct page *", vmemmap + max_pfn * 64)),
         f"{vmemmap + max_pfn * 64:#x}"),
    ]
    for call, needle in cases:
        with pytest.raises(M.InvalidAddressError) as e:
            call()
        msg = str(e.value)
        assert isinstance(e.value, ValueError) and isinstance(e.value, KdbgError)
        assert needle in msg and "\n" not in msg, msg


def test_exported_with_drgns_names() -> None:
    """``from kdbg.helpers import *`` has the mm helpers, under drgn's names."""
    import kdbg.helpers as H

    for name in ["pfn_to_page", "page_to_pfn", "page_to_virt", "page_to_phys", "virt_to_page", "virt_to_pfn",
                 "virt_to_phys", "phys_to_virt", "phys_to_page", "pfn_to_virt", "compound_head", "page_folio",
                 "folio_page", "decode_page_flags", "totalram_pages", "for_each_page", *PREDICATES, "PageBuddy"]:
        assert name in H.__all__ and callable(getattr(H, name)), name


def test_signatures_are_drgns() -> None:
    """Every mm helper drgn has takes drgn's parameters; PageBuddy, page_folio, folio_page
    (drgn 0.3.0 has none of them) and the error class are kdbg's own."""
    import inspect

    import drgn.helpers.linux.mm as dm

    own = {"InvalidAddressError", "PageBuddy", "page_folio", "folio_page"}
    for name in M.__all__:
        theirs = getattr(dm, name, None)
        if name in own:
            assert theirs is None, name
            continue
        assert theirs is not None, f"{name} is not a drgn mm helper"
        assert list(inspect.signature(getattr(M, name)).parameters) == list(inspect.signature(theirs).parameters), name


@pytest.mark.parametrize("suite", SUITES)
def test_not_a_page(suite: str) -> None:
    """A page helper given a plain int, or a page whose struct page is unreadable: one line."""
    from kdbg.errors import FaultError, ObjectTypeError

    prog = _open(suite, "kdump-zlib")
    for f in (M.page_to_pfn, M.PageSlab, M.compound_head, M.decode_page_flags, M.page_folio):
        with pytest.raises(ObjectTypeError, match="expected a struct page"):
            f(0x1000)  # type: ignore[arg-type]
    with pytest.raises(FaultError):
        M.PageReserved(Object(prog, "struct page *", 0x1000))
