"""What a program runs on and what it is, drgn's vocabulary: :class:`Architecture`,
:class:`PlatformFlags`, :class:`Platform` and :class:`ProgramFlags`."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Optional

from kdbg.arch import AARCH64, X86_64

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = ["Architecture", "PlatformFlags", "Platform", "ProgramFlags", "X86_64_PLATFORM", "AARCH64_PLATFORM",
           "machine_platform", "machine_of"]


class Architecture(enum.Enum):
    """An instruction set architecture (drgn's values)."""

    UNKNOWN = 0
    X86_64 = 1
    I386 = 2
    AARCH64 = 3
    ARM = 4
    PPC64 = 5
    RISCV64 = 6
    RISCV32 = 7
    S390X = 8
    S390 = 9
    LOONGARCH64 = 10


class PlatformFlags(enum.Flag):
    """Properties of a platform (drgn's values)."""

    IS_64_BIT = 1
    IS_LITTLE_ENDIAN = 2


class ProgramFlags(enum.Flag):
    """What a program is (drgn's values)."""

    IS_LINUX_KERNEL = 1
    IS_LIVE = 2
    IS_LOCAL = 4


#: The architectures whose C ABI makes plain ``char`` signed.
_SIGNED_CHAR = frozenset((Architecture.X86_64, Architecture.I386, Architecture.S390X, Architecture.S390,
                          Architecture.LOONGARCH64))


class Platform:
    """An architecture and its ABI flags (drgn's ``Platform``)."""

    __slots__ = ("arch", "flags")

    def __init__(self, arch: Architecture, flags: Optional[PlatformFlags] = None) -> None:
        self.arch = arch
        if flags is None:
            flags = PlatformFlags.IS_64_BIT | PlatformFlags.IS_LITTLE_ENDIAN if arch in (
                Architecture.X86_64, Architecture.AARCH64) else PlatformFlags(0)
        self.flags = flags

    @property
    def char_is_signed(self) -> bool:
        """Whether plain ``char`` is signed in this platform's C ABI (x86 and s390x
        say yes; Arm, PowerPC and RISC-V say no)."""
        return self.arch in _SIGNED_CHAR

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Platform) and (other.arch, other.flags) == (self.arch, self.flags)

    def __hash__(self) -> int:
        return hash((self.arch, self.flags))

    def __repr__(self) -> str:
        return f"Platform({self.arch!r}, {self.flags!r})"


#: The platforms kdbg reads.
X86_64_PLATFORM = Platform(Architecture.X86_64)
AARCH64_PLATFORM = Platform(Architecture.AARCH64)

_MACHINES = {X86_64: X86_64_PLATFORM, AARCH64: AARCH64_PLATFORM}
_MACHINE_OF_ARCH = {platform.arch: machine for machine, platform in _MACHINES.items()}


def machine_platform(machine: str) -> Platform:
    """The platform of a machine named as ``uname -m`` names it (``x86_64``, ``aarch64``;
    :data:`X86_64_PLATFORM` for a name the source did not record)."""
    return _MACHINES.get(machine, X86_64_PLATFORM)


def machine_of(prog: Program) -> str:
    """The ``uname -m`` name of ``prog``'s machine as :mod:`kdbg.arch` spells it: the
    machine of :attr:`Program.platform <kdbg.core.program.Program.platform>`, so both
    always agree.

    A target that names no machine (types and symbols only, no memory) is x86-64, as its
    platform is: every :mod:`kdbg.arch` question about it gets x86-64's answer, and no
    caller has an "unknown" case to handle. A dump of a machine kdbg cannot read never
    gets here (:func:`kdbg.memory.machine.require_supported` refuses it at open)."""
    return _MACHINE_OF_ARCH.get(prog.platform.arch, X86_64)
