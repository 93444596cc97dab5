"""Values and their memory images: numbers from bytes, bytes from numbers and initializers.

x86-64 is little-endian with 8-byte pointers; a bit field's bits are read from its bit
offset. A struct, union or array value is built from a dict of member values, a list of
elements, or its memory image (``bytes``), as drgn's ``Object(prog, type, value)`` takes.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

from kdbg.btf.types import Array, Composite, Type
from kdbg.core.typeinfo import K_ARRAY, K_COMPOUND, K_FLOAT, K_PTR, SCALAR, TypeInfo, type_info
from kdbg.errors import FaultError, MemberNotFoundError, ObjectTypeError, OutOfBoundsError

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["STRING_LIMIT", "truncate", "float_value", "from_image", "to_image", "encode_into", "read_c_string"]

#: Longest string read through a ``char *`` before giving up.
STRING_LIMIT = 1 << 20


def truncate(value: int, bits: int, signed: bool) -> int:
    """``value`` cut to ``bits`` bits, as a signed number when ``signed``."""
    value &= (1 << bits) - 1
    if signed and value >> (bits - 1):
        value -= 1 << bits
    return value


def float_value(value: float, size: int) -> float:
    """``value`` as a ``size``-byte float holds it (a 4-byte float loses precision)."""
    if size == 4:
        return float(struct.unpack("<f", struct.pack("<f", value))[0])
    return float(value)


def from_image(buf: bytes, bit_offset: int, bits: int, info: TypeInfo) -> Any:
    """The number stored in ``bits`` bits of ``buf`` from ``bit_offset`` (little-endian)."""
    kind = info.kind
    if kind == K_FLOAT:
        size = info.size
        if size == 8:
            return struct.unpack_from("<d", buf, bit_offset // 8)[0]
        if size == 4:
            return float(struct.unpack_from("<f", buf, bit_offset // 8)[0])
        raise ObjectTypeError(f"cannot read a {size}-byte float")
    if bit_offset == 0 and bits % 8 == 0:
        v = int.from_bytes(buf[: bits // 8], "little")
    else:
        v = (int.from_bytes(buf[: (bit_offset + bits + 7) // 8], "little") >> bit_offset) & ((1 << bits) - 1)
    if info.signed and kind != K_PTR and v >> (bits - 1):
        v -= 1 << bits
    return v


def to_image(value: Any, bits: int, info: TypeInfo) -> bytes:
    """The memory image of a number in ``bits`` bits."""
    if info.kind == K_FLOAT:
        return struct.pack("<f" if info.size == 4 else "<d", value)
    return (int(value) & ((1 << bits) - 1)).to_bytes((bits + 7) // 8, "little")


def _plain(value: Any, info: TypeInfo) -> Any:
    """An Object given as a value, as the number or bytes it holds (duck-typed: this
    layer sits below the Object class)."""
    if hasattr(value, "to_bytes_") and hasattr(value, "value_"):
        return value.value_() if info.kind not in (K_COMPOUND, K_ARRAY) else value.to_bytes_()
    return value


def encode_into(buf: bytearray, bit_offset: int, t: Type, value: Any, bit_field_size: Any = None) -> None:
    """Write ``value`` (number, dict, list, bytes or Object) as type ``t`` into ``buf``."""
    info = type_info(t)
    value = _plain(value, info)
    if info.kind in (K_COMPOUND, K_ARRAY) and isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)[: info.size or 0]  # the memory image
        buf[bit_offset // 8: bit_offset // 8 + len(raw)] = raw
        return
    if info.kind == K_COMPOUND:
        if not isinstance(value, dict):
            raise ObjectTypeError(f"'{t.type_name()}' value must be dictionary or mapping")
        under = info.under
        assert isinstance(under, Composite)
        for name, v in value.items():
            m = under.find_member(name)
            if m is None:
                raise MemberNotFoundError(f"'{under.type_name()}' has no member {name!r}")
            encode_into(buf, bit_offset + m.bit_offset, m.type, v, m.bitfield_size or None)
        return
    if info.kind == K_ARRAY:
        under = info.under
        assert isinstance(under, Array)
        seq = list(value)
        if len(seq) > (under.length or 0):
            raise OutOfBoundsError(f"too many items in array value ({len(seq)} > {under.length or 0})")
        esize = type_info(under.type).size or 0
        for i, v in enumerate(seq):
            encode_into(buf, bit_offset + i * esize * 8, under.type, v)
        return
    if info.kind in SCALAR or info.kind == K_FLOAT:
        bits = bit_field_size or (info.size or 0) * 8
        if info.kind == K_FLOAT:
            raw = to_image(float_value(float(value), info.size or 8), bits, info)
            buf[bit_offset // 8: bit_offset // 8 + len(raw)] = raw
            return
        v = int(value) & ((1 << bits) - 1)
        lo, nb = bit_offset // 8, (bit_offset % 8 + bits + 7) // 8
        cur = int.from_bytes(buf[lo:lo + nb], "little")
        shift = bit_offset % 8
        cur = (cur & ~(((1 << bits) - 1) << shift)) | (v << shift)
        buf[lo:lo + nb] = cur.to_bytes(nb, "little")
        return
    raise ObjectTypeError(f"cannot create a value of type {t.type_name()!r}")


def read_c_string(prog: Program, address: int, limit: int = STRING_LIMIT, physical: bool = False) -> bytes:
    """The NUL-terminated string at ``address`` (at most ``limit`` bytes; a physical
    address with ``physical``), read a page at a time; :class:`~kdbg.errors.FaultError` if
    it runs into unreadable memory first."""
    out = bytearray()
    addr = address
    while len(out) < limit:
        chunk = min(4096 - (addr & 0xFFF), limit - len(out))
        try:
            data = prog.read(addr, chunk, physical)
        except FaultError:
            if chunk <= 1:
                raise
            data = b""
            for k in range(chunk):  # the NUL may come before the fault
                b = prog.read(addr + k, 1, physical)
                if b == b"\0":
                    return bytes(out + data)
                data += b
        end = data.find(b"\0")
        if end >= 0:
            out += data[:end]
            return bytes(out)
        out += data
        addr += chunk
    return bytes(out[:limit])
