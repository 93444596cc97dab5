"""The top-level variables of a DWARF module (``.ko``): :func:`iter_module_variables` applies
the ``.debug_*`` relocations itself (pyelftools' own take a minute for a 16 MB module) and
keeps the variables of sections a loaded module keeps; :func:`module_variables` reads a
kernel's modules two processes at a time and keeps each file's rows in the kdbg cache
(:func:`tools.dwarf_globals.file_cache_keys`).
"""

from __future__ import annotations

import io
import json
import lzma
import os
import struct
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from elftools.elf.elffile import ELFFile

from tools.dwarf_globals import (
    CACHE_VERSION,
    DwarfVariable,
    cached_entry,
    die_address,
    file_cache_keys,
    top_variables,
    variable_definition,
    variable_rows,
    variables_of_rows,
)
from vmcores.debian import cache_root

__all__ = ["iter_module_variables", "module_variables", "module_name_of", "module_files", "module_btf"]

_R_X86_64_64, _R_X86_64_32, _R_X86_64_32S = 1, 10, 11
_SHF_ALLOC = 0x2


def _relocated_module(data: bytes) -> Tuple[bytes, Dict[int, int], Any]:
    """A relocatable ELF (a ``.ko``) with the relocations of its ``.debug_*`` sections
    applied (S + A, as the linker would with every section at 0), the symbol's section
    index of each 64-bit relocation in ``.debug_info`` by its offset there, and the ELF's
    section headers. pyelftools' own relocation takes a minute for a 16 MB module; this
    takes a second."""

    elf = ELFFile(io.BytesIO(data))
    sections = list(elf.iter_sections())
    symtab = elf.get_section_by_name(".symtab")
    if symtab is None:
        return data, {}, sections
    sh = symtab.header
    syms = list(struct.iter_unpack("<IBBHQQ", data[sh.sh_offset : sh.sh_offset + sh.sh_size]))
    out = bytearray(data)
    where: Dict[int, int] = {}
    info_index = next((i for i, s in enumerate(sections) if s.name == ".debug_info"), -1)
    symtab_index = elf.get_section_index(".symtab")  # the section found by that name above
    for sec in sections:
        h = sec.header
        if h.sh_type != "SHT_RELA" or h.sh_link != symtab_index:
            continue
        target = sections[h.sh_info]
        if not target.name.startswith(".debug"):
            continue
        base = target.header.sh_offset
        for r_offset, r_info, r_addend in struct.iter_unpack("<QQq", data[h.sh_offset : h.sh_offset + h.sh_size]):
            sym, kind = r_info >> 32, r_info & 0xFFFFFFFF
            _n, _i, _o, shndx, value, _sz = syms[sym]
            v = value + r_addend
            if kind == _R_X86_64_64:
                struct.pack_into("<Q", out, base + r_offset, v & 0xFFFFFFFFFFFFFFFF)
                if h.sh_info == info_index:
                    where[r_offset] = shndx
            elif kind in (_R_X86_64_32, _R_X86_64_32S):
                struct.pack_into("<I", out, base + r_offset, v & 0xFFFFFFFF)
    return bytes(out), where, sections


