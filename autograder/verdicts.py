"""Turning what happened on each case into graded parts: the shared bookkeeping of every grader."""
from __future__ import annotations

from collections.abc import Sequence

from autograder.calling import Call
from autograder.report import Item, Report


class Failures:
    """Per graded part, the most specific diagnosis seen over the cases (earliest among equals)."""

    def __init__(self) -> None:
        self.best: dict[str, tuple[int, str, str]] = {}

    def add(self, part: str, message: str, rank: int, case_label: str) -> None:
        if part not in self.best or rank > self.best[part][0]:
            self.best[part] = (rank, message.strip(), case_label)

    def items(self, parts: Sequence[str], cases: int | dict[str, int], weights: dict[str, float] | None = None) -> list[Item]:
        weights = weights or {}
        count = cases if isinstance(cases, dict) else dict.fromkeys(parts, cases)
        return [
            Item(part, False, f"{self.best[part][1]} (case {self.best[part][2]})", weights.get(part, 1.0))
            if part in self.best
            else Item(part, True, f"right on {count[part]} random cases", weights.get(part, 1.0))
            for part in parts
        ]


def fatal_problem(call: Call) -> str | None:
    """A reason no part can earn credit (it calls the reference, or takes finite differences)."""
    if call.reference_called:
        return f"calls {call.reference_called}, the reference solution of this exercise: no credit; write it yourself"
    if call.watched_calls > 2:
        return (f"calls the forward pass {call.watched_calls} times: that is a finite-difference gradient; "
                "the exercise asks for the analytic one")
    return None


def _unchanged_item(modified: list[str], earned_any: bool) -> list[Item]:
    """Half a part's credit for leaving inputs unchanged, offered only next to a right part (a stub earns 0)."""
    if not earned_any:
        return []
    if modified:
        names = ", ".join(sorted(set(modified)))
        return [Item("inputs", False, f"modified {names} in place; graded functions must leave their inputs unchanged "
                                      "(compute into a new array, or copy first)", weight=0.5)]
    return [Item("inputs", True, "left unchanged", weight=0.5)]


def finish(
    report: Report,
    parts: Sequence[str],
    failures: Failures,
    cases: int | dict[str, int],
    modified: list[str],
    weights: dict[str, float] | None = None,
) -> Report:
    """Fill the report's items: one per part, then the inputs-unchanged half part."""
    report.items = failures.items(parts, cases, weights)
    report.items += _unchanged_item(modified, any(item.correct for item in report.items))
    return report
