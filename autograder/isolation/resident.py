"""The memory a student's process holds, read by the grader from outside it.

Chapter 6 grades how much memory a checkpointed backward pass keeps. Measured inside the
student's process (tracemalloc), the number comes from code the student can rewrite there.
Read here instead, from the kernel's counts, nothing the student's code does in its process can
change what the grader reads, short of holding less memory. Both are read above a floor noted before
the student's code ran (once the chapter's imports are loaded), so a buffer that code made beforehand
and reuses in the call counts. Two counts, the better one first:
- the memory cgroup the jail put the process in (cgroups.py; Linux as root, cgroup v1): charged
  with all the process holds, its children's memory, the page cache of files it wrote, /dev/shm
  and pipe buffers included, and the kernel keeps its peak (`GroupMeter`, which also reads the
  resident size and takes the larger);
- the process's resident pages (`/proc/<pid>/statm`) and its pages in swap, sampled by the grader
  each time the code hands control back (`ResidentMeter`): what is kept in a file or another
  process is not in it.

Two settings make that count follow what the code holds (`tune_allocator`, called in the student's
process before any of its code runs, for an exercise whose memory is measured): NumPy arrays of
16 KiB and more get pages of their own, given back when the array is freed, and the heap is
trimmed, so memory freed earlier and reused does not hide what is held now. (Elsewhere they would
slow code that makes many such arrays: chapter 3's training took 0.6 s more to grade.) The
student's code cannot undo them (ctypes is refused there: autograder/isolation/withhold.py). And as
a file or a pipe would hold memory outside the resident size, that process can write no file and
open few (`refuse_hiding_places`).
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from autograder.isolation.cgroups import CGROUPS, PARENT

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 16 * 1024
TRIM_THRESHOLD_BYTES = 128 * 1024


def resident_bytes(pid: int, proc: str = "/proc") -> int | None:
    """The resident memory of process `pid` in bytes, or None where it cannot be read (not Linux, process gone)."""
    try:
        with open(f"{proc}/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE_BYTES
    except (OSError, ValueError, IndexError):
        return None


def held_bytes(pid: int, proc: str = "/proc") -> int | None:
    """What process `pid` holds: its resident memory and, where the machine swaps, its pages in swap (code can
    push its own out: madvise(MADV_PAGEOUT) through the mmap module), in bytes; None where it cannot be read."""
    resident = resident_bytes(pid, proc)
    if resident is None:
        return None
    try:
        with open(f"{proc}/{pid}/status", "rb") as status:
            swapped = next((int(line.split()[1]) * 1024 for line in status if line.startswith(b"VmSwap:")), 0)
    except (OSError, ValueError, IndexError):
        swapped = 0
    return resident + swapped


class ResidentMeter:
    """A process's resident size: its floor (`floor()`, read before the student's code runs), and over a measured
    call (`start()`, then `sample()` whenever the call hands control back, and at its end) the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._floor: int | None = None
        self._peak: int | None = None

    def floor(self) -> bool:
        """Note what the process holds now, before the student's code runs; False if it cannot be read."""
        self._floor = held_bytes(self.pid)
        return self._floor is not None

    @property
    def floored(self) -> bool:
        return self._floor is not None

    def start(self) -> None:
        self._peak = None

    def sample(self) -> None:
        now = held_bytes(self.pid)
        if now is not None:
            self._peak = now if self._peak is None else max(self._peak, now)

    def peak(self) -> int:
        """The most held since start(), above the floor: what the student's code made before the call counts."""
        floor = self._floor or 0
        return max(self._peak or floor, floor) - floor


class GroupMeter(ResidentMeter):
    """What a memory cgroup is charged, above what it was charged at the floor, with the peak the kernel keeps
    (every moment counts, not only the samples); or the resident size, where that is more (pages of a file the
    process did not write, mapped during the call, are charged to the process that wrote them)."""

    def __init__(self, group: Path, pid: int) -> None:
        super().__init__(pid)
        self.group = group
        self._group_floor: int | None = None

    def _usage(self, name: str) -> int | None:
        try:
            return int((self.group / name).read_text())
        except (OSError, ValueError):
            return None

    def floor(self) -> bool:
        self._group_floor = self._usage("memory.usage_in_bytes")  # None: peak() falls back on the resident size
        return super().floor()

    def start(self) -> None:
        super().start()
        with open(self.group / "memory.max_usage_in_bytes", "w") as peak:
            peak.write("0")  # the peak starts again from what the group holds now

    def peak(self) -> int:
        charged = self._usage("memory.max_usage_in_bytes")
        by_group = 0 if charged is None or self._group_floor is None else charged - self._group_floor
        return max(by_group, super().peak())


def memory_group(pid: int, cgroups: Path = CGROUPS) -> Path | None:
    """The v1 memory cgroup the jail put process `pid` in, when the grader can reset its peak; else None.
    The kernel says which (/proc/<pid>/cgroup), and only root can move a process out of it."""
    try:
        with open(f"/proc/{pid}/cgroup") as listed:
            lines = listed.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(",") and path.startswith(f"/{PARENT}/"):
            group = cgroups / "memory" / path.lstrip("/")
            if os.access(group / "memory.max_usage_in_bytes", os.W_OK):
                return group
    return None


def meter_for(pid: int) -> ResidentMeter | GroupMeter:
    """The better of the two counts for process `pid` (see the module's docstring)."""
    group = memory_group(pid)
    return ResidentMeter(pid) if group is None else GroupMeter(group, pid)


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


FILES_REFUSED = ("while this exercise's memory is measured, your code can write no file and open few (what a file or "
                 "a pipe holds would not be counted)")
_OS_ERROR = re.compile(r"\b(OSError|IOError|FileNotFoundError|PermissionError)\b")


def may_be_refused(error: str) -> bool:
    """Whether refuse_hiding_places may have caused this error (as describe_exception gives it): FILES_REFUSED says
    why."""
    return _OS_ERROR.search(error) is not None


# Descriptors left free above those open: a module's file while it is imported, and one pipe (1 MiB at most).
SPARE_DESCRIPTORS = 3


def refuse_hiding_places() -> None:
    """In the student's process, for an exercise whose memory is measured, before its code runs: what a file or a
    pipe holds is in no count the grader reads without a memory cgroup, so no file can be written (RLIMIT_FSIZE 0:
    a write raises "File too large") and few descriptors can be opened (RLIMIT_NOFILE). Both hard limits: a
    process that is not root cannot raise them again (in the jail it is not)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    try:
        listed = {int(fd) for fd in os.listdir("/proc/self/fd")}
    except (OSError, ValueError):  # no /proc: the descriptors stay as they are
        return
    open_now = {fd for fd in listed if _is_open(fd)}  # not the one the listing itself used
    # A new descriptor takes the lowest free number below the limit (those open above it stay usable), so
    # the limit lets exactly the first SPARE_DESCRIPTORS free numbers be taken.
    free = [fd for fd in range(len(open_now) + SPARE_DESCRIPTORS) if fd not in open_now][:SPARE_DESCRIPTORS]
    resource.setrlimit(resource.RLIMIT_NOFILE, (free[-1] + 1,) * 2)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
