"""The grader's side: a student's process, and stand-ins for what lives in it.

    with StudentProcess.start(cwd) as student:
        errors = student.run([("answer 1", source), ...])
        report = report_for("linear_backward", student.namespace(), points=3, seed=1)

`namespace()` is a mapping the graders use as they use a notebook's globals. Looking a name up
gives a stand-in: a function's stand-in is called there (call_student sends the arguments and
takes back the result, the arguments as the call left them, its prints and warnings); a class's
stand-in is a class whose instances are stand-ins for the student's objects (their arithmetic,
attributes and conversions happen there, and only data comes back). What the grader lends the
student's code (a trusted helper, a test function, a layer) stays here and is called back.
"""
from __future__ import annotations

import copy
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from types import CodeType
from typing import Any

import numpy as np

from autograder.calling import ACTIVE, Call, CodeKey, code_key, code_of, keys_of, modified_paths
from autograder.isolation import codec
from autograder.isolation.peer import Peer, PeerStopped, RemoteError
from autograder.isolation.resident import GroupMeter, ResidentMeter, meter_for

RECEIVE_LIMIT = 64 * 2**20  # the largest reply taken from a student's process


class GraderSide(Peer):
    side = "t"

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock, RECEIVE_LIMIT)
        self.copies: list[list[Any]] = []  # the arguments of each student call under way, innermost last
        self.methods: dict[tuple[int, str], Any] = {}
        # The reference functions gated in the student's process (autograder/isolation/withhold.py): note i says
        # gates[i] ran; a call while its key is in `withheld` (the exercise under test's references) earns nothing.
        self.gates: list[tuple[CodeKey, str]] = []
        self.withheld: set[CodeKey] = set()
        self.withheld_runs: list[str] = []  # the withheld references that ran, in order
        self.reference_runs: Counter[CodeKey] = Counter()  # the other gated references that ran, by key
        # The student's process's memory, read from here once its allocator is tuned; while a measured call runs,
        # `measuring`, and the meter is sampled at each callback.
        self.meter: ResidentMeter | GroupMeter | None = None
        self.measuring = False

    def on_note(self, note: Any) -> None:
        """Gated reference `note` ran in the student's process: a call of the reference if it is withheld now."""
        if not isinstance(note, int) or not 0 <= note < len(self.gates):
            return
        code, name = self.gates[note]
        if code in self.withheld:
            self.withheld_runs.append(name)
        else:
            self.reference_runs[code] += 1

    def proxy(self, handle: str) -> Any:
        kind = handle.split(":")[1] if ":" in handle else "o"
        if kind == "k":
            return _remote_class(self, handle)
        return (RemoteFunction if kind == "c" else RemoteObject)(self, handle)

    def attributes_of(self, value: Any) -> tuple[str, ...]:
        return tuple(getattr(value, "remote_attributes", ()))

    def _lent(self, target: Any) -> Any:
        if isinstance(target, (RemoteObject, RemoteFunction)) or self.handles.get(id(target)) is None:
            raise PermissionError("not something the grader lent")
        return target

    def op_call(self, target: Any, args: list, kwargs: dict, same: list) -> Any:
        target = self._lent(target)
        if not callable(target):
            raise TypeError("not callable")
        if self.measuring:  # the student's code handed control back: what it holds now is what it keeps
            self.meter.sample()
        if self.copies:  # an argument the student's function was given, passed on: the grader's copy is that object
            given = self.copies[-1]
            for position, index in same:
                if 0 <= position < len(args) and 0 <= index < len(given):
                    args[position] = _refresh(given[index], args[position])
        return target(*args, **kwargs)

    def op_getattr(self, target: Any, name: str) -> Any:
        target = self._lent(target)
        if name not in self.attributes_of(target):
            raise AttributeError(name)
        key = (id(target), name)
        if key not in self.methods:  # a method read again is the same object, so it keeps its handle
            value = getattr(target, name)
            if not inspect.ismethod(value):
                return value
            self.methods[key] = value
        return self.methods[key]


