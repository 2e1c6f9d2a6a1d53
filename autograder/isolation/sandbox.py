"""The process that holds a student's code while it is graded, and does nothing but what it is asked.

It runs the cells it is sent (the student's answers, and the imports they need) into one
namespace, then answers the grader: look up a name, set one (a trusted helper swapped in), call a
function on the arguments sent and send back what it returned, what it printed or warned, and the
arguments as they were left (the grader decides whether they were modified). The grader compares
the results in its own process, where nothing the student's code does can reach: patching NumPy
or the grader here changes nothing there, and what comes back is data (arrays, numbers), never a
pickle or an object whose == the student wrote.

Started by the grader with a connected socket as file descriptor `--fd` (or, forked from the
kernel server, as its standard input).
"""
from __future__ import annotations

import argparse
import builtins
import importlib.util
import linecache
import operator
import os
import random
import socket
import sys
import tracemalloc
from typing import Any

import numpy as np

from autograder.calling import Call, code_of, code_key, describe_exception, invoke
from autograder.isolation.peer import Peer, PeerStopped
from autograder.isolation.resident import refuse_hiding_places, tune_allocator
from autograder.isolation.withhold import withhold

BINARY = {name: getattr(operator, name) for name in
          ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "lt", "le", "gt", "ge", "eq", "ne")}
UNARY = {"neg": operator.neg, "pos": operator.pos, "abs": operator.abs}
CONVERSIONS = {"float": float, "int": int, "bool": bool, "repr": repr, "str": str, "len": len, "complex": complex}
# Folders the student's code can write: a module found there is not preloaded.
_SHADOWABLE = tuple(os.path.realpath(folder) + os.sep for folder in ("/tmp", "/var/tmp", "/dev/shm"))


