"""arm64's exception entry, system-call entry and fault plumbing, by function name.

Names as ``arch/arm64/kernel/entry.S`` and ``entry-common.c`` define them: the vectors
(``el1h_64_sync``, ``el0t_64_sync``, ... since 5.14; ``el1_sync``, ``el0_sync``, ... before),
their C handlers (``el1h_64_sync_handler``; ``el1_sync_handler`` before 5.14) and the
per-exception-class routines (``el1_abort``, ``el1_interrupt``, ...). A sleeping user task's
stack ends, outermost, in ``el0t_64_sync`` (the console's sysrq-t shows it); a kthread's
in ``ret_from_fork``.
"""

from __future__ import annotations

__all__ = ["FAULT_PLUMBING", "is_entry_frame", "is_fault_plumbing", "is_syscall_frame"]

#: Where an exception, interrupt or error from EL1 (or an interrupt from EL0) enters: one
#: context's stack continues with another's.
_ENTRY_PREFIXES = ("el1h_64_", "el1t_64_", "el1_", "el0t_64_irq", "el0t_64_fiq", "el0t_64_error",
                   "el0t_32_irq", "el0t_32_fiq", "el0t_32_error", "el0_irq", "el0_fiq", "el0_error",
                   "el0_interrupt", "__el1_irq", "__el1_pnmi", "__el0_irq", "__el0_fiq", "call_on_irq_stack",
                   "do_interrupt_handler", "do_mem_abort", "do_sp_pc_abort", "do_el1_", "do_debug_exception",
                   "do_undefinstr", "do_serror", "do_bti", "vectors")

#: The system-call entry and a new task's first frame: the outermost kernel frames of a
#: task's stack, under no interrupted context.
_SYSCALL_PREFIXES = ("el0t_64_sync", "el0t_32_sync", "el0_sync", "el0_svc", "do_el0_svc", "el0_svc_common",
                     "invoke_syscall", "ret_from_fork")

#: arm64's fault, break, IPI-stop and interrupt plumbing between an exception's entry and
#: the report it prints: never what went wrong, so never part of a crash's signature.
FAULT_PLUMBING = frozenset({
    "die_kernel_fault", "__do_kernel_fault", "do_translation_fault", "do_page_fault", "do_bad_area",
    "do_alignment_fault", "do_bad", "bug_handler", "call_break_hook", "brk_handler", "early_brk64",
    "arm64_serror_panic", "ipi_handler", "do_handle_IPI", "local_cpu_stop", "ipi_cpu_crash_stop",
    "gic_handle_irq", "handle_percpu_devid_irq", "generic_handle_domain_irq", "arm64_notify_die",
    "arm64_skip_faulting_instruction", "show_regs", "dump_backtrace",
})


def is_entry_frame(name: str) -> bool:
    """Whether a frame's function is arm64 exception or interrupt entry."""
    return name.startswith(_ENTRY_PREFIXES) and not name.startswith(_SYSCALL_PREFIXES)


def is_syscall_frame(name: str) -> bool:
    """Whether a frame's function is the system-call entry or a new task's first frame."""
    return name.startswith(_SYSCALL_PREFIXES)


def is_fault_plumbing(name: str) -> bool:
    """Whether a frame's function is arm64's fault or IPI plumbing (:data:`FAULT_PLUMBING`)."""
    return name in FAULT_PLUMBING
