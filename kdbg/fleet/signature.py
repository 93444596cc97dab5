"""Crash signatures: one short string that is the same for the same bug and differs between
bugs, across boots, KASLR slides, CPUs and builds of one code path (as ABRT/satyr hash the
first meaningful frames of an oops).

The signature is the crash kind plus the first :data:`FRAMES` meaningful functions of the
crashed stack, each with its module, without offsets or addresses:

* compiler suffixes go (``.cold``, ``.isra.0``, ``.constprop.0``, ``.part.0``, ``.llvm.N``);
* what ran after the crash goes: the frames above the first call that begins a panic
  (:data:`PANIC_CALLS`);
* the panic, oops and dump plumbing goes (:data:`GENERIC`, and the machine's own:
  :func:`kdbg.arch.is_fault_plumbing`) and so do the machine's exception entries and
  system-call entry (:func:`kdbg.arch.is_entry_frame`, :func:`kdbg.arch.is_syscall_frame`);
* for a fault (an oops, a lockup caught in an interrupt), the frames are those of the
  interrupted code, after the last exception entry; for a panic raised in a handler (an
  NMI), those before the first entry: what was interrupted there is chance;
* for a hung task, the stack is the hung task's (the caller passes it: the panicking task
  is the detector), without the scheduler frames every sleeper has (:data:`SLEEP`).

The digest is the first 16 hex digits of the SHA-256 of ``kind|f1|f2|...``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from kdbg.arch import X86_64, is_entry_frame, is_fault_plumbing, is_syscall_frame

__all__ = ["FRAMES", "GENERIC", "FAULT_KINDS", "PANIC_CALLS", "SLEEP", "SLEEP_KINDS", "Signature", "clean_name",
           "signature"]

#: How many meaningful frames a signature keeps.
FRAMES = 5

#: Kinds whose crashed stack runs through an exception entry into the code at fault.
FAULT_KINDS = frozenset({"null-deref", "bad-pointer", "gpf", "bug", "warning", "soft-lockup", "hard-lockup"})

#: Functions of the panic, oops, dump and delay plumbing every architecture shares: never
#: part of a signature (each architecture's own plumbing is :func:`kdbg.arch.is_fault_plumbing`).
GENERIC = frozenset({
    "panic", "vpanic", "nmi_panic", "__crash_kexec", "crash_kexec", "machine_crash_shutdown",
    "crash_save_cpu", "__const_udelay", "__udelay", "die", "report_bug", "__warn", "warn_slowpath_fmt",
    "warn_slowpath_null", "dump_stack", "dump_stack_lvl", "show_stack", "show_regs", "__show_regs",
    "watchdog_timer_fn", "__hrtimer_run_queues", "hrtimer_interrupt", "hrtimer_run_queues",
    "update_process_times", "tick_sched_handle", "tick_sched_timer", "irq_exit_rcu", "__irq_exit_rcu",
    "syscall_exit_to_user_mode", "kthread",
})

#: The calls that begin a panic. What runs above the first of them (its delay loop, an
#: interrupt the dump caught there: panic enables interrupts before it loops) came after
#: the crash, and is never part of a signature.
PANIC_CALLS = frozenset({"panic", "vpanic", "nmi_panic"})

#: The scheduler's own frames atop every sleeping task's stack: not part of a hung task's
#: signature (where it sleeps is what tells one hang from another).
SLEEP = frozenset({
    "__schedule", "schedule", "__schedule_loop", "schedule_timeout", "schedule_preempt_disabled",
    "io_schedule", "io_schedule_timeout", "schedule_hrtimeout_range_clock", "schedule_hrtimeout_range",
})

#: Kinds whose stack is a sleeper's.
SLEEP_KINDS = frozenset({"hung-task"})

_SUFFIX = re.compile(r"(?:\.(?:cold|isra|constprop|part|llvm|lto_priv|localalias)(?:\.\d+)?)+$")


def clean_name(name: str) -> str:
    """``name`` without compiler suffixes (``kdbg_oops_write.cold`` -> ``kdbg_oops_write``)."""
    return _SUFFIX.sub("", name)


@dataclass(frozen=True)
class Signature:
    """A crash's signature: its kind, its meaningful frames (``name [module]``) and their
    digest."""

    kind: str
    frames: Tuple[str, ...]
    digest: str

    def __str__(self) -> str:
        return f"{self.kind}: " + " < ".join(self.frames) if self.frames else self.kind


def _meaningful(frames: Sequence[Tuple[str, Optional[str]]], kind: str,
                machine: str) -> List[Tuple[str, Optional[str]]]:
    began = next((i for i, (name, _mod) in enumerate(frames) if name in PANIC_CALLS), 0)
    frames = frames[began:]
    entries = [i for i, (name, _mod) in enumerate(frames) if is_entry_frame(machine, name)]
    if entries and kind in FAULT_KINDS:
        frames = frames[entries[-1] + 1:]
    elif entries:
        frames = frames[:entries[0]]
    sleep = SLEEP if kind in SLEEP_KINDS else frozenset()
    return [(name, mod) for name, mod in frames
            if name not in GENERIC and name not in sleep and not is_fault_plumbing(machine, name)
            and not is_entry_frame(machine, name) and not is_syscall_frame(machine, name)]


def signature(kind: str, frames: Iterable[Tuple[Optional[str], Optional[str]]], machine: str = X86_64) -> Signature:
    """The signature of a crash of ``kind`` whose crashed stack is ``frames``, innermost
    first, as ``(function name, module)`` (``None`` for a frame no symbol holds: kept out,
    an address is never part of a signature; ``None`` module for vmlinux), on ``machine``
    (``uname -m``: ``x86_64``, ``aarch64``)."""
    named = [(clean_name(name), mod) for name, mod in frames if name]
    kept = _meaningful(named, kind, machine)[:FRAMES]
    text = tuple(f"{name} [{mod}]" if mod else name for name, mod in kept)
    digest = hashlib.sha256("|".join((kind, *text)).encode()).hexdigest()[:16]
    return Signature(kind, text, digest)
