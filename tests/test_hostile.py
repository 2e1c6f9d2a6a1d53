"""Submissions that try to raise their score, graded by `bpcourse grade` on chapter 1 of the course.

Each case is the student version (nothing solved, 0 points) or the solved source (10 points) with
one attack added, and asserts the exact score, the status and what the hidden tests' feedback
says. The attacks act inside the student's notebook: patching NumPy, builtins, the grader or the
reference package, objects whose == always says True, printed scores, silenced tracebacks, a
graded name swapped for the reference, and functions that end, hang or exhaust their process; and,
where the grader can jail student code, reading the course by its path, fork bombs, kill(-1),
daemons and links. Then a class of 200 (a tenth of it these attacks) is graded with two jobs, in
another order, and every row is checked against what its notebook earned graded alone.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import nbformat
import pytest

from autograder.isolation.cgroups import UidCgroups
from autograder.isolation.jail import FIRST_UID, POOL_SIZE
from autograder.pipeline.grade import Limits, grade, isolation_problem
from autograder.pipeline.release import released_copy
from test_release import REPO, project_environment  # noqa: F401 - fixture

CHAPTER = "ch01_chain_rule"
LIMITS = Limits(seconds=60, memory_mb=2048, cell_seconds=6)
# Ways to call the reference sigmoid unseen (the grader's answer for each follows the case's name).
REFERENCE = "import sys, threading, types, importlib\nimport backprop.activations as a\n"
HIDDEN_CALLS = {
    "with_the_profiler_off": ("def sigmoid(z):\n    profiler = sys.getprofile()\n    sys.setprofile(None)\n    try:\n"
                              "        return a.sigmoid(z)\n    finally:\n        sys.setprofile(profiler)\n",
                              "calls backprop.activations.sigmoid, the reference solution"),
    "then_erasing_the_record": ("def sigmoid(z):\n    value = a.sigmoid(z)\n    for record in sys.modules['autograder.calling'].ACTIVE:\n"
                                "        record[0].reference_called = None\n        record[1].clear()\n    return value\n",
                                "calls backprop.activations.sigmoid, the reference solution"),
    "from_a_thread": ("def sigmoid(z):\n    out = []\n    thread = threading.Thread(target=lambda: out.append(a.sigmoid(z)))\n"
                      "    thread.start()\n    thread.join()\n    return out[0]\n",
                      "calls backprop.activations.sigmoid, the reference solution"),
    "reloaded_from_its_file": ("def sigmoid(z):\n    sys.setprofile(None)\n    return importlib.reload(a).sigmoid(z)\n",
                               "reading the reference package's files is not allowed"),
    "from_a_copy_of_its_code": ("def sigmoid(z):\n    sys.setprofile(None)\n    return types.FunctionType(a.sigmoid.__code__, vars(a))(z)\n",
                                "reading the code of a reference function is not allowed"),
    # The grader's table of the references' code: loading it there means reading the gated functions' code.
    "from_the_graders_copy_renamed": ("def sigmoid(z):\n    sys.setprofile(None)\n"
                                      "    code = next(iter(importlib.import_module('autograder.grading').REFERENCE_CODE['sigmoid']))\n"
                                      "    return types.FunctionType(code.replace(co_name='mine'), vars(a))(z)\n",
                                      "reading the code of a reference function is not allowed"),
}
STUDENTS = ["honest_solution", "patches_numpy", "patches_builtins", "patches_the_grader", "patches_the_reference",
            "equal_to_everything", "prints_a_score", "silences_tracebacks", "imports_the_reference",
            "redefines_before_its_test", "redefines_after_its_test", "exits_in_a_function", "hangs_in_a_function", "exhausts_memory",
            "searches_for_the_hidden_tests", "differentiates_numerically",
            *[f"calls_the_reference_{how}" for how in HIDDEN_CALLS]]
# Attacks that only a jail stops (autograder/isolation/jail.py: Linux, as root). Without one, reading the course
# by its path would succeed and a kill(-1) would reach the grader itself, so these are not run there.
JAILED = ["reads_the_course", "forks_without_end", "signals_everything", "leaves_a_daemon", "swaps_its_notebook_for_a_link",
          "forks_silently", "starts_threads_silently"]
# Attacks that leave no error behind: only a cap that counts what it refused (a pids cgroup) sees them.
COUNTED = ["forks_silently", "starts_threads_silently"]


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


READS = """import os
tried = {PATHS}
seen = [path for path in tried if os.path.exists(path)]
print("seen:", seen)
try:
    with open({WRITE!r}, "w") as handle:
        handle.write("graded by me")
    print("wrote outside")
