"""Submissions a student could plausibly write, each with the verdict the grader must reach.

A `Variant` is source code defining the graded function (and whatever it needs), and for each
graded part either True (must be right) or a phrase the diagnosis must contain. The catalogue
proves the hidden tests before release: every mistake caught and named, every correct answer
written differently given full marks (`bpcourse check`, and tests/test_catalogue.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autograder.report import Report


@dataclass(frozen=True)
class Variant:
    """One plausible submission for `graded` and what grading it must find."""

    graded: str
    label: str
    code: str
    expect: dict[str, bool | str]

    @property
    def correct(self) -> bool:
        return all(v is True for v in self.expect.values())


def right(graded: str, label: str, code: str, *parts: str) -> Variant:
    """A correct solution written some other way: every part must be right."""
    return Variant(graded, label, code, {part: True for part in parts})


def wrong(graded: str, label: str, code: str, **expect: bool | str) -> Variant:
    """A mistaken solution: parts given as True must stay right, the others must be named."""
    return Variant(graded, label, code, expect)


def run(variant: Variant, seed: int = 0, points: float = 1.0) -> Report:
    """Grade the variant's code as a submission would be graded, in a namespace of its own."""
    from autograder.grading import report_for

    namespace: dict = {}
    exec(compile(variant.code, f"<{variant.graded}: {variant.label}>", "exec"), namespace)
    return report_for(variant.graded, namespace, points=points, seed=seed)


def verdict_problems(variant: Variant, report: Report) -> list[str]:
    """How the report misses the variant's expected verdict (empty when it gets it)."""
    parts = {item.name: item for item in report.items}
    problems = []
    for part, expectation in variant.expect.items():
        if part not in parts:
            # "inputs" is offered only beside a right part; a submission with none right has no such part.
            if not (part == "inputs" and not any(item.correct for item in report.items)):
                problems.append(f"no graded part {part!r}")
        elif expectation is True and not parts[part].correct:
            problems.append(f"{part} should be right, got: {parts[part].message}")
        elif expectation is not True and parts[part].correct:
            problems.append(f"{part} should be caught ({expectation!r}), but was marked right")
        elif expectation is not True and expectation not in parts[part].message:
            problems.append(f"{part} should say {expectation!r}, said: {parts[part].message}")
    if variant.correct and report.score != report.points:
        problems.append(f"a correct variant scored {report.score} of {report.points}")
    if not variant.correct and report.score >= report.points:
        problems.append("a mistaken variant got full marks")
    return problems


def all_variants() -> list[Variant]:
    """Every chapter's catalogue."""
    from autograder.catalogue import autodiff, chain_rule, checkpointing, gradient_checking, layers, networks, softmax

    return [*chain_rule.VARIANTS, *autodiff.VARIANTS, *layers.VARIANTS, *networks.VARIANTS, *softmax.VARIANTS,
            *gradient_checking.VARIANTS, *checkpointing.VARIANTS]
