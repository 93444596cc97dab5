"""Loaded kernel modules (drgn's ``drgn.helpers.linux.module``, same names and results).

A module is a ``struct module`` on the kernel's ``modules`` list. Its memory is described
by ``mem[MOD_MEM_NUM_TYPES]`` (``struct module_memory``, Linux 6.4 and later) or by
``core_layout`` and ``init_layout`` (``struct module_layout``, before); its symbols by
``kallsyms`` (``struct mod_kallsyms``: an ELF symbol table, its string table and the type
letters ``/proc/kallsyms`` shows). These helpers read all of them from BTF-typed objects,
so they work on 5.10, 6.1 and 6.12 alike.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Iterator, List, Optional, SupportsIndex, Tuple, Union

from kdbg.btf.types import Composite, Enum, Pointer
from kdbg.core.conversions import NULL
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import integer_value
from kdbg.core.object import Object
from kdbg.core.value import read_c_string
from kdbg.errors import FaultError, KdbgError
from kdbg.helpers.list import list_for_each_entry
from kdbg.memory.physical import parse_elf_notes
from kdbg.symbols.table import Symbol, SymbolBinding, SymbolKind

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "for_each_module",
    "find_module",
    "module_address_regions",
    "module_percpu_region",
    "address_to_module",
    "module_taints",
    "module_name",
    "module_base",
    "module_total_size",
    "module_refcount",
    "module_state",
    "module_users",
    "module_kallsyms",
    "module_build_id",
]

#: ``sizeof(Elf64_Sym)``: st_name u32, st_info u8, st_other u8, st_shndx u16, st_value,
#: st_size u64.
_ELF64_SYM = struct.Struct("<IBBHQQ")
#: ``taint_flags[]`` letters by bit (kernel/panic.c); a module's ``taints`` uses a few.
_TAINT_LETTERS = "PFSRMBUDAWCIOELKXTN"
#: ``MODULE_REF_BASE``: ``refcnt`` counts one more than ``/proc/modules`` shows.
_MODULE_REF_BASE = 1
#: ``NT_GNU_BUILD_ID``: the type of the ``GNU`` note holding a build ID.
_NT_GNU_BUILD_ID = 3
#: The most note attributes read of one module (a corrupt count stops here).
_MAX_NOTES = 64
#: The largest note section read.
_MAX_NOTE_SIZE = 1 << 16
#: The longest name kallsyms copies (``KSYM_NAME_LEN`` of 6.1 and later; 128 before).
_KSYM_NAME_LEN = 512


def vmlinux_list(prog: Program, name: str) -> Object:
    """The vmlinux ``struct list_head`` called ``name`` (a reference: the list helpers
    take it as they take ``&modules``)."""
    sym = prog.symbol_table.lookup(name)
    return Object(prog, "struct list_head", address=sym.address)


@takes_program_or_default
def for_each_module(prog: Program) -> Iterator[Object]:
    """Every loaded module, as ``struct module *`` objects, in the order of the kernel's
    ``modules`` list (newest first, as ``/proc/modules`` shows them)."""
    return list_for_each_entry("struct module", vmlinux_list(prog, "modules"), "list")


def module_name(mod: Object) -> str:
    """The module's name (``mod->name``) as text."""
    return mod.name.string_().decode(errors="replace")


@takes_program_or_default
def find_module(prog: Program, name: Union[str, bytes]) -> Object:
    """The ``struct module *`` called ``name``, or a NULL ``struct module *``."""
    want = name.encode() if isinstance(name, str) else name
    for mod in for_each_module(prog):
        if mod.name.string_() == want:
            return mod
    return NULL(prog, "struct module *")


def has_module_memory(mod: Object) -> bool:
    """Whether the kernel describes module memory with ``mem[MOD_MEM_NUM_TYPES]``
    (Linux 6.4+; drgn asks for the constant, the member says the same)."""
    under = mod.type_.strip_typedefs()
    target = under.type if isinstance(under, Pointer) else under
    return isinstance(target, Composite) and target.has_member("mem")


