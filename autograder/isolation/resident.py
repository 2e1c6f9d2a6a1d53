"""The memory a student's process holds, read by the grader from outside it.

Chapter 6 grades how much memory a checkpointed backward pass keeps. Measured inside the
student's process (tracemalloc), the number comes from code the student can rewrite there.
Read here instead, from the kernel's count of the process's resident pages
(`/proc/<pid>/statm`), nothing the student's code does in its process can change what the
grader reads, short of holding less memory.

Two settings make that count follow what the code holds (`tune_allocator`, called in the student's
process before any of its code runs, for an exercise whose memory is measured): NumPy arrays of
16 KiB and more get pages of their own, given back when the array is freed, and the heap is
trimmed, so memory freed earlier and reused does not hide what is held now. (Elsewhere they would
slow code that makes many such arrays: chapter 3's training took 0.6 s more to grade.) The
student's code cannot undo them (ctypes is refused there: autograder/isolation/withhold.py).
"""
from __future__ import annotations

import os
import sys

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 16 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024


def resident_bytes(pid: int) -> int | None:
    """The resident memory of process `pid` in bytes, or None where it cannot be read (not Linux, process gone)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


class ResidentPeak:
    """The largest resident size of one process seen over the samples taken while a measured call runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak: int | None = None

    def sample(self) -> None:
        now = resident_bytes(self.pid)
        if now is not None:
            self.peak = now if self.peak is None else max(self.peak, now)


def tune_allocator() -> bool:
    """In the student's process, before its code runs: large allocations in pages of their own, a trimmed heap
    (see the module's docstring). True if the C library took both settings (glibc), else False."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
