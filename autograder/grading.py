"""The entry points hidden and visible tests call, by graded name (curriculum.md's names).

Hidden test:   grade("linear_backward", globals(), points=3, seed=1234)   -> prints, returns the score
Visible test:  check("linear_backward", globals())                        -> prints, raises if wrong

Functions are looked up by name in the namespace given (the notebook's globals), so a test
needs nothing but the name; the score is the cell's last value, which nbgrader reads as partial
credit.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, MutableMapping
from types import CodeType
from typing import Any

import numpy as np

from autograder.function_grading import grade_function
from autograder.layer_grading import grade_backward, grade_forward
from autograder.report import Item, Report
from autograder.specs import autodiff, chain_rule, checkpointing, gradient_checking, networks, softmax
from autograder.specs import layers as layer_specs

Grader = Callable[[MutableMapping[str, Any], float, int], Report]


def _layer_grader(name: str) -> Grader:
    spec = layer_specs.SPECS[name]

    def grader(namespace: Mapping[str, Any], points: float, seed: int) -> Report:
        if name == spec.forward:
            return grade_forward(spec, namespace[name], points, seed)
        return grade_backward(spec, namespace[name], namespace.get(spec.forward), points, seed)

    return grader


def _function_grader(spec) -> Grader:
    return lambda namespace, points, seed: grade_function(spec, namespace, points, seed)


def _network_grader(spec) -> Grader:
    """A whole network, graded with the reference in place of each layer the student got wrong."""

    def grader(namespace: MutableMapping[str, Any], points: float, seed: int) -> Report:
        replaced, swaps = [], {}
        for layer in layer_specs.LAYERS:
            pair = (layer.forward, layer.backward)
            if all(callable(namespace.get(name)) for name in pair) and not all(
                GRADERS[name](namespace, 1.0, seed).passed for name in pair
            ):
                forward, backward = layer_specs.reference_pair(layer)
                swaps.update({layer.forward: forward, layer.backward: backward})
                replaced.append(layer.forward.split("_")[0])
        report = grade_function(spec, namespace, points, seed, swaps)
        if replaced:
            report.notes.append(f"graded with the reference {', '.join(replaced)} layer(s) in place of yours, which "
                                "have their own mistakes (each mistake is charged once, where it is made)")
        return report

    return grader


FUNCTION_SPECS = (chain_rule.SPECS, autodiff.SPECS, softmax.SPECS)  # graded as plain functions
# Every table of specs, by graded name: each spec holds its exercise's reference code.
SPEC_TABLES = (layer_specs.SPECS, *FUNCTION_SPECS, networks.SPECS, gradient_checking.SPECS)


def _reference_code() -> dict[str, dict[CodeType, str]]:
    """Graded name -> the reference functions of its exercise (calling one earns nothing)."""
    found = {name: spec.reference_code for specs in SPEC_TABLES for name, spec in specs.items()}
    return found | {checkpointing.NAME: checkpointing.REFERENCE}


REFERENCE_CODE = _reference_code()
# Exercises whose memory is measured: their student's process is tuned first (autograder/isolation/resident.py).
MEASURES_MEMORY = frozenset({checkpointing.NAME})

GRADERS: dict[str, Grader] = {name: _layer_grader(name) for name in layer_specs.SPECS} | {
    name: _function_grader(spec) for specs in FUNCTION_SPECS for name, spec in specs.items()
} | {name: _network_grader(spec) for name, spec in networks.SPECS.items()} | {
    name: (lambda namespace, points, seed, spec=spec: gradient_checking.grade_checker(spec, namespace, points, seed))
    for name, spec in gradient_checking.SPECS.items()
} | checkpointing.GRADERS


def report_for(name: str, namespace: Mapping[str, Any], points: float = 1.0, seed: int = 0) -> Report:
    """Grade the function called `name` found in `namespace`."""
    if name not in GRADERS:
        raise KeyError(f"no grader for {name!r}; graded names: {', '.join(sorted(GRADERS))}")
    if not callable(namespace.get(name)):
        report = Report(name, points)
        found = "is not a function" if name in namespace else "is not defined"
        report.items.append(Item(name, False, f"{name} {found}: run the cell that defines it first"))
        return report
    # Anything the grader itself computes stays quiet: a warning on stderr would zero the cell.
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return GRADERS[name](namespace, points, seed)


def grade(name: str, namespace: Mapping[str, Any], points: float, seed: int) -> float:
    """Hidden test: print the report and return the points earned (nbgrader's partial credit)."""
    report = report_for(name, namespace, points, seed)
    print(report.text())
    return report.score


class CheckFailed(AssertionError):
    """A visible test's verdict. IPython shows it as its message alone: the report above it says the
    rest, and a traceback through the grader's code would only bury it."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


def check(name: str, namespace: Mapping[str, Any], seed: int = 0) -> None:
    """Visible test: print what is right and wrong; raise CheckFailed (an AssertionError) naming the first problem."""
    report = report_for(name, namespace, 1.0, seed)
    print(report.text(with_points=False))
    if not report.passed:
        raise CheckFailed(report.first_problem())
