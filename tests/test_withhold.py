"""Reference solutions gated in a student's process (autograder/isolation/withhold.py).

A student's sigmoid that reaches the reference sigmoid in any way gets no credit for it while
sigmoid is graded, and the grader, not the student's process, says why; other references run as
before; what would reach the original code another way is refused.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.calling import keys_of
from autograder.grading import REFERENCE_CODE, report_for
from autograder.isolation.peer import RemoteError
from autograder.isolation.remote import StudentProcess
from autograder.isolation.withhold import note

GATED = keys_of(REFERENCE_CODE["sigmoid"]) | keys_of(REFERENCE_CODE["sigmoid_prime"])
PROLOGUE = "import sys, threading, types, importlib, gc, os, marshal, subprocess\nimport numpy as np\nimport backprop.activations as a\n"
CALLED = "calls backprop.activations.sigmoid, the reference solution of this exercise"
# How a student's sigmoid might reach the reference -> what the grader's report must say.
ATTEMPTS = {
    "directly": ("return a.sigmoid(z)", CALLED),
    "with the profiler off": ("sys.setprofile(None)\n    return a.sigmoid(z)", CALLED),
    "then erasing the record": ("v = a.sigmoid(z)\n    [r[0].__setattr__('reference_called', None) for r in "
                                "sys.modules['autograder.calling'].ACTIVE]\n    return v", CALLED),
    "from a thread": ("out = []\n    t = threading.Thread(target=lambda: out.append(a.sigmoid(z)))\n    t.start()\n"
                      "    t.join()\n    return out[0]", CALLED),
    "through the module's class of functions": ("return type(a.sigmoid)(a.sigmoid.__code__, vars(a))(z)",
                                                "reading the code of a reference function is not allowed"),
    "from a frame's code": ("try:\n        a.sigmoid_prime('a string')\n    except Exception as e:\n"
                            "        tb = e.__traceback__\n        while tb.tb_next: tb = tb.tb_next\n"
                            "        f = [c for c in tb.tb_frame.f_code.co_consts if callable(c)][-1]\n        return f(z)",
                            "reading the code of the reference package's frames is not allowed"),
    "reloaded": ("sys.setprofile(None)\n    return importlib.reload(a).sigmoid(z)",
                 "reading the reference package's files is not allowed"),
    "from its source file": ("sys.setprofile(None)\n    ns = {}\n    exec(open(a.__file__).read(), ns)\n    return ns['sigmoid'](z)",
                             "reading the reference package's files is not allowed"),
    "from the garbage collector": ("sys.setprofile(None)\n    return [f for f in gc.get_referents(a.sigmoid) if callable(f)][0](z)",
                                   "gc.get_referents is not allowed"),
    # Any code object will do to show it: the one the student would rename is the grader's (tests/test_hostile.py).
    "from a renamed copy of its code": ("code = (lambda z: a.sigmoid(z)).__code__.replace(co_name='mine')\n"
                                        "    return types.FunctionType(code, vars(a))(z)", "code.__new__ is not allowed"),
    "in another program": ("return np.array(eval(subprocess.run([sys.executable, '-c', 'print(1)'], capture_output=True)"
                           ".stdout)) * 0 + a.sigmoid_prime(z) * 0 + 1 / (1 + np.exp(-z))",
                           "subprocess.Popen is not allowed"),
}
HONEST = "return 1 / (1 + np.exp(-np.clip(z, -500, 500)))"


def _graded(tmp_path: Path, body: str, gate: bool = True) -> tuple[str, float, StudentProcess]:
    student = StudentProcess.start(tmp_path)
    try:
        if gate:
            assert student.withhold(GATED) == 2
        assert student.run([("answer", PROLOGUE + "def sigmoid(z):\n    " + body + "\n")], 30) == []
        student.peer.withheld = set(keys_of(REFERENCE_CODE["sigmoid"]))
        report = report_for("sigmoid", student.namespace(), 2, 1)
        return report.text(), report.score, student
    finally:
        student.close()


def test_a_gated_function_tells_the_grader_in_a_frame_of_its_own():
    assert json.loads(note(3)[8:]) == {"note": 3} and len(note(3)) == 8 + int.from_bytes(note(3)[:8], "big")


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_no_way_to_the_reference_earns_credit(tmp_path, attempt):
    body, said = ATTEMPTS[attempt]
    text, score, _ = _graded(tmp_path, body)
    assert score == 0.0, text
    assert said in text, text


def test_the_same_attempt_earns_full_marks_without_the_gate(tmp_path):
    """What the gate closes: with the profiler off, the profiler alone never sees the call."""
    text, score, _ = _graded(tmp_path, ATTEMPTS["with the profiler off"][0], gate=False)
    assert score == 2.0, text


def test_an_honest_sigmoid_keeps_its_credit_and_other_references_still_run(tmp_path):
    text, score, _ = _graded(tmp_path, HONEST)
    assert score == 2.0, text
    text, score, student = _graded(tmp_path, "return 1 / (1 + np.exp(-np.clip(z, -500, 500))) + 0 * a.sigmoid_prime(z)")
    assert score == 2.0, text  # sigmoid_prime is another exercise's reference: let through, and counted
    assert sum(student.peer.reference_runs.values()) > 0 and student.peer.withheld_runs == []


def test_a_reference_runs_while_its_exercise_is_not_graded(tmp_path):
    """While the program loads (nothing withheld), a cell may call the reference, and gets its value; the gate
    is set once, before any student code."""
    student = StudentProcess.start(tmp_path)
    try:
        student.withhold(GATED)
        assert student.run([("answer", PROLOGUE + "value = float(a.sigmoid(0.0))\n")], 30) == []
        assert student.namespace()["value"] == 0.5
        with pytest.raises(RemoteError, match="withheld once"):
            student.withhold(GATED)
    finally:
        student.close()


def test_every_reference_of_every_exercise_is_gated(tmp_path):
    """Each reference function a hidden test names is found and gated (none is left out, say for a closure)."""
    everything = {key: name for code in REFERENCE_CODE.values() for key, name in keys_of(code).items()}
    student = StudentProcess.start(tmp_path)
    try:
        assert student.withhold(everything) == len(everything)
    finally:
        student.close()
