"""A pids cgroup for each uid the jail hands out: the cap on a jailed process's processes and threads, and a
count of the forks and threads the cap refused.

RLIMIT_NPROC caps a uid's tasks but counts nothing, so a fork bomb that catches its errors leaves no
trace. A cgroup's `pids.events` does count them ("max N"). Linux as root, with the pids controller
writable (cgroup v1 at /sys/fs/cgroup/pids, or v2 at /sys/fs/cgroup); `TaskGroups.here()` is None
elsewhere, and the jail then caps with RLIMIT_NPROC alone. Standard library only: the kernel server
imports it before it forks.
"""
from __future__ import annotations

import os
from pathlib import Path

CGROUPS = Path("/sys/fs/cgroup")
PARENT = "bpcourse"


class TaskGroups:
    """One cgroup per uid under `parent`, each capped at `cap` tasks. A uid's group is taken and given back
    with the uid (jail.UidPool holds each uid for one process at a time), so what it counts is that
    process's."""

    def __init__(self, parent: Path, cap: int) -> None:
        self.parent, self.cap = parent, cap
        self._refused_before: dict[int, int] = {}

    @classmethod
    def here(cls, cap: int, cgroups: Path = CGROUPS) -> "TaskGroups | None":
        """The groups on this machine, or None if it has no writable pids controller."""
        for base, unified in ((cgroups / "pids", False), (cgroups, True)):
            try:
                if unified:
                    if "pids" not in (base / "cgroup.controllers").read_text().split():
                        continue
                elif not (base / "cgroup.procs").exists() or (base / "cgroup.controllers").exists():
                    continue
                parent = base / PARENT
                parent.mkdir(exist_ok=True)
                if unified:  # a v2 group's controllers are the ones its parent hands down
                    _write(base / "cgroup.subtree_control", "+pids")
                    _write(parent / "cgroup.subtree_control", "+pids")
                groups = cls(parent, cap)
                probe = -os.getpid()  # a name no uid has
                groups.take(probe)
                groups.refused(probe)
                groups.give_back(probe)
                return groups
            except OSError:
                continue
        return None

    def take(self, uid: int) -> None:
        """Make (or reuse) the uid's group, capped, and note what it has counted so far."""
        group = self._group(uid)
        group.mkdir(exist_ok=True)
        _write(group / "pids.max", str(self.cap))
        self._refused_before[uid] = _refused(group)

    def join(self, uid: int) -> None:
        """Put this process (before it forks or starts a thread) in the uid's group."""
        _write(self._group(uid) / "cgroup.procs", str(os.getpid()))

    def refused(self, uid: int) -> int:
        """The forks and threads refused at the cap since the uid was taken."""
        return _refused(self._group(uid)) - self._refused_before.get(uid, 0)

    def give_back(self, uid: int) -> None:
        """Remove the group if nothing is left in it (a task not yet reaped keeps it; `take` reuses it)."""
        self._refused_before.pop(uid, None)
        try:
            self._group(uid).rmdir()
        except OSError:
            pass

    def _group(self, uid: int) -> Path:
        return self.parent / (f"uid{uid}" if uid >= 0 else f"probe{-uid}")


def _refused(group: Path) -> int:
    for line in (group / "pids.events").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "max":
            return int(value)
    raise OSError(f"{group / 'pids.events'} has no count of refused forks")


def _write(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
