"""VMCOREINFO: the ``KEY=VALUE`` note the kernel writes about itself for dump readers.

The note text looks like::

    OSRELEASE=6.1.0-27-cloud-amd64
    BUILD-ID=0f2b...
    PAGESIZE=4096
    SYMBOL(init_uts_ns)=ffffffff82a13640
    OFFSET(uts_namespace.name)=0
    SIZE(list_head)=16
    LENGTH(mem_section)=2048
    NUMBER(phys_base)=6291456
    NUMBER(pgtable_l5_enabled)=0
    KERNELOFFSET=1000000

``SYMBOL`` and ``KERNELOFFSET`` values are hexadecimal without ``0x``; ``SIZE``, ``OFFSET``,
``LENGTH`` and ``NUMBER`` are decimal (``NUMBER`` may be negative, and a few kernels print
``0x``-prefixed hex). Every key is kept verbatim and reachable with :meth:`VMCoreInfo.get`.
"""

from __future__ import annotations

from typing import Dict, Iterator, Optional, Tuple

from kdbg.errors import CoreError

__all__ = ["VMCoreInfo"]

#: Refuse notes larger than this: real ones are a few KiB.
MAX_VMCOREINFO_SIZE = 1 << 20


def _parse_int(key: str, value: str, base: int) -> int:
    """Parse ``value`` of ``key`` in ``base`` (0x prefix and sign honoured), or CoreError."""
    text = value.strip()
    try:
        neg = text.startswith("-")
        digits = text[1:] if neg or text.startswith("+") else text
        if digits[:2].lower() == "0x":
            n = int(digits[2:], 16)
        else:
            n = int(digits, base)
        return -n if neg else n
    except ValueError:
        raise CoreError(f"VMCOREINFO key {key!r} has a malformed value {value!r}") from None


class VMCoreInfo:
    """A parsed VMCOREINFO note; every key is kept, typed accessors for the common ones."""

    def __init__(self, entries: Dict[str, str], raw: bytes = b"") -> None:
        #: Every ``KEY=VALUE`` pair in note order (later duplicates win).
        self.entries: Dict[str, str] = dict(entries)
        #: The note text as found in the dump.
        self.raw = raw

    @classmethod
    def parse(cls, data: bytes) -> VMCoreInfo:
        """Parse note text; NULs and lines without ``=`` are ignored, never an error."""
        if len(data) > MAX_VMCOREINFO_SIZE:
            raise CoreError(f"VMCOREINFO note is implausibly large ({len(data)} bytes)")
        data = bytes(data).split(b"\0", 1)[0]
        text = data.decode("utf-8", errors="replace")
        entries: Dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            key = key.strip()
            if sep and key:
                entries[key] = value.strip()
        return cls(entries, data)

    # -- generic access -------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(self.entries.items())

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        rel = self.entries.get("OSRELEASE", "?")
        return f"<VMCoreInfo OSRELEASE={rel} keys={len(self.entries)}>"

    def get(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """Raw string value of ``key``, or ``default``."""
        return self.entries.get(key, default)

    def require(self, key: str) -> str:
        """Raw string value of ``key``; ``CoreError`` naming the key when missing."""
        try:
            return self.entries[key]
        except KeyError:
            raise CoreError(f"VMCOREINFO has no {key}") from None

    def _int(self, key: str, base: int) -> int:
        return _parse_int(key, self.require(key), base)

    # -- typed access ---------------------------------------------------------------------

    @property
    def osrelease(self) -> str:
        """``OSRELEASE``: the kernel release (``uname -r``)."""
        return self.require("OSRELEASE")

    @property
    def page_size(self) -> int:
        """``PAGESIZE`` in bytes."""
        return self._int("PAGESIZE", 10)

    @property
    def kerneloffset(self) -> int:
        """``KERNELOFFSET``: the KASLR virtual offset of the kernel image (0 without KASLR)."""
        return self._int("KERNELOFFSET", 16)

    @property
    def build_id(self) -> str:
        """``BUILD-ID``: the vmlinux GNU build id as hex."""
        return self.require("BUILD-ID")

    @property
    def phys_base(self) -> Optional[int]:
        """``NUMBER(phys_base)`` (x86-64), or ``None`` when the note lacks it."""
        if "NUMBER(phys_base)" not in self.entries:
            return None
        return self.number("phys_base")

    @property
    def pgtable_l5_enabled(self) -> bool:
        """``NUMBER(pgtable_l5_enabled)``; ``False`` when absent (kernels before 4.17)."""
        if "NUMBER(pgtable_l5_enabled)" not in self.entries:
            return False
        return self.number("pgtable_l5_enabled") != 0

    def symbol(self, name: str) -> int:
        """``SYMBOL(name)``: an address (KASLR applied)."""
        return self._int(f"SYMBOL({name})", 16)

    def number(self, name: str) -> int:
        """``NUMBER(name)``: a signed decimal (or 0x-hex) constant."""
        return self._int(f"NUMBER({name})", 10)

    def size(self, name: str) -> int:
        """``SIZE(name)``: ``sizeof`` a type."""
        return self._int(f"SIZE({name})", 10)

    def offset(self, struct: str, member: str) -> int:
        """``OFFSET(struct.member)``: a member offset in bytes."""
        return self._int(f"OFFSET({struct}.{member})", 10)

    def length(self, name: str) -> int:
        """``LENGTH(name)``: an array length."""
        return self._int(f"LENGTH({name})", 10)

    def has_symbol(self, name: str) -> bool:
        """Whether ``SYMBOL(name)`` is present."""
        return f"SYMBOL({name})" in self.entries

    def has_number(self, name: str) -> bool:
        """Whether ``NUMBER(name)`` is present."""
        return f"NUMBER({name})" in self.entries
