"""kdbg's rule for flexible array members (``kdbg.object.is_flexible_array_member``)
against DWARF, on every reference kernel.

BTF writes ``T x[]`` and ``T x[0]`` alike (an array of length 0); drgn reading DWARF tells
them apart, and prints, sizes and values them differently (``T []`` has no size and no
value).  For every zero-length array member of every named struct and union in the guest's
BTF (the ``btf/vmlinux`` truth file, what the kernel itself exported; members of anonymous
structs and unions included), this asks drgn with Debian's DWARF ``vmlinux`` of the same
kernel what the source declared, and checks that kdbg's rule agrees everywhere except in
:data:`RESIDUE`: arrays the source declares ``[0]`` as the last member of a struct, which
no rule over BTF can tell from ``[]``.  Each residue entry is checked to be a miss (so the
list cannot go stale), and the rule must never take a ``[]`` for a ``[0]``.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, List

import pytest

from kdbg.btf.loader import load_btf_file
from kdbg.btf.types import Array, Composite
from kdbg.object import is_flexible_array_member
from tests.oracle_exprs import oracle_dump
from vmcores.debian import SUITES
from vmcores.oracle import Query, ask_drgn

#: Trailing ``[0]`` arrays of each kernel (``struct TAG.MEMBER``; all are structs), which
#: kdbg's rule takes as flexible.  5.10 also has every ``struct trace_event_raw_*.__data`` (the trace event
#: records' macro still wrote ``char __data[0]``): :func:`_expected_residue`.
RESIDUE: Dict[str, FrozenSet[str]] = {
    "bullseye": frozenset("""
        struct xregs_state.extended_state_area struct group_info.gid struct mem_cgroup.nodeinfo
        struct neighbour.primary_key struct ethtool_tunable.data struct ethtool_regs.data
        struct ethtool_eeprom.data struct ethtool_test.data struct ethtool_stats.data
        struct ethtool_rxnfc.rule_locs struct ethtool_dump.data struct ethtool_link_settings.link_mode_masks
        struct xen_pmu_amd_ctxt.regs struct xen_pmu_intel_ctxt.regs struct mmu_table_batch.tables
        struct mmu_gather_batch.pages struct setup_data.data struct mem_section_usage.pageblock_flags
        struct exception_stacks.IST_top_guard struct sysinfo._f struct kvm_pmu_event_filter.events
        struct kvm_coalesced_mmio_ring.coalesced_mmio struct audit_rule_data.buf
        struct perf_event_query_bpf.ids struct bpf_lpm_trie_key.data struct xfrm_sec_ctx.ctx_str
        struct file_dedupe_range.info struct fiemap.fm_extents struct inotify_event.name
        struct fanotify_event_info_fid.handle struct ext4_fc_dentry_info.fc_dname
        struct ext4_fc_inode.fc_raw_inode struct sctp_idatahdr.payload struct xfrm_replay_state_esn.bmp
        struct xfrm_algo.alg_key struct xfrm_algo_auth.alg_key struct xfrm_algo_aead.alg_key
        struct blk_zone_report.zones struct io_uring_probe.ops struct apertures_struct.ranges
        struct cn_msg.data struct ip_auth_hdr.auth_data struct devlink.priv struct pppoe_tag.tag_data
        struct pppoe_hdr.tag struct ipv6_sr_hdr.segments struct ethtool_gstrings.data
        struct ethtool_sset_info.data struct ethtool_perm_addr.data struct ethtool_rxfh.rss_config
        struct ethtool_gfeatures.features struct ethtool_sfeatures.features struct rtvia.rtvia_addr
        struct igmpv3_grec.grec_src struct igmpv3_report.grec struct igmpv3_query.srcs
        struct rt0_hdr.addr struct sr6_tlv.data struct seg6_iptunnel_encap.srh
        struct irq_routing_table.slots struct pci_setup_rom.romdata
    """.replace("struct ", "").split()),
    "bookworm": frozenset("""
        struct xregs_state.extended_state_area struct neighbour.primary_key
        struct mem_section_usage.pageblock_flags struct misc_cg.res struct sysinfo._f
        struct sctp_idatahdr.payload struct ethtool_rxnfc.rule_locs struct apertures_struct.ranges
        struct sr6_tlv.data struct ioam6_trace_hdr.data struct exception_stacks.IST_top_guard
        struct rt0_hdr.addr
    """.replace("struct ", "").split()),
    "trixie": frozenset("""
        struct mem_section_usage.pageblock_flags struct exception_stacks.IST_top_guard struct sysinfo._f
        struct misc_cg.res struct min_heap_char.preallocated struct perf_event_min_heap.preallocated
        struct sctp_idatahdr.payload struct sr6_tlv.data
    """.replace("struct ", "").split()),
}

#: drgn's side: the declared length of each member (``"[]"`` for a flexible array).
_DRGN_CODE = '''
def _declared(specs):
    out = {}
    for spec in specs:
        tag, member = spec.rsplit(".", 1)
        try:
            t = prog.type(tag).member(member).type
        except LookupError:
            out[spec] = "missing"
            continue
        while t.kind == drgn.TypeKind.TYPEDEF:
            t = t.type
        t = t.unqualified()
        out[spec] = "[]" if t.length is None else "[%d]" % t.length
    return out
'''


def _zero_length_members(suite: str) -> Dict[str, bool]:
    """``"struct tag.member"`` -> kdbg's verdict (flexible?) for every zero-length array
    member of a named struct or union of the guest's BTF (first definition of a name)."""
    btf = load_btf_file(str(oracle_dump(suite).truth / "btf" / "vmlinux"))
    out: Dict[str, bool] = {}

    def walk(tag: str, container: Composite, depth: int) -> None:
        for i, m in enumerate(container.members):
            under = m.type.strip_typedefs()
            if not m.name and isinstance(under, Composite) and depth < 16:
                walk(tag, under, depth + 1)
            elif m.name and isinstance(under, Array) and under.length == 0:
                out.setdefault(f"{tag}.{m.name}", is_flexible_array_member(container, i))

    for t in btf:
        if isinstance(t, Composite) and t.name:
            walk(f"{t.keyword} {t.name}", t, 0)
    return out


