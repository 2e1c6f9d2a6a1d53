"""The release pipeline: source notebook checks, nbgrader's student versions, staleness and leak checks,
and the `bpcourse release` / `bpcourse validate` commands.

Everything runs on copies: a minimal course (the repository's nbgrader_config.py and a source/
folder holding the fixture chapter in tests/fixtures/) in a temporary folder. The one test over
the real repository only reads it.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output

from autograder.pipeline import notebook_format as fmt
from autograder.pipeline.release import (
    CourseError,
    chapters_in,
    describe_problems,
    leaks_in_release,
    release,
    source_problems,
    stale_releases,
)

REPO = Path(__file__).resolve().parents[1]
CHAPTER = "ch00_fixture"
FIXTURE = Path(__file__).parent / "fixtures" / CHAPTER
SOURCE = f"source/{CHAPTER}/{CHAPTER}.ipynb"
RELEASED = f"release/{CHAPTER}/{CHAPTER}.ipynb"
BIN = Path(sys.executable).parent
STATE_VARIABLES = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR")


def make_course(dest: Path) -> Path:
    """A minimal course at `dest`: the repository's nbgrader_config.py and the fixture chapter."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(FIXTURE, dest / "source" / CHAPTER)
    return dest


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cell(nb: NotebookNode, cell_id: str) -> NotebookNode:
    return next(c for c in nb.cells if c.get("id") == cell_id)


