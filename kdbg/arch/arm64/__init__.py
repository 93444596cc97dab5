"""arm64 (AArch64): address translation (:mod:`kdbg.arch.arm64.translate`), registers
and frame records (:mod:`kdbg.arch.arm64.frames`) and the unwinder's walk across stacks
and exception frames (:mod:`kdbg.arch.arm64.unwind`)."""

from __future__ import annotations

from kdbg.arch.arm64.frames import (
    FINAL_FRAME,
    REGISTER_NAMES,
    FrameRecords,
    prstatus_registers,
    prstatus_regs_image,
    strip_pac,
    thread_size,
    walk_frame_records,
    walk_interrupted,
)
from kdbg.arch.arm64.translate import (
    PAGE_SIZES,
    Arm64Parameters,
    Arm64Translator,
    arm64_parameters,
    kernel_pac_mask,
    text_link_address,
    untag,
    vmcoreinfo_layout,
)

__all__ = [
    "Arm64Translator",
    "Arm64Parameters",
    "arm64_parameters",
    "kernel_pac_mask",
    "untag",
    "PAGE_SIZES",
    "text_link_address",
    "thread_size",
    "strip_pac",
    "FrameRecords",
    "FINAL_FRAME",
    "walk_frame_records",
    "walk_interrupted",
    "REGISTER_NAMES",
    "prstatus_registers",
    "prstatus_regs_image",
    "vmcoreinfo_layout",
]
