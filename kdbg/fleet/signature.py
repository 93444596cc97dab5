"""Crash signatures: one short string that is the same for the same bug and differs between
bugs, across boots, KASLR slides, CPUs and builds of one code path (as ABRT/satyr hash the
first meaningful frames of an oops).

The signature is the crash kind plus the first :data:`FRAMES` meaningful functions of the
crashed stack, each with its module, without offsets or addresses:

* compiler suffixes go (``.cold``, ``.isra.0``, ``.constprop.0``, ``.part.0``, ``.llvm.N``);
* the panic, oops and dump plumbing goes (:data:`GENERIC`) and so do the architecture's
  exception entries and system-call entry (:func:`kdbg.arch.x86_64.is_entry_frame`,
  :func:`kdbg.arch.x86_64.is_syscall_frame`);
* for a fault (an oops, a lockup caught in an interrupt), the frames are those of the
  interrupted code, after the last exception entry; for a panic raised in a handler (an
  NMI), those before the first entry: what was interrupted there is chance.

The digest is the first 16 hex digits of the SHA-256 of ``kind|f1|f2|...``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Tuple

from kdbg.arch.x86_64 import is_entry_frame, is_syscall_frame

__all__ = ["FRAMES", "GENERIC", "FAULT_KINDS", "Signature", "clean_name", "signature"]

#: How many meaningful frames a signature keeps.
FRAMES = 5

#: Kinds whose crashed stack runs through an exception entry into the code at fault.
FAULT_KINDS = frozenset({"null-deref", "bad-pointer", "gpf", "bug", "warning", "soft-lockup", "hard-lockup"})

#: Functions of the panic, oops, dump and delay plumbing: never part of a signature.
GENERIC = frozenset({
    "panic", "vpanic", "nmi_panic", "__crash_kexec", "crash_kexec", "machine_crash_shutdown",
    "native_machine_crash_shutdown", "crash_save_cpu", "delay_tsc", "__const_udelay", "__udelay",
    "delay_halt", "delay_halt_mwaitx", "oops_end", "die", "__die", "__die_body", "die_addr", "do_trap",
    "do_error_trap", "handle_invalid_op", "handle_bug", "report_bug", "__warn", "warn_slowpath_fmt",
    "warn_slowpath_null", "page_fault_oops", "kernelmode_fixup_or_oops", "no_context",
    "__bad_area_nosemaphore", "bad_area_nosemaphore", "bad_area", "do_user_addr_fault",
    "do_kern_addr_fault", "handle_page_fault", "dump_stack", "dump_stack_lvl", "show_stack",
    "show_regs", "__show_regs", "show_trace_log_lvl", "watchdog_timer_fn", "__hrtimer_run_queues",
    "hrtimer_interrupt", "__sysvec_apic_timer_interrupt", "hrtimer_run_queues",
    "update_process_times", "tick_sched_handle", "tick_sched_timer", "irq_exit_rcu",
    "__irq_exit_rcu", "nmi_handle", "default_do_nmi", "syscall_exit_to_user_mode", "kthread",
})

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


def _meaningful(frames: Sequence[Tuple[str, Optional[str]]], kind: str) -> List[Tuple[str, Optional[str]]]:
    entries = [i for i, (name, _mod) in enumerate(frames) if is_entry_frame(name)]
    if entries and kind in FAULT_KINDS:
        frames = frames[entries[-1] + 1:]
    elif entries:
        frames = frames[:entries[0]]
    return [(name, mod) for name, mod in frames
            if name not in GENERIC and not is_entry_frame(name) and not is_syscall_frame(name)]


def signature(kind: str, frames: Iterable[Tuple[Optional[str], Optional[str]]]) -> Signature:
    """The signature of a crash of ``kind`` whose crashed stack is ``frames``, innermost
    first, as ``(function name, module)`` (``None`` for a frame no symbol holds: kept out,
    an address is never part of a signature; ``None`` module for vmlinux)."""
    named = [(clean_name(name), mod) for name, mod in frames if name]
    kept = _meaningful(named, kind)[:FRAMES]
    text = tuple(f"{name} [{mod}]" if mod else name for name, mod in kept)
    digest = hashlib.sha256("|".join((kind, *text)).encode()).hexdigest()[:16]
    return Signature(kind, text, digest)
