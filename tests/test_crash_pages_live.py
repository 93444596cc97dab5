"""crash's ``dev -p``, ``kmem -g`` and ``kmem -p`` on a live kernel's ``/proc/kcore``, held
to what the same guest says about itself in the same boot (:func:`vmcores.live.live_tests`:
bookworm's generic kernel, this checkout over 9p).

- ``dev -p``: ``/sys/bus/pci/devices/*`` (``vendor``, ``device``, ``class``, the bus each
  device's sysfs path sits under, and the PCI Express capability its ``config`` space
  carries: crash's TYPE column is that capability's port type, ``ENDPOINT`` (0) for a device
  without one, and ``[BRIDGE]`` for a class 0604 device).
- ``kmem -g``: the kernel's own ``enum pageflags``, read from ``/sys/kernel/btf/vmlinux`` by
  bpftool.
- ``kmem -p``: ``/proc/kpageflags`` and ``/proc/kpagecount`` of a sample of page frames
  (every :data:`STRIDE`-th frame of each ``System RAM`` range of ``/proc/iomem``), each read
  right before and right after kdbg reads that frame's ``struct page`` (``kmem -p --json
  PHYS`` run in the same process, :func:`kdbg.ui.commands.run_command`); a frame is
  compared when both reads agree (the guest changes pages all the time; the frames that
  changed are dropped by the guest's two reads, not by kdbg's). Two records around a
  whole ``kdbg`` process are not enough: the pages that process takes and gives back
  read free in both and in use in between (seen: an LRU page with ``CNT`` 1 between two
  ``KPF_BUDDY`` records). kpageflags is the kernel's stable encoding (the ``KPF_*`` bits
  of ``Documentation/admin-guide/mm/pagemap.rst``), not ``page->flags``: the bits
  ``fs/proc/page.c`` copies from ``page->flags`` (:data:`COPIED`) are compared, each
  through the kernel's ``PG_`` bit of the same meaning. kpagecount is the page's map
  count, not ``_refcount`` (crash's ``CNT``): a mapped page holds one reference per
  mapping, so ``CNT`` is at least kpagecount on every page that is not part of a compound
  page, and a free buddy page (``KPF_BUDDY``) has ``CNT`` 0.

Only bookworm (6.1) has a live guest: a guest of another suite needs that suite's generic
kernel (400 MB unpacked, the one package with 9p) and one more boot of every session.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Tuple

import pytest

from vmcores.live import LiveResult

#: Every this many page frames of each ``System RAM`` range is sampled.
STRIDE = 193

#: ``(KPF bit, enum pageflags name)``: the bits ``fs/proc/page.c`` (6.1, ``stable_page_flags``)
#: copies from ``page->flags`` with ``kpf_copy_bit``; the bit numbers are
#: ``include/uapi/linux/kernel-page-flags.h``'s (0-26) and the kernel-hacking ones of
#: ``include/linux/kernel-page-flags.h`` (32-41).
COPIED = (
    (0, "PG_locked"), (1, "PG_error"), (2, "PG_referenced"), (3, "PG_uptodate"), (4, "PG_dirty"), (5, "PG_lru"),
    (6, "PG_active"), (8, "PG_writeback"), (9, "PG_reclaim"), (14, "PG_swapbacked"), (18, "PG_unevictable"),
    (19, "PG_hwpoison"), (32, "PG_reserved"), (33, "PG_mlocked"), (34, "PG_mappedtodisk"), (35, "PG_private"),
    (36, "PG_private_2"), (37, "PG_owner_priv_1"), (38, "PG_arch_1"), (39, "PG_uncached"), (41, "PG_arch_2"),
)
KPF_SLAB, KPF_BUDDY, KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL, KPF_NOPAGE = 7, 10, 15, 16, 20

LIVE_PAGES = r"""
echo "==STEP bpftool"
bpftool btf dump file /sys/kernel/btf/vmlinux format raw > /run/btf.txt
python3 - <<'PY'
import io, json, os, re, subprocess, sys

STRIDE = STRIDE_VALUE


def ram_pfns():
    out = []
    for line in open("/proc/iomem"):
        if line.startswith(" ") or not line.rstrip().endswith(": System RAM"):
            continue
        start, end = (int(x, 16) for x in line.split(":")[0].strip().split("-"))
        out += range((start + 4095) >> 12, (end + 1) >> 12, STRIDE)
    return out


def kpage(pfn):  # [kpageflags, kpagecount] of one frame, read now
    out = []
    for f in (FLAGS, COUNT):
        f.seek(pfn * 8)
        out.append(int.from_bytes(f.read(8), "little"))
    return out


def pci():
    out = {}
    for name in sorted(os.listdir("/sys/bus/pci/devices")):
        d = "/sys/bus/pci/devices/" + name
        out[name] = {f: open(f"{d}/{f}").read().strip() for f in ("vendor", "device", "class")}
        out[name]["path"] = os.path.realpath(d)
        out[name]["config"] = open(f"{d}/config", "rb").read()[:256].hex()
    return out


