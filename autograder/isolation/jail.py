"""The jail a student's kernel or process enters before it runs any student code (Linux, as root).

A jailed process has
- a file tree of its own (a mount namespace and a chroot): the system folders, the Python
  installation and the course's two packages (`backprop`, `autograder`: no solution or hidden test
  is in them), read-only and without set-uid programs; its working folder, the scratch copy of its
  own submission, writable; a private /tmp and /dev/shm; /proc. Other submissions, the source
  notebooks, the gradebook and the grader's scratch folders are not in it;
- a uid of its own (`UidPool`), not held by any other process while it runs, so it cannot signal,
  trace or read another student's processes, and a cap on that uid's processes and threads: a pids
  cgroup of the uid's own where the machine has one (cgroups.py: it also counts the forks it
  refused, and a memory group beside it counts what the process holds), else RLIMIT_NPROC (which
  counts the uid's tasks);
- optionally no network (the process that is graded talks over a socket it inherits).

What calls it must be single-threaded (a mount namespace is per process, a chroot per thread
group) and must have closed every file it does not hand on. `problem()` says why a jail cannot be
made here (not Linux, not root, no mount namespaces); the grader then runs without one and says so.
Standard library only: the kernel server imports it before it forks.
"""
from __future__ import annotations

import ctypes
import os
import pwd
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.isolation.cgroups import UidCgroups

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom")
FIRST_UID = 61000  # a range that Debian and Red Hat leave to no account by default
POOL_SIZE = 1000
LOCKS = Path("/run/lock/bpcourse-uids") if os.path.isdir("/run/lock") else Path("/tmp/bpcourse-uids")


class JailError(OSError):
    """The jail could not be set up; the process must not go on to run student code."""


@dataclass(frozen=True)
class Jail:
    """What a jailed process may see and do. `shown` are read-only paths besides the system folders."""

    root: Path  # an empty folder to build the file tree on (one per process; a tmpfs is mounted there)
    shown: tuple[str, ...]
    processes: int = 64
    tmp_mb: int = 256
    cgroups: UidCgroups | None = None  # the uid's cgroups (the cap, memory), when this machine has them

    @property
    def process_rlimit(self) -> int:
        """RLIMIT_NPROC: the cap itself, or a backstop above the cgroup's, which must be hit first to be counted."""
        return self.processes * 2 if self.cgroups is not None else self.processes

    @classmethod
    def for_course(cls, root: Path, processes: int, tmp_mb: int = 256) -> "Jail":
        """A jail that shows this interpreter and the course's packages."""
        import importlib.util

        shown = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
        for package in ("backprop", "autograder"):
            spec = importlib.util.find_spec(package)
            shown.update(spec.submodule_search_locations or [] if spec else [])
        return cls(root, tuple(sorted(shown)), processes, tmp_mb, UidCgroups.here(processes))


