"""Chapter 6's memory, measured from outside the student's process (autograder/isolation/resident.py).

The grader reads the resident memory of the process that holds the student's code, so what that
code does there (rewriting the grader's sampler, patching tracemalloc, keeping its arrays where
tracemalloc does not look) cannot make plain backprop look checkpointed. Each attack is also
graded the old way, with the process reporting its memory itself, to show that it worked there.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.calling import keys_of
from autograder.catalogue.checkpointing import VARIANTS
from autograder.catalogue import verdict_problems
from autograder.catalogue.checkpointing import ITERATIVE, PLAIN_WITH_A_SPARE_FORWARD
from autograder.grading import REFERENCE_CODE, report_for
from autograder.isolation.peer import RemoteError
from autograder.isolation.remote import RemoteFunction, StudentProcess
from autograder.isolation.resident import resident_bytes
from autograder.report import Report

pytestmark = pytest.mark.skipif(resident_bytes(os.getpid()) is None, reason="no /proc/<pid>/statm on this system")

NAME = "checkpointed_backward"
GATED = {key: name for graded in REFERENCE_CODE for key, name in keys_of(REFERENCE_CODE[graded]).items()}
PLAIN_BACKPROP = "as much as plain backprop"
# What a student could write in its process so that plain backprop seems to hold nothing -> the code.
ATTACKS = {
    "rewrites the grader's memory sampler": (
        "import sys\n"
        "S = [m for m in list(sys.modules.values()) if hasattr(m, 'StudentSide')][0].StudentSide\n"
        "S.sample_memory = lambda self: 0 if self.memory is not None else None\n" + PLAIN_WITH_A_SPARE_FORWARD),
    "patches tracemalloc": (
        "import tracemalloc\ntracemalloc.get_traced_memory = lambda: (0, 0)\n" + PLAIN_WITH_A_SPARE_FORWARD),
    "keeps its caches in anonymous mmaps": (
        "import mmap\nimport numpy as np\n\n"
        "def stash(value):\n"
        "    # a copy in memory that tracemalloc does not trace\n"
        "    if isinstance(value, tuple):\n"
        "        return tuple(stash(v) for v in value)\n"
        "    if isinstance(value, np.ndarray) and value.size:\n"
        "        held = np.frombuffer(mmap.mmap(-1, value.nbytes), dtype=value.dtype).reshape(value.shape)\n"
        "        held[...] = value\n"
        "        return held\n"
        "    return value\n\n" + PLAIN_WITH_A_SPARE_FORWARD.replace("caches.append(cache)", "caches.append(stash(cache))")),
}


def _graded(tmp_path: Path, code: str, seed: int = 1) -> Report:
    with StudentProcess.start(tmp_path) as student:
        assert student.tune_allocator()
        assert student.withhold(GATED) > 0
        assert student.run([("answer", "import numpy as np\n" + code)], 60) == []
        student.peer.withheld = set(keys_of(REFERENCE_CODE[NAME]))
        return report_for(NAME, student.namespace(), 4, seed)


def _memory(report: Report):
    return next(item for item in report.items if item.name == "memory")


def test_resident_bytes_follow_what_a_process_touches():
    before = resident_bytes(os.getpid())
    block = np.ones(64 * 2**20 // 8)
    after = resident_bytes(os.getpid())
    assert before is not None and after is not None and after - before >= 60 * 2**20
    del block


def test_a_process_that_is_gone_has_no_resident_bytes():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert resident_bytes(child.pid) is None


def test_the_tuned_allocator_gives_back_what_is_freed():
    """Arrays of 32 KiB, freed, leave the process's resident size where it was (they had pages of their own)."""
    program = ("import gc, os, numpy as np\nfrom autograder.isolation.resident import resident_bytes, tune_allocator\n"
               "assert tune_allocator()\nbefore = resident_bytes(os.getpid())\n"
               "held = [np.ones(4096) for _ in range(400)]\npeak = resident_bytes(os.getpid())\n"
               "del held\ngc.collect()\nprint(peak - before, resident_bytes(os.getpid()) - before)\n")
    grew, left = map(int, subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                                         check=True).stdout.split())
    assert grew >= 400 * 32 * 1024 and left < grew / 10, (grew, left)


def test_the_allocator_is_tuned_only_before_the_students_code_runs(tmp_path):
    with StudentProcess.start(tmp_path) as student:
        assert student.peer.pid is None  # untuned: the process would report its memory itself
        assert student.run([("answer", "x = 1\n")], 10) == []
        with pytest.raises(RemoteError, match="before the student's code runs"):
            student.tune_allocator()


def test_checkpointing_earns_the_memory_part_measured_from_outside(tmp_path):
    report = _graded(tmp_path, ITERATIVE)
    assert report.passed, report.text()


@pytest.mark.parametrize("attack", ATTACKS)
def test_plain_backprop_cannot_hide_its_memory_from_the_grader(tmp_path, monkeypatch, attack):
    report = _graded(tmp_path, ATTACKS[attack])
    memory = _memory(report)
    assert not memory.correct and PLAIN_BACKPROP in memory.message, report.text()
    assert [item.name for item in report.items if not item.correct] == ["memory"], report.text()
    # The contrast: where the process reports its memory itself (no /proc to read), the attack earns the part.
    monkeypatch.setattr(RemoteFunction, "resident_memory", lambda self: None)
    assert _memory(_graded(tmp_path, ATTACKS[attack])).correct


MEASURED = [v for v in VARIANTS if (v.correct or isinstance(v.expect.get("memory"), str))]


@pytest.mark.parametrize("variant", MEASURED, ids=[v.label for v in MEASURED])
def test_the_catalogue_gets_its_memory_verdicts_in_the_students_process(tmp_path, variant):
    """Graded where students are graded, every right variant keeps the memory part and every variant that holds
    too much loses it, as tracemalloc in the grader's own process finds (tests/test_catalogue.py)."""
    report = _graded(tmp_path, variant.code)
    assert verdict_problems(variant, report) == [], report.text()
