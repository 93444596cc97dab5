"""ORC unwind tables read out of kernel memory.

vmlinux keeps two parallel tables: ``__start_orc_unwind_ip`` .. ``__stop_orc_unwind_ip``
(``int`` offsets, each relative to its own address, sorted by the address they give) and
``__start_orc_unwind`` (one ``struct orc_entry`` per ip). Each module has its own pair
(``struct module``.arch: ``num_orcs``, ``orc_unwind_ip``, ``orc_unwind``), sorted when it
loaded. A lookup reads only what it reaches (:class:`OrcTable`): in vmlinux, as the
kernel's ``orc_find`` does, the ``orc_lookup`` block of the ip and then a page or two of
the ip table; what was read is kept for the Program.

The entry layout comes from BTF's ``struct orc_entry`` (its bitfields). Linux 6.4 changed
the type encoding: before, ``type`` is 2 bits (CALL=0, REGS=1, REGS_PARTIAL=2) next to an
``end`` bit, and an undefined ``sp_reg`` means the end of the stack when ``end`` is set;
from 6.4, ``type`` is 3 bits (UNDEFINED=0, END_OF_STACK=1, CALL=2, REGS=3,
REGS_PARTIAL=4) next to a ``signal`` bit. The encoding is told apart by those member
names, never by the version string. Linux 7.x (Debian forky's 7.2) also renumbered the
registers (SP 5 -> 3, PREV_SP 1 -> 8, ...), which no BTF records: the table itself tells
(:meth:`OrcLayout.detect_numbering`). Entries are normalized to :class:`OrcEntry` with
the 6.4+ type numbers and the classic register numbers.
"""

from __future__ import annotations

import struct
import time
from array import array
from bisect import bisect_right
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from kdbg.core.platform import ProgramFlags
from kdbg.errors import KdbgError, UnwindError
from kdbg.helpers.common import program_cache
from kdbg.helpers.module import for_each_module, module_address_regions, module_name

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "OrcEntry", "OrcLayout", "OrcTable", "OrcUnwindInfo", "orc_info", "UnwindError",
    "ORC_TYPE_UNDEFINED", "ORC_TYPE_END_OF_STACK", "ORC_TYPE_CALL", "ORC_TYPE_REGS",
    "ORC_TYPE_REGS_PARTIAL",
]


# arch/x86/include/asm/orc_types.h
ORC_REG_UNDEFINED = 0
ORC_REG_PREV_SP = 1
ORC_REG_DX = 2
ORC_REG_DI = 3
ORC_REG_BP = 4
ORC_REG_SP = 5
ORC_REG_R10 = 6
ORC_REG_R13 = 7
ORC_REG_BP_INDIRECT = 8
ORC_REG_SP_INDIRECT = 9

#: Normalized entry types (the 6.4+ numbering).
ORC_TYPE_UNDEFINED = 0
ORC_TYPE_END_OF_STACK = 1
ORC_TYPE_CALL = 2
ORC_TYPE_REGS = 3
ORC_TYPE_REGS_PARTIAL = 4

#: The kernel's ``LOOKUP_BLOCK_ORDER`` (``unwind_orc.c``): ``orc_lookup`` has one entry per
#: 256 bytes of text from ``_stext``.
LOOKUP_BLOCK_ORDER = 8
#: The ip table is read this many bytes (a page) at a time, aligned.
_CHUNK_SHIFT = 12
#: :meth:`OrcLayout.detect_numbering` samples this many entries from the table's middle.
NUMBERING_SAMPLE = 4096

_OLD_TYPES = {0: ORC_TYPE_CALL, 1: ORC_TYPE_REGS, 2: ORC_TYPE_REGS_PARTIAL}