print("==STEP cli", flush=True)
enum = re.search(r"^\[\d+\] ENUM 'pageflags'[^\n]*\n((?:\t[^\n]*\n)*)", open("/run/btf.txt").read(), re.M)
run = subprocess.run([sys.executable, "-m", "kdbg", "-q", "-x", "kmem -g --json", "-x", "dev -p --json",
                      "-x", "dev -p"], capture_output=True, text=True)
print("==STEP pages", flush=True)
import kdbg
from kdbg.ui.commands import CommandContext, run_command
prog = kdbg.open_live()


def kmem_p(pfn):
    buf = io.StringIO()
    run_command(prog, f"kmem -p --json {pfn << 12:x}", CommandContext(out=buf))
    return json.loads(buf.getvalue())


FLAGS, COUNT = open("/proc/kpageflags", "rb"), open("/proc/kpagecount", "rb")
pfns = ram_pfns()
kmem_p(pfns[0])
before, rows, after = {}, {}, {}
for pfn in pfns:
    before[pfn] = kpage(pfn)
    rows[pfn] = kmem_p(pfn)
    after[pfn] = kpage(pfn)
print("==PAGES")
print(json.dumps({"rc": run.returncode, "stderr": run.stderr, "stdout": run.stdout, "before": before,
                  "after": after, "rows": rows, "pci": pci(), "pageflags": enum.group(1) if enum else None}))
print("==END")
PY
""".replace("STRIDE_VALUE", str(STRIDE))


def _data(res: LiveResult) -> Dict[str, Any]:
    assert res.returncode == 0, res.output[-3000:]
    text = res.output.replace("\r\n", "\n")
    data = json.loads(text.split("==PAGES\n", 1)[1].split("\n==END", 1)[0])
    assert data["rc"] == 0 and data["stderr"] == "", data["stderr"]
    return data


def _pageflags(data: Dict[str, Any]) -> Dict[str, int]:
    """bpftool's ``enum pageflags``: name -> value."""
    assert data["pageflags"], "no enum pageflags in the guest's BTF"
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"'(\w+)' val=(-?\d+)", data["pageflags"])}


@pytest.mark.live(LIVE_PAGES, suite="bookworm")
def test_kmem_g_is_the_kernels_enum_pageflags(live_result: LiveResult) -> None:
    """``kmem -g``: every ``PG_`` enumerator of the guest's ``enum pageflags`` with its bit
    and value, in the enum's order, as bpftool reads the guest's BTF."""
    data = _data(live_result)
    rows = json.loads(data["stdout"].splitlines()[0])
    enum = _pageflags(data)
    assert rows[0]["flags"] == 0
    assert [(r["name"], r["bit"], r["value"]) for r in rows[0]["set"]] == [
        (n, v, 1 << v) for n, v in enum.items() if "PG_" in n]
    assert len(rows[0]["set"]) > 20


def _stable(data: Dict[str, Any]) -> Dict[int, Tuple[int, int]]:
    return {int(pfn): (v[0], v[1]) for pfn, v in data["before"].items() if data["after"][pfn] == v}


@pytest.mark.live(LIVE_PAGES, suite="bookworm")
def test_kmem_p_against_kpageflags_and_kpagecount(live_result: LiveResult) -> None:
    """``kmem -p PHYS`` on each sampled frame: one row, the frame's; on every frame whose
    kpageflags and kpagecount did not change across kdbg's run and that is no compound
    tail, each bit ``fs/proc/page.c`` copies from ``page->flags`` (:data:`COPIED`, and
    ``KPF_SLAB``) is set in kdbg's flags word at the kernel's ``PG_`` bit exactly when
    kpageflags sets it, and named (lower case, without ``PG_``) when set; every name kdbg
    prints is a set bit's; ``CNT`` is at least kpagecount on a page that is not compound,
    and 0 on a free buddy page."""
    data = _data(live_result)
    rows = {int(pfn): r for pfn, (r,) in data["rows"].items()}
    assert all(r["physical"] == pfn << 12 for pfn, r in rows.items()) and len(rows) == len(data["before"])
    enum = _pageflags(data)
    copied = [(kpf, enum[name]) for kpf, name in COPIED if name in enum]
    stable = _stable(data)
    assert len(stable) > len(rows) * 3 // 4, (len(stable), len(rows))
    wrong: List[Tuple[int, str, Any, Any]] = []
    seen = {"buddy": 0, "slab": 0, "mapped": 0, "lru": 0, "reserved": 0}
    for pfn, (kpf, kcount) in stable.items():
        r = rows[pfn]
        assert not kpf >> KPF_NOPAGE & 1, pfn
        # a compound tail: 6.1 reports some bits (slab) and 6.12 every bit from the head
        pairs = [] if kpf >> KPF_COMPOUND_TAIL & 1 else list(copied)
        if pairs and "PG_slab" in enum:  # 6.10 made slab a page type
            pairs.append((KPF_SLAB, enum["PG_slab"]))
        for kbit, pbit in pairs:
            if kpf >> kbit & 1 != r["flags"] >> pbit & 1:
                wrong.append((pfn, f"KPF bit {kbit} / PG bit {pbit}", kpf, r["flags"]))
            name = next(n[3:].lower() for n, v in enum.items() if v == pbit and n.startswith("PG_"))
            if kpf >> kbit & 1 and name not in r["names"]:
                wrong.append((pfn, f"name of PG bit {pbit}", name, r["names"]))
        if any(not r["flags"] >> enum.get("PG_" + n, 64) & 1 for n in r["names"]):
            wrong.append((pfn, "names", r["flags"], r["names"]))
        if not kpf >> KPF_COMPOUND_HEAD & 1 and not kpf >> KPF_COMPOUND_TAIL & 1 and r["count"] < kcount:
            wrong.append((pfn, "count", kcount, r["count"]))
        if kpf >> KPF_BUDDY & 1 and r["count"] != 0:
            wrong.append((pfn, "buddy count", kcount, r["count"]))
        for key, bit in (("buddy", KPF_BUDDY), ("slab", KPF_SLAB), ("lru", 5), ("reserved", 32)):
            seen[key] += kpf >> bit & 1
        seen["mapped"] += kcount > 0
    assert not wrong, wrong[:20]
    # the sample saw pages of every kind it compares
    assert all(n > 0 for n in seen.values()), seen


