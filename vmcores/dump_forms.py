"""The dump forms made of a stopped guest: QEMU's own (``dump-guest-memory``: ELF, paging
ELF, flattened kdump and that reassembled by ``makedumpfile -R``), the ``/proc/vmcore``-style
rewrite of QEMU's ELF, and makedumpfile's filtered and compressed forms of it.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from vmcores.dump_index import BuildError
from vmcores.qemu import QMP

DUMP_TIMEOUT = 600.0

QEMU_KDUMP_FORMATS = {
    "kdump-zlib": "kdump-zlib",
    "kdump-lzo": "kdump-lzo",
    "kdump-snappy": "kdump-snappy",
}


def _run_tool(argv: Sequence[str], timeout: float = DUMP_TIMEOUT, **kw: Any) -> Tuple[int, str]:
    try:
        kw.setdefault("stdout", subprocess.PIPE)
        p = subprocess.run(list(argv), stderr=subprocess.PIPE, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout}s"
    except FileNotFoundError:
        return -1, f"{argv[0]} not found"
    out = p.stderr.decode(errors="replace") if isinstance(p.stderr, bytes) else (p.stderr or "")
    return p.returncode, out.strip()


def _reassemble(flat: Path, out: Path) -> Tuple[bool, str]:
    with open(flat, "rb") as fin:
        rc, err = _run_tool(["makedumpfile", "-R", str(out)], stdin=fin)
    return rc == 0 and out.exists(), err


def qemu_dumps(
    qmp: QMP, outdir: Path, kdump_forms: Sequence[str] = tuple(QEMU_KDUMP_FORMATS)
) -> Tuple[List[Tuple[str, str, Path]], Dict[str, str], List[str]]:
    """Stop the guest behind *qmp* and dump it with QEMU into *outdir*: every form holds
    the same memory image.

    Writes ``qemu.elf`` (``dump-guest-memory``), ``qemu.elf-paging`` (``-p``) and, per
    form of *kdump_forms* (keys of :data:`QEMU_KDUMP_FORMATS`) this QEMU can write,
    ``qemu.<form>-flat`` (QEMU's flattened kdump) and ``qemu.<form>`` (that reassembled by
    ``makedumpfile -R``).  Returns ``(form, tool, path)`` of each dump made, what failed
    (``{what: why}``) and the formats QEMU reports (``query-dump-guest-memory-capability``).
    """
    made: List[Tuple[str, str, Path]] = []
    failed: Dict[str, str] = {}
    qmp.execute("stop")
    caps = qmp.execute("query-dump-guest-memory-capability")
    qemu_formats = sorted(caps.get("formats", []))
    for form, paging in (("elf", False), ("elf-paging", True)):
        path = outdir / f"qemu.{form}"
        qmp.execute("dump-guest-memory", timeout=DUMP_TIMEOUT, paging=paging, protocol=f"file:{path}")
        made.append((form, "qemu dump-guest-memory" + (" -p" if paging else ""), path))
    for form in kdump_forms:
        qfmt = QEMU_KDUMP_FORMATS[form]
        if qfmt not in qemu_formats:
            failed[f"qemu dump-guest-memory {form}"] = "not in this QEMU's capabilities"
            continue
        flat = outdir / f"qemu.{form}-flat"
        qmp.execute(
            "dump-guest-memory", timeout=DUMP_TIMEOUT, paging=False, protocol=f"file:{flat}", format=qfmt
        )
        made.append((f"{form}-flat", f"qemu dump-guest-memory ({qfmt})", flat))
        out = outdir / f"qemu.{form}"
        ok, err = _reassemble(flat, out)
        if ok:
            made.append((form, f"qemu dump-guest-memory ({qfmt}) + makedumpfile -R", out))
        else:
            failed[f"makedumpfile -R {flat.name}"] = err
    return made, failed, qemu_formats


def vmcore_style_elf(src: Path, dst: Path) -> None:
    """Rewrite QEMU's ``-p`` ELF dump into the layout of a kernel's ``/proc/vmcore``.

    makedumpfile 1.7.2 cannot read QEMU 7.2's ELF dumps as written: it expects the
    program headers right after the ELF header (QEMU puts section headers there and sets
    ``e_phoff=192``, ``e_ehsize=8``), and it derives ``page_offset`` from the first
    PT_LOAD, so vmalloc/module PT_LOADs from ``paging=true`` confuse it.  This keeps the
    NOTE and the PT_LOADs of the direct map (same ``vaddr - paddr`` as the first one),
    with the phdrs at offset 64 and no section headers.  Memory contents are unchanged.
    """
    with open(src, "rb") as f:
        eh = bytearray(f.read(64))
        (phoff,) = struct.unpack_from("<Q", eh, 32)
        phentsize, phnum = struct.unpack_from("<HH", eh, 54)
        f.seek(phoff)
        raw = f.read(phentsize * phnum)
        phs = [list(struct.unpack_from("<IIQQQQQQ", raw, i * phentsize)) for i in range(phnum)]
        loads = [p for p in phs if p[0] == 1]
        if not loads:
            raise BuildError(f"{src}: no PT_LOAD")
        delta = loads[0][3] - loads[0][4]
        keep = [p for p in phs if p[0] == 4] + [p for p in loads if p[3] - p[4] == delta]
        offset = 64 + 56 * len(keep)
        placed = []
        for p in keep:
            placed.append((p, offset))
            offset += p[5]
        struct.pack_into("<Q", eh, 32, 64)  # e_phoff
        struct.pack_into("<Q", eh, 40, 0)  # e_shoff
        struct.pack_into("<HHHHHH", eh, 52, 64, 56, len(keep), 0, 0, 0)
        with open(dst, "wb") as g:
            g.write(eh)
            for p, off in placed:
                g.write(struct.pack("<IIQQQQQQ", p[0], p[1], off, *p[3:]))
            for p, _off in placed:
                f.seek(p[2])
                left = p[5]
                while left:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        raise BuildError(f"{src}: truncated segment")
                    g.write(chunk)
                    left -= len(chunk)


KDUMP_COMPRESSION_FLAGS = {"zlib": 0x1, "lzo": 0x2, "snappy": 0x4, "zstd": 0x20}
"""``disk_dump_header.status`` bits (makedumpfile's ``DUMP_DH_COMPRESSED_*``)."""


def _check_output(path: Path, form: str) -> str:
    """Empty if *path* really is *form*, else why not (makedumpfile built without snappy or
    zstd silently writes an uncompressed dump when asked for one)."""
    with open(path, "rb") as f:
        head = f.read(432)
    if form.startswith("elf"):
        return "" if head[:4] == b"\x7fELF" else "output is not ELF"
    if head[:8] != b"KDUMP   ":
        return "output is not a kdump file"
    (status,) = struct.unpack_from("<i", head, 424)
    comp = form.split("-")[1]
    want = KDUMP_COMPRESSION_FLAGS.get(comp, 0)
    mask = sum(KDUMP_COMPRESSION_FLAGS.values())
    if status & mask != want:
        return f"asked for {comp}, got compression flags {status & mask:#x} (tool built without it)"
    return ""


MAKEDUMPFILE_FORMS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("kdump-zlib", ("-c", "-d", "0")),
    ("kdump-zlib-d31", ("-c", "-d", "31")),
    ("kdump-lzo", ("-l", "-d", "0")),
    ("kdump-lzo-d31", ("-l", "-d", "31")),
    ("kdump-snappy", ("-p", "-d", "0")),
    ("kdump-zstd", ("-z", "-d", "0")),
    ("kdump-d31", ("-d", "31")),
    ("elf-d31", ("-E", "-d", "31")),
)
"""makedumpfile runs: form name -> options.  ``-d 31`` excludes zero, cache, user and
free pages; ``kdump-d31`` is uncompressed; ``elf-d31`` is makedumpfile's ELF output."""