def _expected_residue(suite: str, names: List[str]) -> FrozenSet[str]:
    listed = {"struct " + n for n in RESIDUE[suite]}
    if suite == "bullseye":
        listed |= {n for n in names if n.startswith("struct trace_event_raw_") and n.endswith(".__data")}
    return frozenset(listed)


@pytest.mark.parametrize("suite", list(SUITES))
def test_flexible_array_rule_matches_dwarf(suite: str) -> None:
    """kdbg's verdict equals DWARF's for every zero-length array but the residue."""
    kdbg_says = _zero_length_members(suite)
    specs = sorted(kdbg_says)
    text = f"(exec({_DRGN_CODE!r}, globals()), _declared({specs!r}))[1]"
    dump = oracle_dump(suite)
    rec = ask_drgn(suite, dump.path, [Query("flexible-arrays", text)]).records["flexible-arrays"]
    assert rec["kind"] == "python", rec.get("message")
    dwarf: Dict[str, str] = rec["value"]
    missing = [s for s in specs if dwarf[s] == "missing"]
    assert len(missing) <= 2, missing  # a type only BTF has (6.12: struct acpi_cdat_sslbis_table)
    compared = [s for s in specs if dwarf[s] != "missing"]
    assert all(dwarf[s] in ("[]", "[0]") for s in compared)
    never_flexible_taken_as_zero: List[str] = [s for s in compared if dwarf[s] == "[]" and not kdbg_says[s]]
    assert never_flexible_taken_as_zero == []
    misses = frozenset(s for s in compared if dwarf[s] == "[0]" and kdbg_says[s])
    assert misses == _expected_residue(suite, compared)
    right = len(compared) - len(misses)
    # the figures in kdbg.object.is_flexible_array_member's docstring
    assert (right, len(compared)) == {"bullseye": (289, 796), "bookworm": (859, 871),
                                      "trixie": (1039, 1047)}[suite]


def test_the_arrays_the_objects_test_relies_on() -> None:
    """``tests/test_objects_vs_drgn.TRAILING_ZERO_LENGTH`` names residue members only."""
    from tests.test_objects_vs_drgn import TRAILING_ZERO_LENGTH

    for suite, members in TRAILING_ZERO_LENGTH.items():
        residue = {n.rsplit(".", 1)[1] for n in RESIDUE[suite]}
        assert {m for m, _ in members} <= residue, suite
