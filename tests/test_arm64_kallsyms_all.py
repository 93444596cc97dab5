"""arm64 with ``CONFIG_KALLSYMS_ALL``: Debian trixie's ``cloud-arm64`` kernel (6.12,
``CONFIG_ARM64_VA_BITS_52`` with ``CONFIG_ARM64_LPA2``) under ``qemu-system-aarch64 -M virt
-cpu max``, whose CPU has LPA2: the guest runs 52-bit kernel addresses on 4K pages, five
levels of page tables with LPA2 descriptors; and trixie's ``arm64-16k`` kernel
(:data:`vmcores.arm64.PAGE_SIZE_KERNELS`: the same 52-bit LPA2 configuration on 16K pages,
four levels of 16K tables). kallsyms lists data symbols here, so ``ps``, ``lsmod`` and
``mount`` run end to end; each is compared with the guest's own answer.

Trixie's generic ``arm64`` flavour (``trixie-generic``, the same configuration in these
respects, a 1 GB ``-dbg``) passes the same tests (checked 2026-12-07); it is not in the
default list to keep CI inside its budget: ``KERNELS`` below names what runs.
"""

from __future__ import annotations

import json
import re
from typing import Any, List

import pytest

from kdbg import open_core as open_program
from kdbg.arch.arm64 import Arm64Translator
from kdbg.core.platform import Architecture
from kdbg.memory import open_core
from kdbg.symbols.kallsyms.mem import decode_kallsyms
from tests.arm64_support import assert_reads_agree_with_drgn
from tests.cli_support import run_kdbg
from tests.helpers_support import comm_matches
from tests.kallsyms_truth import assert_matches_truth
from vmcores.arm64 import PAGE_SIZE_KERNELS, arm64_dumps, arm64_kernel, kernel_parts
from vmcores.dump_index import Dump
from vmcores.oracle import ORACLE_FORM

pytestmark = pytest.mark.timeout(2400)

#: arm64 kernels with ``CONFIG_KALLSYMS_ALL`` the suite runs (``SUITE-FLAVOUR``).
KERNELS = ("trixie-cloud", *PAGE_SIZE_KERNELS)


@pytest.fixture(scope="module", params=KERNELS)
def dumps(request: pytest.FixtureRequest) -> List[Dump]:
    """Every dump form of the arm64 guest (built when missing)."""
    out = arm64_dumps([request.param])
    assert {d.form for d in out} >= {"elf", "elf-paging", "kdump-zlib", "kdump-zlib-flat"}
    return out


def _json(dump: Dump, command: str) -> Any:
    p = run_kdbg("-c", str(dump.path), "--json", "-x", command)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_52bit_lpa2_page_tables_the_guest_built(dumps: List[Dump]) -> None:
    """The kernel's config says 52-bit VA with LPA2, its page size and its number of
    page-table levels (4K pages: five, 16K: four); the dump's VMCOREINFO agrees (T1SZ 12:
    the CPU runs 52 bits), so translation walks the config's levels of the config's
    granule with LPA2 output addresses, and every form reads the guest's linux_banner."""
    config = next((arm64_kernel(*kernel_parts(dumps[0].suite)).root / "boot").glob("config-*")).read_text()
    assert re.search(r"^CONFIG_ARM64_VA_BITS=52$", config, re.M) and "CONFIG_ARM64_LPA2=y" in config
    assert "CONFIG_KALLSYMS_ALL=y" in config
    (page_kib,) = re.findall(r"^CONFIG_ARM64_(\d+)K_PAGES=y$", config, re.M)
    (levels,) = re.findall(r"^CONFIG_PGTABLE_LEVELS=(\d+)$", config, re.M)
    assert (int(page_kib), int(levels)) in ((4, 5), (16, 4)), (page_kib, levels)
    version = (dumps[0].truth / "version").read_text().strip()
    for d in dumps:
        with open_program(str(d.path)) as prog:
            assert prog.platform.arch == Architecture.AARCH64
            arch = prog.memory.arch  # type: ignore[union-attr]
            assert isinstance(arch, Arm64Translator)
            assert (arch.va_bits, arch.params.va_bits_actual) == (52, 52)
            assert (arch.levels, arch.page_size) == (int(levels), int(page_kib) * 1024)
            banner = prog.read(prog.symbol("linux_banner").address, len(version))
            assert banner.decode() == version, d.form


