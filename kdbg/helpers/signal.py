"""Signals: drgn's ``drgn.helpers.linux.signal``.

Signal numbers and ``sa_flags`` bits are the architecture's ABI, asked of
:mod:`kdbg.arch` by the program's machine (:func:`kdbg.arch.signals`,
:func:`kdbg.arch.sigaction_flags`); a
``sigset_t`` is ``unsigned long sig[_NSIG_WORDS]`` with signal ``n`` at bit ``n - 1``;
pending signals queue as ``struct sigqueue`` on ``struct sigpending.list``.
Real-time signals between ``SIGRTMIN`` and ``SIGRTMAX`` are named as crash names them
(``SIGRTMIN+1`` ... ``SIGRTMAX-1``).
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, Sequence, SupportsIndex, Union

from kdbg.arch import sigaction_flags as arch_sigaction_flags
from kdbg.arch import signals as arch_signals
from kdbg.arch import tif_sigpending
from kdbg.core.default import takes_program_or_default
from kdbg.core.integer import IntegerLike, integer_value
from kdbg.core.object import Object
from kdbg.core.platform import machine_of
from kdbg.core.typeinfo import K_INT, type_info
from kdbg.errors import KdbgError, ObjectTypeError
from kdbg.helpers.common import deref_if_pointer, program_cache
from kdbg.helpers.format import decode_flags
from kdbg.helpers.list import list_for_each_entry

if TYPE_CHECKING:
    from kdbg.core.program import Program

__all__ = [
    "decode_sigaction_flags",
    "decode_sigaction_flags_value",
    "decode_sigset",
    "sigaction_flags",
    "signal_names",
    "signal_numbers",
    "sigpending_for_each",
    "sigset_to_hex",
    "task_sigpending",
]


def sigpending_for_each(pending: Object) -> Iterator[Object]:
    """The queued signals of ``pending`` (``struct sigpending *``), as ``struct sigqueue *``."""
    return list_for_each_entry("struct sigqueue", deref_if_pointer(pending).list.address_of_(), "list")


@takes_program_or_default
def signal_names(prog: Program) -> Mapping[str, int]:
    """Signal name to number on this kernel's architecture (``{'SIGHUP': 1, ...}``);
    a number's preferred name comes before its aliases."""
    return program_cache(prog, "signal.names",
                         lambda: types.MappingProxyType(dict(arch_signals(machine_of(prog)))))


@takes_program_or_default
def signal_numbers(prog: Program) -> Mapping[int, Sequence[str]]:
    """Signal number to names (``{1: ['SIGHUP'], ...}``), real-time signals included."""

    def make() -> Mapping[int, Sequence[str]]:
        names: Dict[int, List[str]] = {}
        by_name = signal_names(prog)
        rtmin = by_name["SIGRTMIN"]
        for name, number in by_name.items():
            if name == "SIGRTMAX":
                middle = (rtmin + number) // 2
                for n in range(rtmin + 1, middle + 1):
                    names.setdefault(n, []).append(f"SIGRTMIN+{n - rtmin}")
                for n in range(middle + 1, number):
                    names.setdefault(n, []).append(f"SIGRTMAX-{number - n}")
            names.setdefault(number, []).append(name)
        return types.MappingProxyType(names)

    return program_cache(prog, "signal.numbers", make)


@takes_program_or_default
def sigaction_flags(prog: Program) -> Mapping[str, int]:
    """``sa_flags`` flag name to value (``{'SA_NOCLDSTOP': 1, ...}``); a value's
    preferred name comes before its aliases."""
    return program_cache(prog, "signal.sa_flags",
                         lambda: types.MappingProxyType(dict(arch_sigaction_flags(machine_of(prog)))))


def _word_bits(prog: Program) -> int:
    return prog.type("unsigned long").sizeof() * 8  # sigset_t.sig[] is unsigned long


@takes_program_or_default
def decode_sigset(prog: Program, sigset: Union[Object, IntegerLike]) -> str:
    """The signals of a set by name, ``'{SIGINT,SIGTERM}'``; ``sigset`` is a ``sigset_t``,
    a pointer to one, or an integer (bit ``n - 1`` is signal ``n``)."""
    if isinstance(sigset, Object) and type_info(sigset.type_).kind != K_INT:
        words = deref_if_pointer(sigset).sig
        bpw = _word_bits(prog)
        value = sum(int(words[i]) << (i * bpw) for i in range(len(words)))
    else:
        value = integer_value(sigset)
        if value < 0:
            raise ValueError("sigset cannot be negative")
    numbers = signal_numbers(prog)
    names = []
    bit = 0
    while value:
        if value & 1:
            if bit + 1 not in numbers:
                raise ValueError(f"signal {bit + 1} does not exist on this kernel")
            names.append(numbers[bit + 1][0])
        value >>= 1
        bit += 1
    return "{" + ",".join(names) + "}"


def sigset_to_hex(sigset: Object) -> str:
    """The set in hexadecimal as ``/proc/PID/status`` prints it (``'0000000000004002'``);
    ``sigset`` is a ``sigset_t`` or a pointer to one."""
    if not isinstance(sigset, Object):
        raise ObjectTypeError(f"sigset_to_hex() takes a sigset_t Object, not {type(sigset).__name__}")
    prog = sigset.prog_
    nsig = prog.type("struct sighand_struct").unaliased().member("action").type.unaliased().length or 0  # type: ignore[attr-defined]
    words = deref_if_pointer(sigset).sig
    bpw = _word_bits(prog)
    full = bpw // 4
    width = full if nsig % bpw == 0 else (nsig % bpw + 3) // 4
    parts = []
    for i in reversed(range(len(words))):
        parts.append(f"{int(words[i]):0{width}x}")
        width = full
    return "".join(parts)


def decode_sigaction_flags(sigaction: Object) -> str:
    """The ``sa_flags`` of a ``struct sigaction`` by name (``'SA_RESTORER|SA_RESTART'``)."""
    return decode_sigaction_flags_value(sigaction.prog_, int(deref_if_pointer(sigaction).sa_flags))


@takes_program_or_default
def decode_sigaction_flags_value(prog: Program, value: SupportsIndex) -> str:
    """An ``sa_flags`` value by name (``0x14000000`` is ``'SA_RESTORER|SA_RESTART'``)."""
    return decode_flags(value, sigaction_flags(prog).items(), bit_numbers=False, aliases=False)


def task_sigpending(task: Object) -> bool:
    """Whether ``task``'s ``TIF_SIGPENDING`` is set (the kernel's ``signal_pending()``;
    crash's ``sig`` ``SIGPENDING``). The bit is the machine's, on x86-64 read from the
    kernel's own ``signal_wake_up_state`` (:func:`kdbg.arch.tif_sigpending`: the generic
    TIF bits moved it from 2 to 1)."""
    prog = task.prog_

    def bit() -> int:
        code = None
        try:
            sym = prog.symbol("signal_wake_up_state")
            if sym.size:
                code = (prog.read(sym.address, sym.size), sym.address)
        except (KdbgError, LookupError):
            pass
        return tif_sigpending(machine_of(prog), code)

    return bool(int(deref_if_pointer(task).thread_info.flags) >> program_cache(prog, "signal.tif_sigpending", bit) & 1)
