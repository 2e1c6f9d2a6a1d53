"""Chapter 6's memory part, graded by `bpcourse grade` as a class is graded (kernel server, jail where there is one).

Plain backprop that also runs a spare forward pass gets the recomputation part right and must
lose the memory part, however it hides what it holds from its own process: the grader reads the
process's resident memory from outside it (autograder/isolation/resident.py).
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
from test_resident import ATTACKS, ELSEWHERE, has_memory_cgroups

pytestmark = pytest.mark.skipif(resident_bytes(os.getpid()) is None, reason="no /proc/<pid>/statm on this system")

CHAPTER = "ch06_memory_checkpointing"
ANSWER = "checkpointed-backward-solution"
LIMITS = Limits(seconds=120, memory_mb=2048, cell_seconds=30)
POINTS = 6.0
# Four parts of weight 1 and 'inputs left unchanged' of weight 1/2: the memory part is the one lost.
WITHOUT_MEMORY = round(POINTS * 3.5 / 4.5, 6)
PLAIN_BACKPROP = "as much as plain backprop"


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
             **{_key(label): _answer(student, ANSWER, code) for label, code in ELSEWHERE.items()}}
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


@pytest.mark.parametrize("student", [_key(label) for label in ELSEWHERE])
def test_caches_kept_in_files_earn_nothing_in_a_jail(graded, student):
    """Caches in the working folder's files or in /tmp: charged to the process's memory cgroup, so they count."""
    if not has_memory_cgroups():
        pytest.skip("no jail with a memory cgroup here: caches in files are not counted (see the README)")
    root, outcomes = graded
    outcome = outcomes[student]
    assert (outcome.score, outcome.status) == (WITHOUT_MEMORY, "graded"), outcome
    assert PLAIN_BACKPROP in _feedback(root, student, CHAPTER)
