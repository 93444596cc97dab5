"""The one address syntax (kdbg/symbols/address.py) that ``sym``, ``rd`` and every command
taking an address share: bare hex, ``0x`` hex, ``0nDECIMAL``, ``SYMBOL``, ``SYMBOL+OFF``.

Symbol addresses come from the sample guest's own /proc/kallsyms and memory contents from
its /proc/version (``linux_banner`` as printed), never from kdbg.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from kdbg.errors import ExpressionError, KdbgError, SymbolNotFoundError
from kdbg.symbols import SymbolTable, load_kallsyms_file, parse_address
from tests.cli_support import run_kdbg


def truth_addresses(truth: Path) -> Dict[str, int]:
    """vmlinux name -> address (first occurrence) from the guest's kallsyms file."""
    out: Dict[str, int] = {}
    for line in (truth / "kallsyms").read_text().splitlines():
        if "\t" not in line:
            addr, _, name = line.split(" ")
            out.setdefault(name, int(addr, 16))
    return out


@pytest.fixture(scope="module")
def table(sample_dump) -> SymbolTable:  # type: ignore[no-untyped-def]
    return load_kallsyms_file(Path(sample_dump.truth) / "kallsyms")


@pytest.fixture(scope="module")
def truth(sample_dump) -> Dict[str, int]:  # type: ignore[no-untyped-def]
    return truth_addresses(Path(sample_dump.truth))


def test_numbers(table: SymbolTable) -> None:
    """Bare words are hex whatever their length (no guessing by digit count); decimal only
    as 0nDECIMAL."""
    assert parse_address("ffffffff82a13640", table) == 0xFFFFFFFF82A13640
    assert parse_address("0xffffffff82a13640", table) == 0xFFFFFFFF82A13640
    assert parse_address("0XFFFFFFFF82A13640", table) == 0xFFFFFFFF82A13640
    assert parse_address("10", table) == 0x10
    assert parse_address("12345678", table) == 0x12345678
    assert parse_address("1234567890", table) == 0x1234567890
    assert parse_address("0n4096", table) == 4096
    assert parse_address("0N18446744073709551615", table) == (1 << 64) - 1
    assert parse_address("0", table) == 0
    assert parse_address("0xffffffff81000000+0x10", table) == 0xFFFFFFFF81000010
    assert parse_address("  0x10  ", None) == 0x10


def test_symbols_and_offsets(table: SymbolTable, truth: Dict[str, int]) -> None:
    it = truth["init_task"]
    assert parse_address("init_task", table) == it
    assert parse_address("init_task+0x10", table) == it + 0x10
    assert parse_address("init_task+10", table) == it + 0x10  # offsets are hex too
    assert parse_address("init_task+0n10", table) == it + 10
    assert parse_address("init_task-0x8", table) == it - 8
    assert parse_address("init_task - 0n8", table) == it - 8
    assert parse_address("init_task+0", table) == it
    # Names with dots, as kallsyms has them.
    dotted = next(n for n in truth if "." in n and n.count(".") == 1 and n[0] != ".")
    assert parse_address(dotted + "+0x1", table) == truth[dotted] + 1


def test_word_that_is_both_hex_and_a_symbol(table: SymbolTable, truth: Dict[str, int]) -> None:
    """`edd` and `af` are kernel symbols and hex numbers: the symbol wins, 0x forces the
    number, and with no symbol table (or one without the name) the word is the number."""
    for word in ("edd", "af"):
        assert re.fullmatch(r"[0-9a-f]+", word) and word in truth
        assert parse_address(word, table) == truth[word]
        assert parse_address(word + "+0x8", table) == truth[word] + 8
        assert parse_address("0x" + word, table) == int(word, 16)
        assert parse_address(word, None) == int(word, 16)
    assert "cafe" not in truth
    assert parse_address("cafe", table) == 0xCAFE

    def no_symbols() -> SymbolTable:
        raise KdbgError("no symbols: give --kallsyms FILE")

    assert parse_address("edd", no_symbols) == 0xEDD
    assert parse_address("0x10", no_symbols) == 0x10
    with pytest.raises(KdbgError, match="no symbols"):
        parse_address("init_task", no_symbols)


