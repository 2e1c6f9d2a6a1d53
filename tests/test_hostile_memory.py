"""Chapter 6's memory part, graded by `bpcourse grade` as a class is graded (kernel server, jail where there is one).

Plain backprop that also runs a spare forward pass gets the recomputation part right and must
lose the memory part, however it hides what it holds from its own process: the grader reads the
process's memory from outside it, above a floor read before the student's code ran, and the
process can write no file and open few (autograder/isolation/resident.py).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autograder.catalogue.checkpointing import PLAIN_WITH_A_SPARE_FORWARD
from autograder.isolation.resident import resident_bytes
from autograder.pipeline.grade import Limits, grade
from autograder.pipeline.release import released_copy
from test_hostile import _answer, _feedback, _solved
from test_release import REPO, project_environment  # noqa: F401 - fixture
from autograder.isolation.resident import FILES_REFUSED
from test_resident import ATTACKS, BEFOREHAND, ELSEWHERE, IN_PIPES

pytestmark = pytest.mark.skipif(resident_bytes(os.getpid()) is None, reason="no /proc/<pid>/statm on this system")

CHAPTER = "ch06_memory_checkpointing"
ANSWER = "checkpointed-backward-solution"
LIMITS = Limits(seconds=120, memory_mb=2048, cell_seconds=30)
POINTS = 6.0
# Four parts of weight 1 and 'inputs left unchanged' of weight 1/2: the memory part is the one lost.
WITHOUT_MEMORY = round(POINTS * 3.5 / 4.5, 6)
PLAIN_BACKPROP = "as much as plain backprop"
# Those of BEFOREHAND that need no file: a submission's own files are not in the folder its code is scored in.
IN_MEMORY = {label: code for label, code in BEFOREHAND.items() if "brought" not in label}


def _key(label: str) -> str:
    return label.replace(" ", "_").replace("'", "").replace("/", "")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    root = released_copy(REPO, CHAPTER, tmp_path_factory.mktemp("memory") / "course")
    source = json.loads((root / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    student = json.loads((root / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    cases = {"honest_solution": _solved(source, student),
             "plain_backprop_with_a_spare_forward": _answer(student, ANSWER, PLAIN_WITH_A_SPARE_FORWARD),
             **{_key(label): _answer(student, ANSWER, code) for label, code in ATTACKS.items()},
             **{_key(label): _answer(student, ANSWER, code) for label, code in ELSEWHERE.items()},
             **{_key(label): _answer(student, ANSWER, code) for label, code in IN_MEMORY.items()},
             "keeps_its_caches_in_pipes": _answer(student, ANSWER, IN_PIPES)}
    for name, nb in cases.items():
        folder = root / "submitted" / name / CHAPTER
        folder.mkdir(parents=True)
        (folder / f"{CHAPTER}.ipynb").write_text(json.dumps(nb))
    outcomes = {o.student: o for o in grade(root, CHAPTER, jobs=2, limits=LIMITS, progress=False)}
    return root, outcomes


def test_checkpointing_earns_every_point(graded):
    _, outcomes = graded
    outcome = outcomes["honest_solution"]
    assert (outcome.score, outcome.max_score, outcome.status) == (POINTS, POINTS, "graded"), outcome


@pytest.mark.parametrize("student", ["plain_backprop_with_a_spare_forward", *map(_key, ATTACKS)])
def test_hiding_memory_from_its_own_process_earns_nothing(graded, student):
    root, outcomes = graded
    outcome = outcomes[student]
    assert (outcome.score, outcome.status) == (WITHOUT_MEMORY, "graded"), outcome
    assert PLAIN_BACKPROP in _feedback(root, student, CHAPTER)


@pytest.mark.parametrize("student", [*map(_key, IN_MEMORY), "keeps_its_caches_in_pipes"])
def test_memory_made_before_the_call_or_kept_in_pipes_earns_nothing(graded, student):
    """A buffer filled before the call counts (it is above the floor read before the student's code ran), and a
    measured process opens one pipe at most."""
    root, outcomes = graded
    outcome = outcomes[student]
    assert (outcome.score, outcome.status) == (WITHOUT_MEMORY, "graded"), outcome
    assert PLAIN_BACKPROP in _feedback(root, student, CHAPTER)


@pytest.mark.parametrize("student", [_key(label) for label in ELSEWHERE])
def test_caches_kept_in_files_earn_nothing(graded, student):
    """Caches in the working folder's files or in /tmp: writing a file is refused while memory is measured, so the
    function fails (in /tmp, its cell already), and the feedback says why."""
    root, outcomes = graded
    outcome = outcomes[student]
    assert (outcome.score, outcome.status) == (0.0, "graded"), outcome
    assert FILES_REFUSED in _feedback(root, student, CHAPTER)
