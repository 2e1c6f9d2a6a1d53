"""Calling a student's function so that nothing it does reaches the grade by accident.

The call gets copies of its inputs (and we check the copies afterwards: a graded function must
not modify its inputs), its warnings and prints are caught and turned into notes (nbgrader
scores any stderr output as zero, and a warning is feedback, never a zero), an exception becomes
a one-line message pointing at the student's line, and a profiler hook notes calls to watched
functions: the reference implementation of the same exercise, or the forward pass (a backward
that calls its forward many times is taking finite differences).
"""
from __future__ import annotations

import contextlib
import copy
import io
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

import numpy as np


@dataclass
class Call:
    """What happened in one call of a student's function."""

    value: Any = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    reference_called: str | None = None
    watched_calls: int = 0


def code_of(fn: Callable) -> CodeType | None:
    """The code object a function (or method) runs, so calls to it can be recognised."""
    fn = getattr(fn, "__func__", fn)
    return getattr(fn, "__code__", None)


def _arrays(obj: Any, path: str) -> Iterator[tuple[str, np.ndarray]]:
    """Every array inside obj with a readable path ('cache[0]'), for the in-place check."""
    if isinstance(obj, np.ndarray):
        yield path, obj
    elif isinstance(obj, (tuple, list)):
        for i, item in enumerate(obj):
            yield from _arrays(item, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for key, item in obj.items():
            yield from _arrays(item, f"{path}[{key!r}]")


def _where_in_student_code(tb: traceback.StackSummary) -> str:
    """' (line 4: return X @ W + b)' for the innermost frame that is the student's, not a library's."""
    for frame in reversed(tb):
        name = frame.filename.replace("\\", "/")
        if "site-packages" in name or "/autograder/" in name or "/backprop/" in name or name.startswith("<frozen"):
            continue
        line = (frame.line or "").strip()
        return f" (line {frame.lineno}: {line})" if line else f" (line {frame.lineno})"
    return ""


def describe_exception(error: BaseException) -> str:
    """'raised ValueError: shapes (3,2) and (3,4) not aligned (line 4: ...)' in one line."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, NotImplementedError) and not message:
        return "is not written yet (it raises NotImplementedError)"
    where = _where_in_student_code(traceback.extract_tb(error.__traceback__))
    return f"raised {type(error).__name__}{': ' + message if message else ''}{where}"


@contextlib.contextmanager
def _watching(codes: Mapping[CodeType, str], watched: set[CodeType], call: Call) -> Iterator[None]:
    """Profile hook that records calls to reference code and counts calls to watched code."""
    previous = sys.getprofile()

    def hook(frame, event, arg):  # noqa: ANN001 - the profiler's signature
        if event == "call":
            code = frame.f_code
            if code in codes and call.reference_called is None:
                call.reference_called = codes[code]
            if code in watched:
                call.watched_calls += 1

    sys.setprofile(hook)
    try:
        yield
    finally:
        sys.setprofile(previous)


def call_student(
    fn: Callable,
    args: Iterable[tuple[str, Any]],
    reference: Mapping[CodeType, str] | None = None,
    watched: Iterable[Callable] = (),
) -> Call:
    """Call fn(*args) on copies of the args and report what happened.

    Inputs:
    - fn: the student's function
    - args: (name, value) pairs, in call order; names are used in messages
    - reference: code objects of reference implementations -> their dotted names
    - watched: functions whose calls are counted (e.g. the forward pass)
    Returns:
    - a Call with the return value, or the error as one line, and everything noticed
    """
    named = list(args)
    copies = [copy.deepcopy(value) for _, value in named]
    snapshots = [copy.deepcopy(value) for _, value in named]
    call = Call()
    watched_codes = {c for c in map(code_of, watched) if c is not None}
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        np_state = np.seterr(over="warn", divide="warn", invalid="warn", under="ignore")  # NumPy's defaults
        try:
            with _watching(dict(reference or {}), watched_codes, call):
                call.value = fn(*copies)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: BLE001 - SystemExit from a student is still just an error here
            call.error = describe_exception(error)
        finally:
            np.seterr(**np_state)
    for warning in caught:
        call.notes.append(f"warning: {warning.category.__name__}: {warning.message}")
    for stream, label in ((out, "printed"), (err, "wrote to stderr")):
        text = stream.getvalue().strip()
        if text:
            first = text.splitlines()[0]
            more = len(text.splitlines()) - 1
            call.notes.append(f"{label}: {first[:120]}" + (f" (+{more} more lines)" if more else ""))
    for (name, _), before, after in zip(named, snapshots, copies):
        for (path, old), (_, new) in zip(_arrays(before, name), _arrays(after, name)):
            if old.shape != new.shape or not np.array_equal(old, new, equal_nan=True):
                call.modified.append(path)
    return call