@pytest.fixture(scope="module", autouse=True)
def project_environment(tmp_path_factory: pytest.TempPathFactory):
    """Jupyter state in a temporary folder, never $HOME; the venv's bin on PATH for nbgrader's `alembic`."""
    state = tmp_path_factory.mktemp("jupyter")
    with pytest.MonkeyPatch.context() as mp:
        for variable in STATE_VARIABLES:
            mp.setenv(variable, str(state / variable.lower()))
        mp.setenv("PATH", f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        yield


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """A fixture course released once (with its gradebook); tests that change it work on `course`."""
    root = make_course(tmp_path_factory.mktemp("released") / "course")
    return root, release(root)


@pytest.fixture
def course(released: tuple[Path, list[Path]], tmp_path: Path) -> Path:
    """A private copy of the released course (a course copied anywhere still works)."""
    return Path(shutil.copytree(released[0], tmp_path / "course"))


# ---------------------------------------------------------------------------------------------
# notebook_format


def test_fixture_source_is_well_formed() -> None:
    assert fmt.problems_in_source(FIXTURE / f"{CHAPTER}.ipynb") == []


def _edit(change: Callable[[NotebookNode], object]) -> Callable[[NotebookNode], str]:
    """A case that changes the fixture notebook, then writes it as plain JSON."""
    def apply(nb: NotebookNode) -> str:
        change(nb)
        return json.dumps(nb, indent=1, sort_keys=True) + "\n"
    return apply


def _meta(cell_id: str) -> Callable[[NotebookNode], dict]:
    return lambda nb: cell(nb, cell_id).metadata.nbgrader


SOLUTION_ID, TEST_ID = "relu-grad-solution", "relu-grad-test"
solution_meta, grade_meta = _meta(SOLUTION_ID), _meta(TEST_ID)


def _set_source(cell_id: str, old: str, new: str) -> Callable[[NotebookNode], str]:
    def change(nb: NotebookNode) -> None:
        target = cell(nb, cell_id)
        assert old in target.source
        target.source = target.source.replace(old, new, 1)
    return _edit(change)


FORMAT_CASES: dict[str, tuple[Callable[[NotebookNode], str], str]] = {
    "not-json": (lambda nb: '{"cells": [', "not valid JSON"),
    "nbformat-4.4": (_edit(lambda nb: (nb.update(nbformat_minor=4), [c.pop("id") for c in nb.cells])), "nbformat 4.4"),
    "schema": (_edit(lambda nb: nb.cells[0].update(colour="red")), "Additional properties are not allowed ('colour'"),
    "missing-id": (_edit(lambda nb: nb.cells[1].pop("id")), "cell 2: has no id"),
    "duplicate-id": (_edit(lambda nb: nb.cells[4].update(id="intro")), "cell 5 (id 'intro'): id is used by more than one cell"),
    "invalid-id": (_edit(lambda nb: nb.cells[1].update(id="has space")), "id is not 1 to 64 letters"),
    "outputs": (_edit(lambda nb: cell(nb, "imports").outputs.append(new_output("stream", name="stdout", text="hi\n"))),
                "cell 2 (id 'imports'): has outputs"),
    "execution-count": (_edit(lambda nb: cell(nb, "imports").update(execution_count=3)), "execution_count is 3"),
    "volatile-cell-metadata": (_edit(lambda nb: cell(nb, "imports").metadata.update(
        execution={"iopub.status.busy": "2025-01-01T00:00:00.000Z"})), "volatile key 'execution'"),
    "volatile-notebook-metadata": (_edit(lambda nb: nb.metadata.language_info.update(version="3.11.7")),
                                   "language_info: volatile key 'version'"),
    "foreign-kernel": (_edit(lambda nb: nb.metadata.kernelspec.update(name="my-env")), "kernel name is 'my-env'"),
    "nbgrader-schema-version": (_edit(lambda nb: solution_meta(nb).update(schema_version=2)), "nbgrader metadata schema_version"),
    "nbgrader-missing-boolean": (_edit(lambda nb: solution_meta(nb).pop("locked")), "'locked' is a required property"),
    "nbgrader-bad-grade-id": (_edit(lambda nb: solution_meta(nb).update(grade_id="relu grad")), "grade_id: 'relu grad' does not match"),
    "nbgrader-duplicate-grade-id": (_edit(lambda nb: grade_meta(nb).update(grade_id=SOLUTION_ID)),
                                    f"grade_id '{SOLUTION_ID}' is used by more than one cell"),
    "nbgrader-negative-points": (_edit(lambda nb: grade_meta(nb).update(points=-1)), "points: -1 is less than the minimum of 0"),
    "nbgrader-points-not-a-number": (_edit(lambda nb: grade_meta(nb).update(points="2")), "points: '2' is not of type 'number'"),
    "nbgrader-points-missing": (_edit(lambda nb: grade_meta(nb).pop("points")), "does not have points"),
    "nbgrader-unknown-key": (_edit(lambda nb: grade_meta(nb).update(weight=1)), "Additional properties are not allowed ('weight'"),
    "nbgrader-markdown-grade-cell": (_edit(lambda nb: cell(nb, "intro").metadata.update(nbgrader={
        "schema_version": 3, "grade": True, "solution": False, "locked": True, "grade_id": "intro", "points": 1})),
        "Markdown grade cell 'intro' is not marked as a solution cell"),
    "test-cell-unlocked": (_edit(lambda nb: grade_meta(nb).update(locked=False)), "test cell is not locked"),
    "solution-without-markers": (_edit(lambda nb: cell(nb, SOLUTION_ID).update(source="def relu_grad(dout, x):\n    return dout * (x > 0)")),
                                 "solution cell has no '### BEGIN SOLUTION' / '### END SOLUTION' pair"),
    "begin-without-end": (_set_source(SOLUTION_ID, "\n    ### END SOLUTION", ""), "'BEGIN SOLUTION' is never closed"),
    "end-without-begin": (_set_source(SOLUTION_ID, "    ### BEGIN SOLUTION\n", ""), "'END SOLUTION' without a 'BEGIN SOLUTION'"),
    "nested-begin": (_set_source(SOLUTION_ID, "    mask", "    ### BEGIN SOLUTION\n    mask"), "inside the region opened on line 3"),
    "hidden-end-missing": (_set_source(TEST_ID, "\n### END HIDDEN TESTS", ""), "'BEGIN HIDDEN TESTS' is never closed"),
    "hidden-tests-in-solution-cell": (_set_source(SOLUTION_ID, "    ### END SOLUTION", "    ### END SOLUTION\n### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"),
                                      "'BEGIN HIDDEN TESTS' markers are only allowed in grade (test) cells"),
    "solution-markers-in-plain-cell": (_set_source("imports", "import numpy as np", "### BEGIN SOLUTION\nimport numpy as np\n### END SOLUTION"),
                                       "cell 2 (id 'imports'): 'BEGIN SOLUTION' markers are only allowed in solution cells"),
    "marker-not-exact": (_set_source(SOLUTION_ID, "### BEGIN SOLUTION", "# BEGIN SOLUTION"), "write a marker alone on its line as '### BEGIN SOLUTION'"),
    "marker-words-in-prose": (_set_source("outro", "Next:", "Answers go after BEGIN SOLUTION. Next:"), "nbgrader reads any line containing 'BEGIN SOLUTION'"),
    "magic-in-solution": (_set_source(SOLUTION_ID, "    mask = x > 0", "    %time mask = x > 0"), "'%time mask = x > 0' is IPython syntax"),
    "shell-in-solution": (_set_source(SOLUTION_ID, "    mask = x > 0", "    !pip install torch\n    mask = x > 0"), "'!pip install torch' is IPython syntax"),
    "not-standard-layout": (lambda nb: json.dumps(nb, indent=2), "not in nbformat's standard layout"),
}


@pytest.mark.parametrize("case", FORMAT_CASES, ids=list(FORMAT_CASES))
def test_notebook_format_catches(case: str, tmp_path: Path) -> None:
    make_text, expected = FORMAT_CASES[case]
    path = tmp_path / f"{CHAPTER}.ipynb"
    path.write_text(make_text(fmt.read_notebook(FIXTURE / f"{CHAPTER}.ipynb")), encoding="utf-8")
    problems = fmt.problems_in_source(path)
    assert any(expected in p for p in problems), f"expected {expected!r} among {problems}"


def test_fix_source_repairs_ids_outputs_and_volatile_metadata(tmp_path: Path) -> None:
    nb = fmt.read_notebook(FIXTURE / f"{CHAPTER}.ipynb")
    del nb.cells[0]["id"], cell(nb, SOLUTION_ID)["id"]      # ids missing: one from its grade_id, one by position
    nb.cells[4].id = "imports"                              # a repeated id
    code = cell(nb, "imports")
    code.outputs, code.execution_count = [new_output("stream", name="stdout", text="hi\n")], 4
    code.metadata.update(execution={"iopub.status.idle": "2025-01-01T00:00:01Z"}, collapsed=True, scrolled=False)
    nb.metadata.language_info["version"] = "3.11.7"
    path = tmp_path / f"{CHAPTER}.ipynb"
    path.write_text(json.dumps(nb, indent=2), encoding="utf-8")

    changes = fmt.fix_source(path)

    assert any("3 cell id(s) set (cell-1, relu-grad-solution, cell-5)" in c for c in changes), changes
    assert fmt.problems_in_source(path) == []
    fixed = fmt.read_notebook(path)
    assert [c.id for c in fixed.cells] == ["cell-1", "imports", SOLUTION_ID, TEST_ID, "cell-5"]
    assert cell(fixed, "imports").metadata == {"collapsed": True, "scrolled": False}  # the author's choices stay
    assert "version" not in fixed.metadata.language_info
    before = path.read_bytes()
    assert fmt.fix_source(path) == [] and path.read_bytes() == before  # a second run changes nothing


def test_assign_cell_ids_never_repeats_an_id() -> None:
    nb = fmt.read_notebook(FIXTURE / f"{CHAPTER}.ipynb")
    nb.cells[0].id = SOLUTION_ID   # another cell already holds the grade_id...
    del nb.cells[2]["id"]          # ...that the solution cell, losing its id, would get
    assert fmt.assign_cell_ids(nb) == [f"{SOLUTION_ID}-2"]
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def test_normalize_clears_what_a_run_leaves_behind() -> None:
    nb = fmt.read_notebook(FIXTURE / f"{CHAPTER}.ipynb")
    clean = copy.deepcopy(nb)
    code = cell(nb, "imports")
    code.outputs, code.execution_count = [new_output("execute_result", data={"text/plain": "1"}, execution_count=1)], 1
    code.metadata["execution"] = {"shell.execute_reply": "2025-01-01T00:00:01Z"}
    nb.metadata.update(widgets={"application/vnd.jupyter.widget-state+json": {}})
    assert fmt.normalize(nb) == clean


# ---------------------------------------------------------------------------------------------
# release


def test_release_produces_the_student_version(released: tuple[Path, list[Path]]) -> None:
    root, paths = released
    assert paths == [root / f"release/{CHAPTER}/{CHAPTER}.ipynb", root / f"release/{CHAPTER}/data/toy.csv"]
    assert (root / f"release/{CHAPTER}/data/toy.csv").read_bytes() == (FIXTURE / "data/toy.csv").read_bytes()
    source, student = fmt.read_notebook(root / SOURCE), fmt.read_notebook(root / RELEASED)

    solution = cell(student, SOLUTION_ID).source
    assert solution.startswith('def relu_grad(dout, x):\n    """Gradient of ReLU at `x`')  # signature and docstring kept
    assert solution.endswith("    # YOUR CODE HERE\n    raise NotImplementedError()")      # nbgrader's stub, indented
    assert "mask" not in solution and "SOLUTION" not in solution

    tests = cell(student, TEST_ID).source
    assert 'assert np.allclose(dx, [[0.0, 1.0], [1.0, 0.0]]), "relu_grad should' in tests  # the visible test stays
    assert "x_hidden" not in tests and "HIDDEN" not in tests                                 # the hidden ones go
    assert cell(student, TEST_ID).metadata.editable is False

    assert [c.id for c in student.cells] == [c.id for c in source.cells]
    assert (root / "gradebook.db").is_file()


def test_release_twice_gives_byte_identical_files(course: Path) -> None:
    first = snapshot(course / "release")
    student = fmt.read_notebook(course / RELEASED)
    assert student == fmt.normalize(copy.deepcopy(student))  # nothing volatile...
    assert (course / RELEASED).read_text(encoding="utf-8") == fmt.notebook_text(student)  # ...in nbformat's layout
    release(course, [CHAPTER])
    assert snapshot(course / "release") == first
    release(course, [CHAPTER], gradebook=False)  # the build the staleness check makes
    assert snapshot(course / "release") == first


def test_release_refuses_a_source_with_problems(course: Path) -> None:
    nb = fmt.read_notebook(course / SOURCE)
    cell(nb, "imports").execution_count = 7
    grade_meta(nb)["locked"] = False
    fmt.write_notebook(nb, course / SOURCE)
    before = snapshot(course / "release")

    with pytest.raises(CourseError) as refused:
        release(course)

    message = str(refused.value)
    assert SOURCE in message and "execution_count is 7" in message and "test cell is not locked" in message
    assert snapshot(course / "release") == before


def test_release_names_an_unknown_chapter_and_a_folder_that_is_no_course(course: Path, tmp_path: Path) -> None:
    with pytest.raises(CourseError, match=rf"no such chapter: 'ch9_nope' .*this course has: {CHAPTER}"):
        release(course, ["ch9_nope"])
    with pytest.raises(CourseError, match="has no nbgrader_config.py"):
        release(tmp_path / "empty")


def test_an_nbgrader_failure_is_told_in_a_few_lines(course: Path) -> None:
    """What validation cannot foresee still comes back as nbgrader's reason, not its traceback."""
    from autograder.pipeline.release import _generate

    nb = fmt.read_notebook(course / SOURCE)
    nb.metadata.kernelspec.language = "julia"  # nbgrader has no stub for it (validation would refuse first)
    fmt.write_notebook(nb, course / SOURCE)
    with pytest.raises(CourseError) as failed:
        _generate(course, [CHAPTER], gradebook=False)
    message = str(failed.value)
    assert message.startswith(f"nbgrader could not release {CHAPTER}:")
    assert "ValueError: language 'julia' has not been specified" in message
    assert "Traceback" not in message and len(message.splitlines()) <= 5


# ---------------------------------------------------------------------------------------------
# staleness and leaks


def _edit_visible_test(root: Path) -> None:
    nb = fmt.read_notebook(root / SOURCE)
    cell(nb, TEST_ID).source = cell(nb, TEST_ID).source.replace("should pass dout", "must pass dout")
    fmt.write_notebook(nb, root / SOURCE)


STALE_CASES: dict[str, tuple[Callable[[Path], object], str]] = {
    "source-edited": (_edit_visible_test, f"{CHAPTER}: {RELEASED} differs from a fresh build"),
    "release-missing": (lambda root: (root / RELEASED).unlink(), f"{CHAPTER}: {RELEASED} is missing"),
    "extra-file": (lambda root: (root / f"release/{CHAPTER}/notes.txt").write_text("x"), "notes.txt is not in a fresh build"),
    "orphan-release": (lambda root: (root / "release/ch99_gone").mkdir(), "release/ch99_gone/ has no source"),
}


@pytest.mark.parametrize("case", STALE_CASES, ids=list(STALE_CASES))
def test_stale_releases_reports_a_release_out_of_step(case: str, course: Path) -> None:
    change, expected = STALE_CASES[case]
    change(course)
    before = snapshot(course)
    stale = stale_releases(course)
    assert any(expected in s for s in stale), stale
    assert snapshot(course) == before  # it built elsewhere: the course, its release/ and gradebook untouched


def test_stale_releases_ignores_what_running_a_release_leaves_behind(course: Path) -> None:
    checkpoints = course / f"release/{CHAPTER}/.ipynb_checkpoints"
    checkpoints.mkdir()
    (checkpoints / f"{CHAPTER}-checkpoint.ipynb").write_text("{}")
    (course / f"release/{CHAPTER}/__pycache__").mkdir()
    assert stale_releases(course) == []


def _plant(line: str, cell_id: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        nb = fmt.read_notebook(root / RELEASED)
        cell(nb, cell_id).source += "\n" + line
        fmt.write_notebook(nb, root / RELEASED)
    return change


LEAK_CASES = {
    "solution-line": (_plant("    mask = x > 0", SOLUTION_ID), "shows a solution line: 'mask = x > 0'"),
    "hidden-test-line": (_plant("x_hidden = rng.standard_normal((5, 3)) + 0.1", TEST_ID), "shows a hidden test line"),
    "marker-text": (_plant("### BEGIN HIDDEN TESTS", TEST_ID), "shows nbgrader marker text 'BEGIN HIDDEN TESTS'"),
}


@pytest.mark.parametrize("case", LEAK_CASES, ids=list(LEAK_CASES))
def test_leaks_in_release_finds_a_planted_leak(case: str, course: Path) -> None:
    plant, expected = LEAK_CASES[case]
    plant(course)
    leaks = leaks_in_release(course)
    assert len(leaks) == 1 and expected in leaks[0] and f"{RELEASED} cell " in leaks[0], leaks


@pytest.mark.parametrize("where", ["fixture course", "this repository"])
def test_sources_are_sound_and_releases_current_and_clean(where: str, released: tuple[Path, list[Path]]) -> None:
    """Over the fixture (so the checks are seen to run) and over the real course, read-only.

    The repository's chapters are whatever source/ holds (none before the notebooks land): the
    list must be exactly what a plain scan finds, so a chapter cannot slip past the checks.
    """
    root = released[0] if where == "fixture course" else REPO
    scanned = sorted(p.parent.name for p in (root / "source").glob("*/*.ipynb") if p.stem == p.parent.name)
    assert chapters_in(root) == scanned
    if where == "fixture course":
        assert scanned == [CHAPTER]
    problems = source_problems(root)
    assert sorted({p.parent.name for p in problems}) == scanned
    assert not any(problems.values()), describe_problems(root, problems)
    assert stale_releases(root) == []
    assert leaks_in_release(root) == []


# ---------------------------------------------------------------------------------------------
# bpcourse release / validate, end to end


def bpcourse(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = BIN / "bpcourse"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "autograder.pipeline.cli"]
    return subprocess.run(command + list(args), cwd=cwd, env=env if env is not None else dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def test_cli_environment_points_jupyter_into_the_course(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from autograder.pipeline.course import prepare_environment

    for variable in STATE_VARIABLES:
        monkeypatch.setenv(variable, "recorded, so that the test restores it")
        monkeypatch.delenv(variable)
    monkeypatch.setenv("IPYTHONDIR", "/already/chosen")
    monkeypatch.setenv("PATH", "/usr/bin")
    prepare_environment(tmp_path)
    jupyter = tmp_path.resolve() / ".jupyter"
    assert {v: os.environ[v] for v in STATE_VARIABLES} == {
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"), "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"), "IPYTHONDIR": "/already/chosen",
        "MPLCONFIGDIR": str(jupyter / "matplotlib")}
    assert os.environ["PATH"] == f"{BIN}{os.pathsep}/usr/bin"


def test_cli_release_in_a_fresh_course_with_a_bare_environment(released: tuple[Path, list[Path]], tmp_path: Path) -> None:
    """No JUPYTER_* variables, PATH without the venv, a fresh gradebook: the command sets up what it needs."""
    root, home = make_course(tmp_path / "course"), tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    started = time.perf_counter()
    done = bpcourse("release", cwd=root, env=env)
    elapsed = time.perf_counter() - started
    assert (done.returncode, done.stdout) == (0, f"{CHAPTER}: {RELEASED} (+1 other file(s))\n"), done.stderr
    assert snapshot(root / "release") == snapshot(released[0] / "release")  # the same bytes as the API's release
    assert list(home.iterdir()) == []
    print(f"bpcourse release, fresh course with gradebook creation: {elapsed:.1f} s")


def test_cli_release_rejects_a_bad_chapter_and_a_folder_that_is_no_course(course: Path, tmp_path: Path) -> None:
    done = bpcourse("release", "ch9_nope", "--course", str(course), cwd=tmp_path)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no such chapter: 'ch9_nope'" in done.stderr and "Traceback" not in done.stderr
    done = bpcourse("validate", cwd=tmp_path)
    assert done.returncode == 1 and "has no nbgrader_config.py" in done.stderr and "Traceback" not in done.stderr


def test_cli_validate_then_release_refuses_then_fix(course: Path) -> None:
    done = bpcourse("validate", cwd=course)
    assert (done.returncode, done.stdout) == (0, f"{SOURCE}: ok\n")

    nb = fmt.read_notebook(course / SOURCE)
    cell(nb, "imports").outputs = [new_output("stream", name="stdout", text="hi\n")]
    fmt.write_notebook(nb, course / SOURCE)
    done = bpcourse("validate", CHAPTER, cwd=course)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{SOURCE}: 1 problem(s)",
                                        "  - cell 2 (id 'imports'): has outputs; clear them (`bpcourse validate --fix` repairs this)"]

    done = bpcourse("release", cwd=course)
    assert done.returncode == 1 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.startswith("bpcourse release: error: refusing to release") and SOURCE in done.stderr
    assert "has outputs" in done.stderr

    done = bpcourse("validate", "--fix", cwd=course)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"fixed {SOURCE}: outputs and execution counts cleared", f"{SOURCE}: ok"]
