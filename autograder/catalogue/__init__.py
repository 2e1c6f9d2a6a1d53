"""Submissions a student could plausibly write, each with the verdict the grader must reach.

A `Variant` is source code defining the graded function (and whatever it needs), and for each
graded part either True (must be right) or a phrase the diagnosis must contain. The catalogue
proves the hidden tests before release: every mistake caught and named, every correct answer
written differently given full marks (`bpcourse check`, and tests/test_catalogue.py).
"""
from __future__ import annotations

from dataclasses import dataclass


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