except OSError as error:
    print("could not write outside:", error.strerror)
import socket
try:
    socket.create_connection(("127.0.0.1", 8888), timeout=1)  # another kernel's port, say
    print("network: connected")
except OSError as error:
    print("network:", error.strerror or error)
"""
FORKS = """import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
except OSError as error:
    print("forks refused after", children, "children:", error.strerror)
    raise
"""
FORKS_SILENTLY = """import os, time
for _ in range(200):
    try:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
    except OSError:
        pass
print("nothing to see here")
"""
THREADS_SILENTLY = """import threading, time
for _ in range(200):
    try:
        threading.Thread(target=time.sleep, args=(600,), daemon=True).start()
    except RuntimeError:
        pass
print("nothing to see here")
"""
SIGNALS = """import os, signal
os.kill(-1, signal.SIGKILL)  # every process this uid may signal, but the caller
for target in (os.getppid(), 1):
    try:
        os.kill(target, signal.SIGKILL)
        print("killed", target)
    except OSError as error:
        print("could not signal", target, "-", error.strerror)
"""
SWAPS = """import os, time
if os.fork() == 0:  # a daemon that keeps turning the graded notebook into a link to the gradebook
    os.setsid()
    if os.fork() == 0:
        while True:
            try:
                os.symlink({TARGET!r}, "link.tmp")
                os.replace("link.tmp", {NAME!r})
            except OSError:
                pass
            time.sleep(0.001)
    os._exit(0)