#: The register numbering of Linux 7.x tables (Debian forky's 7.2), in the classic
#: numbers above. Inferred from the tables themselves: the same functions' entries in
#: 6.12 and 7.2 give SP 5 -> 3, PREV_SP 1 -> 8, BP_INDIRECT 8 -> 10, BP, DX, R10, R13
#: and SP_INDIRECT unchanged; DI (no vmlinux entry uses it) is taken to be SP's old 5.
_REGS_7X = {0: ORC_REG_UNDEFINED, 2: ORC_REG_DX, 3: ORC_REG_SP, 4: ORC_REG_BP, 5: ORC_REG_DI,
            6: ORC_REG_R10, 7: ORC_REG_R13, 8: ORC_REG_PREV_SP, 9: ORC_REG_SP_INDIRECT,
            10: ORC_REG_BP_INDIRECT}
#: A register number no table uses (kept out of the known ones: "unknown register").
_UNKNOWN_REG = 0x100


class OrcEntry(NamedTuple):
    """One ORC entry, normalized: ``type`` in the 6.4+ numbering, ``signal`` as the
    kernel's unwinder sets ``state->signal`` from it."""

    sp_offset: int
    bp_offset: int
    sp_reg: int
    bp_reg: int
    type: int
    signal: bool


#: The kernel's ``null_orc_entry``: what ``orc_find(0)`` gives (a call through NULL).
NULL_ORC_ENTRY = OrcEntry(8, 0, ORC_REG_SP, ORC_REG_UNDEFINED, ORC_TYPE_CALL, False)


class OrcLayout:
    """How to decode a ``struct orc_entry``: BTF's bitfield offsets, the type encoding
    (``new``: 6.4+) and the register numbering (``regs``)."""

    def __init__(self, prog: Program) -> None:
        try:
            t = prog.type("struct orc_entry").strip_typedefs()
            members = {m.name: m for m in t.members}  # type: ignore[attr-defined]
            size = t.size
        except (KdbgError, LookupError, AttributeError) as e:
            raise UnwindError(f"no ORC: BTF has no struct orc_entry ({e})") from None
        need = ("sp_offset", "bp_offset", "sp_reg", "bp_reg", "type")
        if any(n not in members for n in need) or not size:
            raise UnwindError("no ORC: BTF's struct orc_entry lacks sp_offset/bp_offset/sp_reg/bp_reg/type")
        self.size: int = size
        self.new = "signal" in members or members["type"].bitfield_size >= 3
        flag = members.get("signal" if self.new else "end")

        def field(name: str) -> Tuple[int, int, int]:
            m = members[name]
            bits = m.bitfield_size or 8 * (m.type.strip_typedefs().size or 0)
            return m.bit_offset // 8, m.bit_offset % 8, (1 << bits) - 1

        #: register renumbering of the table (``None``: the classic numbers), see
        #: :meth:`detect_numbering`
        self.regs: Optional[Dict[int, int]] = None
        self.sp_off = members["sp_offset"].bit_offset // 8
        self.bp_off = members["bp_offset"].bit_offset // 8
        self.fields = [field(n) for n in ("sp_reg", "bp_reg", "type")]
        self.flag = None if flag is None else field(flag.name)

    def decode(self, buf: bytes, index: int) -> OrcEntry:
        base = index * self.size
        sp_offset = struct.unpack_from("<h", buf, base + self.sp_off)[0]
        bp_offset = struct.unpack_from("<h", buf, base + self.bp_off)[0]
        vals = []
        for byte, shift, mask in self.fields:
            word = int.from_bytes(buf[base + byte:base + byte + 4], "little")
            vals.append((word >> shift) & mask)
        flag = 0
        if self.flag is not None:
            byte, shift, mask = self.flag
            flag = (int.from_bytes(buf[base + byte:base + byte + 4], "little") >> shift) & mask
        sp_reg, bp_reg, typ = vals
        regs = self.regs
        if regs is not None:
            sp_reg = regs.get(sp_reg, _UNKNOWN_REG + sp_reg)
            bp_reg = regs.get(bp_reg, _UNKNOWN_REG + bp_reg)
        if self.new:
            return OrcEntry(sp_offset, bp_offset, sp_reg, bp_reg, typ, bool(flag))
        if sp_reg == ORC_REG_UNDEFINED:  # before 6.4: the end bit tells end from undefined
            return OrcEntry(sp_offset, bp_offset, sp_reg, bp_reg,
                            ORC_TYPE_END_OF_STACK if flag else ORC_TYPE_UNDEFINED, False)
        norm = _OLD_TYPES.get(typ, 0x100 + typ)
        return OrcEntry(sp_offset, bp_offset, sp_reg, bp_reg, norm,
                        norm in (ORC_TYPE_REGS, ORC_TYPE_REGS_PARTIAL))


    def detect_numbering(self, orc_bytes: bytes, count: int) -> None:
        """Tell the classic register numbers from 7.x's by the table itself: the most
        common entry is a plain function's call frame, based on SP (5 classic, 3 in
        7.x). ``orc_bytes`` holds ``count`` consecutive entries of the table (a sample:
        :data:`NUMBERING_SAMPLE` of them suffice). Raises :class:`UnwindError` for a
        table that is neither."""
        byte, shift, mask = self.fields[0]
        tally: Dict[int, int] = {}
        for i in range(count):
            base = i * self.size + byte
            reg = (int.from_bytes(orc_bytes[base:base + 4], "little") >> shift) & mask
            if reg:
                tally[reg] = tally.get(reg, 0) + 1
        if not tally:
            raise UnwindError("no ORC: the vmlinux table has no defined entry")
        top = max(tally, key=lambda r: tally[r])
        if top == ORC_REG_SP:
            self.regs = None
        elif top == 3:
            self.regs = _REGS_7X
        else:
            raise UnwindError(f"unknown ORC register numbering: the most common stack pointer base is {top}")


