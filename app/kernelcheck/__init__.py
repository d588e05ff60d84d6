"""Check a scenario against the real Linux kernel (``rmaplab kernel-check``).

The scenario's ops run as real processes on the host, one per scenario process, and after
every step what the kernel shows in procfs is compared with the simulator's
``anon_vma_chain`` state. See docs/kernel-check.md.
"""

from .check import CheckError, exit_status, kernel_check
from .render import render_check

__all__ = ["CheckError", "exit_status", "kernel_check", "render_check"]