def module_address_regions(mod: Object) -> List[Tuple[int, int]]:
    """Every ``(start, length)`` address range of the module (drgn's order and
    interpretation: all ``mem[]`` entries on 6.4+, else ``core_layout`` then
    ``init_layout``), without its per-CPU region."""
    if has_module_memory(mod):
        return [(int(m.base), int(m.size)) for m in mod.mem]
    return [(int(layout.base), int(layout.size)) for layout in (mod.core_layout, mod.init_layout)]


def module_percpu_region(mod: Object) -> Tuple[int, int]:
    """``(address, size)`` of the module's per-CPU region, ``(0, 0)`` when it has none."""
    try:
        return int(mod.percpu), int(mod.percpu_size)
    except AttributeError:
        return 0, 0


@takes_program_or_default
def address_to_module(prog: Program, addr: SupportsIndex) -> Object:
    """The ``struct module *`` whose text, data or read-only data holds ``addr``, or a
    NULL ``struct module *`` (a linear search of the module regions)."""
    address = integer_value(addr)
    for mod in for_each_module(prog):
        for start, length in module_address_regions(mod):
            if start <= address < start + length:
                return mod
    return NULL(prog, "struct module *")


def module_taints(module: Object) -> str:
    """The module's taint letters (``"OE"``), empty when it did not taint the kernel."""
    mask = int(module.taints)
    return "".join(c for bit, c in enumerate(_TAINT_LETTERS) if mask & (1 << bit))


def module_base(mod: Object) -> int:
    """The module's load address as ``/proc/modules`` shows it: the base of its text
    (``mem[MOD_TEXT]`` on 6.4+, ``core_layout`` before)."""
    if has_module_memory(mod):
        return int(mod.mem[0].base)  # MOD_TEXT, the first of enum mod_mem_type
    return int(mod.core_layout.base)


def module_total_size(mod: Object) -> int:
    """The module's size as ``/proc/modules`` shows it: every memory region (6.4+), or
    core plus init layout."""
    return sum(size for _start, size in module_address_regions(mod))


def module_refcount(mod: Object) -> int:
    """``module_refcount()``: the references held, as ``/proc/modules``' third column."""
    return int(mod.refcnt.counter) - _MODULE_REF_BASE


def module_state(mod: Object) -> str:
    """``Live``, ``Loading`` or ``Unloading`` (``/proc/modules``' state column)."""
    state = mod.state
    value = int(state)
    under = state.type_.strip_typedefs()
    names = [e.name for e in under.enumerators if e.value == value] if isinstance(under, Enum) else []
    if "MODULE_STATE_GOING" in names:
        return "Unloading"
    if "MODULE_STATE_COMING" in names:
        return "Loading"
    return "Live"


def module_users(mod: Object) -> List[str]:
    """Names of the modules that use this one (``/proc/modules``' dependency column)."""
    return [
        module_name(use.source)
        for use in list_for_each_entry("struct module_use", mod.source_list.address_of_(), "source_list")
    ]


def module_build_id(mod: Object) -> Optional[bytes]:
    """The module's GNU build ID, from its ELF note sections as the kernel keeps them for
    ``/sys/module/NAME/notes`` (``mod->notes_attrs``: an array of ``notes`` bin
    attributes before Linux 6.14, a NULL-terminated ``grp.bin_attrs`` since), or ``None``
    when it has none or they cannot be read."""
    try:
        attrs = mod.notes_attrs
        if not attrs:
            return None
        try:
            table = attrs.grp.bin_attrs
            count = _MAX_NOTES
            grouped = True
        except AttributeError:
            table, count, grouped = attrs.attrs, min(int(attrs.notes), _MAX_NOTES), False
        for i in range(count):
            attr = table[i]
            if grouped:
                if not attr:
                    break
            else:
                attr = attr.address_of_()
            size = int(attr.size)
            if not 0 < size <= _MAX_NOTE_SIZE:
                continue
            data = mod.prog_.read(int(attr.private), size)
            for name, ntype, desc in parse_elf_notes(data):
                if name == "GNU" and ntype == _NT_GNU_BUILD_ID:
                    return desc
    except (KdbgError, AttributeError):
        return None
    return None


