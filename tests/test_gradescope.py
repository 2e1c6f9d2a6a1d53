"""The Gradescope bundle (autograder/pipeline/gradescope.py): built by `bpcourse gradescope`, unpacked into a
temporary autograder root, and run with `run_autograder` on submissions as Gradescope would. Each
results.json must be valid in Gradescope's format, and its score must equal `bpcourse grade`'s for the
same notebook. setup.sh is run too, once, with only the system's folders and Python 3.11 on PATH: the venv it
makes then grades as the course's own does (its apt branch, for an image without Python 3.11, is not taken here)."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.pipeline.cli import main as bpcourse
from autograder.pipeline.grade import grade
from autograder.pipeline.release import released_copy
from test_hostile import _added, _solved, _wrong
from test_release import REPO, project_environment  # noqa: F401 - fixture

CHAPTER = "ch01_chain_rule"
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


def _submissions() -> dict[str, bytes | dict[str, bytes] | None]:
    """name -> the bytes handed in as CHAPTER.ipynb, or files by name, or None (nothing handed in)."""
    source = json.loads((REPO / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    student = json.loads((REPO / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    as_bytes = lambda nb: json.dumps(nb).encode()  # noqa: E731
    return {
        "solved": as_bytes(_solved(source, student)),
        "unsolved": as_bytes(student),
        "wrong": as_bytes(_wrong(student)),
        "patches_numpy": as_bytes(_added(_wrong(student), "np.allclose = lambda *a, **k: True\n")),
        "half_right": as_bytes(_half_right(source, student)),
        "not_json": b"{ this is not a notebook",
        "nothing": None,
        "two_other_notebooks": {"draft.ipynb": as_bytes(student), "final.ipynb": as_bytes(student)},
        "renamed": {"my work.ipynb": as_bytes(_solved(source, student))},
    }


def _half_right(source: dict, student: dict) -> dict:
    """sigmoid and sigmoid_prime solved, the other two left as released."""
    wanted = ("sigmoid-solution", "sigmoid-prime-solution")
    answers = {c.get("id"): c["source"] for c in source["cells"] if c.get("id") in wanted}
    nb = json.loads(json.dumps(student))
    for cell in nb["cells"]:
        if cell.get("id") in answers:
            cell["source"] = answers[cell["id"]]
    return nb


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    assert bpcourse(["gradescope", CHAPTER, "-o", str(out), "--course", str(REPO)]) == 0
    return out / "autograder.zip"


@pytest.fixture(scope="module")
def on_gradescope(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """name -> results.json, each submission in an autograder root of its own."""
    found = {}
    for name, handed_in in _submissions().items():
        files = handed_in if isinstance(handed_in, dict) else {f"{CHAPTER}.ipynb": handed_in} if handed_in else {}
        root = _unpacked(bundle, tmp_path_factory.mktemp(f"autograder-{name}"), files)
        run = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True, text=True,
                             timeout=600, env=dict(os.environ, AUTOGRADER_ROOT=str(root), PYTHON=sys.executable))
        assert run.returncode == 0, run.stderr[-3000:]
        found[name] = json.loads((root / "results" / "results.json").read_text())
    return found


@pytest.fixture(scope="module")
def by_bpcourse_grade(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """name -> the score `bpcourse grade` gives the same notebook, in one class graded two at a time."""
    root = released_copy(REPO, CHAPTER, tmp_path_factory.mktemp("class") / "course")
    for name, handed_in in _submissions().items():
        if isinstance(handed_in, bytes):
            folder = root / "submitted" / name / CHAPTER
            folder.mkdir(parents=True)
            (folder / f"{CHAPTER}.ipynb").write_bytes(handed_in)
    return {o.student: o.score for o in grade(root, CHAPTER, jobs=2, progress=False)}


def _unpacked(bundle: Path, root: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
    (root / "submission").mkdir()
    for file_name, data in files.items():
        (root / "submission" / file_name).write_bytes(data)
    return root


def _valid(results: dict) -> None:
    """Gradescope's results.json: a numeric total, and tests with a name, points, output and a visibility."""
    assert isinstance(results["score"], (int, float)) and math.isfinite(results["score"])
    assert isinstance(results.get("output", ""), str)
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}, test
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["output"], str) and test["visibility"] in VISIBILITIES
        assert 0 <= test["score"] <= test["max_score"]
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


