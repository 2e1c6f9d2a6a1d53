"""The demo class: built from the catalogue, and graded end to end with the verdicts the catalogue expects."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.catalogue import all_variants
from autograder.pipeline.demo import CHAPTER, build, demo_class, run
from autograder.pipeline.notebook_format import is_solution_cell
from test_release import project_environment  # noqa: F401 - fixture: Jupyter state off $HOME

REPO = Path(__file__).resolve().parents[1]


def test_demo_class_has_a_submission_per_catalogued_variant_and_the_odd_ones():
    submissions = demo_class(REPO)
    variants = [v for v in all_variants() if v.graded in ("sigmoid", "sigmoid_prime", "add_mul_grads", "neuron_grads")]
    assert len(submissions) == len(variants) + 3
    assert {"unsolved", "raises-everywhere", "loops-forever"} <= set(submissions)
    source = nbformat.read(REPO / "source" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    solutions = [c.source for c in source.cells if is_solution_cell(c)]
    for name, nb in submissions.items():
        nbformat.validate(nb)
        cells = [c.source for c in nb.cells if is_solution_cell(c)]
        assert len(cells) == len(solutions), name
        if name.startswith("s"):  # everything right but the one catalogued function
            assert sum(a != b for a, b in zip(cells, solutions)) <= 1, name


# By variant, not by number: a variant added to the catalogue renumbers the ones after it.
SAMPLED = ("right-sigmoid-via-tanh", "wrong-sigmoid-textbook-form-overflows", "wrong-add-mul-grads-no-chain-rule",
           "right-neuron-grads-softplus-of-both-signs")
SAMPLE = ["unsolved", "loops-forever", *[name for name in demo_class(REPO) if name.partition("-")[2] in SAMPLED]]


@pytest.fixture(scope="module")
def graded_sample(tmp_path_factory):
    # A copy: the demo regenerates release/, which must never touch the repository under test.
    course = tmp_path_factory.mktemp("course")
    shutil.copy2(REPO / "nbgrader_config.py", course)
    for folder in ("source", "release"):
        shutil.copytree(REPO / folder, course / folder)
    out = tmp_path_factory.mktemp("demo") / "demo"
    return run(course, out, jobs=2, students=SAMPLE), out


def test_demo_grades_the_sample_as_the_catalogue_says(graded_sample, capsys):
    assert len(SAMPLE) == 2 + len(SAMPLED)
    rows, out = graded_sample
    by_student = {r["student"]: r for r in rows}
    assert sorted(by_student) == sorted(SAMPLE)
    assert by_student["unsolved"]["score"] == 0
    assert by_student["loops-forever"]["status"] == "cell time limit"
    assert 0 < by_student["loops-forever"]["score"] < 10  # the other exercises still count
    for student, row in by_student.items():
        if "-right-" in student:
            assert row["score"] == row["max_score"] == 10, row
        if "-wrong-" in student:
            assert 0 < row["score"] < 10, row
    assert (out / "grades.csv").read_text().count("\n") == len(SAMPLE) + 1
    assert len(list((out / "feedback").glob(f"*/{CHAPTER}/{CHAPTER}.html"))) == len(SAMPLE)
