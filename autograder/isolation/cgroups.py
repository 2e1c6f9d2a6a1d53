"""The cgroups of each uid the jail hands out: a pids group that caps the jailed process's processes and
threads and counts what the cap refused, and a memory group that counts what it holds.

RLIMIT_NPROC caps a uid's tasks but counts nothing, so a fork bomb that catches its errors leaves no
trace; a pids group's `pids.events` counts them ("max N"). A process's resident size misses memory it
holds elsewhere: a child's, a file's page cache, /dev/shm, pipe buffers; its memory group is charged
all of it, and the kernel keeps the group's peak (resident.py reads it). Linux as root, with the
controllers writable: pids as cgroup v1 (/sys/fs/cgroup/pids) or v2 (/sys/fs/cgroup), memory as v1
only (/sys/fs/cgroup/memory). `UidCgroups.here()` is None without pids, or where a process cannot
join the groups it made (it tries); the jail then caps with RLIMIT_NPROC alone. Standard library
only: the kernel server imports it before it forks.
"""
from __future__ import annotations

import os
from pathlib import Path

CGROUPS = Path("/sys/fs/cgroup")
PARENT = "bpcourse"


class UidCgroups:
    """A uid's groups are named after it under each controller's `PARENT`, taken and given back with the uid
    (jail.UidPool holds each uid for one process at a time), so what they count is that process's. Tasks
    are capped at `cap`; `memory` is None where there is no v1 memory controller."""

    def __init__(self, pids: Path, cap: int, memory: Path | None = None) -> None:
        self.pids, self.cap, self.memory = pids, cap, memory
        self._refused_before: dict[int, int] = {}

    @classmethod
    def here(cls, cap: int, cgroups: Path = CGROUPS) -> "UidCgroups | None":
        """This machine's groups, or None if it has no writable pids controller."""
        pids = _pids_parent(cgroups)
        if pids is None:
            return None
        probe = -os.getpid()  # a name no uid has
        memory = _parent(cgroups / "memory", "memory.max_usage_in_bytes")
        for with_memory in ([memory, None] if memory is not None else [None]):  # memory if it works, else without
            groups = cls(pids, cap, with_memory)
            try:
                groups.take(probe)
                groups.refused(probe)
                groups._joined_by_a_child(probe)
                return groups
            except OSError:
                continue
            finally:
                groups.give_back(probe)
        return None

    def take(self, uid: int) -> None:
        """Make (or reuse) the uid's groups, capped, and note what the cap has refused so far."""
        for parent in self._parents():
            (parent / _name(uid)).mkdir(exist_ok=True)
        _write(self.pids / _name(uid) / "pids.max", str(self.cap))
        self._refused_before[uid] = _refused(self.pids / _name(uid))

    def join(self, uid: int) -> None:
        """Put this process (before it forks or starts a thread) in the uid's groups."""
        for parent in self._parents():
            _write(parent / _name(uid) / "cgroup.procs", str(os.getpid()))

    def _joined_by_a_child(self, uid: int) -> None:
        """A child joins the uid's groups and ends; OSError if it could not join. (A jailed process that could not
        would start no kernel: better no groups, and RLIMIT_NPROC alone.)"""
        pid = os.fork()
        if pid == 0:
            try:
                self.join(uid)
                os._exit(0)
            except BaseException:  # noqa: BLE001 - whatever went wrong, the child only reports it by its status
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise OSError(f"a process cannot join the groups under {self.pids}")

    def refused(self, uid: int) -> int:
        """The forks and threads refused at the cap since the uid was taken."""
        return _refused(self.pids / _name(uid)) - self._refused_before.get(uid, 0)

    def give_back(self, uid: int) -> None:
        """Remove the groups if nothing is left in them (a task not yet reaped keeps one; `take` reuses it)."""
        self._refused_before.pop(uid, None)
        for parent in self._parents():
            try:
                (parent / _name(uid)).rmdir()
            except OSError:
                pass

    def _parents(self) -> list[Path]:
        return [self.pids] if self.memory is None else [self.pids, self.memory]


def _name(uid: int) -> str:
    return f"uid{uid}" if uid >= 0 else f"probe{-uid}"


def _pids_parent(cgroups: Path) -> Path | None:
    v1 = _parent(cgroups / "pids", "pids.max")
    if v1 is not None:
        return v1
    try:
        if "pids" not in (cgroups / "cgroup.controllers").read_text().split():
            return None
        parent = cgroups / PARENT
        parent.mkdir(exist_ok=True)
        _write(cgroups / "cgroup.subtree_control", "+pids")  # a v2 group's controllers are the ones its parent hands down
        _write(parent / "cgroup.subtree_control", "+pids")
        return parent
    except OSError:
        return None


def _parent(hierarchy: Path, control: str) -> Path | None:
    """`PARENT` under a v1 hierarchy (a folder of cgroup.procs without cgroup.controllers), made if need be."""
    if not (hierarchy / "cgroup.procs").exists() or (hierarchy / "cgroup.controllers").exists():
        return None
    try:
        parent = hierarchy / PARENT
        parent.mkdir(exist_ok=True)
    except OSError:
        return None
    return parent if (parent / control).exists() else None


def _refused(group: Path) -> int:
    for line in (group / "pids.events").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "max":
            return int(value)
    raise OSError(f"{group / 'pids.events'} has no count of refused forks")


def _write(path: Path, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)
