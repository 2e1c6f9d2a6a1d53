"""`bpcourse check [CHAPTER ...]`: prove, before release, that the course grades right.

For each chapter: the source notebook is well-formed and its release current and free of
solutions; graded through the real pipeline, the solved source earns full marks and the
untouched student version earns zero; every graded function has a grader; and every catalogued
submission (correct answers written differently, and each common mistake) gets its verdict.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.catalogue import all_variants, run, verdict_problems
from autograder.grading import GRADERS
from autograder.pipeline.course import check_course
from autograder.pipeline.grade import Limits, grade
from autograder.pipeline.notebook_format import is_solution_cell
from autograder.pipeline.release import chapters_in, leaks_in_release, released_copy, source_problems, stale_releases

SEEDS = (0, 12345)


@dataclass
class Row:
    """One line of the table: what was checked, whether it holds, and if not, why."""

    chapter: str
    check: str
    ok: bool
    detail: str = ""


def graded_names(source: Path) -> list[str]:
    """Functions and classes defined at the top of the source notebook's solution cells."""
    nb = nbformat.read(source, as_version=4)
    names = []
    for cell in nb.cells:
        if is_solution_cell(cell) and cell.cell_type == "code":
            names += re.findall(r"^(?:def|class) (\w+)", cell.source, flags=re.M)
    return names


def _pipeline_rows(root: Path, chapter: str, jobs: int) -> list[Row]:
    """Grade the solved source and the untouched student version through `bpcourse grade`."""
    with tempfile.TemporaryDirectory(prefix="bpcourse-check-") as tmp:
        course = released_copy(root, chapter, Path(tmp) / "course")
        for student, folder in (("solved-source", "source"), ("untouched-release", "release")):
            target = course / "submitted" / student / chapter
            shutil.copytree(course / folder / chapter, target)
        outcomes = {o.student: o for o in grade(course, chapter, jobs=jobs, limits=Limits(), progress=False)}
    solved, blank = outcomes["solved-source"], outcomes["untouched-release"]
    return [
        Row(chapter, "solved source earns full marks", solved.status == "graded" and solved.score == solved.max_score,
            f"{solved.score:g} / {solved.max_score:g}, {solved.status} {solved.detail}".strip()),
        Row(chapter, "untouched student version earns zero", blank.score == 0 and blank.status == "graded",
            f"{blank.score:g} / {blank.max_score:g}, {blank.status} {blank.detail}".strip()),
    ]


def _catalogue_rows(chapter: str, names: list[str]) -> list[Row]:
    rows = []
    for name in names:
        if name not in GRADERS:
            rows.append(Row(chapter, f"{name}: has a grader", False, "no grader registered under this name"))
            continue
        variants = [v for v in all_variants() if v.graded == name]
        failures = [f"{v.label}: {problem}" for v in variants for seed in SEEDS
                    for problem in verdict_problems(v, run(v, seed))]
        kinds = {v.correct for v in variants}
        covered = kinds == {True, False}
        right = sum(v.correct for v in variants)
        rows.append(Row(chapter, f"{name}: {len(variants) - right} mistakes caught, {right} right variants accepted",
                        covered and not failures,
                        "; ".join(failures[:3]) if failures else ("" if covered else "the catalogue needs both kinds")))
    return rows


def check_chapter(course_root: Path, chapter: str, jobs: int = 2) -> list[Row]:
    root = check_course(course_root)
    source = root / "source" / chapter / f"{chapter}.ipynb"
    problems = source_problems(root, [chapter]).get(source, [])
    rows = [Row(chapter, "source notebook is well-formed", not problems, "; ".join(problems[:3]))]
    stale = stale_releases(root, [chapter])
    rows.append(Row(chapter, "release/ is current", not stale, "; ".join(stale[:3])))
    leaks = leaks_in_release(root, [chapter])
    rows.append(Row(chapter, "release/ holds no solution or hidden test", not leaks, "; ".join(leaks[:3])))
    if not problems:
        rows += _pipeline_rows(root, chapter, jobs)
    return rows + _catalogue_rows(chapter, graded_names(source))


def check(course_root: Path, chapters: list[str] | None = None, jobs: int = 2) -> list[Row]:
    root = check_course(course_root)
    return [row for chapter in (chapters or chapters_in(root)) for row in check_chapter(root, chapter, jobs)]


def table(rows: list[Row]) -> str:
    """The rows as plain text, one line each; details of failures indented below them."""
    lines = []
    for row in rows:
        lines.append(f"{'ok  ' if row.ok else 'FAIL'}  {row.chapter}  {row.check}")
        if not row.ok and row.detail:
            lines.append(f"        {row.detail}")
    failed = sum(not r.ok for r in rows)
    lines.append(f"{len(rows) - failed} of {len(rows)} checks hold" + (f"; {failed} FAIL" if failed else ""))
    return "\n".join(lines)
