"""Submissions that try to raise their score, graded by `bpcourse grade` on chapter 1 of the course.

Each case is the student version (nothing solved, 0 points) or the solved source (10 points) with
one attack added, and asserts the exact score, the status and what the hidden tests' feedback
says. The attacks act inside the student's notebook: patching NumPy, builtins, the grader or the
reference package, objects whose == always says True, printed scores, silenced tracebacks, a
graded name swapped for the reference, and functions that end, hang or exhaust their process.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder.pipeline.grade import Limits, grade
from autograder.pipeline.release import release
from test_release import REPO, project_environment  # noqa: F401 - fixture

CHAPTER = "ch01_chain_rule"
LIMITS = Limits(seconds=60, memory_mb=2048, cell_seconds=6)
STUDENTS = ["honest_solution", "patches_numpy", "patches_builtins", "patches_the_grader", "patches_the_reference",
            "equal_to_everything", "prints_a_score", "silences_tracebacks", "imports_the_reference",
            "redefines_after_its_test", "exits_in_a_function", "hangs_in_a_function", "exhausts_memory",
            "searches_for_the_hidden_tests"]


def _added(nb: dict, code: str, after: str | None = None) -> dict:
    """nb with a code cell of the student's own, after the cell `after` (else after the imports)."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(code)
    cell["id"] = f"student-{abs(hash(code)) % 10**8}"
    ids = [c.get("id") for c in nb["cells"]]
    at = ids.index(after) + 1 if after else next(i for i, c in enumerate(nb["cells"]) if "import numpy" in "".join(c["source"])) + 1
    nb["cells"].insert(at, json.loads(json.dumps(cell)))
    return nb


SEARCH = """import pathlib
scratch = pathlib.Path.cwd().parents[2]
found, read = [], 0
for path in scratch.rglob("*"):
    if path.is_file():
        read += 1
        data = path.read_bytes()
        if any(marker.encode() in data for marker in ("BEGIN HIDDEN" + " TESTS", "seed=" + str(1101))):
            found.append(str(path.relative_to(scratch)))
print("files read:", read)
print("hidden tests found:", found)
"""


def _answer(nb: dict, cell_id: str, code: str) -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell.get("id") == cell_id:
            cell["source"] = code
    return nb


WRONG = {  # answers that run but are wrong
    "add-mul-grads-solution": "def add_mul_grads(x, y, z):\n    return 0.0, 0.0, 0.0, 0.0\n",
    "sigmoid-solution": "def sigmoid(z):\n    return 0.5 * z\n",
    "sigmoid-prime-solution": "def sigmoid_prime(z):\n    return 0.25 + 0 * z\n",
    "neuron-grads-solution": "def neuron_grads(x, w, b, y):\n    return 0.0, 0 * w, 0.0\n",
}


def _wrong(nb: dict) -> dict:
    for cell_id, code in WRONG.items():
        nb = _answer(nb, cell_id, code)
    return nb


