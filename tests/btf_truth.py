"""Independent ground truth for BTF tests: bpftool's output, parsed here without kdbg.

Nothing in this module imports kdbg: the tests compare kdbg against what bpftool (libbpf)
and gcc say about the same bytes.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tests.cli_support import clean_env

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"
_HEAD = re.compile(r"^\[(\d+)\] (\w+) '([^']*)'(.*)$")
_KV = re.compile(r"(\w+)=(-?\w+)")


#: bpftool's output by (format, SHA-256 of the file, of the base): several tests dump the
#: same kernel's BTF (a dump of 6.18's takes seconds); keyed on the bytes, not the path,
#: so a rewritten file is dumped again.
_DUMPS: Dict[Tuple[str, str, str], str] = {}


def _digest(path: Optional[Path]) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else ""


def _bpftool(cmd: List[str], form: str, path: Path, base: Optional[Path]) -> str:
    key = (form, _digest(path), _digest(base))
    out = _DUMPS.get(key)
    if out is None:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=clean_env()).stdout
        _DUMPS[key] = out
    return out


def bpftool_raw(path: Path, base: Optional[Path] = None) -> str:
    """``bpftool btf dump file PATH [-B BASE]`` (raw format)."""
    cmd = [BPFTOOL, "btf", "dump", "file", str(path)]
    if base is not None:
        cmd[1:1] = ["-B", str(base)]
    return _bpftool(cmd, "raw", path, base)


def bpftool_c(path: Path) -> str:
    """``bpftool btf dump file PATH format c``."""
    return _bpftool([BPFTOOL, "btf", "dump", "file", str(path), "format", "c"], "c", path, None)


@dataclass(frozen=True)
class RawType:
    """One type as bpftool printed it (frozen: :func:`parse_raw` hands the same ones to
    every test that parses the same dump)."""

    id: int
    kind: str
    name: str
    attrs: Dict[str, str]
    lines: List[str] = field(default_factory=list)


#: :func:`parse_raw`'s answers by the text parsed: a dump of 6.18 takes seconds to parse,
#: and several tests parse the same one (:func:`bpftool_raw` hands out one string per dump).
_PARSED: Dict[str, Dict[int, RawType]] = {}


def parse_raw(text: str) -> Dict[int, RawType]:
    """Parse bpftool's raw dump into id -> RawType (detail lines kept verbatim); a new dict
    each call, of types parsed once per text."""
    parsed = _PARSED.get(text)
    if parsed is None:
        parsed = _parse_raw(text)
        _PARSED[text] = parsed
    return dict(parsed)


def _parse_raw(text: str) -> Dict[int, RawType]:
    out: Dict[int, RawType] = {}
    cur: Optional[RawType] = None
    for line in text.splitlines():
        m = _HEAD.match(line)
        if m:
            cur = RawType(int(m.group(1)), m.group(2), m.group(3), dict(_KV.findall(m.group(4))))
            out[cur.id] = cur
        elif cur is not None and line.startswith("\t"):
            cur.lines.append(line[1:])
    return out


def decompress_module(path: Path, dest: Path) -> Path:
    """Decompress a .ko.xz with Python's lzma (or copy a plain .ko) for bpftool to read."""
    if path.suffix == ".xz":
        dest.write_bytes(lzma.decompress(path.read_bytes()))
    elif path.suffix == ".zst":
        subprocess.run(["zstd", "-q", "-d", "-f", str(path), "-o", str(dest)], check=True, env=clean_env())
    else:
        shutil.copyfile(path, dest)
    return dest


PAHOLE = shutil.which("pahole") or "/usr/bin/pahole"
_LAYOUT_LINE = re.compile(
    r"^(?P<decl>.*?);\s*/\*\s*(?P<off>\d+)(?::\s*(?P<bit>\d+))?\s+(?P<size>\d+)\s*\*/\s*$"
)
_LAYOUT_TOTAL = re.compile(r"/\* size: (\d+),.*members: (\d+)")


def pahole_struct(path: Path, name: str) -> str:
    """``pahole -F btf -C NAME PATH``: pahole's own reading of a struct in raw BTF."""
    return subprocess.run(
        [PAHOLE, "-F", "btf", "-C", name, str(path)], check=True, capture_output=True, text=True, env=clean_env(),
    ).stdout


def layout(text: str) -> List[tuple]:
    """Member layout from pahole-style text (pahole's or anything printing the same
    ``/* offset size */`` comments): ``(name, bit_offset, size)`` per member line, nested
    members included, then ``("=size", size, members)`` for each closing summary.

    A member of an inline named member is named by its path (``readdir.lock``); members
    of anonymous structs and unions keep their own name, as C11 spells them.  Bit offsets
    are absolute (pahole writes a bitfield as ``unit_offset: bit``, others as ``byte: bit``;
    both name the same bit), so only the layout is compared, not spacing.
    """
    out: List[tuple] = []
    opened: List[int] = []
    for line in text.splitlines():
        m = _LAYOUT_LINE.match(line)
        if line.rstrip().endswith("{"):
            opened.append(len(out))
        elif m:
            decl = re.sub(r"\s+__attribute__\(\(.*\)\)$", "", m["decl"].strip())
            fp = re.search(r"\(\*(\w+)\)", decl)
            word = re.search(r"(\w+)(?:\[\d*\])*(?::\d+)?$", decl)
            if decl.startswith("}"):
                name = word[1] if word else ""
                start = opened.pop() if opened else len(out)
                if name:
                    out[start:] = [(f"{name}.{e[0]}", *e[1:]) for e in out[start:]]
            else:
                name = fp[1] if fp else word[1] if word else decl
            out.append((name, int(m["off"]) * 8 + int(m["bit"] or 0), int(m["size"])))
        t = _LAYOUT_TOTAL.search(line)
        if t:
            out.append(("=size", int(t[1]), int(t[2])))
    return out
