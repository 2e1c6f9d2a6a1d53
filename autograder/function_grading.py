"""Grading a plain function of given inputs (ch01's sigmoid, add_mul_grads, ...).

Each case holds the arguments, the expected value of every graded part, and which parts it
tests; a spec turns the student's return value into parts. Functions the graded one may call
(`sigmoid` inside `neuron_grads`) are swapped for the reference while it runs, so a mistake in
one exercise is charged once, where it was made.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

import numpy as np

from autograder.calling import call_student
from autograder.compare import as_float_array, close, numerical_gradient_problem
from autograder.diagnosis import NAMED, PATTERN, VAGUE, Mistake, diagnose
from autograder.report import Report
from autograder.verdicts import Failures, fatal_problem, finish


_ABSENT = object()


@dataclass
class FunctionCase:
    """Arguments, and for each part it tests: the expected value and likely wrong values.

    - reads: part -> which returned value it grades, where the two names differ (a 'large z' part
      grades the same returned value as 'values', on harder inputs)
    - strict_warnings: a warning in this case fails its parts (where the exercise is to avoid one)
    - expect_error: the right answer is to raise this exception (an unknown option, say)
    - judge: value -> None if right, else a message; replaces comparing with `expected`
    - batch: the batch size N, so a factor of N is recognised; hint: added when this case raises
    - exact: part -> its analytic value, for a part that is a derivative: an answer right within
      `tolerance` must also match this to float64 precision, which finite differences cannot
    Expected values may be arrays, numbers, or dicts of arrays (a layer's gradients by key).
    """

    args: dict[str, Any]
    expected: dict[str, Any]
    label: str
    mistakes: dict[str, list[Mistake]] = field(default_factory=dict)
    tolerance: float = 1e-9
    atol: float = 0.0
    strict_warnings: bool = False
    reads: dict[str, str] = field(default_factory=dict)
    expect_error: type[BaseException] | None = None
    judge: Callable[[Any], str | None] | None = None
    batch: int = 0
    hint: str = ""
    exact: dict[str, Any] = field(default_factory=dict)


@dataclass
class FunctionSpec:
    """How to grade one function.

    - parts: graded parts in report order, with weights
    - make_cases: seed -> cases
    - unpack: the student's return value -> {part: value}, or a message saying why it cannot be read
    - reference_code: reference implementations of this exercise (calling one earns nothing)
    - substitutes: names the function may call, mapped to trusted versions used while grading
    - invoke: (graded object, case args) -> value, for what is not simply called (a class)
    """

    name: str
    parts: dict[str, float]
    make_cases: Callable[[int], list[FunctionCase]]
    unpack: Callable[[Any], dict[str, Any] | str]
    reference_code: dict[CodeType, str] = field(default_factory=dict)
    substitutes: dict[str, Callable] = field(default_factory=dict)
    invoke: Callable[[Any, dict[str, Any]], Any] | None = None


def _compare(case: FunctionCase, expected: Any, got_value: Any, mistakes: list[Mistake],
             strict: bool = False) -> tuple[str, int] | None:
    """None if got_value is right, else (message, rank). `strict`: shapes must match exactly
    (gradients in a dict); otherwise any single number answers a scalar."""
    if isinstance(expected, dict):
        if not isinstance(got_value, dict):
            return f"should be a dict with the keys {sorted(expected)}; got a {type(got_value).__name__}", PATTERN
        for wrong, explanation in mistakes:
            if all(k in got_value and _compare(case, np.asarray(v), got_value[k], [], True) is None for k, v in wrong.items()):
                return explanation, NAMED
        worst = None
        for key in sorted(expected):
            if got_value.get(key) is None:
                return f"has no gradient for {key!r}", PATTERN
            found = _compare(case, expected[key], got_value[key], [], True)
            if found is not None and (worst is None or found[1] > worst[1]):
                worst = (f"d{key} {found[0]}", found[1])
        return worst
    expected = np.asarray(expected, dtype=np.float64)
    got = as_float_array(got_value)
    if not strict and got is not None and got.shape != expected.shape and got.size == expected.size == 1:
        got = got.reshape(expected.shape)  # a 0-d array, a float or a (1,) array all answer a scalar
    if got is not None and close(got, expected, case.tolerance, case.atol):
        return None
    found = diagnose(got_value, expected, batch=case.batch, mistakes=mistakes)
    return found.message, found.rank


def _judge(failures: Failures, case: FunctionCase, part: str, got_value: Any) -> None:
    if case.judge is not None:
        message = case.judge(got_value)
        if message is not None:
            failures.add(part, message, PATTERN, case.label)
        return
    found = _compare(case, case.expected[part], got_value, case.mistakes.get(part, []))
    if found is None and part in case.exact:
        found = numerical_derivative(case.exact[part], got_value)
    if found is not None:
        failures.add(part, found[0], found[1], case.label)


def numerical_derivative(exact: Any, got_value: Any) -> tuple[str, int] | None:
    """(message, rank) if an answer right within tolerance is not the analytic derivative to float64 precision."""
    pairs = [(exact[key], got_value[key]) for key in sorted(exact)] if isinstance(exact, dict) else [(exact, got_value)]
    for want, value in pairs:
        want, got = np.asarray(want, dtype=np.float64), as_float_array(value)
        if got is not None and got.size == want.size:
            if (message := numerical_gradient_problem(got.reshape(want.shape), want)) is not None:
                return message, NAMED
    return None


def grade_function(spec: FunctionSpec, namespace: MutableMapping[str, Any], points: float, seed: int,
                   also_substitute: Mapping[str, Callable] | None = None) -> Report:
    """Grade namespace[spec.name] on every case; a part earns its weight only if right on every case.

    `also_substitute`: more names to swap for trusted versions while grading (a helper the student
    got wrong, so that mistake is charged where it was made and not again here).
    """
    report, failures, modified = Report(spec.name, points), Failures(), []
    cases = spec.make_cases(seed)
    substitutes = {**spec.substitutes, **(also_substitute or {})}
    swapped = {name: namespace.get(name, _ABSENT) for name in substitutes}
    namespace.update(substitutes)
    try:
        student = namespace[spec.name]
        for case in cases:
            if spec.invoke is None:
                target, arguments = student, list(case.args.items())
            else:  # a class, say: the spec says how to exercise it with this case's arguments
                target, arguments = (lambda args: spec.invoke(student, args)), [("args", case.args)]
            call = call_student(target, arguments, spec.reference_code)
            report.notes += [n for n in call.notes if n not in report.notes]
            modified += call.modified
            tested = list(case.expected)
            if (fatal := fatal_problem(call)) is not None:
                for part in spec.parts:
                    failures.add(part, fatal, NAMED + 1, case.label)
                break
            if case.expect_error is not None:
                wanted = case.expect_error.__name__
                if call.error is None:
                    message = f"should raise {wanted} here; it returned normally"
                elif not call.error.startswith(f"raised {wanted}"):
                    message = f"should raise {wanted} here; it {call.error}"
                else:
                    continue
                for part in tested:
                    failures.add(part, message, PATTERN, case.label)
                continue
            if call.error:
                for part in tested:
                    failures.add(part, call.error + case.hint, VAGUE, case.label)
                continue
            warned = [n for n in call.notes if n.startswith("warning:")]
            if case.strict_warnings and warned:
                for part in tested:
                    failures.add(part, f"gives a {warned[0][len('warning: '):]}", PATTERN, case.label)
                continue
            parts = spec.unpack(call.value)
            if isinstance(parts, str):
                for part in tested:
                    failures.add(part, parts, PATTERN, case.label)
                continue
            for part in tested:
                _judge(failures, case, part, parts[case.reads.get(part, part)])
    finally:
        for name, value in swapped.items():
            if value is _ABSENT:
                namespace.pop(name, None)
            else:
                namespace[name] = value
    counts = {part: sum(part in case.expected for case in cases) for part in spec.parts}
    return finish(report, list(spec.parts), failures, counts, modified, spec.parts)


def unpack_tuple(names: tuple[str, ...]) -> Callable[[Any], dict[str, Any] | str]:
    """An unpacker for functions returning a tuple of len(names) values."""

    def unpack(value: Any) -> dict[str, Any] | str:
        if not isinstance(value, (tuple, list)) or len(value) != len(names):
            count = f"{len(value)} values" if isinstance(value, (tuple, list)) else f"a {type(value).__name__}"
            return f"should return {len(names)} values ({', '.join(names)}); it returned {count}"
        return dict(zip(names, value))

    return unpack


def unpack_single(name: str) -> Callable[[Any], Mapping[str, Any]]:
    """An unpacker for functions returning one value, read under `name`."""
    return lambda value: {name: value}
