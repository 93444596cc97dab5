"""BTF format constants: magic, kinds and the fixed size of each kind's trailing data.

Mirrors ``include/uapi/linux/btf.h``. The info word uses the wide masks (kind in bits 24-30,
vlen in bits 0-23) so BTF written with them reads right and older BTF, whose extra bits are
zero, reads the same.
"""

from __future__ import annotations

from typing import Dict, Tuple

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
BTF_HEADER_MIN = 24
BTF_HEADER_WITH_LAYOUT = 32

KIND_UNKN = 0
KIND_INT = 1
KIND_PTR = 2
KIND_ARRAY = 3
KIND_STRUCT = 4
KIND_UNION = 5
KIND_ENUM = 6
KIND_FWD = 7
KIND_TYPEDEF = 8
KIND_VOLATILE = 9
KIND_CONST = 10
KIND_RESTRICT = 11
KIND_FUNC = 12
KIND_FUNC_PROTO = 13
KIND_VAR = 14
KIND_DATASEC = 15
KIND_FLOAT = 16
KIND_DECL_TAG = 17
KIND_TYPE_TAG = 18
KIND_ENUM64 = 19
KIND_LOC_PARAM = 20
KIND_LOC_PROTO = 21
KIND_LOCSEC = 22

KIND_NAMES: Dict[int, str] = {
    KIND_UNKN: "UNKNOWN",
    KIND_INT: "INT",
    KIND_PTR: "PTR",
    KIND_ARRAY: "ARRAY",
    KIND_STRUCT: "STRUCT",
    KIND_UNION: "UNION",
    KIND_ENUM: "ENUM",
    KIND_FWD: "FWD",
    KIND_TYPEDEF: "TYPEDEF",
    KIND_VOLATILE: "VOLATILE",
    KIND_CONST: "CONST",
    KIND_RESTRICT: "RESTRICT",
    KIND_FUNC: "FUNC",
    KIND_FUNC_PROTO: "FUNC_PROTO",
    KIND_VAR: "VAR",
    KIND_DATASEC: "DATASEC",
    KIND_FLOAT: "FLOAT",
    KIND_DECL_TAG: "DECL_TAG",
    KIND_TYPE_TAG: "TYPE_TAG",
    KIND_ENUM64: "ENUM64",
    KIND_LOC_PARAM: "LOC_PARAM",
    KIND_LOC_PROTO: "LOC_PROTO",
    KIND_LOCSEC: "LOCSEC",
}

#: (info_sz, elem_sz) per known kind: bytes after the 12-byte ``struct btf_type`` are
#: ``info_sz + vlen * elem_sz``. Used when the BTF carries no layout section.
KIND_LAYOUT: Dict[int, Tuple[int, int]] = {
    KIND_INT: (4, 0),
    KIND_PTR: (0, 0),
    KIND_ARRAY: (12, 0),
    KIND_STRUCT: (0, 12),
    KIND_UNION: (0, 12),
    KIND_ENUM: (0, 8),
    KIND_FWD: (0, 0),
    KIND_TYPEDEF: (0, 0),
    KIND_VOLATILE: (0, 0),
    KIND_CONST: (0, 0),
    KIND_RESTRICT: (0, 0),
    KIND_FUNC: (0, 0),
    KIND_FUNC_PROTO: (0, 8),
    KIND_VAR: (4, 0),
    KIND_DATASEC: (0, 12),
    KIND_FLOAT: (0, 0),
    KIND_DECL_TAG: (4, 0),
    KIND_TYPE_TAG: (0, 0),
    KIND_ENUM64: (0, 12),
    KIND_LOC_PARAM: (4, 4),
    KIND_LOC_PROTO: (0, 4),
    KIND_LOCSEC: (0, 12),
}

INT_SIGNED = 1 << 0
INT_CHAR = 1 << 1
INT_BOOL = 1 << 2

FUNC_STATIC = 0
FUNC_GLOBAL = 1
FUNC_EXTERN = 2
LINKAGE_NAMES = {FUNC_STATIC: "static", FUNC_GLOBAL: "global", FUNC_EXTERN: "extern"}

VAR_STATIC = 0
VAR_GLOBAL_ALLOCATED = 1
VAR_GLOBAL_EXTERN = 2
VAR_LINKAGE_NAMES = {
    VAR_STATIC: "static",
    VAR_GLOBAL_ALLOCATED: "global",
    VAR_GLOBAL_EXTERN: "extern",
}

#: Largest type id the format can address.
BTF_MAX_TYPE = 0x000FFFFF
#: Largest vlen the wide info mask can carry.
BTF_MAX_VLEN = 0x00FFFFFF

#: The size of a BTF pointer: BTF records none, and the kernels kdbg reads (x86-64, arm64)
#: are 64-bit.
POINTER_SIZE = 8