def test_translation_agrees_with_drgn(dumps: List[Dump]) -> None:
    """Reads at image, linear-map, vmalloc, module and vmemmap addresses through the five
    LPA2 levels equal drgn's (with Debian's arm64 DWARF) on every form."""
    oracle = next(d for d in dumps if d.form == ORACLE_FORM)
    assert_reads_agree_with_drgn(oracle, dumps)


def test_kallsyms_with_data_symbols_is_the_guests(dumps: List[Dump]) -> None:
    """Every form decodes to exactly the guest's /proc/kallsyms, data symbols included."""
    for d in dumps:
        with open_core(str(d.path)) as mem:
            decoded = decode_kallsyms(mem, use_cache=False)
            assert {"init_task", "modules", "swapper_pg_dir"} <= set(decoded.names)
            assert_matches_truth(decoded, d.truth)


def test_btf_is_the_guests(dumps: List[Dump]) -> None:
    want = (dumps[0].truth / "btf" / "vmlinux").read_bytes()
    for d in dumps:
        with open_program(str(d.path)) as prog:
            assert prog.btf.data == want, d.form


def test_ps_is_the_guests(dumps: List[Dump]) -> None:
    """Every process the guest listed is in ``ps`` with its comm and parent; the sleepers
    the guest started are there."""
    listed = json.loads((dumps[0].truth / "ps.json").read_text())
    for d in dumps:
        rows = _json(d, "ps")
        ours = {r["pid"]: r for r in rows if r["pid"] > 0}
        assert listed and not [p for p in listed if p["pid"] not in ours], d.form
        wrong = [(p, ours[p["pid"]]) for p in listed
                 if not comm_matches(p["comm"], ours[p["pid"]]["comm"]) or p["ppid"] != ours[p["pid"]]["ppid"]]
        assert not wrong, d.form
        assert [r["comm"] for r in rows if r["pid"] == 0] == ["swapper/0", "swapper/1"]


def test_lsmod_is_the_guests(dumps: List[Dump]) -> None:
    """Name, size, base address and reference count of every module, as /proc/modules."""
    want = []
    for line in (dumps[0].truth / "modules").read_text().splitlines():
        name, size, refs, _users, state, base = line.split()[:6]
        want.append((name, int(size), int(refs), state, int(base, 16)))
    assert want
    for d in dumps:
        got = [(m["name"], m["size"], m["refcount"], m["state"], m["base"]) for m in _json(d, "lsmod")]
        assert sorted(got) == sorted(want), d.form


def test_mount_is_the_guests(dumps: List[Dump]) -> None:
    """Source, mount point and type of every mount, in /proc/mounts' order."""
    want = [tuple(line.split()[:3]) for line in (dumps[0].truth / "mounts").read_text().splitlines()]
    assert want
    for d in dumps:
        got = [(m["source"], m["target"], m["fstype"]) for m in _json(d, "mount")]
        assert got == want, d.form


def test_dmesg_is_the_guests(dumps: List[Dump]) -> None:
    """The log kdbg reads from the dump begins with every line the guest's own ``dmesg``
    printed (sysrq-t included), in order; later lines may follow."""
    want = (dumps[0].truth / "dmesg").read_text().splitlines()
    assert any("KDBG-SYSRQ-T-END" in line for line in want)
    for d in dumps:
        p = run_kdbg("-c", str(d.path), "-x", "dmesg")
        assert p.returncode == 0, p.stderr
        assert p.stdout.splitlines()[: len(want)] == want, d.form