def _solved(source: dict, student: dict) -> dict:
    """The student version with the source's answers: what a student who solved everything hands in."""
    answers = {c.get("id"): c["source"] for c in source["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell_id, code in answers.items():
        student = _answer(student, cell_id, "".join(code))
    return student


def attacks(source: dict, student: dict) -> dict[str, tuple[dict, float, str, str]]:
    """student -> (notebook, score, status, a phrase the hidden tests' feedback must contain)."""
    wrong = _wrong(student)
    source = _solved(source, student)
    return {
        "honest_solution": (source, 10.0, "graded", "sigmoid: 2 / 2 points"),
        "patches_numpy": (_added(wrong, "np.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, *x, **k: "
                                        "np.ones(np.shape(a), bool)\nnp.array_equal = lambda *a, **k: True\n"
                                        "np.testing.assert_allclose = lambda *a, **k: None\n"),
                          0.0, "graded", "sigmoid: 0 / 2 points"),
        "patches_builtins": (_added(wrong, "import builtins\nbuiltins.round = lambda *a, **k: 0\n"
                                           "builtins.abs = lambda x: 0 * x\nbuiltins.max = lambda *a, **k: 0\n"),
                             0.0, "kernel died", "sigmoid: 0 / 2 points"),  # its own kernel breaks on max()
        "patches_the_grader": (_added(wrong, "import autograder, autograder.grading as g\n"
                                             "g.grade = autograder.grade = lambda name, ns, points, seed: points\n"
                                             "g.report_for = lambda *a, **k: None\n"
                                             "import autograder.compare as c\nc.close = lambda *a, **k: True\n"),
                               0.0, "graded", "sigmoid: 0 / 2 points"),
        "patches_the_reference": (_added(wrong, "import backprop.activations as a\na.sigmoid = lambda z: 0.5 * z\n"
                                                "a.sigmoid_prime = lambda z: 0.25 + 0 * z\n"),
                                  0.0, "graded", "sigmoid: 0 / 2 points"),
        "equal_to_everything": (_answer(wrong, "sigmoid-solution",
                                        "import numpy as np\nclass Yes(np.ndarray):\n"
                                        "    def __eq__(self, other): return np.ones(np.shape(other), bool)\n"
                                        "    def __ne__(self, other): return np.zeros(np.shape(other), bool)\n"
                                        "class Liar:\n    def __eq__(self, other): return True\n"
                                        "    def __float__(self): return 0.5\n    def __array__(self, *a, **k): "
                                        "return np.full(3, 0.5)\n"
                                        "def sigmoid(z):\n    if np.ndim(z) == 0:\n        return Liar()\n"
                                        "    return np.zeros(np.shape(z)).view(Yes)\n"),
                                0.0, "graded", "sigmoid: 0 / 2 points"),
        "prints_a_score": (_answer(wrong, "sigmoid-solution", "print('sigmoid: 2 / 2 points')\n"
                                   "def sigmoid(z):\n    print('ok values right on every case')\n    return 0.5 * z\n2.0\n"),
                           0.0, "graded", "sigmoid: 0 / 2 points"),
        "silences_tracebacks": (_added(wrong, "import sys\nsys.excepthook = lambda *a: None\n"
                                              "get_ipython().showtraceback = lambda *a, **k: None\n"
                                              "get_ipython().showsyntaxerror = lambda *a, **k: None\n"),
                                0.0, "graded", "sigmoid: 0 / 2 points"),
        "imports_the_reference": (_added(wrong, "from backprop.activations import sigmoid\n", after="sigmoid-solution"),
                                  0.0, "graded", "calls backprop.activations.sigmoid, the reference solution"),
        "redefines_after_its_test": (_added(source, "def sigmoid(z):\n    return 0.5 * z\n", after="sigmoid-solution"),
                                     8.0, "graded", "sigmoid: 0 / 2 points"),
        "exits_in_a_function": (_answer(source, "sigmoid-prime-solution",
                                        "def sigmoid_prime(z):\n    import os\n    os._exit(0)\n"),
                                8.0, "kernel died", "your code ended the process that ran it"),
        "hangs_in_a_function": (_answer(source, "sigmoid-prime-solution",
                                        "def sigmoid_prime(z):\n    while True:\n        pass\n"),
                                8.0, "cell time limit", "ran past the time limit (6 s a test)"),
        "searches_for_the_hidden_tests": (_added(source, SEARCH), 10.0, "graded", "sigmoid: 2 / 2 points"),
        "exhausts_memory": (_answer(source, "sigmoid-prime-solution",
                                    "import numpy as np\ndef sigmoid_prime(z):\n    return np.ones((2**16, 2**16))\n"),
                            8.0, "graded", "raised MemoryError"),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hostile") / "course"
    (root / "source").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copytree(REPO / "source" / CHAPTER, root / "source" / CHAPTER)
    release(root, [CHAPTER])
    source = json.loads((root / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    student = json.loads((root / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    cases = attacks(source, student)
    for name, (nb, *_) in cases.items():
        folder = root / "submitted" / name / CHAPTER
        folder.mkdir(parents=True)
        (folder / f"{CHAPTER}.ipynb").write_text(json.dumps(nb))
    # One at a time: with two at once, a hidden test that hangs was once reported as its process ending (open).
    outcomes = {o.student: o for o in grade(root, CHAPTER, jobs=1, limits=LIMITS, progress=False)}
    return root, cases, outcomes


def _feedback(root: Path, student: str) -> str:
    """What the hidden-test cells of the graded notebook say."""
    nb = nbformat.read(root / "autograded" / student / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    texts = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            texts += [str(o.get("text", "")) for o in cell.get("outputs", [])]
    return "\n".join(texts)


@pytest.mark.parametrize("student", STUDENTS)
def test_an_attack_earns_nothing_it_did_not_write(graded, student):
    root, cases, outcomes = graded
    _, score, status, phrase = cases[student]
    outcome = outcomes[student]
    assert (outcome.score, outcome.max_score, outcome.status) == (score, 10.0, status), outcome
    assert phrase in _feedback(root, student)


def test_the_kernel_never_holds_the_hidden_tests(graded):
    """A student cell that reads every file of the folder it is graded in finds no hidden test: the gradebook
    copy there holds stubs, and the source notebook is not copied. The recorded notebook has them back."""
    root, _, outcomes = graded
    assert (outcomes["searches_for_the_hidden_tests"].score, outcomes["searches_for_the_hidden_tests"].status) == (10.0, "graded")
    nb = nbformat.read(root / "autograded" / "searches_for_the_hidden_tests" / CHAPTER / f"{CHAPTER}.ipynb", as_version=4)
    printed = "".join(str(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "files read:" in printed and "hidden tests found: []" in printed, printed[:2000]
    hidden = nb.cells[[c.get("id") for c in nb.cells].index("sigmoid-hidden")]
    assert "outside this notebook" in hidden.source and "grade(" not in hidden.source
