"""Which machine a dump was taken on, and the refusal of the ones kdbg cannot read.

kdbg reads the machines :data:`kdbg.arch.MACHINES` names (x86-64 and arm64, little-endian).
A dump of another architecture must be refused when it is opened, naming what it is
(``kdbg supports aarch64 and x86_64 dumps; this one is riscv64``), rather than failing
later on some missing detail. The marks are the ELF header's
``EI_CLASS``/``EI_DATA``/``e_machine``, a kdump header's ``utsname.machine``, and, when
that is empty or ``Unknown`` (QEMU 7.2's arm64 kdump header), tell-tale VMCOREINFO entries.
"""

from __future__ import annotations

from typing import Optional

from kdbg.arch import AARCH64, X86_64, unsupported_machine
from kdbg.errors import CoreError
from kdbg.memory.vmcoreinfo import VMCoreInfo

__all__ = ["X86_64", "elf_machine_name", "elf_machine_number", "vmcoreinfo_machine", "require_supported",
           "dump_machine"]

#: ``e_machine`` -> ``(name for ELFCLASS32, name for ELFCLASS64)`` (``uname -m`` spelling).
_ELF_MACHINES = {
    2: ("sparc", "sparc"),
    3: ("i386", "i386"),
    8: ("mips", "mips64"),
    20: ("ppc", "ppc"),
    21: ("ppc64", "ppc64"),
    22: ("s390", "s390x"),
    40: ("arm", "arm"),
    43: ("sparc64", "sparc64"),
    50: ("ia64", "ia64"),
    62: ("x86_64 (32-bit ELF)", X86_64),
    183: ("aarch64 (32-bit ELF)", AARCH64),
    243: ("riscv32", "riscv64"),
    258: ("loongarch32", "loongarch64"),
}


def elf_machine_name(head: bytes) -> str:
    """The machine an ELF file's first 20 bytes describe (``"x86_64"``, ``"aarch64"``...).

    Reads ``e_machine`` in the byte order ``EI_DATA`` names, so big-endian files are named
    right (``ppc64``, ``s390x``); unknown values read ``"ELF machine N"``.
    """
    elfclass = head[4] if len(head) > 4 else 0
    big = len(head) > 5 and head[5] == 2
    e_machine = int.from_bytes(head[18:20], "big" if big else "little")
    names = _ELF_MACHINES.get(e_machine)
    if names is None:
        return f"ELF machine {e_machine}"
    name = names[0] if elfclass == 1 else names[1]
    if name == "ppc64" and not big:
        name = "ppc64le"
    if elfclass not in (1, 2):
        name += f" (EI_CLASS {elfclass})"
    elif big and e_machine in (62, 183):
        name += " (big-endian)"
    return name


def elf_machine_number(machine: str) -> int:
    """The 64-bit ELF ``e_machine`` of a machine named as ``uname -m`` names it
    (``"x86_64"`` -> 62); ``CoreError`` for a name no 64-bit ELF machine has."""
    for number, (_name32, name64) in _ELF_MACHINES.items():
        if name64 == machine:
            return number
    raise CoreError(f"no 64-bit ELF machine is named {machine!r}")


def vmcoreinfo_machine(vmci: Optional[VMCoreInfo]) -> Optional[str]:
    """The architecture VMCOREINFO betrays, or ``None`` when it does not say.

    Used only when the dump format records no machine (a kdump header with an empty
    ``utsname.machine``). Each architecture exports entries no other one does:
    ``init_top_pgt`` and ``phys_base`` (x86-64), ``kimage_voffset`` and ``TCR_EL1_T1SZ``
    (arm64), ``lowcore_ptr`` (s390), ``mmu_psize_defs`` (powerpc), ``phys_ram_base``
    (riscv).
    """
    if vmci is None:
        return None

    def has(key: str) -> bool:
        return key in vmci

    if has("SYMBOL(init_top_pgt)") or has("NUMBER(phys_base)"):
        return X86_64
    if has("NUMBER(kimage_voffset)") or has("NUMBER(TCR_EL1_T1SZ)"):
        return AARCH64
    if has("SYMBOL(lowcore_ptr)"):
        return "s390x"
    if has("SYMBOL(mmu_psize_defs)"):
        return "ppc64"
    if has("NUMBER(phys_ram_base)"):
        return "riscv64"
    return None


def require_supported(path: str, machine: str) -> None:
    """``CoreError`` naming ``machine`` unless kdbg reads it (an empty name passes)."""
    why = unsupported_machine(machine)
    if why is not None:
        raise CoreError(f"{path}: {why}")


#: What dump headers write when they do not know the machine.
_UNKNOWN = ("", "Unknown", "unknown")


def dump_machine(path: str, recorded: str, vmci: Optional[VMCoreInfo]) -> str:
    """The machine of a dump whose header records ``recorded``: that name, or, when the
    header does not know (empty, QEMU 7.2's arm64 ``"Unknown"``), what VMCOREINFO betrays
    (x86-64 when it says nothing). ``CoreError`` for a machine kdbg cannot read, and for a
    header that names one machine while VMCOREINFO is another's kernel."""
    betrayed = vmcoreinfo_machine(vmci)
    if recorded in _UNKNOWN:
        machine = betrayed or X86_64
    else:
        machine = recorded
        require_supported(path, machine)
        if betrayed is not None and betrayed != machine:
            raise CoreError(f"{path}: the dump's header says {machine} but its VMCOREINFO describes "
                            f"an {betrayed} kernel")
    require_supported(path, machine)
    return machine