"""
DAEMON = """import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
print("a daemon is left running")
"""


def _only_in_a_jail(code: str) -> str:
    """`code`, run only where it cannot harm the machine the tests run on: as any uid but the grader's. Outside a
    jail it prints that it was not jailed, and the tests that expect its effects fail instead."""
    body = "".join("    " + line + "\n" for line in code.splitlines())
    return f"import os\nif os.getuid() == {os.getuid()}:\n    print('not jailed: this code would run as the grader')\nelse:\n{body}"


def attacks(source: dict, student: dict, root: Path) -> dict[str, tuple[dict, float, str, str]]:
    """student -> (notebook, score, status, a phrase the hidden tests' feedback must contain). `root` is the
    course's folder, which an attacker who guessed its path would try to read."""
    wrong = _wrong(student)
    source = _solved(source, student)
    secrets = [str(root / "source" / CHAPTER / f"{CHAPTER}.ipynb"), str(root / "gradebook.db"),
               str(root / "submitted" / "honest_solution" / CHAPTER / f"{CHAPTER}.ipynb"), str(REPO / "source")]
    last = source["cells"][-1].get("id")
    return {
        "reads_the_course": (_added(source, READS.replace("{PATHS}", repr(secrets)).replace("{WRITE!r}", repr(str(root / "mine.txt")))),
                             10.0, "graded", "sigmoid: 2 / 2 points"),
        "forks_without_end": (_added(source, _only_in_a_jail(FORKS)), 10.0, "process limit", "sigmoid: 2 / 2 points"),
        "forks_silently": (_added(source, _only_in_a_jail(FORKS_SILENTLY)), 10.0, "process limit", "sigmoid: 2 / 2 points"),
        "starts_threads_silently": (_added(source, _only_in_a_jail(THREADS_SILENTLY)), 10.0, "process limit",
                                    "sigmoid: 2 / 2 points"),
        "signals_everything": (_added(source, _only_in_a_jail(SIGNALS), after=last), 10.0, "graded", "sigmoid: 2 / 2 points"),
        "leaves_a_daemon": (_added(source, _only_in_a_jail(DAEMON)), 10.0, "graded", "sigmoid: 2 / 2 points"),
        "swaps_its_notebook_for_a_link": (_added(source, _only_in_a_jail(SWAPS.replace("{TARGET!r}", repr(str(root / "gradebook.db")))
                                                                  .replace("{NAME!r}", repr(f"{CHAPTER}.ipynb")))),
                                          10.0, "graded", "sigmoid: 2 / 2 points"),
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
        "redefines_before_its_test": (_added(source, "def sigmoid(z):\n    return 0.5 * z\n", after="sigmoid-solution"),
                                      8.0, "graded", "sigmoid: 0 / 2 points"),
        # A test grades the code as it stood at the test's cell, as running the notebook top to bottom does.
        "redefines_after_its_test": (_added(source, "def add_mul_grads(x, y, z):\n    return 0.0, 0.0, 0.0, 0.0\n",
                                            after="add-mul-grads-hidden"),
                                     10.0, "graded", "add_mul_grads: 2 / 2 points"),
        "exits_in_a_function": (_answer(source, "sigmoid-prime-solution",
                                        "def sigmoid_prime(z):\n    import os\n    os._exit(0)\n"),
                                8.0, "kernel died", "your code ended the process that ran it"),
        "hangs_in_a_function": (_answer(source, "sigmoid-prime-solution",
                                        "def sigmoid_prime(z):\n    while True:\n        pass\n"),
                                8.0, "cell time limit", "ran past the time limit (6 s a test)"),
        "searches_for_the_hidden_tests": (_added(source, SEARCH), 10.0, "graded", "sigmoid: 2 / 2 points"),
        **{f"calls_the_reference_{how}": (_answer(source, "sigmoid-solution", REFERENCE + code), 8.0, "graded", phrase)
           for how, (code, phrase) in HIDDEN_CALLS.items()},
        # Its own sigmoid, differentiated by central differences: right to 1e-11, not to float64 precision.
        "differentiates_numerically": (_answer(source, "sigmoid-prime-solution",
                                               "def sigmoid_prime(z):\n    h = 1e-5\n"
                                               "    return (sigmoid(z + h) - sigmoid(z - h)) / (2 * h)\n"),
                                       8.0, "graded", "agrees with finite differences but not with the exact gradient"),
        "exhausts_memory": (_answer(source, "sigmoid-prime-solution",
                                    "import numpy as np\ndef sigmoid_prime(z):\n    return np.ones((2**16, 2**16))\n"),
                            8.0, "graded", "raised MemoryError"),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory):
    root = released_copy(REPO, CHAPTER, tmp_path_factory.mktemp("hostile") / "course")
    source = json.loads((root / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    student = json.loads((root / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    cases = {name: case for name, case in attacks(source, student, root).items()
             if (name not in JAILED or isolation_problem() is None) and (name not in COUNTED or _counts_refused_tasks())}
    for name, (nb, *_) in cases.items():
        folder = root / "submitted" / name / CHAPTER
        folder.mkdir(parents=True)
        (folder / f"{CHAPTER}.ipynb").write_text(json.dumps(nb))
    # One at a time here; the class below grades the same notebooks two at a time.
    outcomes = {o.student: o for o in grade(root, CHAPTER, jobs=1, limits=LIMITS, progress=False)}
    return root, cases, outcomes


def _graded_notebook(root: Path, student: str, chapter: str = CHAPTER) -> nbformat.NotebookNode:
    return nbformat.read(root / "autograded" / student / chapter / f"{chapter}.ipynb", as_version=4)


def _feedback(root: Path, student: str, chapter: str = CHAPTER) -> str:
    """What the hidden-test cells of the graded notebook say."""
    texts = []
    for cell in _graded_notebook(root, student, chapter).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            texts += [str(o.get("text", "")) for o in cell.get("outputs", [])]
    return "\n".join(texts)


def _printed(root: Path, student: str) -> str:
    """What the code cells of the graded notebook printed."""
    cells = _graded_notebook(root, student).cells
    return "".join(str(o.get("text", "")) for c in cells if c.cell_type == "code" for o in c.get("outputs", []))


def _needs_a_jail() -> None:
    if isolation_problem() is not None:
        pytest.skip(f"no jail on this machine ({isolation_problem()}): these attacks would succeed here")


def _counts_refused_tasks() -> bool:
    return isolation_problem() is None and UidCgroups.here(LIMITS.processes) is not None


def _needs_a_counting_cap() -> None:
    if not _counts_refused_tasks():
        pytest.skip("no pids cgroup here: a cap that refuses silently is not seen")


@pytest.mark.parametrize("student", STUDENTS + JAILED)
def test_an_attack_earns_nothing_it_did_not_write(graded, student):
    if student in JAILED:
        _needs_a_jail()
    if student in COUNTED:
        _needs_a_counting_cap()
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
    printed = _printed(root, "searches_for_the_hidden_tests")
    assert "files read:" in printed and "hidden tests found: []" in printed, printed[:2000]
    nb = _graded_notebook(root, "searches_for_the_hidden_tests")
    hidden = nb.cells[[c.get("id") for c in nb.cells].index("sigmoid-hidden")]
    assert "outside this notebook" in hidden.source and "grade(" not in hidden.source


def test_student_code_sees_only_its_own_submission(graded):
    """The course's source notebooks, its gradebook, another student's submission and the grader's code are not
    in the jail, nothing can be written outside the submission's own folder, and there is no network (the
    kernel's channels are Unix sockets), so no other kernel can be reached."""
    _needs_a_jail()
    root, _, _ = graded
    printed = _printed(root, "reads_the_course")
    assert "seen: []" in printed and "could not write outside" in printed, printed[:2000]
    assert "network: Network is unreachable" in printed, printed[:2000]
    assert not (root / "mine.txt").exists()


def test_a_kernel_cannot_start_processes_without_end(graded):
    """A fork bomb stops at the cap, and the status names the limit (its kernel may go on: the rest still counts)."""
    _needs_a_jail()
    _, _, outcomes = graded
    outcome = outcomes["forks_without_end"]
    assert outcome.status == "process limit", outcome
    assert "processes and threads" in outcome.detail, outcome


@pytest.mark.parametrize("student", COUNTED)
def test_a_cap_that_was_hit_silently_is_still_named(student, graded):
    """Forks or threads refused at the cap and caught without a word: the cell ends normally, and the status
    still names the limit, with how many the cap refused (counted by the kernel's pids cgroup)."""
    _needs_a_counting_cap()
    root, _, outcomes = graded
    outcome = outcomes[student]
    assert "nothing to see here" in _printed(root, student)
    assert outcome.status == "process limit", outcome
    refused = int(outcome.detail.split(": ")[1].split()[0])
    assert LIMITS.processes // 2 < refused <= 200, outcome  # 200 tries, and the cap of 64 allows fewer than that


def test_nothing_a_student_started_outlives_the_grading(graded):
    """kill(-1) reached only the attacker's own processes (every other submission was graded), its kernel's
    parent could not be signalled, and no process of any student uid is left: not the sleeping children of
    the fork bomb, not the daemon in a session of its own."""
    _needs_a_jail()
    root, cases, outcomes = graded
    assert all(o.status != "not graded" for o in outcomes.values())
    assert _printed(root, "signals_everything").count("Operation not permitted") == 2
    assert "a daemon is left running" in _printed(root, "leaves_a_daemon")
    left = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            continue
        if FIRST_UID <= uid < FIRST_UID + POOL_SIZE:
            left.append(status.parent.name)
    assert left == []


def test_the_grader_never_writes_through_a_students_link(graded):
    """The graded notebook is written after its folder is taken back from the student's uid: it is a file, and
    the gradebook the link pointed at still holds every student's scores."""
    _needs_a_jail()
    root, cases, _ = graded
    graded_notebook = root / "autograded" / "swaps_its_notebook_for_a_link" / CHAPTER / f"{CHAPTER}.ipynb"
    assert graded_notebook.is_file() and not graded_notebook.is_symlink()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert {s.student_id for s in gb.find_assignment(CHAPTER).submissions} == set(cases)


CLASS_SIZE = 200


@pytest.fixture(scope="module")
def graded_class(graded, tmp_path_factory: pytest.TempPathFactory):
    """A class of 200 submissions of chapter 1 graded with two jobs: the demo class (every catalogued variant,
    an unsolved notebook, one that raises, one that loops) cycled over nine tenths of it, and the hostile
    cases above over the last tenth, under names that put them in another order."""
    from autograder.pipeline.demo import demo_class

    corpus_root, cases, _ = graded
    root = released_copy(REPO, CHAPTER, tmp_path_factory.mktemp("class") / "course")
    honest = sorted(demo_class(root, CHAPTER).items())
    hostile = sorted(cases)
    origin: dict[str, str] = {}  # student -> the case it is a copy of
    for number in range(CLASS_SIZE):
        if number % 10 == 9:
            case = hostile[(number // 10) % len(hostile)]
            text = (corpus_root / "submitted" / case / CHAPTER / f"{CHAPTER}.ipynb").read_text()
        else:
            case, nb = honest[(number - number // 10) % len(honest)]
            text = nbformat.writes(nb)
        student = f"{CLASS_SIZE - number:03d}-{case}"
        folder = root / "submitted" / student / CHAPTER
        folder.mkdir(parents=True)
        (folder / f"{CHAPTER}.ipynb").write_text(text)
        origin[student] = case
    handed_in = {p: p.read_bytes() for p in (root / "submitted").rglob("*") if p.is_file()}
    outcomes = {o.student: o for o in grade(root, CHAPTER, jobs=2, limits=LIMITS, progress=False)}
    return root, origin, outcomes, handed_in


GRADED = ("add_mul_grads", "sigmoid", "sigmoid_prime", "neuron_grads")


def _defines_once(text: str) -> bool:
    """Whether a notebook defines each graded function once (a variant may redefine another, as students do)."""
    source = "".join("".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "code")
    return all(source.count(f"def {name}(") == 1 for name in GRADED)


@pytest.mark.slow
def test_a_class_of_200_gets_one_row_each_and_its_submissions_back_untouched(graded_class):
    from autograder.pipeline.export import export_rows

    root, origin, outcomes, handed_in = graded_class
    rows = [r for r in export_rows(root) if r["chapter"] == CHAPTER]
    assert sorted(r["student"] for r in rows) == sorted(origin) and len(rows) == CLASS_SIZE
    assert all(r["status"] and r["status"] != "not graded yet" for r in rows)
    assert {p: p.read_bytes() for p in (root / "submitted").rglob("*") if p.is_file()} == handed_in


@pytest.mark.slow
def test_every_row_of_the_class_is_what_its_case_earns(graded, graded_class):
    """Each hostile copy gets exactly what the same notebook got when graded alone, one job at a time; each
    honest copy gets what every other copy of it gets, full marks for a correct variant, less for a mistake."""
    _, _, alone = graded
    root, origin, outcomes, _ = graded_class
    by_case: dict[str, set[tuple[float, str]]] = {}
    for student, case in origin.items():
        outcome = outcomes[student]
        by_case.setdefault(case, set()).add((outcome.score, outcome.status))
        if case in alone:
            assert (outcome.score, outcome.status) == (alone[case].score, alone[case].status), (student, outcome)
        elif "-right-" in case and _defines_once((root / "submitted" / student / CHAPTER / f"{CHAPTER}.ipynb").read_text()):
            assert (outcome.score, outcome.status) == (10.0, "graded"), (student, outcome)
        elif "-right-" in case:  # right, but it redefines a function graded before it: that test has run by then
            assert outcome.score > 0 and outcome.status == "graded", (student, outcome)
        elif "-wrong-" in case:
            assert 0 < outcome.score < 10 and outcome.status == "graded", (student, outcome)
        elif case in ("unsolved", "raises-everywhere"):
            assert (outcome.score, outcome.status) == (0.0, "graded"), (student, outcome)
        else:
            assert case == "loops-forever" and outcome.status == "cell time limit", (student, outcome)
    assert {case: rows for case, rows in by_case.items() if len(rows) > 1} == {}