def test_the_bundle_holds_what_gradescope_runs_and_no_student_version_is_missing(bundle):
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "course/gradebook.db", "course/nbgrader_config.py",
            f"course/source/{CHAPTER}/{CHAPTER}.ipynb", f"course/release/{CHAPTER}/{CHAPTER}.ipynb",
            "project/pyproject.toml", "project/autograder/pipeline/grade.py", "project/course/layers.py"} <= names
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    assert not any("__pycache__" in n for n in names)


@pytest.mark.parametrize("name", list(_submissions()))
def test_every_results_file_is_valid(on_gradescope, name):
    _valid(on_gradescope[name])


@pytest.mark.parametrize("name", [n for n, b in _submissions().items() if isinstance(b, bytes)])
def test_gradescope_scores_what_bpcourse_grade_scores(on_gradescope, by_bpcourse_grade, name):
    assert on_gradescope[name]["score"] == pytest.approx(by_bpcourse_grade[name])


def test_scores_span_the_range_and_say_why(on_gradescope):
    """Full marks solved, none unsolved or wrong (a patched np.allclose changes nothing), part for half."""
    scores = {name: results["score"] for name, results in on_gradescope.items()}
    assert scores["solved"] == 10.0 and scores["unsolved"] == scores["wrong"] == scores["patches_numpy"] == 0.0
    assert 0 < scores["half_right"] < 10
    sigmoid = next(t for t in on_gradescope["solved"]["tests"] if t["name"] == "sigmoid-hidden")
    assert sigmoid["output"].startswith("sigmoid: 2 / 2 points") and sigmoid["visibility"] == "after_published"
    assert "not written yet" in next(t for t in on_gradescope["unsolved"]["tests"] if t["name"] == "sigmoid-hidden")["output"]


def test_a_broken_or_missing_submission_still_gets_results_with_the_reason(on_gradescope):
    broken, nothing = on_gradescope["not_json"], on_gradescope["nothing"]
    assert broken["score"] == 0.0 and broken["output"].startswith("Not graded:") and "JSON" in broken["output"]
    assert nothing["score"] == 0.0 and nothing["output"] == f"No notebook to grade: upload {CHAPTER}.ipynb."
    two = on_gradescope["two_other_notebooks"]
    assert two["score"] == 0.0 and "(found: draft.ipynb, final.ipynb)" in two["output"]
    assert len(broken["tests"]) == len(on_gradescope["solved"]["tests"]) == 4


def test_a_lone_notebook_under_another_name_is_graded(on_gradescope):
    assert on_gradescope["renamed"]["score"] == on_gradescope["solved"]["score"] == 10.0


def test_setup_sh_installs_what_run_autograder_grades_with(bundle, by_bpcourse_grade, tmp_path):
    python = shutil.which("python3.11")
    assert python is not None, "Python 3.11 is needed on PATH (setup.sh would otherwise install it with apt)"
    plain = {"HOME": str(tmp_path), "PATH": os.pathsep.join([str(Path(python).parent), "/usr/local/bin", "/usr/bin", "/bin"])}
    plain.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})  # the machine's package index
    submissions = _submissions()
    for name in ("solved", "wrong"):
        root = _unpacked(bundle, tmp_path / name, {f"{CHAPTER}.ipynb": submissions[name]})
        if name == "solved":
            setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], capture_output=True, text=True,
                                   timeout=1200, env=plain)
            assert setup.returncode == 0, setup.stderr[-3000:]
            venv = root / "venv"
        else:
            (root / "venv").symlink_to(venv)
        run = subprocess.run(["bash", str(root / "source" / "run_autograder")], capture_output=True, text=True,
                             timeout=600, env=dict(plain, AUTOGRADER_ROOT=str(root)))
        assert run.returncode == 0, run.stderr[-3000:]
        results = json.loads((root / "results" / "results.json").read_text())
        _valid(results)
        assert results["score"] == by_bpcourse_grade[name], name
    assert by_bpcourse_grade["solved"] == 10 and by_bpcourse_grade["wrong"] == 0
