"""Which zero-length array members DWARF declares ``T x[0]`` and which ``T x[]``.

BTF writes a GNU zero-length array (``T x[0]``) and a C99 flexible array member (``T x[]``)
alike, as an array of length 0; DWARF tells them apart (a subrange of count 0, or of no
bound), and so does drgn reading it. kdbg decides from BTF by a rule
(:func:`kdbg.btf.index.flexible_by_rule`: the last member of a struct with another member
before it is flexible) and corrects it with a list of the members where the rule and DWARF
disagree, per kernel build, shipped as ``kdbg/data/zero-length-arrays.txt``
(:func:`kdbg.declarations.zero_length_exceptions` reads it). This module makes that list
(``python3 -m tools.gen_declarations`` writes it with the table):

* the kernel's BTF (the ``.BTF`` section of its DWARF ``vmlinux``: the very bytes the
  running kernel exports) gives every struct and union with a zero-length array member and
  the rule's verdict on each;
* the DWARF of the same ``vmlinux`` (pyelftools: the ground truth) gives what the source
  declared, from the first complete definition of each of those structs and unions (their
  anonymous struct and union members included);
* the members where the two disagree are the kernel's exceptions, keyed by the container
  that directly holds the member (:func:`kdbg.declarations.zero_length_key`:
  ``struct xregs_state.extended_state_area``; an anonymous container by its member names:
  ``struct {__empty_data,data}.data``), under the BTF's identity (its length and CRC-32).

A kernel none of whose BTF built the file (the held-out 6.1) gets the ``*`` section: the
members that are exceptions in every shipped kernel that has them.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

from kdbg.btf.cache import open_btf
from kdbg.btf.index import BTF, flexible_by_rule
from kdbg.btf.types import Array, Composite
from kdbg.declarations import btf_identity, zero_length_container
from tools.dwarf_globals import cached_entry, file_cache_keys
from tools.vmlinux_dwarf import zero_length_declarations
from vmcores.debian import cache_root

__all__ = ["btf_zero_length", "dwarf_zero_length", "kernel_exceptions", "render", "vmlinux_btf"]

#: The version of the entries an earlier version kept per *wanted* set (still read).
_CACHE_VERSION = 1


def _container_key(keyword: str, name: str, member_names: Sequence[str]) -> str:

    return zero_length_container(keyword, name, member_names)


def btf_zero_length(btf: BTF) -> Dict[str, Tuple[bool, str]]:
    """``"CONTAINER.member"`` -> (the rule's verdict: flexible?, the named struct or union
    it is found in) for every zero-length array member of every named struct and union of
    ``btf`` and of their anonymous members (first definition of a name)."""
    out: Dict[str, Tuple[bool, str]] = {}

    def walk(outer: str, container: Composite, depth: int) -> None:
        key = None
        members = container.btf_members  # as BTF records them: every zero-length array is [0]
        for i, m in enumerate(members):
            under = m.btf_type.strip_typedefs()
            if not m.btf_name and isinstance(under, Composite) and depth < 16:
                walk(outer, under, depth + 1)
            elif m.btf_name and isinstance(under, Array) and under.length == 0:
                if key is None:
                    key = _container_key(container.keyword, container.btf_name, [x.btf_name for x in members])
                out.setdefault(f"{key}.{m.btf_name}", (flexible_by_rule(container, i), outer))

    for t in btf:
        if isinstance(t, Composite) and t.btf_name:
            walk(f"{t.keyword} {t.btf_name}", t, 0)
    return out


# --------------------------------------------------------------------------- DWARF
def dwarf_zero_length(vmlinux: Path, wanted: Set[str]) -> Dict[str, str]:
    """``"CONTAINER.member"`` -> ``"[0]"`` or ``"[]"`` as DWARF declares each zero-length
    array member of the named structs and unions ``wanted`` (``"struct xregs_state"``) and
    of their anonymous members, from each one's first complete definition: from the pass
    over the kernel's DWARF that also reads its variables
    (:func:`tools.vmlinux_dwarf.zero_length_declarations`, cached), or from an entry an
    earlier version kept for exactly this *wanted*."""
    digest = hashlib.sha1("\n".join(sorted(wanted)).encode()).hexdigest()
    top = cache_root() / "declarations"
    got: Optional[Dict[str, str]] = cached_entry(
        [top / f"zero-length-{key}.json.xz" for key in file_cache_keys(vmlinux, _CACHE_VERSION, f":{digest}")])
    return got if got is not None else zero_length_declarations(vmlinux, sorted(wanted))


def vmlinux_btf(vmlinux: Path) -> bytes:
    """The ``.BTF`` section of a ``vmlinux`` (what that kernel exports as
    ``/sys/kernel/btf/vmlinux``)."""
    with tempfile.TemporaryDirectory(prefix="kdbg-btf-") as tmp:
        out = Path(tmp) / "btf"
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.BTF", str(vmlinux), str(out)],
                       check=True, capture_output=True, timeout=300)  # fmt: skip
        return out.read_bytes()


def kernel_exceptions(vmlinux: Path) -> Tuple[str, Dict[str, str], Dict[str, bool]]:
    """``(BTF identity, exceptions, known)`` of a DWARF ``vmlinux``: the members where
    the rule over its BTF and its DWARF disagree (``key -> "[0]"|"[]"``: DWARF's), and
    every zero-length member DWARF described (``key -> whether it is an exception``)."""

    data = vmlinux_btf(vmlinux)
    btf = open_btf(data, name=f"{vmlinux.name} .BTF")
    rule = btf_zero_length(btf)
    dwarf = dwarf_zero_length(vmlinux, {outer for _v, outer in rule.values()})
    exceptions: Dict[str, str] = {}
    known: Dict[str, bool] = {}
    for key, (flexible, _outer) in rule.items():
        said = dwarf.get(key)
        if said is None:
            continue
        wrong = flexible != (said == "[]")
        known[key] = wrong
        if wrong:
            exceptions[key] = said
    return btf_identity(data), exceptions, known


def render(kernels: Sequence[Tuple[str, str, Dict[str, str], Dict[str, bool]]]) -> str:
    """The text of ``zero-length-arrays.txt`` for ``(label, identity, exceptions,
    known)`` of each kernel (the ``*`` section: exceptions in every kernel that knows
    the member). Deterministic."""
    lines: List[str] = ["# kdbg zero-length arrays: members whose DWARF declaration ([0] or []) the BTF rule"
                        " gets wrong, generated by python3 -m tools.gen_declarations from "
                        + ", ".join(label for label, *_ in kernels)]  # fmt: skip
    for label, identity, exceptions, _known in kernels:
        lines.append(f"@ {identity} {label}")
        lines.extend(f"{v} {k}" for k, v in sorted(exceptions.items()))
    every: Dict[str, List[bool]] = {}
    said: Dict[str, str] = {}
    for _label, _identity, exceptions, known in kernels:
        for k, wrong in known.items():
            every.setdefault(k, []).append(wrong)
            if wrong:
                said[k] = exceptions[k]
    lines.append("@ * kernels none of the above")
    lines.extend(f"{said[k]} {k}" for k in sorted(every) if all(every[k]))
    return "\n".join(lines) + "\n"
