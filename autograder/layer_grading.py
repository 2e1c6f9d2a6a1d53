"""Grading a layer's forward and backward against the reference package.

A backward is graded gradient by gradient (dX, dW, db apart), each against the central
finite-difference vector-Jacobian product of the trusted forward, on several random cases
(batch size 1 and non-square shapes among them, inputs off kinks). Each case hands the
backward a correct upstream gradient, so a mistake upstream is never charged here.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

import numpy as np

from autograder.calling import Call, call_student, code_of
from autograder.compare import as_float_array, close, numerical_gradient_problem
from autograder.diagnosis import NAMED, PATTERN, VAGUE, Mistake, diagnose
from autograder.report import Report
from autograder.verdicts import Failures, fatal_problem, finish
from backprop.gradcheck import numerical_vjp

FORWARD_TOLERANCE = 1e-9


@dataclass
class Case:
    """One set of inputs: the forward's arguments by name, an upstream gradient, the batch size."""

    inputs: dict[str, np.ndarray]
    dout: np.ndarray
    batch: int

    @property
    def label(self) -> str:
        return ", ".join(f"{name} {tuple(a.shape)}" for name, a in self.inputs.items())


@dataclass
class LayerSpec:
    """Everything needed to grade one forward/backward pair.

    - forward, backward: the graded names (e.g. 'linear_forward', 'linear_backward')
    - trusted_forward: the reference forward, (inputs...) -> (out, cache)
    - reference_backward: the reference backward, for the exactness check
    - grad_names: names of the backward's outputs, one per forward input, in order
    - make_cases: seed -> cases
    - forward_mistakes / backward_mistakes: case (and expected values) -> likely wrong answers
    - reference_code: reference implementations a student may not call -> their names
    - fallback_caches: caches in common layouts, tried when the student's forward cannot make one
    """

    forward: str
    backward: str
    trusted_forward: Callable[..., tuple[np.ndarray, Any]]
    reference_backward: Callable[..., Any]
    grad_names: tuple[str, ...]
    make_cases: Callable[[int], list[Case]]
    forward_mistakes: Callable[[Case], list[Mistake]] = lambda case: []
    backward_mistakes: Callable[[Case, dict[str, np.ndarray]], dict[str, list[Mistake]]] = lambda case, expected: {}
    reference_code: dict[CodeType, str] = field(default_factory=dict)
    fallback_caches: Callable[[Case], list[Any]] = lambda case: []


def references(*functions: Callable) -> dict[CodeType, str]:
    """Code objects of reference functions -> 'module.name', for the no-calling-the-reference rule."""
    found = {}
    for fn in functions:
        code = code_of(fn)
        if code is not None:
            found[code] = f"{fn.__module__}.{fn.__qualname__}"
    return found


def grade_forward(spec: LayerSpec, student_forward: Callable, points: float, seed: int) -> Report:
    """Grade `spec.forward`: its output on every case, and that it returns (out, cache)."""
    report, failures, modified = Report(spec.forward, points), Failures(), []
    cases = spec.make_cases(seed)
    for case in cases:
        call = call_student(student_forward, case.inputs.items(), spec.reference_code)
        report.notes += [n for n in call.notes if n not in report.notes]
        modified += call.modified
        if (fatal := fatal_problem(call)) is not None:
            failures.add("out", fatal, NAMED, case.label)
            break
        value = call.value
        if call.error:
            failures.add("out", call.error, VAGUE, case.label)
        elif not (isinstance(value, tuple) and len(value) == 2):
            returned = f"a tuple of {len(value)}" if isinstance(value, tuple) else f"a {type(value).__name__}"
            failures.add("out", f"should return a pair (out, cache); it returned {returned}", PATTERN, case.label)
        else:
            expected = spec.trusted_forward(**case.inputs)[0]
            got = as_float_array(value[0])
            if got is None or not close(got, expected, FORWARD_TOLERANCE):
                found = diagnose(value[0], expected, case.batch, spec.forward_mistakes(case))
                failures.add("out", found.message, found.rank, case.label)
    return finish(report, ["out"], failures, len(cases), modified)