class OrcTable:
    """One sorted ORC table (vmlinux's or a module's): ``find(ip)`` as the kernel's
    ``__orc_find``: the rightmost entry whose address is at or below ``ip``.

    Nothing is read up front: the ip table is read a page at a time as the binary search
    reaches it, and an entry when it is found, so a few lookups read a few pages of
    tables that are megabytes long (and a dump shrunk to what an analysis read stays
    small). ``lookup`` gives vmlinux's fast lookup table (the kernel's ``orc_lookup``,
    see :class:`OrcLookup`), which narrows a search to the entries of one 256-byte block
    of text."""

    def __init__(self, name: str, ip_table: int, orc_table: int, count: int, layout: OrcLayout,
                 read: Callable[[int, int], bytes], lookup: Optional[OrcLookup] = None) -> None:
        self.name = name
        self._ip_table = ip_table
        self._orc_table = orc_table
        self._n = count
        self._layout = layout
        self._read = read
        self._lookup = lookup
        self._chunks: Dict[int, Tuple[int, array]] = {}
        self._entries: Dict[int, OrcEntry] = {}

    def __len__(self) -> int:
        return self._n

    def _rel(self, i: int) -> int:
        """The ``int`` at index ``i`` of the ip table (its page read on first use)."""
        chunk = (self._ip_table + 4 * i) >> _CHUNK_SHIFT
        hit = self._chunks.get(chunk)
        if hit is None:
            lo = max(self._ip_table, chunk << _CHUNK_SHIFT)
            hi = min(self._ip_table + 4 * self._n, (chunk + 1) << _CHUNK_SHIFT)
            ints = array("i")
            ints.frombytes(self._read(lo, hi - lo))
            hit = self._chunks[chunk] = ((lo - self._ip_table) // 4, ints)
        first, ints = hit
        return ints[i - first]

    def _ip(self, i: int) -> int:
        return (self._ip_table + 4 * i + self._rel(i)) & 0xFFFFFFFFFFFFFFFF

    def find(self, ip: int) -> Optional[OrcEntry]:
        """The entry for ``ip`` (``None`` for an empty table)."""
        found = self.index(ip)
        if found is None:
            return None
        e = self._entries.get(found)
        if e is None:
            size = self._layout.size
            e = self._entries[found] = self._layout.decode(self._read(self._orc_table + size * found, size), 0)
        return e

    def index(self, ip: int) -> Optional[int]:
        """The index of the entry for ``ip`` in the table (``None`` when it is empty)."""
        n = self._n
        if not n:
            return None
        lo, hi = 0, n - 1
        block = self._lookup.block(ip, n) if self._lookup is not None else None
        if block is not None:
            lo, hi = block
        found = lo
        while lo <= hi:
            mid = (lo + hi) >> 1
            if self._ip(mid) <= ip:
                found = mid
                lo = mid + 1
            else:
                hi = mid - 1
        return found

    def first_ip(self) -> Optional[int]:
        """The lowest address the table describes."""
        return self._ip(0) if self._n else None


class OrcLookup:
    """vmlinux's fast lookup table, as the kernel's ``orc_find`` uses it: ``orc_lookup[k]``
    (``unwind_init`` fills it at boot) is the index of the entry covering
    ``_stext + 256 * k``, so an ip in that block is found between ``orc_lookup[k]`` and
    ``orc_lookup[k + 1]``. :meth:`block` gives ``None`` where the kernel would not use
    it (outside ``_stext.._etext``, a block past the table, bounds that do not fit the
    ip table); the whole table is searched there."""

    def __init__(self, table: int, blocks: int, start: int, stop: int, read: Callable[[int, int], bytes]) -> None:
        self._table = table
        self._blocks = blocks
        self._start = start
        self._stop = stop
        self._read = read

    def block(self, ip: int, count: int) -> Optional[Tuple[int, int]]:
        """``(first, last)`` indices of the entries to search for ``ip`` (``None``: all)."""
        if not self._start <= ip < self._stop:
            return None
        k = (ip - self._start) >> LOOKUP_BLOCK_ORDER
        if k >= self._blocks - 1:
            return None
        try:
            first, last = struct.unpack("<II", self._read(self._table + 4 * k, 8))
        except KdbgError:
            return None
        if not first <= last < count:
            return None
        return first, last


class OrcUnwindInfo:
    """Every ORC table of a Program: vmlinux's (read on creation) and the modules' (read
    on the first address outside vmlinux text)."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self.layout = OrcLayout(prog)
        syms = prog.symbol_table
        names = ("__start_orc_unwind_ip", "__stop_orc_unwind_ip", "__start_orc_unwind")
        addrs = [syms.address_of(n) for n in names]
        if any(a is None for a in addrs):
            missing = [n for n, a in zip(names, addrs) if a is None]
            raise UnwindError(f"no ORC in this kernel: no {', '.join(missing)} in kallsyms "
                              "(built without CONFIG_UNWINDER_ORC?)")
        start_ip, stop_ip, start_orc = addrs
        n = (stop_ip - start_ip) // 4  # type: ignore[operator]
        if not 0 < n < (1 << 24):
            raise UnwindError(f"no ORC: the ip table is {stop_ip - start_ip} bytes")  # type: ignore[operator]
        # The register numbering from entries in the table's middle (not the whole table:
        # lookups read only the pages they reach).
        sample = min(n, NUMBERING_SAMPLE)
        first = (n - sample) // 2
        try:
            orc_bytes = prog.read(start_orc + self.layout.size * first, self.layout.size * sample)  # type: ignore[operator]
        except KdbgError as e:
            raise UnwindError(f"cannot read vmlinux's ORC tables: {e}") from None
        self.layout.detect_numbering(orc_bytes, sample)
        self.vmlinux = OrcTable("vmlinux", start_ip, start_orc, n, self.layout, self._read,  # type: ignore[arg-type]
                                self._fast_lookup(syms))
        self.text: List[Tuple[int, int]] = []
        for lo, hi in (("_stext", "_etext"), ("_sinittext", "_einittext")):
            a, b = syms.address_of(lo), syms.address_of(hi)
            if a is not None and b is not None and a < b:
                self.text.append((a, b))
        self._modules: Optional[List[Tuple[int, int, str, OrcTable]]] = None
        self._module_starts: List[int] = []
        self._loaded_at = 0.0
        self.module_errors: List[str] = []

    def _load_modules(self) -> None:
        mods: List[Tuple[int, int, str, OrcTable]] = []
        try:
            modules = list(for_each_module(self.prog))
        except KdbgError as e:
            self.module_errors.append(f"modules list: {e}")
            modules = []
        for mod in modules:
            try:
                name = module_name(mod)
                arch = mod.arch
                num = int(arch.num_orcs)
                ip_addr, orc_addr = int(arch.orc_unwind_ip), int(arch.orc_unwind)
                if not num or not ip_addr or not orc_addr or num >= (1 << 22):
                    continue
                table = OrcTable(name, ip_addr, orc_addr, num, self.layout, self._read)
                for lo, size in module_address_regions(mod):
                    if size > 0:
                        mods.append((lo, lo + size, name, table))
            except KdbgError as e:
                self.module_errors.append(f"module at {int(mod):#x}: ORC: {e}")
        mods.sort(key=lambda m: m[0])
        self._loaded_at = time.monotonic()
        self._modules = mods
        self._module_starts = [m[0] for m in mods]

    def _read(self, address: int, size: int) -> bytes:
        """Read table bytes; a failure is an :class:`UnwindError` naming them."""
        try:
            return self.prog.read(address, size)
        except KdbgError as e:
            raise UnwindError(f"cannot read the ORC tables at {address:#x}: {e}") from None

    def _fast_lookup(self, syms: Any) -> Optional[OrcLookup]:
        """vmlinux's ``orc_lookup`` (``None`` when kallsyms lacks its bounds)."""
        names = ("orc_lookup", "orc_lookup_end", "_stext", "_etext")
        table, end, start, stop = (syms.address_of(n) for n in names)
        if table is None or end is None or start is None or stop is None or not table < end:
            return None
        return OrcLookup(table, (end - table) // 4, start, stop, self._read)

    def in_vmlinux_text(self, ip: int) -> bool:
        """Whether ``ip`` is in vmlinux text (``_stext.._etext``, init text)."""
        return any(lo <= ip < hi for lo, hi in self.text)

    def find(self, ip: int) -> Tuple[Optional[OrcEntry], Optional[str]]:
        """``(entry, module name)`` for ``ip`` as the kernel's ``orc_find``; ``(None,
        None)`` when no table covers it."""
        if ip == 0:
            return NULL_ORC_ENTRY, None
        if self.in_vmlinux_text(ip):
            return self.vmlinux.find(ip), None
        if ip < 0xFFFF800000000000:
            return None, None
        if self._modules is None:
            self._load_modules()
        hit = self._module_find(ip)
        if hit[0] is None and self._live() and time.monotonic() - self._loaded_at > 1.0:
            self._load_modules()  # live: a module loaded since the tables were read
            hit = self._module_find(ip)
        return hit

    def _module_find(self, ip: int) -> Tuple[Optional[OrcEntry], Optional[str]]:
        assert self._modules is not None
        pos = bisect_right(self._module_starts, ip) - 1
        if pos >= 0:
            lo, hi, name, table = self._modules[pos]
            if lo <= ip < hi:
                return table.find(ip), name
        return None, None

    def _live(self) -> bool:
        return bool(self.prog.flags & ProgramFlags.IS_LIVE)


def orc_info(prog: Program) -> OrcUnwindInfo:
    """The Program's ORC tables, read once (``UnwindError`` when the kernel has none)."""

    return program_cache(prog, "unwind.orc", lambda: OrcUnwindInfo(prog))
