"""Real Debian kernels and reference vmcores for kdbg's tests.

:mod:`vmcores.debian` fetches kernels (:func:`vmcores.debian.debian_kernel`);
:mod:`vmcores.build` boots them under QEMU and writes dumps plus ground truth
(:func:`vmcores.build.reference_dumps`, :func:`vmcores.build.truth_files`).
"""