def module_name_of(path: Path, data: Optional[bytes] = None) -> str:
    """A module's name: ``name=`` of its ``.modinfo``, else the file's name with ``-`` as
    ``_`` (the kernel's rule)."""
    if data is not None:
        at = data.find(b"\0name=")
        if at >= 0:
            end = data.find(b"\0", at + 6)
            name = data[at + 6 : end].decode(errors="replace")
            if name and all(c.isalnum() or c == "_" for c in name):
                return name
    stem = path.name
    for suffix in (".xz", ".zst", ".gz", ".ko"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem.replace("-", "_")


def iter_module_variables(ko: Path) -> Iterator[DwarfVariable]:
    """Every top-level variable a module (a DWARF ``.ko``) defines in an allocated section
    that stays after the module's init (not ``.init.*``, ``.modinfo``, ``__versions``: a
    loaded module's kallsyms has none of those), in DIE order. A ``.ko`` is relocatable:
    a variable "has an address" when its ``DW_OP_addr`` is relocated against a symbol of
    such a section; ``address`` is then its offset there."""

    raw = ko.read_bytes()
    data, where, sections = _relocated_module(raw)
    keep = set()
    for i, sec in enumerate(sections):
        h = sec.header
        if not (h.sh_flags & _SHF_ALLOC) or sec.name.startswith(".init") or sec.name in (".modinfo", "__versions"):
            continue
        keep.add(i)
    elf = ELFFile(io.BytesIO(data))
    if not elf.has_dwarf_info():
        return
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
    for cu_name, reader, die in top_variables(dwarf):
        if "DW_AT_declaration" in die.attributes:
            continue
        loc = die.attributes.get("DW_AT_location")
        addr = die_address(die)
        if loc is None or addr is None:
            continue
        shndx = next((where[o] for o in range(loc.offset + 1, loc.offset + 4) if o in where), None)
        if shndx is None or shndx not in keep:
            continue
        found = variable_definition(reader, die)
        if found is None:
            continue
        name, typed = found
        yield DwarfVariable(name, addr, reader.type_of(typed), cu_name)


def module_files(moddir: Path) -> Dict[str, Path]:
    """module name -> its ``.ko`` under ``moddir`` (by the file's name, as
    :func:`module_variables` selects them)."""
    return {module_name_of(f): f for f in sorted(moddir.rglob("*.ko"))}


def module_btf(ko: Path) -> Optional[bytes]:
    """The ``.BTF`` section of a module file (what ``/sys/kernel/btf/<module>`` serves once
    it is loaded), or ``None``."""

    with open(ko, "rb") as fh:
        sec = ELFFile(fh).get_section_by_name(".BTF")
        return None if sec is None else bytes(sec.data())


def _module_rows(ko: str) -> Tuple[str, List[Any]]:
    path = Path(ko)
    rows = variable_rows(list(iter_module_variables(path)))
    return module_name_of(path, path.read_bytes()), rows


def module_variables(moddir: Path, modules: Optional[Sequence[str]] = None) -> Dict[str, List[DwarfVariable]]:
    """module name -> :func:`iter_module_variables` of each ``*.ko`` under ``moddir`` (a
    :func:`vmcores.debian.debian_dbg_modules` directory), or only of the ``modules`` named;
    kept in the kdbg cache per file (a kernel's modules take minutes: two processes)."""

    files = sorted(moddir.rglob("*.ko"))
    if modules is not None:
        wanted = set(modules)
        files = [f for f in files if module_name_of(f) in wanted]
    cache_dir = cache_root() / "declarations" / "modules"
    out: Dict[str, List[DwarfVariable]] = {}
    todo: List[Tuple[Path, Path]] = []
    for f in files:
        paths = [cache_dir / f"{key}.json.xz" for key in file_cache_keys(f, CACHE_VERSION)]
        entry = cached_entry(paths)
        if entry is None:
            todo.append((f, paths[0]))
        else:
            name, rows = entry
            out[name] = variables_of_rows(rows)
    if todo:
        cache_dir.mkdir(parents=True, exist_ok=True)
        todo.sort(key=lambda fc: -fc[0].stat().st_size)
        with ProcessPoolExecutor(max_workers=2) as pool:
            for (_f, cached), (name, rows) in zip(todo, pool.map(_module_rows, [str(f) for f, _ in todo]), strict=True):
                tmp = cached.with_suffix(f".tmp{os.getpid()}")
                tmp.write_bytes(lzma.compress(json.dumps([name, rows]).encode()))
                os.replace(tmp, cached)
                out[name] = variables_of_rows(rows)
    return {k: out[k] for k in sorted(out)}