def without_magics(source: str) -> str:
    """A cell's source with its IPython lines (`%magic`, `!shell`) blanked, so line numbers stay the same."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


class Callback:
    """Stands in for a function or object the grader lent: a call goes back to the grader."""

    def __init__(self, peer: StudentSide, handle: str) -> None:
        self._peer, self._handle = peer, handle
        parts = handle.split(":")
        self._kind = parts[1] if len(parts) > 1 else "o"
        self._attributes = set(parts[2].split(",")) if len(parts) > 2 and parts[2] else set()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._kind not in "ck":
            raise TypeError("this object of the grader's is not callable")
        if self._handle in self._peer.watched_handles:
            self._peer.watched_count += 1
        self._peer.sample_memory()
        same = [[i, j] for i, arg in enumerate(args) for j, given in enumerate(self._peer.call_arguments) if arg is given]
        return self._peer.request("call", target=self, args=list(args), kwargs=kwargs, same=same)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._attributes:
            raise AttributeError(name)
        return self._peer.request("getattr", target=self, name=name)

    def __repr__(self) -> str:
        return f"<the grader's {'function' if self._kind == 'c' else 'object'}>"


class StudentSide(Peer):
    side = "s"

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        self.call_arguments: list[Any] = []
        self.watched_handles: set[str] = set()
        self.watched_count = 0
        self.memory: list[int] | None = None  # [bytes at the measured call's start, most held since]
        self.cell_number = 0
        self.gated: dict[int, tuple] = {}  # id(function) -> code key, for the reference functions behind a gate

    def proxy(self, handle: str) -> Any:
        return Callback(self, handle)

    def describe(self, error: BaseException) -> str:
        return describe_exception(error)

    def serve(self) -> None:
        """Answer requests until the grader closes the connection."""
        while True:
            try:
                message = self._receive()
            except PeerStopped:
                return
            self.answer(message)

    # ---- the student's code --------------------------------------------------------------------

    def op_run(self, cells: list) -> list:
        """Run each (label, source) into the namespace; returns [label, one-line error] for those that raised."""
        errors = []
        for label, source in cells:
            self.cell_number += 1
            filename = f"<cell {self.cell_number}: {label}>"
            text = without_magics(str(source)) + "\n"
            linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
            try:
                exec(compile(text, filename, "exec"), self.namespace)  # noqa: S102 - the point of this process
            except BaseException as error:  # noqa: BLE001 - a cell that fails is reported; the rest still run
                errors.append([str(label), describe_exception(error)])
        return errors

    def op_withhold(self, keys: list) -> int:
        """Put the reference functions with these code keys behind the grader's gate (before any student code
        runs: autograder/isolation/withhold.py); returns how many functions were gated."""
        if self.gated or self.cell_number:
            raise PermissionError("the reference is withheld once, before the student's code runs")
        if not all(isinstance(k, list) and len(k) == 3 and isinstance(k[1], int) for k in keys):
            raise TypeError("code keys are [file, line, name]")
        self.gated = withhold([tuple(key) for key in keys], self.sock)
        return len(self.gated)

    def op_tune_allocator(self) -> bool:
        """Give large allocations pages of their own, so that the grader can read this process's resident size as
        what the code holds (autograder/isolation/resident.py): before any student code runs (and before the gate,
        which refuses ctypes). Returns whether the C library took the settings."""
        if self.gated or self.cell_number:
            raise PermissionError("the allocator is tuned before the student's code runs")
        tuned = tune_allocator()
        if tuned:
            refuse_hiding_places()
        return tuned

    def op_preload(self, modules: list) -> int:
        """Import these modules (the chapter's, and the standard library's the student's code imports) before its
        code runs, so that what they hold is in the floor its memory is measured from; none found in the working
        folder or /tmp, which the student's files could shadow. Returns how many were imported."""
        if self.cell_number:
            raise PermissionError("modules are preloaded before the student's code runs")
        imported = 0
        for name in modules:
            try:  # the top-level package's spec: finding it imports nothing
                spec = importlib.util.find_spec(str(name).split(".")[0])
            except (ImportError, ValueError):
                continue
            origin = os.path.realpath(spec.origin) if spec is not None and spec.has_location else ""
            if spec is None or origin.startswith((*_SHADOWABLE, os.path.realpath(os.getcwd()) + os.sep)):
                continue
            try:
                importlib.import_module(str(name))
                imported += 1
            except Exception:  # noqa: BLE001 - it is imported again where the student's code does, and fails there
                pass
        return imported

    def op_lookup(self, name: str) -> Any:
        if name not in self.namespace:
            return {"missing": True}
        return {"value": self.namespace[name]}

    def op_assign(self, name: str, value: Any) -> None:
        self.namespace[name] = value

    def op_delete(self, name: str) -> None:
        self.namespace.pop(name, None)

    # ---- calls and objects -------------------------------------------------------------------------

    def op_call(self, target: Any, args: list, kwargs: dict, reference: list, watched: list, measure: bool = False) -> dict:
        """Call one of the student's functions as calling.call_student does in-process: returns what it returned or
        the exception as one line, its prints and warnings, what it called of `reference` and `watched` (code keys
        or handles), the arguments as it left them (the grader decides whether they were modified), and with
        `measure` the most memory its objects held whenever it handed control back (a call of the grader's
        function, or its return): the memory a student's code keeps, not the passing buffers of messages."""
        reference_keys = {tuple(key): str(name) for key, name in reference}
        watched_keys, handles = set(), set()
        for item in watched:
            if isinstance(item, Callback):
                handles.add(item._handle)
            elif isinstance(item, list) and len(item) == 3:
                watched_keys.add(tuple(item))
            elif id(item) in self.gated:
                watched_keys.add(self.gated[id(item)])
            elif code_of(item) is not None:
                watched_keys.add(code_key(code_of(item)))
        saved = (self.call_arguments, self.watched_handles, self.watched_count, self.memory)
        self.call_arguments, self.watched_handles, self.watched_count = list(args), handles, 0
        if measure:
            tracemalloc.start()
            self.memory = [tracemalloc.get_traced_memory()[0], 0]
        try:
            call: Call = invoke(lambda *a: target(*a, **kwargs), self.call_arguments, reference_keys, watched_keys)
            call.watched_calls += self.watched_count
            peak = self.sample_memory() if measure else None
        finally:
            arguments = self.call_arguments
            if measure:
                tracemalloc.stop()
            self.call_arguments, self.watched_handles, self.watched_count, self.memory = saved
        return {"value": call.value, "error": call.error, "notes": call.notes, "reference_called": call.reference_called,
                "watched_calls": call.watched_calls, "arguments": arguments, "peak": peak}

    def sample_memory(self) -> int | None:
        """Bytes held now beyond the measured call's start; the largest so far is kept."""
        if self.memory is None:
            return None
        self.memory[1] = max(self.memory[1], tracemalloc.get_traced_memory()[0] - self.memory[0])
        return self.memory[1]

    def op_getattr(self, target: Any, name: str) -> Any:
        return getattr(target, name)

    def op_binary(self, name: str, left: Any, right: Any) -> Any:
        return BINARY[name](left, right)

    def op_unary(self, name: str, operand: Any) -> Any:
        return UNARY[name](operand)

    def op_convert(self, name: str, target: Any) -> Any:
        return CONVERSIONS[name](target)


def serve(sock: socket.socket) -> None:
    """Be the student's process on this connection: a fixed seed, quiet streams, then requests until closed."""
    random.seed(0)
    np.random.seed(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    StudentSide(sock).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="a connected socket, inherited")
    args = parser.parse_args()
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
    serve(socket.socket(fileno=args.fd))


if __name__ == "__main__":
    main()