# ----------------------------------------------------------------------------- dev -p


def _pcie_type(config: bytes) -> int:
    """The port type of the PCI Express capability in *config* (0 without one: crash reads
    ``pcie_flags_reg``, which such a device leaves 0)."""
    if len(config) < 64 or not config[6] & 0x10:  # status: capability list
        return 0
    at, hops = config[0x34] & 0xFC, 0
    while at and at + 4 <= len(config) and hops < 48:
        if config[at] == 0x10:
            return (config[at + 2] & 0xF0) >> 4
        at, hops = config[at + 1] & 0xFC, hops + 1
    return 0


#: crash's names of the PCI Express port types (``include/uapi/linux/pci_regs.h``).
PCIE_TYPES = {0: "ENDPOINT", 1: "LEG_END", 4: "ROOT_PORT", 5: "UPSTREAM", 6: "DOWNSTREAM", 7: "PCI_BRIDGE",
              8: "PCIE_BRIDGE", 9: "RC_END", 10: "RC_EC"}


@pytest.mark.live(LIVE_PAGES, suite="bookworm")
def test_dev_p_against_sysfs(live_result: LiveResult) -> None:
    """``dev -p``: the devices are ``/sys/bus/pci/devices``' and no other, each with sysfs's
    vendor, device and class (crash's CLASS is the class code's upper 16 bits), under the
    bus its sysfs path names, and crash's TYPE (``ENDPOINT`` for a conventional device);
    the text is the JSON's."""
    data = _data(live_result)
    out = data["stdout"].splitlines()
    roots = json.loads(out[1])
    sysfs = data["pci"]
    assert sysfs, "the guest has no PCI device"
    got: Dict[str, Dict[str, Any]] = {}
    parents: Dict[str, str] = {}
    listed: List[str] = []

    def walk(bus: Dict[str, Any], bridge: str) -> None:
        devices = bus["devices"]
        listed.extend(d["name"] for d in devices)
        if bridge:  # a child bus lists its bridge first
            assert devices[0]["name"] == bridge, bus
            devices = devices[1:]
        for d in devices:
            got[d["name"]] = d
            parents[d["name"]] = bridge or "pci" + bus["name"]
        for child in bus["children"]:
            walk(child, child["devices"][0]["name"])

    for root in roots:
        walk(root, "")
    assert sorted(got) == sorted(sysfs)
    for name, truth in sysfs.items():
        d = got[name]
        assert d["pci_id"] == f"{int(truth['vendor'], 16):x}:{int(truth['device'], 16):x}", name
        assert d["class"] == f"{int(truth['class'], 16) >> 8:04x}", name
        kind = PCIE_TYPES[_pcie_type(bytes.fromhex(truth["config"]))]
        if int(truth["class"], 16) >> 8 == 0x0604:
            kind += " [BRIDGE]"
        assert d["type"] == kind, (name, d["type"], kind)
        # /sys/devices/pci0000:00/0000:00:03.0: on root bus 0000:00; behind a bridge, the
        # bridge's directory holds the device's
        assert parents[name] == truth["path"].rsplit("/", 2)[1], (name, truth["path"])
    text = [line.split() for line in out[2:] if line.strip()]
    rows = [t for t in text if len(t) >= 4 and t[1] in got]
    assert [t[1] for t in rows] == listed
    assert all(t[2] == got[t[1]]["class"] and t[3] == got[t[1]]["pci_id"] for t in rows)