def problem() -> str | None:
    """Why no jail can be made on this machine, or None."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not running as root"
    pid = os.fork()
    if pid == 0:  # try it where nothing is lost
        try:
            _unshare(CLONE_NEWNS)
            _mount(None, "/", None, MS_REC | MS_PRIVATE)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - the answer is the exit status
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return None if os.waitstatus_to_exitcode(status) == 0 else "mount namespaces are not available here"


def enter(jail: Jail, workdir: str, uid: int, readable_files: tuple[str, ...] = (), network: bool = True,
          writable: tuple[str, ...] = ()) -> None:
    """Become a jailed process working in `workdir` as `uid`; `readable_files` (a kernel's connection
    file) are shown read-only, and the folders `writable` (where a kernel makes its sockets) writable, all
    handed to the uid. Raises JailError; on success there is no way back."""
    try:
        if jail.cgroups is not None:
            jail.cgroups.join(uid)
        for folder in (workdir, *writable):
            _chown_tree(folder, uid)
        for path in readable_files:
            os.chown(path, uid, uid)
        _unshare(CLONE_NEWNS | (0 if network else CLONE_NEWNET))
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing done here is seen outside
        new_root = str(jail.root)
        os.makedirs(new_root, exist_ok=True)
        _mount("jail", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
        _fresh_tmpfs(new_root + "/tmp", jail.tmp_mb)  # first: what is shown below may lie under /tmp
        for path in SYSTEM_FOLDERS:
            _show(new_root, path)
        for path in jail.shown:
            _show(new_root, path)
        for path in readable_files:
            _show(new_root, path)
        for folder in (*writable, workdir):
            _show(new_root, folder, writable=True)
        _devices(new_root)
        os.makedirs(new_root + "/proc", exist_ok=True)
        _mount("/proc", new_root + "/proc", None, MS_BIND | MS_REC)
        _mount(None, new_root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
        os.chroot(new_root)
        os.chdir(workdir)
        os.setgroups([])
        os.setgid(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (jail.process_rlimit, jail.process_rlimit))
        os.setuid(uid)
    except OSError as error:
        raise JailError(f"could not jail the student's process: {error}") from error
    os.environ.update(HOME="/tmp", TMPDIR="/tmp", IPYTHONDIR="/tmp/.ipython", MPLCONFIGDIR="/tmp/.matplotlib",
                      JUPYTER_CONFIG_DIR="/tmp/.jupyter", JUPYTER_DATA_DIR="/tmp/.jupyter/data")


class UidPool:
    """The uids jailed processes run as: each one held by one process (and what it starts) at a time, on the
    whole machine: a uid is taken with a lock (in LOCKS) that its pool holds until it gives the uid back, so
    two grading runs at once never share one (the lock goes when the process holding it ends).

    A uid is swept when it is taken and when it is given back: whatever still runs as it (a daemon forked
    in any session, or left by a run that crashed) is killed. With `cgroups`, its groups are taken and given
    back with it, and giving it back tells how many forks and threads the cap refused it."""

    def __init__(self, first: int = FIRST_UID, size: int = POOL_SIZE, locks: Path | None = None,
                 cgroups: UidCgroups | None = None) -> None:
        self._free = list(range(first, first + size))  # a uid that turns out to have an account is skipped in take
        self._held: dict[int, int] = {}  # pid -> uid
        self._locks: dict[int, int] = {}  # uid -> the open file whose lock holds it
        self._folder = locks or LOCKS
        self._cgroups = cgroups

    def take(self) -> int:
        import fcntl

        self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for uid in list(self._free):
            if _has_account(uid):
                self._free.remove(uid)
                continue
            fd = os.open(self._folder / str(uid), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # another run holds it
                os.close(fd)
                continue
            self._free.remove(uid)
            self._locks[uid] = fd
            kill_everything_of(uid)
            if self._cgroups is not None:
                try:
                    self._cgroups.take(uid)
                except OSError as error:
                    self._give_back(uid)
                    raise JailError(f"no cgroup for uid {uid}: {error}") from error
            return uid
        raise JailError("every uid of the pool is in use")

    def hold(self, pid: int, uid: int) -> None:
        self._held[pid] = uid

    def release(self, pid: int) -> int | None:
        """Give back the uid `pid` held: the forks and threads the cap refused it, when they are counted."""
        uid = self._held.pop(pid, None)
        if uid is None:
            return None
        kill_everything_of(uid)
        refused = None
        if self._cgroups is not None:
            try:
                refused = self._cgroups.refused(uid)
            except OSError:
                pass
            self._cgroups.give_back(uid)
        self._give_back(uid)
        return refused

    def _give_back(self, uid: int) -> None:
        os.close(self._locks.pop(uid))  # closing it lets the lock go
        self._free.append(uid)

    def release_all(self) -> None:
        for pid in list(self._held):
            self.release(pid)


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (a daemon a student forked), so their
    zombies are reaped by its own wait loop and never count against a uid that is handed out again."""
    PR_SET_CHILD_SUBREAPER = 36
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_everything_of(uid: int) -> None:
    """SIGKILL every process running as `uid` (from a child that becomes it: kill(-1) reaches exactly those)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, 9)
        except OSError:
            pass
        os._exit(0)
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except ChildProcessError:  # reaped already by the caller's SIGCHLD loop
            return
        except InterruptedError:
            continue


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


def _chown_tree(top: str, uid: int) -> None:
    os.chown(top, uid, uid)
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)


def _show(new_root: str, path: str, writable: bool = False) -> None:
    """`path` at the same place inside the jail: a bind mount (read-only unless `writable`), or the same link."""
    if not os.path.lexists(path):
        return
    inside = new_root + os.path.abspath(path)
    if os.path.islink(path) and os.path.dirname(os.path.abspath(path)) == "/":  # /bin -> usr/bin
        if not os.path.lexists(inside):
            os.symlink(os.readlink(path), inside)
        return
    real = os.path.realpath(path)
    if os.path.isdir(real):
        os.makedirs(inside, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(inside), exist_ok=True)
        if not os.path.exists(inside):
            open(inside, "w").close()
    _mount(real, inside, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY)
    _mount(None, inside, None, flags)


def _devices(new_root: str) -> None:
    os.makedirs(new_root + "/dev", exist_ok=True)
    for name in DEVICES:
        if os.path.exists("/dev/" + name):
            open(f"{new_root}/dev/{name}", "w").close()
            _mount("/dev/" + name, f"{new_root}/dev/{name}", None, MS_BIND)
    _fresh_tmpfs(new_root + "/dev/shm", 64)


def _fresh_tmpfs(path: str, size_mb: int) -> None:
    os.makedirs(path, exist_ok=True)
    _mount("tmp", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=1777")


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)


def _unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare: {os.strerror(error)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = (lambda s: None if s is None else s.encode())
    if _libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {source or ''} on {target}: {os.strerror(error)}")
