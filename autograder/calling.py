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


# Namespaces (by id) of modules whose frames are not read here: in a student's process, the reference
# package's modules whose functions are gated (autograder/isolation/withhold.py refuses reading their code).
UNREAD_GLOBALS: set[int] = set()


def _summary(tb: Any) -> traceback.StackSummary:
    """traceback.extract_tb, without the frames of UNREAD_GLOBALS."""
    return traceback.StackSummary.extract((frame, line) for frame, line in traceback.walk_tb(tb)
                                          if id(frame.f_globals) not in UNREAD_GLOBALS)


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
    if isinstance(getattr(error, "description", None), str):  # described where it was raised (another process)
        where = "" if "(line " in error.description else _where_in_student_code(_summary(error.__traceback__))
        return error.description + where
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, NotImplementedError) and not message:
        return "is not written yet (it raises NotImplementedError)"
    where = _where_in_student_code(_summary(error.__traceback__))
    return f"raised {type(error).__name__}{': ' + message if message else ''}{where}"


CodeKey = tuple[str, int, str]


def code_key(code: CodeType) -> CodeKey:
    """A code object as (file, first line, name): the same function in another process has the same key."""
    return code.co_filename, code.co_firstlineno, code.co_name


# The calls under way, innermost last, with what each watches for: a student's function that lives in
# another process is watched there for the same (see autograder/isolation/remote.py).
ACTIVE: list[tuple[Call, Mapping[CodeKey, str], set[CodeKey]]] = []


class GradingStopped(BaseException):
    """Grading cannot go on (the student's process ran out of time or ended): never caught as the student's error."""


@contextlib.contextmanager
def _watching(codes: Mapping[CodeKey, str], watched: set[CodeKey], call: Call) -> Iterator[None]:
    """Profile hook that records calls to reference code and counts calls to watched code."""
    previous = sys.getprofile()
    names = {key[2] for key in (*codes, *watched)}

    def hook(frame, event, arg):  # noqa: ANN001 - the profiler's signature
        if event == "call" and id(frame.f_globals) not in UNREAD_GLOBALS and frame.f_code.co_name in names:
            key = code_key(frame.f_code)
            if key in codes and call.reference_called is None:
                call.reference_called = codes[key]
            if key in watched:
                call.watched_calls += 1

    sys.setprofile(hook)
    try:
        yield
    finally:
        sys.setprofile(previous)


def invoke(fn: Callable, arguments: list[Any], reference: Mapping[CodeKey, str], watched: set[CodeKey]) -> Call:
    """fn(*arguments), with its warnings and prints caught as notes and its exception as one line.
    The arguments are the student's to keep (and to modify): pass copies."""
    call = Call()
    out, err = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("always")
        np_state = np.seterr(over="warn", divide="warn", invalid="warn", under="ignore")  # NumPy's defaults
        ACTIVE.append((call, reference, watched))
        try:
            with _watching(reference, watched, call):
                call.value = fn(*arguments)
        except (KeyboardInterrupt, GradingStopped):
            raise
        except BaseException as error:  # noqa: BLE001 - SystemExit from a student is still just an error here
            call.error = describe_exception(error)
        finally:
            ACTIVE.pop()
            np.seterr(**np_state)
    for warning in caught:
        call.notes.append(f"warning: {warning.category.__name__}: {warning.message}")
    for stream, label in ((out, "printed"), (err, "wrote to stderr")):
        text = stream.getvalue().strip()
        if text:
            first = text.splitlines()[0]
            more = len(text.splitlines()) - 1
            call.notes.append(f"{label}: {first[:120]}" + (f" (+{more} more lines)" if more else ""))
    return call


def modified_paths(names: list[str], before: list[Any], after: list[Any]) -> list[str]:
    """Paths ('cache[0]') of the arrays in `after` that differ from those in `before`."""
    modified = []
    for name, old_value, new_value in zip(names, before, after):
        for (path, old), (_, new) in zip(_arrays(old_value, name), _arrays(new_value, name)):
            if old.shape != new.shape or not np.array_equal(old, new, equal_nan=True):
                modified.append(path)
    return modified


def keys_of(functions: Mapping[CodeType, str] | Iterable[Callable]) -> Any:
    """Reference code objects -> names, keyed by code_key; or functions -> the set of their code keys."""
    if isinstance(functions, Mapping):
        return {code_key(code): name for code, name in functions.items()}
    return {code_key(c) for c in map(code_of, functions) if c is not None}


def call_student(
    fn: Callable,
    args: Iterable[tuple[str, Any]],
    reference: Mapping[CodeType, str] | None = None,
    watched: Iterable[Callable] = (),
) -> Call:
    """Call fn(*args) on copies of the args and report what happened.

    Inputs:
    - fn: the student's function (or a stand-in for one in another process, which calls it there)
    - args: (name, value) pairs, in call order; names are used in messages
    - reference: code objects of reference implementations -> their dotted names
    - watched: functions whose calls are counted (e.g. the forward pass)
    Returns:
    - a Call with the return value, or the error as one line, and everything noticed
    """
    named = list(args)
    remote = getattr(type(fn), "student_call", None)
    if remote is not None:
        return remote(fn, named, dict(reference or {}), list(watched))
    copies = [copy.deepcopy(value) for _, value in named]
    snapshots = [copy.deepcopy(value) for _, value in named]
    call = invoke(fn, copies, keys_of(dict(reference or {})), keys_of(list(watched)))
    call.modified = modified_paths([name for name, _ in named], snapshots, copies)
    return call