def _caches_for(spec: LayerSpec, student_forward: Callable | None, case: Case, notes: list[str]) -> list[Any]:
    """Caches to try, in order: the student's own; if their forward cannot give one, common layouts."""
    if student_forward is not None:
        call = call_student(student_forward, case.inputs.items())
        if call.error is None and isinstance(call.value, tuple) and len(call.value) == 2:
            return [call.value[1]]
    note = f"{spec.forward} gives no cache, so {spec.backward} is graded with the common cache layouts"
    if note not in notes:
        notes.append(note)
    return [spec.trusted_forward(**case.inputs)[1], *spec.fallback_caches(case)]


def grade_backward(
    spec: LayerSpec, student_backward: Callable, student_forward: Callable | None, points: float, seed: int
) -> Report:
    """Grade `spec.backward` gradient by gradient; each gradient earns its share only if right on every case."""
    report, failures, modified = Report(spec.backward, points), Failures(), []
    parts = spec.grad_names
    cases = spec.make_cases(seed)
    watched = [f for f in (student_forward, spec.trusted_forward) if f is not None]
    for case in cases:
        for cache in _caches_for(spec, student_forward, case, report.notes):
            call = call_student(student_backward, [("dout", case.dout), ("cache", cache)], spec.reference_code, watched)
            if call.error is None:
                break
        report.notes += [n for n in call.notes if n not in report.notes]
        modified += call.modified
        if (fatal := fatal_problem(call)) is not None:
            for part in parts:
                failures.add(part, fatal, NAMED + 1, case.label)
            break
        values = call.value if len(parts) > 1 else (call.value,)
        if call.error:
            for part in parts:
                failures.add(part, call.error, VAGUE, case.label)
            continue
        if not isinstance(values, tuple) or len(values) != len(parts):
            count = len(values) if isinstance(values, tuple) else 1
            for part in parts:
                failures.add(part, f"should return {len(parts)} gradients ({', '.join(parts)}); it returned "
                                   f"{count} value(s)", PATTERN, case)
            continue
        expected = _expected_gradients(spec, case)
        exact = spec.reference_backward(case.dout, spec.trusted_forward(**case.inputs)[1])
        exact = exact if isinstance(exact, tuple) else (exact,)
        mistakes = spec.backward_mistakes(case, expected)
        for part, got_value, exact_value in zip(parts, values, exact):
            got = as_float_array(got_value)
            if got is not None and close(got, expected[part]):
                if (numerical := numerical_gradient_problem(got, exact_value)) is not None:
                    failures.add(part, numerical, NAMED, case.label)
                continue
            found = diagnose(got_value, expected[part], case.batch, mistakes.get(part, []))
            failures.add(part, found.message, found.rank, case.label)
    return finish(report, parts, failures, len(cases), modified)


def _expected_gradients(spec: LayerSpec, case: Case) -> dict[str, np.ndarray]:
    """Central-difference vector-Jacobian products of the trusted forward, one per input."""
    expected = {}
    for grad_name, (arg, value) in zip(spec.grad_names, case.inputs.items()):
        others = dict(case.inputs)

        def forward_of(x: np.ndarray, arg: str = arg) -> np.ndarray:
            others[arg] = x
            return spec.trusted_forward(**others)[0]

        expected[grad_name] = numerical_vjp(forward_of, value.copy(), case.dout)
    return expected


def off_kink(rng: np.random.Generator, shape: Sequence[int], low: float = 0.05, high: float = 4.0) -> np.ndarray:
    """Values with low <= |v| <= high: far from ReLU's kink and from sigmoid/tanh saturation."""
    return rng.choice([-1.0, 1.0], size=tuple(shape)) * rng.uniform(low, high, size=tuple(shape))
