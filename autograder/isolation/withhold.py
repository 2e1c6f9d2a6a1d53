"""Reference solutions that tell the grader each time they run in a student's process.

A hidden test gives no credit to a function that calls the reference solution of its own exercise.
Watching for such a call inside the student's process (a profiler hook, a record of the call) is
not enough: the student's code runs there too, and can switch the hook off, call from a thread,
or rewrite the record. So, before any student code runs, each reference function of the
chapter's graded exercises gets new code (`gated`) that first sends the grader a note over the
connection, then runs a copy of the original. The grader, which knows which exercise it is
grading, records a note from that exercise's references as a call of the reference (no credit).
The original is reachable only through the gated code, and a hook that cannot be removed (an
audit hook) refuses what would reach it another way: reading the code of a gated function or of
a frame running it, making a function or running code from its code object, reading the files of
the modules that hold them again (a reload), making code objects (a renamed copy), walking the
garbage collector, starting other programs, and ctypes.

The gated code uses only what student code cannot rebind: its constants (the socket's own
`sendall`, the note's bytes, the copy of the original), no global and no module attribute.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import socket
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from autograder.calling import CodeKey, code_key
from autograder.isolation import codec

SHARED_PACKAGE = "backprop"
# Events that start another program, walk every object, or make code objects from others (a copy of an original
# under another name would run without telling): none is needed by a graded function.
REFUSED_EVENTS = ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
                  "pty.spawn", "gc.get_referrers", "gc.get_referents", "gc.get_objects", "sys._current_frames",
                  "code.__new__", "marshal.dumps")


@functools.cache
def _template() -> types.CodeType:
    """The gated code, with string placeholders where its constants go (see `gated`)."""
    source = ('def gated(*args, **kwargs):\n'
              '    "SEND"("NOTE")\n'
              '    return "ORIGINAL"(*args, **kwargs)\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "'str' object is not callable": they are placeholders
        module = compile(source, "<gated>", "exec")
    return next(c for c in module.co_consts if isinstance(c, types.CodeType))


def note(index: int) -> bytes:
    """The frame gated function `index` sends the grader each time it runs (no reply is awaited)."""
    return codec.dumps({"note": index})


def gated(function: types.FunctionType, sock: socket.socket, index: int) -> types.CodeType:
    """Code for `function` that tells the grader, then runs a copy of the original code. It keeps the original's
    file, line and name, so a profiler hook still knows it for the reference it stands for."""
    original_code = function.__code__
    original = types.FunctionType(original_code, function.__globals__, function.__name__, function.__defaults__,
                                  function.__closure__)
    original.__kwdefaults__ = function.__kwdefaults__
    constants = {"SEND": sock.sendall, "NOTE": note(index), "ORIGINAL": original}
    template = _template()
    return template.replace(co_consts=tuple(constants.get(c, c) if isinstance(c, str) else c for c in template.co_consts),
                            co_name=original_code.co_name, co_qualname=original_code.co_qualname,
                            co_filename=original_code.co_filename, co_firstlineno=original_code.co_firstlineno)


def _functions(module: types.ModuleType) -> Iterator[types.FunctionType]:
    """The functions a module defines, and those of the classes it defines (static and class methods too)."""
    for value in list(vars(module).values()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            yield value
        elif isinstance(value, type) and value.__module__ == module.__name__:
            for member in list(vars(value).values()):
                member = getattr(member, "__func__", member)
                if isinstance(member, types.FunctionType):
                    yield member


def _module_of(filename: str) -> str | None:
    """The name of the reference package's module in `filename`, or None if it is not one of its files."""
    package = importlib.import_module(SHARED_PACKAGE)
    for folder in map(os.path.realpath, package.__path__):
        relative = os.path.relpath(os.path.realpath(filename), folder)
        if relative.endswith(".py") and not relative.startswith(os.pardir):
            parts = [SHARED_PACKAGE, *relative[:-3].split(os.sep)]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return None


def withhold(keys: list[CodeKey], sock: socket.socket) -> dict[int, CodeKey]:
    """Gate the reference functions whose code keys are `keys` (the note of keys[i] is note(i)), then refuse for
    good whatever would reach their original code. Returns id(function) -> key for each function gated (their
    code can no longer be read here)."""
    for name in {_module_of(key[0]) for key in keys} - {None}:
        importlib.import_module(name)
    wanted = {tuple(key): index for index, key in enumerate(keys)}
    gated_keys: dict[int, CodeKey] = {}
    modules: dict[int, types.ModuleType] = {}
    for name, module in list(sys.modules.items()):
        if name != SHARED_PACKAGE and not name.startswith(f"{SHARED_PACKAGE}."):
            continue
        for function in _functions(module):
            key = code_key(function.__code__)
            if key in wanted and id(function) not in gated_keys and not function.__closure__:
                function.__code__ = gated(function, sock, wanted[key])
                gated_keys[id(function)] = key
                modules[id(function.__globals__)] = sys.modules[function.__module__]
    # Their files, source and compiled: reading either again would give back the original code.
    files = frozenset(os.path.realpath(path) for m in modules.values() if getattr(m, "__file__", None)
                      for path in (m.__file__, importlib.util.cache_from_source(m.__file__)))
    sys.addaudithook(_guard(frozenset(gated_keys), frozenset(wanted), frozenset(modules), files))
    from autograder import calling
    calling.UNREAD_GLOBALS.update(modules)
    return gated_keys


def _guard(function_ids: frozenset[int], keys: frozenset, globals_ids: frozenset[int],
           files: frozenset[str]) -> Callable[[str, tuple], None]:
    """The audit hook: raises (so the operation does not happen) on what would reach a gated original."""
    # Bound here, not looked up when an event comes: student code can rebind module attributes, not these names.
    frame_type, code_type, key_of, realpath, fsdecode = types.FrameType, types.CodeType, code_key, os.path.realpath, os.fsdecode

    def refuse(what: str) -> None:
        raise PermissionError(f"{what} is not allowed while your code is graded")

    def guard(event: str, args: tuple[Any, ...]) -> None:
        if event == "object.__getattr__":
            target, name = args[0], args[1]
            if name == "__code__" and id(target) in function_ids:
                refuse("reading the code of a reference function")
            if name == "f_code" and isinstance(target, frame_type) and id(target.f_globals) in globals_ids:
                refuse("reading the code of the reference package's frames")
        elif event in ("function.__new__", "exec"):
            code = args[0] if args else None
            if isinstance(code, code_type) and key_of(code) in keys:
                refuse("running a reference function's code")
        elif event in REFUSED_EVENTS or event.startswith("ctypes."):
            refuse(event)
        elif event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            if realpath(fsdecode(args[0])) in files:
                refuse("reading the reference package's files")

    return guard
