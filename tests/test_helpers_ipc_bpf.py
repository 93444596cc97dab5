"""drgn's System V IPC and BPF helpers against drgn with Debian's DWARF on the three
reference kernels. The guests (busybox, no systemd) create no IPC objects and load no BPF
programs: what is compared is the empty walks, the lookups by id (NULL, of the right type),
the default-namespace forms, the flag decoding, and the BTF objects (vmlinux's and the
loaded modules' on 6.x)."""

from __future__ import annotations

import pytest

from tests.helpers_compare import mismatches
from vmcores.debian import SUITES

NS = "prog['init_ipc_ns'].address_of_()"
CGRP = "prog['cgrp_dfl_root'].cgrp.address_of_()"
CASES = {
    **{f"{f}.{form}": f"[x.value_() for x in H.{f}({arg})]"
       for f in ("for_each_sysv_msg_queue", "for_each_sysv_shm", "for_each_sysv_sem_array")
       for form, arg in (("prog", "prog"), ("ns", NS))},
    **{f"{f}.{n}": f"H.{f}(prog, {n})" for f in ("find_sysv_msg_queue", "find_sysv_shm", "find_sysv_sem_array")
       for n in (0, 1, 32768, 2**31 - 1)},
    **{f"{f}.ns": f"H.{f}({NS}, 0)" for f in ("find_sysv_msg_queue", "find_sysv_shm", "find_sysv_sem_array")},
    "shm_mode_flags": "[H.decode_sysv_shm_mode_flags(prog, v) for v in (0, 0o777, 0o1777, 0o2644, 0o3000, 0o7777)]",
    "btf": "[b.value_() for b in H.bpf_btf_for_each(prog)]",
    "btf.names": "[b.name.string_().decode() for b in H.bpf_btf_for_each(prog)]",
    "maps": "[m.value_() for m in H.bpf_map_for_each(prog)]",
    "progs": "[p.value_() for p in H.bpf_prog_for_each(prog)]",
    "links": "[p.value_() for p in H.bpf_link_for_each(prog)]",
    "prog_by_id": "[H.bpf_prog_by_id(prog, i).value_() for i in range(4)]",
    "prog_by_id.type": "H.bpf_prog_by_id(prog, 1)",
    "map_by_id": "H.bpf_map_by_id(prog, 1)",
    "cgroup_progs": f"[[p.value_() for p in H.cgroup_bpf_prog_for_each({CGRP}, i)] for i in range(8)]",
    "cgroup_effective": f"[[p.value_() for p in H.cgroup_bpf_prog_for_each_effective({CGRP}, i)] for i in range(8)]",
}


@pytest.mark.parametrize("suite", SUITES)
def test_ipc_bpf_as_drgn(suite: str) -> None:
    assert mismatches(suite, CASES) == {}
