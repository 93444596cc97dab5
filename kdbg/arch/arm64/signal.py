"""arm64's signal ABI: signal numbers, ``sa_flags`` bits and the ``thread_info.flags`` bit
of a pending signal, checked in Debian's 6.1, 6.12 and 7.2 arm64 kernel headers.

arm64 takes the generic numbers and flags (``include/uapi/asm-generic/signal.h``,
``signal-defs.h``) and adds ``SA_RESTORER`` (``arch/arm64/include/uapi/asm/signal.h``);
``SA_IMMUTABLE`` is the kernel's own (``include/linux/signal_types.h``). The numbers and
flags x86-64 shares with it have the same values; x86's ``SA_X32_ABI`` and
``SA_IA32_ABI`` do not exist here.
"""

from __future__ import annotations

__all__ = ["SIGNALS", "SIGACTION_FLAGS", "TIF_SIGPENDING"]

#: Signal numbers (``include/uapi/asm-generic/signal.h``), preferred name before its
#: aliases; real-time signals are ``SIGRTMIN`` to ``SIGRTMAX`` (``_NSIG``, 64).
SIGNALS = (
    ("SIGHUP", 1), ("SIGINT", 2), ("SIGQUIT", 3), ("SIGILL", 4), ("SIGTRAP", 5), ("SIGABRT", 6), ("SIGIOT", 6),
    ("SIGBUS", 7), ("SIGFPE", 8), ("SIGKILL", 9), ("SIGUSR1", 10), ("SIGSEGV", 11), ("SIGUSR2", 12),
    ("SIGPIPE", 13), ("SIGALRM", 14), ("SIGTERM", 15), ("SIGSTKFLT", 16), ("SIGCHLD", 17), ("SIGCONT", 18),
    ("SIGSTOP", 19), ("SIGTSTP", 20), ("SIGTTIN", 21), ("SIGTTOU", 22), ("SIGURG", 23), ("SIGXCPU", 24),
    ("SIGXFSZ", 25), ("SIGVTALRM", 26), ("SIGPROF", 27), ("SIGWINCH", 28), ("SIGIO", 29), ("SIGPOLL", 29),
    ("SIGPWR", 30), ("SIGSYS", 31), ("SIGUNUSED", 31), ("SIGRTMIN", 32), ("SIGRTMAX", 64),
)
#: ``sigaction(2)`` ``sa_flags`` bits (``include/uapi/asm-generic/signal-defs.h``, arm64's
#: ``SA_RESTORER``, the kernel's ``SA_IMMUTABLE``), preferred name before its aliases.
SIGACTION_FLAGS = (
    ("SA_NOCLDSTOP", 0x1), ("SA_NOCLDWAIT", 0x2), ("SA_SIGINFO", 0x4), ("SA_UNSUPPORTED", 0x400),
    ("SA_EXPOSE_TAGBITS", 0x800), ("SA_IMMUTABLE", 0x800000), ("SA_RESTORER", 0x4000000),
    ("SA_ONSTACK", 0x8000000), ("SA_RESTART", 0x10000000), ("SA_NODEFER", 0x40000000), ("SA_NOMASK", 0x40000000),
    ("SA_RESETHAND", 0x80000000), ("SA_ONESHOT", 0x80000000),
)
#: ``arch/arm64/include/asm/thread_info.h`` (6.1, 6.12 and 7.2 alike; arm64 does not use
#: the generic ``thread_info_tif.h``): the bit of ``thread_info.flags`` that says a
#: signal is pending (the kernel's ``signal_pending()``).
TIF_SIGPENDING = 0
