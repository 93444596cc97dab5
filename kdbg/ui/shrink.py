"""``kdbg shrink VMCORE -o SMALL (--report | -x CMD... | -e CODE | --script S.py [ARG...]) [OPTIONS]``
(options: ``--elf``, ``--redact``, ``--reduced-btf``, ``--for crash``, ``-q``)

Runs an analysis on a vmcore and writes a new, valid vmcore holding only the pages that
analysis read, so that the same analysis on SMALL prints the same output, and the dump can
be attached to a bug report without gigabytes of someone's memory.

What is kept: every page read while kdbg opened the dump (its VMCOREINFO-driven setup, the
kallsyms tables and the BTF, read from memory: the shrink runs with kdbg's cache off, so
nothing is taken from an earlier run), every page-table page the address translation
walked, and every page the analysis read; the dump's notes (VMCOREINFO, each CPU's
registers) are carried over whole. The output is kdump-compressed (zlib) unless ``--elf``.
In the kdump form, a page the original held but SMALL does not reads as "excluded from the
dump", exactly as in a filtered dump; a page the original could not serve stays unservable.

``--redact`` also zeroes every byte of a kept analysis page that was not read (pages read
while opening and page-table pages stay whole, so other readers can open SMALL too), and
leaves out user-space pages altogether, whatever read them: a page the kernel counts as mapped into a process
(``page->_mapcount >= 0``) or anonymous (``PAGE_MAPPING_ANON`` in ``page->mapping``), as
``page_mapped()`` and ``PageAnon()`` decide it.

``--reduced-btf`` carries the vmlinux BTF in a note of SMALL, reduced to the types the
open and the analysis decoded (and, behind pointers, forward declarations of what they
point to; the BTF's indexes read the records without decoding, so a decoded type is one a
lookup found or a read used, and a DATASEC keeps only its decoded VARs), each at its own
id and with the strings of its string section the kept types
and the loaded modules' BTF name, at their own offsets, so that module BTF still reads on
top of it, instead of the pages of the kernel's ``.BTF`` section; and the kallsyms symbols
the open and the analysis used (:meth:`~kdbg.symbols.table.SymbolTable.used_indices`) in
another note, instead of the pages only loading the symbol table read (the kallsyms
tables). kdbg opens SMALL with the notes. Other readers do not read BTF, and find no
kallsyms tables in SMALL.

``--for crash`` also keeps what crash (given the kernel's DWARF ``vmlinux``) reads when it
opens a dump and runs ``sys``, ``log``, ``bt`` and ``bt -a``: the kernel image's data, each
CPU's per-CPU area, every task, the active tasks' stacks, the modules, the printk ring
(:mod:`kdbg.ui.shrink_crash` lists it). Those pages stay whole under ``--redact``. Without
it SMALL holds what kdbg, drgn and makedumpfile read, and crash stops at its start-up.

Every SMALL carries kdbg shrink's record (:class:`~kdbg.memory.shrunk.ShrinkRecord`, a
note): the analysis's command line, the original's words for each page the analysis could
not read there, and the types the reduced BTF only declares. A read or a type lookup the
analysis did not make fails on SMALL with one line naming the page or the type and saying
SMALL is a reduced dump made by kdbg shrink; a read the original could not serve fails as
it did there.

The kdump header's dump level is makedumpfile's 31 (every kind of page it can leave out is
left out but for the pages read).

Next to SMALL, ``SMALL.manifest.json`` lists each kept page with why it was kept
(``symbols``, ``open``, ``page-table``, ``crash``, ``analysis``), how many of its bytes were read, and the pages left
out as user-space.

The output is written under a temporary name and renamed at the end: an analysis that
fails (exit status 1) or a dump that cannot be opened writes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Set

from kdbg import target
from kdbg.arch import cpu_note_page_table_roots
from kdbg.btf.encoder import declared_only_ids, reduce_keeping_ids
from kdbg.btf.memory import reduced_btf_note
from kdbg.core.program import Program
from kdbg.errors import FaultError, KdbgError
from kdbg.helpers.mm import PageBuddy, PageSlab, compound_head, pfn_to_page
from kdbg.helpers.mmzone import for_each_present_section
from kdbg.memory import open_physical
from kdbg.memory.kdump import MAX_DUMP_LEVEL
from kdbg.memory.recording import ANALYSIS, CRASH, OPEN, PAGE_TABLE, SYMBOLS, RecordingCoreMemory, RecordingMemory
from kdbg.memory.shrunk import SHRINK_NOTE, ShrinkRecord
from kdbg.memory.vmcoreinfo import VMCoreInfo
from kdbg.memory.writer import DumpImage, write_elf_core, write_kdump_core
from kdbg.symbols.kallsyms.lazy import LazyKallsyms
from kdbg.symbols.reduced import reduced_symbols_note
from kdbg.ui import report
from kdbg.ui.shrink_crash import read_for_crash
from kdbg.ui.tool import ToolParser

__all__ = ["COMMAND", "USAGE", "ShrinkJob", "build_parser", "parse_args"]

#: The readers ``--for`` keeps pages for (besides kdbg, drgn and makedumpfile, which SMALL
#: always serves): crash (:mod:`kdbg.ui.shrink_crash`).
READERS = ("crash",)

#: The first word of the command line that selects this tool.
COMMAND = "shrink"
USAGE = ("kdbg shrink VMCORE -o SMALL (--report | -x COMMAND... | -e CODE | --script S.py [ARG...]) "
         "[--elf] [--redact] [--reduced-btf] [--for crash] [-q]")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``kdbg shrink``."""
    p = ToolParser(prog="kdbg shrink", usage=USAGE, description=__doc__.split("\n\n")[1])
    p.add_argument("core", metavar="VMCORE", help="the dump to shrink (ELF, kdump-compressed or flattened)")
    p.add_argument("-o", "--output", metavar="SMALL", required=True, help="where to write the small dump")
    a = p.add_mutually_exclusive_group(required=True)
    a.add_argument("-x", metavar="COMMAND", dest="commands", action="append",
                   help="a command of the analysis (repeatable, in order)")
    a.add_argument("-e", metavar="CODE", dest="code", help="Python code of the analysis")
    a.add_argument("--report", action="store_true", help="kdbg report (its text) is the analysis")
    a.add_argument("--script", metavar="S.py ARG", nargs=argparse.REMAINDER,
                   help="a script of the analysis, and its arguments (the rest of the line; give it last)")
    p.add_argument("--elf", action="store_true", help="write an ELF vmcore instead of kdump-compressed")
    p.add_argument("--redact", action="store_true",
                   help="zero the bytes of kept pages the analysis did not read, and leave out user-space pages")
    p.add_argument("--reduced-btf", action="store_true",
                   help="carry only the BTF types and kallsyms symbols the analysis used, in notes, instead of "
                        "the pages of the BTF and the kallsyms tables")
    p.add_argument("--for", metavar="READER", dest="readers", action="append", choices=READERS, default=[],
                   help="also keep what READER needs to open SMALL: crash (with the kernel's DWARF vmlinux; "
                        "sys, log, bt and bt -a run on SMALL as on the original)")
    p.add_argument("--json", action="store_true", help="JSON output for table commands")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print nothing: neither the analysis's output nor the summary line (errors still print)")
    p.add_argument("--plugin-path", metavar="DIR", action="append", default=[], help="also load plugins from DIR")
    p.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    return p


