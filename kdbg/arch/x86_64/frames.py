"""x86-64 stack frames as the kernel's entry code lays them out: which functions are entry,
system-call and fault plumbing, ``__show_regs``' register block, and crash's frame slot."""

from __future__ import annotations

import re
from typing import Callable, Dict, List

__all__ = ["FAULT_PLUMBING", "frame_slot", "is_call_thunk", "is_entry_frame", "is_fault_plumbing",
           "is_syscall_frame", "show_regs_lines"]


#: Prefixes of x86-64's entry code and exception, interrupt and NMI handlers (5.8+ names
#: ``asm_exc_*``/``exc_*``/``sysvec_*``; older kernels' ``do_*`` and bare entry names).
_ENTRY_PREFIXES = ("asm_", "exc_", "sysvec_", "__sysvec_", "irqentry_", "error_entry",
                   "paranoid_", "common_interrupt", "ret_from_intr", "end_repeat_nmi", "repeat_nmi",
                   "do_nmi", "nmi_restore")
#: Entry names of kernels before 5.8, matched whole.
_OLD_ENTRY_NAMES = frozenset({"nmi", "page_fault", "do_page_fault", "general_protection",
                              "do_general_protection", "invalid_op", "do_invalid_op",
                              "apic_timer_interrupt", "smp_apic_timer_interrupt", "do_IRQ",
                              "async_page_fault", "do_async_page_fault"})


def is_entry_frame(name: str) -> bool:
    """Whether a stack frame's function is x86-64 entry code or an exception, interrupt or
    NMI handler's entry: where one context's stack continues with another's."""
    return name.startswith(_ENTRY_PREFIXES) or name in _OLD_ENTRY_NAMES


#: arch/x86/lib/retpoline.S's thunks: the retpoline, call-depth and ITS thunks a compiler
#: calls (or tail-jumps to) in place of ``call *%reg``, and the return thunks it jumps to in
#: place of ``ret``. The kernel's ORC marks them UNWIND_HINT_EMPTY/UNDEFINED (an end of
#: stack), yet at their first byte the return address is the word at the stack pointer.
_CALL_THUNK = re.compile(r"__x86_indirect(?:_call|_jump|_its)?_thunk_(?:r[a-z0-9]+|array)"
                         r"|__x86_return_thunk|(?:retbleed|srso|srso_alias|call_depth|its)_return_thunk")


def is_call_thunk(name: str) -> bool:
    """Whether ``name`` is an x86-64 retpoline, ITS or return thunk (:data:`_CALL_THUNK`):
    at its first byte the caller's return address is at ``[rsp]``."""
    return _CALL_THUNK.fullmatch(name) is not None


#: Prefixes of the system-call entry and the start of new tasks: the outermost kernel
#: frames of a task's stack, under no interrupted context.
_SYSCALL_PREFIXES = ("entry_SYSCALL", "entry_SYSENTER", "entry_INT80", "do_syscall_64", "do_fast_syscall_32",
                     "do_int80_syscall_32", "ret_from_fork", "system_call")


def is_syscall_frame(name: str) -> bool:
    """Whether a frame's function is the system-call entry or a new task's first frame."""
    return name.startswith(_SYSCALL_PREFIXES)


#: x86-64's fault, trap, NMI and timer-interrupt plumbing between an exception's entry and
#: the report it prints: never what went wrong, so never part of a crash's signature.
FAULT_PLUMBING = frozenset({
    "delay_tsc", "delay_halt", "delay_halt_mwaitx", "oops_end", "__die", "__die_body", "die_addr", "do_trap",
    "do_error_trap", "handle_invalid_op", "handle_bug", "page_fault_oops", "kernelmode_fixup_or_oops",
    "no_context", "__bad_area_nosemaphore", "bad_area_nosemaphore", "bad_area", "do_user_addr_fault",
    "do_kern_addr_fault", "handle_page_fault", "show_trace_log_lvl", "__sysvec_apic_timer_interrupt",
    "nmi_handle", "default_do_nmi", "native_machine_crash_shutdown",
})


def is_fault_plumbing(name: str) -> bool:
    """Whether a frame's function is x86-64's exception or NMI plumbing (:data:`FAULT_PLUMBING`)."""
    return name in FAULT_PLUMBING


#: ``__show_regs`` rows (arch/x86/kernel/process_64.c), after ``RIP`` and ``RSP``.
_REG_ROWS = (("rax", "rbx", "rcx"), ("rdx", "rsi", "rdi"), ("rbp", "r8", "r9"),
             ("r10", "r11", "r12"), ("r13", "r14", "r15"))


def _reg_label(name: str) -> str:
    """``__show_regs``' spelling of a register: ``RAX``, ``R08``, ``R15``."""
    if name[0] == "r" and name[1:].isdigit():
        return f"R{int(name[1:]):02d}"
    return name.upper()


def show_regs_lines(regs: Dict[str, int], user: bool, symbolize: Callable[[int], str]) -> List[str]:
    """The registers of an interrupted or user context as x86-64's ``__show_regs`` prints
    them (arch/x86/kernel/process_64.c): ``RIP: CS:`` then the pc (``%pS``, ``symbolize``,
    in kernel mode; hex in user mode), ``RSP: SS:`` with ``EFLAGS``, then ``RAX`` .. ``R15``
    three a line; registers the context did not save are left out."""
    if "rip" not in regs:
        return []
    cs = regs.get("cs", 0x33 if user else 0x10)
    where = f"{regs['rip']:#x}" if user else symbolize(regs["rip"])
    out = [f"RIP: {cs:04x}:{where}"]
    if "rsp" in regs:
        ss = regs.get("ss", 0x2B if user else 0x18)
        flags = f" EFLAGS: {regs['rflags']:08x}" if "rflags" in regs else ""
        out.append(f"RSP: {ss:04x}:{regs['rsp']:016x}{flags}")
    for row in _REG_ROWS:
        known = [(r, regs[r]) for r in row if r in regs]
        if known:
            out.append(" ".join(f"{_reg_label(r)}: {v:016x}" for r, v in known))
    return out


#: Bytes of a return address on the stack.
_WORD = 8


def frame_slot(sp: int, interrupted: bool) -> int:
    """Where crash's ``bt`` places a frame (``#1 [ADDRESS] ...``): the stack slot its
    return address was read from, one word below the CFA that kdbg's and drgn's
    ``StackFrame.sp`` hold; an interrupted frame, whose pc came from saved registers, at
    its saved stack pointer."""
    return sp if interrupted else sp - _WORD