def makedumpfile_forms(
    elf: Path,
    outdir: Path,
    forms: Sequence[Tuple[str, Sequence[str]]] = MAKEDUMPFILE_FORMS,
    command: Sequence[str] = ("makedumpfile",),
    note: str = "",
    flat: bool = True,
) -> Tuple[List[Tuple[str, str, Path]], Dict[str, str]]:
    """Convert a /proc/vmcore-style ELF with makedumpfile (*command*: the host's, or
    another architecture's under qemu-user) into each of *forms* and (*flat*) the
    flattened ``kdump-zlib-d31-flat``; return (form, tool, path), failures.  *note* is
    added to each tool description (which makedumpfile ran)."""
    made: List[Tuple[str, str, Path]] = []
    failed: Dict[str, str] = {}
    for form, opts in forms:
        out = outdir / f"makedumpfile.{form}"
        out.unlink(missing_ok=True)
        tool = "makedumpfile " + " ".join(opts) + note + " (of the qemu -p ELF made /proc/vmcore-like)"
        rc, err = _run_tool([*command, *opts, str(elf), str(out)])
        ok = rc == 0 and out.exists() and out.stat().st_size > 4096
        if ok:
            err = _check_output(out, form) or err
            ok = not _check_output(out, form)
        if ok:
            made.append((form, tool, out))
        else:
            out.unlink(missing_ok=True)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            failed[tool] = "; ".join(lines[-3:]) if lines else f"exit {rc}"
    if not flat:
        return made, failed
    out = outdir / "makedumpfile.kdump-zlib-d31-flat"
    with open(out, "wb") as fout:
        rc, err = _run_tool([*command, "-F", "-c", "-d", "31", str(elf)], stdout=fout)
    if rc == 0 and out.stat().st_size > 4096:
        made.append(("kdump-zlib-d31-flat", "makedumpfile -F -c -d 31" + note, out))
    else:
        out.unlink(missing_ok=True)
        failed["makedumpfile -F -c -d 31" + note] = err.splitlines()[-1] if err else f"exit {rc}"
    return made, failed