def _elf_binding_kind(info: int) -> Tuple[SymbolBinding, SymbolKind]:
    """An ELF ``st_info``'s binding (``STB_LOCAL``/``GLOBAL``/``WEAK``/``GNU_UNIQUE``) and
    type (``STT_NOTYPE`` .. ``STT_TLS``, ``STT_GNU_IFUNC``) as drgn's enums; others unknown."""
    bind, typ = info >> 4, info & 0xF
    binding = SymbolBinding(bind + 1) if bind <= 2 or bind == 10 else SymbolBinding.UNKNOWN
    kind = SymbolKind(typ) if typ <= 6 or typ == 10 else SymbolKind.UNKNOWN
    return binding, kind


def module_kallsyms(module: Object) -> List[Symbol]:
    """The module's symbols from ``module->kallsyms`` in symbol-table order (drgn's: a
    :class:`~kdbg.symbols.table.Symbol` each, with the ELF entry's value, size, binding and
    kind), unnamed entries skipped. Each symbol's ``type`` is the letter ``/proc/kallsyms``
    shows (``typetab``, upper case for the module's exported symbols; before Linux 5.2 the
    letter the kernel wrote over ``st_info``). Each table is read in one read."""
    prog = module.prog_
    kallsyms = module.kallsyms
    num = int(kallsyms.num_symtab)
    if num <= 0:
        return []
    symtab = prog.read(int(kallsyms.symtab), num * _ELF64_SYM.size)
    try:
        typetab: Optional[bytes] = prog.read(int(kallsyms.typetab), num)
    except AttributeError:  # before Linux 5.2
        typetab = None
    entries = [_ELF64_SYM.unpack_from(symtab, i * _ELF64_SYM.size) for i in range(num)]
    strtab_addr = int(kallsyms.strtab)
    names = _read_names(prog, strtab_addr, [e[0] for e in entries])
    exported = _exported(module)
    owner = module_name(module)
    out: List[Symbol] = []
    for i, (_st_name, info, _other, _shndx, value, size) in enumerate(entries):
        name = names[i]  # one name per entry (_read_names)
        if not name:
            continue
        if typetab is not None:
            letter = chr(typetab[i])
            letter = letter.upper() if (name, value) in exported else letter.lower()
            binding, kind = _elf_binding_kind(info)
            out.append(Symbol(name, value, size, letter, owner, binding, kind))
        else:  # the kernel wrote the letter over st_info
            out.append(Symbol(name, value, size, chr(info), owner))
    return out


def _read_names(prog: Program, strtab: int, offsets: List[int]) -> List[str]:
    """The NUL-terminated names at ``strtab + offset``: one read of the whole string table
    (up to the last name's end), a per-name read where that read faults."""
    if not offsets:
        return []
    end = max(offsets)
    try:
        blob = prog.read(strtab, end + _KSYM_NAME_LEN)
    except FaultError:
        try:
            blob = prog.read(strtab, end + 1)
        except FaultError:
            blob = b""
    out = []
    for off in offsets:
        if blob and blob.find(b"\0", off) >= 0:
            raw = blob[off:blob.index(b"\0", off)]
        else:
            raw = read_c_string(prog, strtab + off, _KSYM_NAME_LEN)
        out.append(raw.decode(errors="replace"))
    return out


def _exported(mod: Object) -> frozenset:
    """``(name, address)`` of every symbol the module exports (``mod->syms``: the kernel's
    ``is_exported`` upper-cases these in ``/proc/kallsyms``)."""
    try:
        count = int(mod.num_syms)
        if count <= 0:
            return frozenset()
        prog = mod.prog_
        ks_type = prog.type("struct kernel_symbol")
        size = ks_type.sizeof()
        base = int(mod.syms)
        data = prog.read(base, count * size)
    except (KdbgError, AttributeError):
        return frozenset()
    out = set()
    for i in range(count):
        at = base + i * size
        ks = Object.from_bytes_(prog, ks_type, data[i * size:(i + 1) * size])
        try:  # PREL32: offsets from the fields themselves (x86-64)
            value = at + int(ks.value_offset)
            name_at = at + 4 + int(ks.name_offset)
        except AttributeError:
            value, name_at = int(ks.value), int(ks.name)
        try:
            name = read_c_string(prog, name_at & 0xFFFFFFFFFFFFFFFF, _KSYM_NAME_LEN).decode(errors="replace")
        except FaultError:
            continue
        out.add((name, value & 0xFFFFFFFFFFFFFFFF))
    return frozenset(out)
