"""A Jupyter kernel with resource limits, started one of two ways.

`python limited_kernel.py --memory-mb M --cpu-s C -- ARGS` (plain start): sets the limits on this
process, then becomes an ordinary IPython kernel with ARGS (`python -m ipykernel_launcher ARGS`);
limits survive exec.

`python limited_kernel.py --serve SOCKET --memory-mb M --cpu-s C [--preload MODULES]` (the kernel
server): a process that imports ipykernel and the heavy libraries the notebooks import (numpy,
matplotlib, ...) once, then, for each request on the Unix socket SOCKET, forks a child that sets
the same limits on itself, starts a session of its own, and becomes an IPython kernel. Starting
the interpreter and importing those libraries is about half of the CPU a chapter-1 kernel costs;
forked from the server, each kernel skips it. Every submission still gets its own kernel process
under the limits: the server never runs notebook code, the limits are the server's (fixed when
the grader started it, never taken from a request), and a child holds nothing but the libraries
(the server is started fresh with exec, so nothing of the grader, the gradebook or the hidden
tests is in its memory).

`python limited_kernel.py --via SOCKET --memory-mb M --cpu-s C [--report FILE] -- ARGS` (the
kernel's stand-in): what the kernelspec runs when a server is up. It asks the server for a kernel
with its own standard streams, working folder, environment and ARGS, then stands in for it:
the signals Jupyter sends it (interrupt, terminate) go to the kernel, and it exits when the kernel
exits, with its status. With FILE (which the jailed kernel cannot see), it notes there the kernel it
got, and the server notes when that kernel has ended how many forks and threads its process cap
refused, where it counts them (the server, because Jupyter may kill the stand-in first). If it is
killed, the server kills the kernel. If the server cannot be reached or gives no kernel, it exits
with an error: it never starts one the plain way, which would be outside the jail the server puts
kernels in. It imports nothing but the standard library.

Semantics kept from a plain start: the kernel's sys.path, sys.argv, working folder and
environment are those of `python -m ipykernel_launcher ARGS` run by the stand-in; Python's
`random` and NumPy's global generator are seeded afresh in each child (a fork would otherwise
share their state); ipywidgets, when preloaded, registers its comm targets once the kernel
exists, as an import inside the kernel would. What differs: preloaded modules are imported before
the notebook's first cell, and every kernel of a run has the server's string-hash seed.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import signal
import socket
import sys
from pathlib import Path

_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None  # loaded before any fork
JAIL_FAILED = 125  # the exit status of a kernel or student process that could not be jailed
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def apply_limits(memory_mb: int, cpu_s: int, file_mb: int) -> None:
    """Address space, CPU time and file size caps on this process (and what it starts); no core dumps."""
    memory = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb * 2**20, file_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def die_with_parent() -> None:
    """On Linux, this process gets SIGKILL when the one that started it (the grader's worker) ends, so a
    worker the grader stops takes its kernel with it, and the grader never signals a pid it did not start."""
    if _LIBC is None:
        return
    parent = os.getppid()
    PR_SET_PDEATHSIG = 1
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def _exec_kernel(args: argparse.Namespace) -> None:
    """The plain start: limits on this process, then exec an ordinary IPython kernel."""
    apply_limits(args.memory_mb, args.cpu_s, args.file_mb)
    rest = [a for a in args.kernel_args if a != "--"]
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *rest])


# ---- the stand-in -------------------------------------------------------------------------------


def read_message(stream) -> dict | None:
    """The next line the server sent on a connection (`socket.makefile("rb")`), decoded; None when it closed.

    The server writes a kernel's pid, then its exit status, on one connection: one read may hold both."""
    line = stream.readline()
    if not line.endswith(b"\n"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _stand_in(args: argparse.Namespace) -> None:
    """Ask the server for a kernel and stand in for it; exit with an error if it gives none."""
    rest = [a for a in args.kernel_args if a != "--"]
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(args.via)
        request = {"argv": rest, "cwd": os.getcwd(), "env": dict(os.environ), "report": args.report}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        replies = conn.makefile("rb")
        reply = read_message(replies)
        if not reply or not isinstance(reply.get("pid"), int):
            raise OSError(f"the kernel server started no kernel ({reply})")
    except OSError as error:
        print(f"limited_kernel: no kernel: {error}", file=sys.stderr)
        os._exit(1)
    pid = reply["pid"]
    report(args.report, {"kernel": pid})

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    while True:
        try:
            ended = read_message(replies)
            break
        except InterruptedError:
            continue
    if ended is None or "status" not in ended:  # the server went away: do not leave the kernel behind
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        os._exit(1)
    status = ended["status"]
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be handled, nor need resetting
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


# ---- the server ---------------------------------------------------------------------------------


def _ipc_folder(connection_file: str) -> str | None:
    """The folder of a kernel's Unix sockets, when its connection file says its transport is ipc."""
    try:
        with open(connection_file) as handle:
            info = json.load(handle)
    except (OSError, ValueError):
        return None
    if info.get("transport") != "ipc" or not info.get("ip"):
        return None
    return os.path.dirname(os.path.abspath(info["ip"]))


def _kernel_child(request: dict, fds: list[int], args: argparse.Namespace, jail=None, uid: int = 0) -> None:
    """In the forked child: become the kernel the request asks for (or, asked for a sandbox, the process that
    holds a student's code while the grader calls it: autograder/isolation/sandbox.py), in `jail` as `uid`
    when there is one (autograder/isolation/jail.py; a child that cannot enter it exits). Never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the only handler the server changed
        os.setsid()
        server_log = os.dup(2)  # where a failed jail is reported; closed before any student code runs
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        os.closerange(3, server_log)
        os.closerange(server_log + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        apply_limits(args.memory_mb, args.cpu_s, args.file_mb)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if jail is not None:
            from autograder.isolation.jail import JailError, enter

            argv = request.get("argv", [])
            connection = [argv[argv.index("-f") + 1]] if "-f" in argv[:-1] else []
            sockets = _ipc_folder(connection[0]) if connection else None
            try:
                # A kernel whose channels are Unix sockets needs no network: it cannot reach other kernels' ports.
                enter(jail, request["cwd"], uid, tuple(connection),
                      network=sockets is None and not request.get("sandbox"), writable=(sockets,) if sockets else ())
            except JailError as error:
                report = f"limited_kernel: pid {os.getpid()}, uid {uid}: {error}\n".encode()
                for fd in (server_log, 2):
                    os.write(fd, report)
                code = JAIL_FAILED
                return
        os.close(server_log)
        if request.get("sandbox"):  # not a kernel: the process that holds a student's code while it is graded
            if request.get("fresh"):  # an interpreter of its own, sharing no page with this server (see remote.py)
                os.execv(sys.executable, [sys.executable, "-m", "autograder.isolation.sandbox", "--fd", "0"])
            from autograder.isolation.sandbox import serve

            serve(socket.socket(fileno=0))
            code = 0
            return
        import random

        random.seed()
        if "numpy.random" in sys.modules:
            sys.modules["numpy.random"].seed()
        sys.argv = [sys.modules["ipykernel_launcher"].__file__ if "ipykernel_launcher" in sys.modules else "ipykernel_launcher",
                    *request["argv"]]
        from ipykernel import kernelapp

        # ipykernel reads JPY_PARENT_PID when it is imported; here that was in the server.
        app = kernelapp.IPKernelApp.instance(parent_handle=int(os.environ.get("JPY_PARENT_PID") or 0))
        app.initialize(sys.argv[1:])
        if "ipywidgets" in sys.modules:  # its import registers the widget comm targets when a kernel exists
            sys.modules["ipywidgets"]._handle_ipython()
        app.start()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child must never fall back into the server's loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()  # what a normal interpreter exit runs (the kernel's own clean-up)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def report(path: str, line: dict) -> None:
    """Add `line` to the kernels' report at `path`, when there is one: {"kernel": pid} from the stand-in once
    the kernel started, {"ended": pid, "refused": n} from the server once it was reaped (n is None when the
    cap counts nothing)."""
    if not path:
        return
    try:
        with open(path, "a") as handle:
            handle.write(json.dumps(line) + "\n")
    except OSError as error:
        print(f"limited_kernel: could not write {path}: {error}", file=sys.stderr)


def _serve(args: argparse.Namespace) -> None:
    """Preload, then fork a limited kernel for each request until stdin closes (the grader is gone)."""
    import importlib
    import selectors
    import threading

    # As ipykernel_launcher does: the server's own folder is not where a kernel finds modules.
    if sys.path and (sys.path[0] in ("", os.getcwd()) or os.path.dirname(os.path.abspath(__file__)) == sys.path[0]):
        del sys.path[0]
    import ipykernel_launcher  # noqa: F401 - its path becomes the kernel's sys.argv[0]
    from ipykernel import kernelapp  # noqa: F401

    for name in filter(None, args.preload.split(",")):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:  # `from package import name` names a function as often as a module
                print(f"limited_kernel: not preloading {name}: {error}", file=sys.stderr)
        except Exception as error:  # noqa: BLE001 - a module that fails here is imported by the kernel itself
            print(f"limited_kernel: not preloading {name}: {error}", file=sys.stderr)
    if threading.active_count() != 1:
        raise SystemExit("limited_kernel: preloading started threads; a fork would not carry them")
    jail, uids = None, None
    if args.processes:  # every kernel and student process in a jail of its own, as a uid of its own
        from autograder.isolation.jail import Jail, UidPool, adopt_orphans

        jail = Jail.for_course(Path(args.jail_root), args.processes)
        uids = UidPool(cgroups=jail.cgroups)
        adopt_orphans()

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.serve)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "listen")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "parent")
    kernels: dict[int, socket.socket] = {}  # pid -> the stand-in's connection
    reports: dict[int, str] = {}  # pid -> the file its stand-in asked to be told what the cap refused
    by_conn: dict[socket.socket, int] = {}

    def end_kernel(pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass

    def ended(pid: int) -> int | None:
        """Reaped: nothing it started may outlive it, in its session or out of it. The forks and threads its
        cap refused, when they are counted."""
        return uids.release(pid) if uids is not None else None

    try:
        while True:
            for key, _ in selector.select():
                try:
                    if selector.get_map().get(key.fd) is not key:
                        continue  # closed by an event before it in this batch (its kernel ended as it went)
                    if key.data == "parent":
                        if not os.read(sys.stdin.fileno(), 4096):
                            return
                    elif key.data == "child":
                        os.read(wake_r, 4096)
                        while True:
                            try:  # seen, not yet reaped: until it is, its pid and group id are no one else's
                                seen = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                            except ChildProcessError:
                                break
                            if seen is None:
                                break
                            pid = seen.si_pid
                            end_kernel(pid)
                            _, status = os.waitpid(pid, 0)
                            refused = ended(pid)
                            report(reports.pop(pid, ""), {"ended": pid, "refused": refused})
                            conn = kernels.pop(pid, None)
                            if conn is not None:
                                by_conn.pop(conn, None)
                                try:
                                    conn.sendall(json.dumps({"status": status}).encode() + b"\n")
                                except OSError:
                                    pass
                                selector.unregister(conn)
                                conn.close()
                    elif key.data == "listen":
                        conn, _ = listener.accept()
                        try:
                            message, fds, _flags, _addr = socket.recv_fds(conn, 2**20, 3)
                            while not message.endswith(b"\n"):
                                more = conn.recv(2**20)
                                if not more:
                                    raise OSError("request cut short")
                                message += more
                            request = json.loads(message)
                            if len(fds) != 3:
                                raise OSError("expected three file descriptors")
                        except (OSError, ValueError):
                            conn.close()
                            continue
                        try:
                            uid = uids.take() if uids is not None else 0
                        except OSError:  # no uid to give: no kernel, rather than one outside a jail or no server at all
                            conn.close()
                            continue
                        pid = os.fork()
                        if pid == 0:
                            _kernel_child(request, fds, args, jail, uid)
                        if uids is not None:
                            uids.hold(pid, uid)
                        for fd in fds:
                            os.close(fd)
                        kernels[pid] = conn
                        if isinstance(request.get("report"), str):
                            reports[pid] = request["report"]
                        by_conn[conn] = pid
                        selector.register(conn, selectors.EVENT_READ, "kernel")
                        try:
                            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                        except OSError:
                            end_kernel(pid)
                    else:  # a stand-in's connection: it only ever closes, when the stand-in is gone
                        conn = key.fileobj
                        try:
                            closed = not conn.recv(4096)
                        except OSError:
                            closed = True
                        if closed:
                            selector.unregister(conn)
                            pid = by_conn.pop(conn, None)
                            if pid is not None:
                                kernels.pop(pid, None)
                                end_kernel(pid)
                            conn.close()
                except Exception:  # noqa: BLE001 - one request or one ended kernel must not end the server
                    import traceback

                    traceback.print_exc()
    finally:
        for pid in list(kernels):
            end_kernel(pid)
        if uids is not None:
            uids.release_all()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory-mb", type=int, required=True, help="address-space cap, MiB")
    parser.add_argument("--cpu-s", type=int, required=True, help="CPU-time cap, seconds")
    parser.add_argument("--file-mb", type=int, default=256, help="largest file the kernel may write, MiB")
    parser.add_argument("--serve", default="", metavar="SOCKET", help="be the kernel server, listening on SOCKET")
    parser.add_argument("--preload", default="", metavar="MODULES", help="server: modules to import once, comma-separated")
    parser.add_argument("--via", default="", metavar="SOCKET", help="get the kernel from the server at SOCKET")
    parser.add_argument("--report", default="", metavar="FILE",
                        help="stand-in: the server adds a line to FILE with the forks and threads the kernel's cap refused")
    parser.add_argument("--processes", type=int, default=0, metavar="N",
                        help="server: jail each kernel as a uid of its own with at most N processes and threads")
    parser.add_argument("--jail-root", default="", metavar="FOLDER", help="server: an empty folder to build jails on")
    parser.add_argument("kernel_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.serve:
        _serve(args)
        return
    die_with_parent()
    if args.via:
        _stand_in(args)
    else:
        _exec_kernel(args)


if __name__ == "__main__":
    main()