@pytest.mark.parametrize("text, error, match", [
    ("nosuch", SymbolNotFoundError, r"^no symbol 'nosuch'$"),
    ("nosuch+0x10", SymbolNotFoundError, r"^no symbol 'nosuch' \(in address 'nosuch\+0x10'\)$"),
    ("", ExpressionError, r"^bad address ''"),
    ("   ", ExpressionError, r"^bad address '   '"),
    ("init_task+", ExpressionError, r"^bad address 'init_task\+'"),
    ("init_task+zz", ExpressionError, r"^bad address 'init_task\+zz': offset 'zz'"),
    ("init_task+init_task", ExpressionError, r"offset 'init_task' is not a number"),
    ("+0x10", ExpressionError, r"^bad address '\+0x10'"),
    ("0x", ExpressionError, r"^bad address '0x': '0x' is not a hex number"),
    ("0xfg", ExpressionError, r"'0xfg' is not a hex number"),
    ("0n12ab", ExpressionError, r"'0n12ab' is not a decimal number"),
    ("0d1234x", SymbolNotFoundError, r"no symbol '0d1234x'"),
    ("1+2+3", ExpressionError, r"^bad address '1\+2\+3'"),
    ("init task", ExpressionError, r"^bad address 'init task'"),
    ("a,b", ExpressionError, r"neither a number nor a symbol"),
    ("0xffffffffffffffff+1", ExpressionError, r"is not a 64-bit address"),
    ("0-1", ExpressionError, r"is not a 64-bit address"),
    ("10000000000000000", ExpressionError, r"is not a 64-bit address"),
])
def test_errors_are_one_line_naming_the_text(table: SymbolTable, text: str,
                                             error: type, match: str) -> None:
    with pytest.raises(error, match=match) as info:
        parse_address(text, table)
    assert "\n" not in str(info.value)


# -- the commands ------------------------------------------------------------------------


def kdbg(*args: str) -> subprocess.CompletedProcess:
    return run_kdbg("-q", *args)


def rd_bytes(lines: List[str]) -> bytes:
    """The bytes `rd` printed in ``lines``."""
    data = b""
    for line in lines:
        m = re.match(r"^[0-9a-f]{16}:  ((?:[0-9a-f]{16} ?)+)", line)
        assert m, line
        data += b"".join(struct.pack("<Q", int(w, 16)) for w in m.group(1).split())
    return data


def test_rd_every_address_form(sample_dump) -> None:  # type: ignore[no-untyped-def]
    """`rd` of linux_banner by bare hex (read as a symbol name before), 0x hex, 0nDECIMAL,
    its name and name+offset reads the bytes the guest printed as /proc/version."""
    truth = truth_addresses(Path(sample_dump.truth))
    version = (Path(sample_dump.truth) / "version").read_bytes()
    banner = truth["linux_banner"]
    whole = [f"{banner:x}", f"{banner:#x}", f"0n{banner}", "linux_banner",
             f"{banner + 0x10:x}-10", "linux_banner+0"]
    tail = ["linux_banner+0x10", "linux_banner+10", "linux_banner+0n16", f"{banner:x}+0n16"]
    args = []
    for form in whole + tail:
        args += ["-x", f"rd {form} 4"]
    p = kdbg("-c", str(sample_dump.path), *args)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2 * len(whole + tail), p.stdout  # 4 words: 2 lines each
    for i, form in enumerate(whole + tail):
        start = banner if form in whole else banner + 0x10
        chunk = lines[2 * i: 2 * i + 2]
        assert chunk[0].startswith(f"{start:016x}:"), (form, chunk)
        assert rd_bytes(chunk) == version[start - banner: start - banner + 32], form


def test_rd_and_sym_hex_word_that_is_a_symbol(sample_dump) -> None:  # type: ignore[no-untyped-def]
    truth = truth_addresses(Path(sample_dump.truth))
    p = kdbg("-c", str(sample_dump.path), "-x", "rd edd", "-x", "sym edd")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith(f"{truth['edd']:016x}:")
    assert re.match(rf"^{truth['edd']:016x} \(\w\) edd\b", lines[1]), lines[1]
    p = kdbg("-c", str(sample_dump.path), "-x", "rd 0xedd")
    assert p.returncode == 1 and "0xedd" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("cmd, match", [
    ("rd nosuch", r"^kdbg: rd: no symbol 'nosuch'$"),
    ("rd nosuch+0x10 2", r"^kdbg: rd: no symbol 'nosuch' \(in address 'nosuch\+0x10'\)$"),
    ("rd linux_banner+zz", r"^kdbg: bad address 'linux_banner\+zz': offset 'zz'"),
    ("sym 0xzz", r"^kdbg: bad address '0xzz'"),
    ("rd 12345", r"0x12345"),  # hex, not decimal: no guessing by digit count
    ("sym 0n16", r"^kdbg: sym: could not find symbol containing 0x10$"),  # drgn's words, named by the command
])
def test_command_errors_one_line(sample_dump, cmd: str, match: str) -> None:  # type: ignore[no-untyped-def]
    p = kdbg("-c", str(sample_dump.path), "-x", cmd)
    assert p.returncode == 1, (cmd, p.stdout, p.stderr)
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert re.search(match, p.stderr.strip()), p.stderr


def test_usage_documents_the_syntax(sample_dump) -> None:  # type: ignore[no-untyped-def]
    p = kdbg("-c", str(sample_dump.path), "-x", "help rd", "-x", "help sym")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("ADDRESS is hex") == 2 and p.stdout.count("0x forces the number") == 2