def _refresh(mine: Any, theirs: Any) -> Any:
    """`mine`, changed as the student's code changed its copy of it (`theirs`): arrays written in place, lists
    and dicts refilled, so the grader sees what an in-process call would have left; else `theirs`."""
    if isinstance(mine, np.ndarray) and isinstance(theirs, np.ndarray) and mine.shape == theirs.shape \
            and mine.dtype == theirs.dtype and mine.flags.writeable:
        np.copyto(mine, theirs)
        return mine
    if isinstance(mine, list) and isinstance(theirs, list):
        kept = [_refresh(a, b) for a, b in zip(mine, theirs)] + theirs[len(mine):]
        mine[:] = kept
        return mine
    if isinstance(mine, dict) and isinstance(theirs, dict):
        refreshed = {key: _refresh(mine[key], value) if key in mine else value for key, value in theirs.items()}
        mine.clear()
        mine.update(refreshed)
        return mine
    return theirs


class RemoteObject:
    """Stands in for one of the student's objects: what is done to it is done there."""

    def __init__(self, peer: GraderSide, handle: str) -> None:
        object.__setattr__(self, "_peer", peer)
        object.__setattr__(self, "_handle", handle)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._peer.request("getattr", target=self, name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the student's objects are read, not written, by the grader")

    def _convert(self, name: str) -> Any:
        return self._peer.request("convert", name=name, target=self)

    def __float__(self) -> float:
        return float(self._convert("float"))

    def __int__(self) -> int:
        return int(self._convert("int"))

    def __index__(self) -> int:
        return int(self._convert("int"))

    def __complex__(self) -> complex:
        return complex(self._convert("complex"))

    def __bool__(self) -> bool:
        return bool(self._convert("bool") is True)

    def __len__(self) -> int:
        return int(self._convert("len"))

    def __repr__(self) -> str:
        text = self._convert("repr")
        return text[:200] if isinstance(text, str) else "<the student's object>"

    def __str__(self) -> str:
        text = self._convert("str")
        return text[:200] if isinstance(text, str) else "<the student's object>"

    def __hash__(self) -> int:
        return hash(self._handle)

    def __eq__(self, other: Any) -> bool:
        return self is other  # the student's __eq__ is never asked: it could say anything

    def __ne__(self, other: Any) -> bool:
        return self is not other


def _binary(name: str, reflected: bool) -> Callable[[Any, Any], Any]:
    def method(self: RemoteObject, other: Any) -> Any:
        left, right = (other, self) if reflected else (self, other)
        return self._peer.request("binary", name=name, left=left, right=right)

    return method


def _unary(name: str) -> Callable[[Any], Any]:
    return lambda self: self._peer.request("unary", name=name, operand=self)


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    setattr(RemoteObject, f"__{_name}__", _binary(_name, False))
    setattr(RemoteObject, f"__r{_name}__", _binary(_name, True))
for _name in ("lt", "le", "gt", "ge"):
    setattr(RemoteObject, f"__{_name}__", _binary(_name, False))
for _name in ("neg", "pos", "abs"):
    setattr(RemoteObject, f"__{_name}__", _unary(_name))


class RemoteFunction(RemoteObject):
    """Stands in for one of the student's functions (or callable objects)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call_there(self, list(args), kwargs)

    def memory_read_from_outside(self) -> bool:
        """Whether the grader reads the student's process's memory from outside it (its memory cgroup's charge, else
        its resident size: autograder/isolation/resident.py), from a floor read before the student's code ran."""
        return self._peer.meter is not None and self._peer.meter.floored

    def call_measuring_memory(self, *args: Any) -> tuple[Any, int, bool]:
        """Call it there, measuring the memory it holds; returns (value, peak bytes, resident).

        Where memory_read_from_outside(): the peak of what the process holds above its
        floor (its memory cgroup's peak, or its resident size sampled whenever the call hands control back: each
        call of a function the grader lent it, and its return), so that what the student's code made before the
        call counts too, and resident is True. Otherwise the process reports the most its objects held
        (tracemalloc), code that the student's could rewrite there, and resident is False."""
        peer = self._peer
        if self.memory_read_from_outside():
            peer.meter.start()
            peer.measuring = True
            try:
                call, reply = _call_there(self, list(args), {}, raising=False)
                peer.meter.sample()
            finally:
                peer.measuring = False
            if call.error:
                raise RemoteError(call.error)
            return call.value, peer.meter.peak(), True
        call, reply = _call_there(self, list(args), {}, measure=True, raising=False)
        if call.error:
            raise RemoteError(call.error)
        if not isinstance(reply.get("peak"), int):
            raise PeerStopped("a reply that is not a measured call")
        return call.value, reply["peak"], False

    def student_call(self, named: list[tuple[str, Any]], reference: Mapping[CodeType, str],
                     watched: list[Callable]) -> Call:
        """call_student for a function that lives in the student's process (see calling.call_student)."""
        snapshots = [copy.deepcopy(value) for _, value in named]
        context = (Call(), keys_of(reference), watched)
        call, reply = _call_there(self, [copy.deepcopy(value) for _, value in named], {}, context=context, raising=False)
        call.modified = modified_paths([name for name, _ in named], snapshots, reply["arguments"])
        return call


def _call_there(function: Any, args: list, kwargs: dict, measure: bool = False, raising: bool = True,
                context: tuple | None = None) -> Any:
    """Call a student's function in its process, watched for what the call under way here watches for (the
    reference, the forward pass). The arguments are refreshed from what the call left in them.

    Returns the value (or raises RemoteError) when `raising`; else (a Call, the reply)."""
    active, reference, watched = context or (ACTIVE[-1] if ACTIVE else (None, {}, ()))
    keys = [[list(key), name] for key, name in reference.items()]
    marks = [item if isinstance(item, RemoteObject) else list(item) if isinstance(item, tuple) else
             list(code_key(code_of(item))) if code_of(item) is not None else None for item in watched]
    peer = function._peer
    withheld_before, runs_before = len(peer.withheld_runs), peer.reference_runs.copy()
    peer.copies.append(args)
    try:
        reply = peer.request("call", target=function, args=args, kwargs=kwargs, reference=keys,
                             watched=[m for m in marks if m is not None], measure=measure)
    finally:
        peer.copies.pop()
    if not isinstance(reply, dict) or not isinstance(reply.get("arguments"), list) or len(reply["arguments"]) != len(args):
        raise PeerStopped("a reply that is not a call's record")
    reply["arguments"] = [_refresh(mine, theirs) for mine, theirs in zip(args, reply["arguments"])]
    notes = reply.get("notes")
    call = Call(value=reply.get("value"), error=_text(reply.get("error")),
                notes=[str(n) for n in notes][:50] if isinstance(notes, list) else [],
                reference_called=_text(reply.get("reference_called")),
                watched_calls=int(reply.get("watched_calls") or 0) if isinstance(reply.get("watched_calls"), int) else 0)
    # What the grader was told itself, whatever the process reports: a withheld reference that ran, watched ones.
    call.reference_called = call.reference_called or (peer.withheld_runs[withheld_before] if len(peer.withheld_runs) > withheld_before else None)
    call.watched_calls += sum(peer.reference_runs[tuple(m)] - runs_before[tuple(m)] for m in marks if isinstance(m, list))
    if active is not None and context is None:  # a call inside one under way here: what it found is that call's
        active.reference_called = active.reference_called or call.reference_called
        active.watched_calls += call.watched_calls
        active.notes += [n for n in call.notes if n not in active.notes]
    if not raising:
        return call, reply
    if call.error:
        raise RemoteError(call.error)
    return call.value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class _RemoteClassMeta(type):
    """The type of a student's class's stand-in: calling it makes an instance there; its attributes are read there."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _call_there(cls, list(args), kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return cls._peer.request("getattr", target=cls, name=name)


def _remote_class(peer: GraderSide, handle: str) -> type:
    return _RemoteClassMeta("StudentClass", (), {"_peer": peer, "_handle": handle})


class RemoteNamespace(MutableMapping):
    """The student's globals, as the graders see a notebook's: look up, swap in, put back."""

    def __init__(self, peer: GraderSide) -> None:
        self._peer = peer

    def __getitem__(self, name: str) -> Any:
        found = self._peer.request("lookup", name=name)
        if not isinstance(found, dict) or "value" not in found:
            raise KeyError(name)
        return found["value"]

    def __setitem__(self, name: str, value: Any) -> None:
        self._peer.request("assign", name=name, value=value)

    def __delitem__(self, name: str) -> None:
        self._peer.request("delete", name=name)

    def __iter__(self) -> Iterator[str]:
        return iter(())  # graders look names up; they never list the student's

    def __len__(self) -> int:
        return 0

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and "value" in self._peer.request("lookup", name=name)


class StudentProcess:
    """A process holding one student's code, under limits, and the connection to it."""

    def __init__(self, sock: socket.socket, pid: int, stop: Callable[[], None], shares_pages: bool = False) -> None:
        self.peer = GraderSide(sock)
        self.pid = pid
        self._stop = stop
        self._shares_pages = shares_pages  # a fork of the kernel server: its memory cgroup would overcount (see start)

    @classmethod
    def start(cls, cwd: Path, memory_mb: int = 2048, cpu_s: int = 120, via: str = "",
              fresh: bool = False) -> "StudentProcess":
        """Start one: from the kernel server at `via` when there is one (raises OSError if it gives none: a new
        interpreter instead would be outside the server's jail), else a new interpreter. From the server, it is a
        fork of it, or with `fresh` a new interpreter in the fork's jail: 0.1 s more, but no page is shared with
        the server, whose pages, once written, would be charged to the process's memory cgroup as new (copy on
        write: about 7 MB in chapter 6's first measured call) though its resident size stays the same."""
        mine, theirs = socket.socketpair()
        if via:
            return cls._from_server(mine, theirs, cwd, via, fresh)
        from autograder.pipeline.limited_kernel import apply_limits, die_with_parent

        def limit() -> None:
            os.setsid()
            apply_limits(memory_mb, cpu_s, 64)
            die_with_parent()

        process = subprocess.Popen([sys.executable, "-m", "autograder.isolation.sandbox", "--fd", str(theirs.fileno())],
                                   pass_fds=(theirs.fileno(),), cwd=cwd, preexec_fn=limit,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env=_environment())
        theirs.close()

        def stop() -> None:
            _kill_group(process.pid)
            process.wait()

        return cls(mine, process.pid, stop)

    @classmethod
    def _from_server(cls, mine: socket.socket, theirs: socket.socket, cwd: Path, via: str,
                     fresh: bool = False) -> "StudentProcess":
        import json

        from autograder.pipeline.limited_kernel import read_message

        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(via)
            request = {"sandbox": True, "fresh": fresh, "cwd": str(cwd), "env": _environment()}
            with open(os.devnull, "rb") as devnull:
                socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [theirs.fileno(), devnull.fileno(), devnull.fileno()])
            reply = read_message(conn.makefile("rb"))
            if not reply or not isinstance(reply.get("pid"), int):
                raise OSError(f"it answered {reply}")
        except OSError as error:
            conn.close()
            mine.close()
            theirs.close()
            raise OSError(f"the kernel server started no process for the student's code: {error}") from None
        pid = reply["pid"]
        theirs.close()

        def stop() -> None:
            conn.close()  # the server kills it and all it started (it alone can: it reaps the process)

        return cls(mine, pid, stop, shares_pages=not fresh)

    def __enter__(self) -> "StudentProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.peer.sock.close()
        finally:
            self._stop()

    def tune_allocator(self) -> bool:
        """Before its code runs, for an exercise whose memory is measured: set the process's allocator so that its
        resident size, read from here, follows what the code holds. True if it took (glibc); only then is memory
        read from outside the process (else the process reports it itself)."""
        tuned = bool(self.peer.request("tune_allocator"))
        self.peer.meter = None if not tuned else ResidentMeter(self.pid) if self._shares_pages else meter_for(self.pid)
        return tuned

    def take_memory_floor(self, modules: Sequence[str]) -> bool:
        """After tune_allocator, before the student's code runs: import these modules there (so that what they
        hold is not the student's), then note what the process holds, the floor its memory is measured from.
        True if the grader can read it."""
        self.peer.request("preload", modules=list(modules))
        return self.peer.meter is not None and self.peer.meter.floor()

    def withhold(self, references: Mapping[CodeKey, str]) -> int:
        """Gate these reference functions in the student's process, before its code runs: each tells the grader when
        it runs (a call while its key is in `self.peer.withheld` earns nothing). Returns how many were gated there."""
        self.peer.gates = list(references.items())
        return int(self.peer.request("withhold", keys=[list(key) for key, _ in self.peer.gates]))

    def run(self, cells: list[tuple[str, str]], seconds: float) -> list[tuple[str, str]]:
        """Run the cells there; returns (label, one-line error) for each that raised."""
        self.peer.deadline = time.monotonic() + seconds
        errors = self.peer.request("run", cells=[[label, source] for label, source in cells])
        return [(str(label), str(message)) for label, message in errors]

    def namespace(self) -> RemoteNamespace:
        return RemoteNamespace(self.peer)


# Student code shares the cores with the other jobs, and each thread counts against the process cap.
ONE_BLAS_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _environment() -> dict[str, str]:
    """What the student's process inherits: the interpreter's essentials, nothing of the grader's."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "SYSTEMROOT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(PYTHONHASHSEED="0", MPLBACKEND="Agg", **ONE_BLAS_THREAD)
    return env


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
