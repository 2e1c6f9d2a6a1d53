"""`bpcourse check`: holds on the real course, and fails, with the reason, when the course is wrong."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.pipeline.check import _catalogue_rows, check, table
from autograder.pipeline.cli import main
from autograder.pipeline.notebook_format import is_solution_cell
from autograder.pipeline.release import release
from test_release import project_environment  # noqa: F401 - fixture: Jupyter state off $HOME

REPO = Path(__file__).resolve().parents[1]
CHAPTER = "ch01_chain_rule"


def test_the_real_course_passes_every_check(capsys):
    assert main(["check", "--course", str(REPO), CHAPTER]) == 0
    printed = capsys.readouterr().out
    assert "FAIL" not in printed and "solved source earns full marks" in printed
    assert "checks hold" in printed.splitlines()[-1]


def test_a_wrong_reference_solution_fails_the_full_marks_check(tmp_path):
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "source" / CHAPTER, course / "source" / CHAPTER)
    path = course / "source" / CHAPTER / f"{CHAPTER}.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if is_solution_cell(c) and c.source.startswith("def add_mul_grads"))
    head = cell.source.split("### BEGIN SOLUTION")[0]
    cell.source = head + "### BEGIN SOLUTION\n    return (x + y) * z, 1.0, 1.0, x + y\n    ### END SOLUTION"
    nbformat.write(nb, path)
    release(course)
    rows = {row.check: row for row in check(course, [CHAPTER])}
    assert not rows["solved source earns full marks"].ok
    assert rows["untouched student version earns zero"].ok
    assert "FAIL" in table(list(rows.values()))


def test_a_graded_function_without_a_grader_fails():
    rows = _catalogue_rows("chXX", ["mystery_backward"])
    assert [(r.ok, r.detail) for r in rows] == [(False, "no grader registered under this name")]


def test_a_stale_release_is_reported(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(REPO, course, ignore=shutil.ignore_patterns(".venv", ".git", "out", ".jupyter", "*.db", "autograded",
                                                                 "submitted", "feedback", "tests"))
    path = course / "source" / CHAPTER / f"{CHAPTER}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += "\n\nOne more sentence."
    nbformat.write(nb, path)
    rows = {row.check: row for row in check(course, [CHAPTER])}
    assert not rows["release/ is current"].ok