def parse_args(argv: List[str]) -> argparse.Namespace:
    """``kdbg shrink``'s arguments as a namespace the session runner takes (the fields of
    ``kdbg``'s own command line); :class:`~kdbg.errors.KdbgError` on a bad line."""
    ns = build_parser().parse_args(argv)
    if ns.script is not None and not ns.script:
        raise KdbgError(f"shrink: --script needs a script (usage: {USAGE})")
    if os.path.abspath(ns.output) == os.path.abspath(ns.core):
        raise KdbgError("shrink: SMALL must not be the dump it is made from")
    ns.script, ns.args = (ns.script[0], ns.script[1:]) if ns.script else (None, [])
    ns.btf, ns.kallsyms = [], None
    ns.report_dir, ns.format = None, None
    return ns


class ShrinkJob:
    """One shrink: opens the dump recording its reads (:meth:`open`), and once the
    analysis ran, writes SMALL from the record (:meth:`finish`)."""

    def __init__(self, ns: argparse.Namespace) -> None:
        self.ns = ns
        self.phys: Optional[RecordingMemory] = None
        #: What runs as the analysis: the report, or (``None``) the session's -x/-e/script.
        self.run: Optional[Callable[[Any, argparse.Namespace, Any], int]] = report.run if ns.report else None

    def open(self, ns: argparse.Namespace) -> Program:
        """The Program on the recorded dump, with its symbols and types loaded (the
        ``open`` phase); later reads are the analysis's."""
        phys = self.phys = RecordingMemory(open_physical(ns.core))
        # Everything opening needs is read from the dump itself, not from kdbg's cache.
        prog = target.open_core(ns.core, memory=RecordingCoreMemory(phys, phys.format_name), use_cache=False)
        phys.phase = SYMBOLS
        table = prog.symbol_table
        if isinstance(table, LazyKallsyms):  # the whole table now, so its reads are all of this phase
            table.materialize()
        table.record_use()
        phys.phase = OPEN
        _ = prog.btfs
        _read_for_other_readers(prog)
        if "crash" in ns.readers:
            phys.phase = CRASH
            read_for_crash(prog)
        phys.phase = ANALYSIS
        return prog

    def finish(self, prog: Program, status: int) -> int:
        """Write SMALL when the analysis succeeded (``status`` 0); the exit status."""
        phys = self.phys
        if phys is None:
            return status
        if status != 0:
            phys.recording = False
            sys.stderr.write(f"kdbg: shrink: the analysis failed; {self.ns.output} not written\n")
            return status
        _walk_kept_pages(prog, phys)
        phys.recording = False
        try:
            return self._write(prog, phys)
        except (KdbgError, OSError) as e:
            sys.stderr.write(f"kdbg: shrink: cannot write {self.ns.output}: {e}\n")
            return 1

    def _write(self, prog: Program, phys: RecordingMemory) -> int:
        ns = self.ns
        pages = phys.pages()
        user: List[int] = []
        if ns.redact:
            # Any phase: opening a kernel without kallsyms in VMCOREINFO scans the whole
            # kernel image, whose freed init pages may hold a process's memory by now.
            user = [pfn for pfn in pages if phys.phase_of(pfn) != PAGE_TABLE and _is_user_page(prog, pfn)]
            dropped = set(user)
            pages = [pfn for pfn in pages if pfn not in dropped]
        notes = [n for n in phys.notes if n[:2] != SHRINK_NOTE]  # SMALL of a SMALL: this shrink's record
        reduced: Dict[str, int] = {}
        declared_only: FrozenSet[int] = frozenset()
        if ns.reduced_btf:
            btf = prog.btfs[0]
            blob = reduce_keeping_ids(btf, btf.decoded_ids(), split=_module_btfs(prog))
            declared_only = declared_only_ids(btf, blob)
            note = reduced_btf_note(blob)
            symbols, kept_symbols = reduced_symbols_note(prog.symbol_table)
            notes += [note, symbols]
            left_out = _btf_section_pages(prog, phys)
            kallsyms = {pfn for pfn in pages if phys.phases_of(pfn) == {SYMBOLS}}
            pages = [pfn for pfn in pages if pfn not in left_out and pfn not in kallsyms]
            reduced = {"types_kept": len(btf.decoded_ids()), "types": btf.last_id, "note_bytes": len(note[2]),
                       "btf_pages_left_out": len(left_out), "symbols_kept": kept_symbols,
                       "symbols": len(prog.symbol_table), "symbols_note_bytes": len(symbols[2]),
                       "symbol_pages_left_out": len(kallsyms)}
        reasons = dict(phys.unservable)
        reasons.update((pfn, f"page {pfn:#x} is user memory, which kdbg shrink --redact left out of this reduced "
                             "dump") for pfn in user)
        notes.append(ShrinkRecord(_analysis_line(ns), reasons, declared_only).note())
        vmci = phys.vmcoreinfo
        # The kernel's own NUMBER(phys_base) first: QEMU's kdump header has a wrong one.
        phys_base = _phys_base(vmci, phys.phys_base_hint)

        def page(pfn: int) -> bytes:
            data = phys.page(pfn)
            if ns.redact and phys.phase_of(pfn) == ANALYSIS:
                mask = phys.read_mask(pfn)
                data = bytes(b if mask >> i & 1 else 0 for i, b in enumerate(data))
            return data

        image = DumpImage(
            machine=phys.machine or "x86_64",
            page_size=phys.page_size,
            notes=notes,
            pages=pages,
            page=page,
            max_pfn=-(-phys.max_physical_address // phys.page_size),
            is_present=phys.is_present,
            utsname=_utsname(prog),
            phys_base=phys_base,
            virtual_of=_virtual_of(prog),
            # SMALL holds only the pages read: of every kind makedumpfile can leave out
            # (zero, cache, user, free pages) it left out all but those, as -d 31 would.
            dump_level=MAX_DUMP_LEVEL,
        )
        write = write_elf_core if ns.elf else write_kdump_core
        size = write(ns.output, image)
        manifest = _manifest(ns, phys, pages, user)
        if reduced:
            manifest["reduced_btf"] = reduced
        with open(f"{ns.output}.manifest.json", "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")
        if not ns.quiet:
            form = "ELF" if ns.elf else "kdump-compressed"
            sys.stderr.write(
                f"kdbg: wrote {ns.output} ({form}, {size / (1 << 20):.1f} MiB): {len(pages)} pages kept "
                f"({manifest['kept_by_reason']}){', ' + str(len(user)) + ' user-space pages left out' if user else ''}"
                f"; manifest {ns.output}.manifest.json\n")
        return 0


def _analysis_line(ns: argparse.Namespace) -> str:
    """The analysis as its command line (what a reduced dump's errors name)."""
    if ns.report:
        return "--report"
    if ns.commands:
        return shlex.join(w for c in ns.commands for w in ("-x", c))
    if ns.code:
        return shlex.join(["-e", ns.code])
    return shlex.join(["--script", ns.script, *ns.args])


def _read_for_other_readers(prog: Program) -> None:
    """Read what other readers (makedumpfile, crash) read before anything else, so that
    they open SMALL too: the kernel's release (``init_uts_ns``) and the sparse memory
    model's section table (``mem_section``), which they set up their page lookups from."""
    prog.read(prog.symbol("init_uts_ns").address, prog.type("struct uts_namespace").size or 1)
    for _nr, _section in for_each_present_section(prog):
        pass


def _btf_section_pages(prog: Program, phys: RecordingMemory) -> Set[int]:
    """The page frames wholly inside the kernel's ``.BTF`` section (``__start_BTF`` to
    ``__stop_BTF``) that only the open read (the symbol table's load too: before 6.0 it
    scans the kernel image for the kallsyms tables): what a reduced-BTF note replaces."""
    mem = prog.memory
    start = prog.symbol("__start_BTF").address
    stop = prog.symbol("__stop_BTF").address
    size = phys.page_size
    out: Set[int] = set()
    for va in range(-(-start // size) * size, stop - size + 1, size):
        pfn = mem.translate(va) // size if mem is not None else -1
        phases = phys.phases_of(pfn)
        if phases and phases <= {OPEN, SYMBOLS}:
            out.add(pfn)
    return out


def _module_btfs(prog: Program) -> List[Any]:
    """Every module BTF (split on vmlinux's) the open and the analysis loaded: the reduced
    BTF keeps the vmlinux strings they name."""
    return prog.all_btfs()[1:]


def _walk_kept_pages(prog: Program, phys: RecordingMemory) -> None:
    """Walk the page tables to every kept page (its kernel-image address inside the image,
    its direct-map address elsewhere), from the kernel's own root and from each CPU's
    (see :func:`~kdbg.arch.cpu_note_page_table_roots`), recording the tables:
    kdbg computes those addresses arithmetically, but libkdumpfile (drgn) and crash
    walk the tables."""
    mem = prog.memory
    virtual = _virtual_of(prog)
    if not isinstance(mem, RecordingCoreMemory) or virtual is None:
        return
    arch = mem.arch
    roots: List[Optional[int]] = [None, *cpu_note_page_table_roots(mem.machine, phys.notes)]
    for pfn in phys.pages():
        va = virtual(pfn * phys.page_size)
        for root in roots:
            with contextlib.suppress(FaultError):  # not mapped there: no reader walks to it
                arch.walk(va) if root is None else arch.walk_root(root, va)


def _utsname(prog: Program) -> List[str]:
    """The six ``init_uts_ns.name`` strings (kept by :func:`_read_for_other_readers`)."""
    name = prog["init_uts_ns"].name
    return [name.member_(f).string_().decode("latin-1") for f in
            ("sysname", "nodename", "release", "version", "machine", "domainname")]


def _virtual_of(prog: Program) -> Optional[Callable[[int], int]]:
    """Physical -> virtual as ``/proc/vmcore``'s segments say it: the kernel image's own
    mapping for its pages (which makedumpfile and crash take ``phys_base`` from), the
    direct map for the rest; ``None`` when the direct map's base is unknown. The image's
    mapping is where the translator puts ``_text``, on any architecture."""
    mem = prog.memory
    page_offset = mem.page_offset_base if mem is not None else None
    if mem is None or page_offset is None:
        return None
    text = prog.symbol("_text").address
    lo = mem.translate(text)
    hi = lo + prog.symbol("_end").address - text
    delta = text - lo

    def virtual(pa: int) -> int:
        return pa + delta if lo <= pa < hi else page_offset + pa

    return virtual


def _phys_base(vmci: Optional[VMCoreInfo], hint: Optional[int]) -> int:
    known = vmci.phys_base if vmci is not None else None
    if known is not None:
        return known
    return hint if hint is not None else 0


def _is_user_page(prog: Program, pfn: int) -> bool:
    """Whether the kernel counts page ``pfn`` as user memory: mapped into a process
    (``_mapcount >= 0``) or anonymous, judged on the head of its compound page. A slab or free
    buddy page is not, though its ``struct page`` words may look so (on 6.12 a slab on a CPU's
    partial list holds its count ``slabs`` where ``page->mapping`` is: an odd one reads as
    anonymous). Unknown (its ``struct page`` unreadable): kept out."""
    try:
        page = compound_head(pfn_to_page(prog, pfn))
        if PageSlab(page) or PageBuddy(page):
            return False
        if page.mapping.value_() & 1:
            return True
        return bool(page._mapcount.counter.value_() >= 0)
    except KdbgError:
        return True


def _manifest(ns: argparse.Namespace, phys: RecordingMemory, pages: List[int], user: List[int]) -> Dict[str, Any]:
    by_reason: Dict[str, int] = {}
    kept = []
    for pfn in pages:
        reason = phys.phase_of(pfn) or OPEN
        by_reason[reason] = by_reason.get(reason, 0) + 1
        kept.append({"pfn": pfn, "reason": reason, "bytes_read": bin(phys.read_mask(pfn)).count("1")})
    return {
        "schema": "kdbg-shrink-manifest/1",
        "source": os.path.abspath(ns.core),
        "format": "elf" if ns.elf else "kdump",
        "redacted": bool(ns.redact),
        "for": list(ns.readers),
        "analysis": ({"report": True} if ns.report else {"commands": ns.commands} if ns.commands
                     else {"code": ns.code} if ns.code else {"script": ns.script, "args": ns.args}),
        "page_size": phys.page_size,
        "kept_by_reason": by_reason,
        "kept": kept,
        "user_pages_left_out": user,
    }
