"""`bpcourse gradescope CHAPTER -o DIR`: a Gradescope autograder bundle that grades one submitted notebook
as `bpcourse grade` does.

`autograder.zip` unpacks into ROOT/source (Gradescope's ROOT is /autograder) and holds:
- `setup.sh`: run once when Gradescope builds the image: Python 3.11 in a venv at ROOT/venv, and the
  course's packages with what they need (this project's pyproject.toml, `course/`, `autograder/`);
- `run_autograder`: run for each submission: `python -m autograder.pipeline.gradescope --root ROOT`;
- `course/`: the chapter as the grader needs it: nbgrader_config.py, source/ and release/ of the
  chapter, and the gradebook `bpcourse release` made for it.

For each submission, `run` copies that course into a scratch folder, puts the notebook found in
ROOT/submission there as one student's, grades it with `grade` (same limits, same isolation) and writes
ROOT/results/results.json in Gradescope's format: the total `score`, and for each graded cell its
`name`, `score`, `max_score`, `output` (the message the feedback gives) and `visibility` (a hidden
test's details after the grades are published). Whatever goes wrong, a valid results.json is written,
with a score of 0 and what went wrong.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from autograder.pipeline.course import CourseError, check_course, prepare_environment

DEFAULT_ROOT = Path("/autograder")
STUDENT = "student"
PROJECT = Path(__file__).resolve().parents[2]  # pyproject.toml, course/, autograder/
PACKAGES = ("course", "autograder")

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
if ! command -v python3.11 >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv >/dev/null
fi
python3.11 -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet "$HERE/project"
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade ROOT/submission, write ROOT/results/results.json.
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-$(dirname "$HERE")}"
PYTHON="${PYTHON:-$ROOT/venv/bin/python}"
cd "$HERE" && exec "$PYTHON" -m autograder.pipeline.gradescope --root "$ROOT"
"""


def build(course_root: Path, chapter: str, out_dir: Path) -> Path:
    """Write out_dir/autograder.zip for `chapter` of the course at `course_root`; returns its path."""
    from autograder.pipeline.release import released_copy

    root = check_course(Path(course_root))
    if not (PROJECT / "pyproject.toml").is_file():
        raise CourseError(f"the course's packages are not installed from their source folder ({PROJECT}): "
                          "install them with `pip install -e .` there to build a bundle")
    if not (root / "source" / chapter / f"{chapter}.ipynb").is_file():
        raise CourseError(f"no chapter {chapter!r}: expected source/{chapter}/{chapter}.ipynb")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    bundle = out_dir / "autograder.zip"
    with tempfile.TemporaryDirectory(prefix="bpcourse-gradescope-") as tmp:
        # the student version and the gradebook, as `bpcourse release` makes them
        course = released_copy(root, chapter, Path(tmp) / "course")
        with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
            _add_text(archive, "setup.sh", SETUP)
            _add_text(archive, "run_autograder", RUN)
            _add_text(archive, "course/chapter.json", json.dumps({"chapter": chapter}))
            for path in sorted(course.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and ".ipynb_checkpoints" not in path.parts:
                    archive.write(path, f"course/{path.relative_to(course)}")
            for path in _project_files():
                archive.write(path, f"project/{path.relative_to(PROJECT)}")
    return bundle


def _add_text(archive: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 if not name.endswith(".json") else 0o100644) << 16
    archive.writestr(info, text)


def _project_files() -> list[Path]:
    """What `pip install project/` needs: the packaging files and the two packages' sources."""
    files = [PROJECT / "pyproject.toml", PROJECT / "README.md"]
    for package in PACKAGES:
        files += [p for p in sorted((PROJECT / package).rglob("*"))
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return files


# ---- on Gradescope: one submission ----------------------------------------------------------


def run(root: Path) -> dict:
    """Grade the notebook in root/submission with the bundled course; write and return results.json's content."""
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    try:
        content = _grade_submission(root)
    except Exception as error:  # noqa: BLE001 - Gradescope must always get a results.json
        content = {"score": 0.0, "output": f"The autograder could not grade this submission: {error}", "tests": []}
    (results / "results.json").write_text(json.dumps(content, indent=1))
    return content


def _grade_submission(root: Path) -> dict:
    from autograder.pipeline.grade import grade

    bundled = root / "source" / "course"
    chapter = json.loads((bundled / "chapter.json").read_text())["chapter"]
    notebook, handed_in = _find_notebook(root / "submission", chapter)
    with tempfile.TemporaryDirectory(prefix="bpcourse-gradescope-") as tmp:
        course = Path(tmp) / "course"
        shutil.copytree(bundled, course)
        prepare_environment(course)  # as `bpcourse` does before grading
        tests = _graded_cells(course, chapter)
        if notebook is None:
            seen = f" (found: {', '.join(handed_in[:5])})" if handed_in else ""
            return _ungraded(tests, f"No notebook to grade{seen}: upload {chapter}.ipynb.")
        folder = course / "submitted" / STUDENT / chapter
        folder.mkdir(parents=True)
        shutil.copyfile(notebook, folder / f"{chapter}.ipynb")
        [outcome] = grade(course, chapter, jobs=1, progress=False)
        if outcome.status == "not graded":
            return _ungraded(tests, f"Not graded: {outcome.detail}")
        return _results(course, chapter, tests, outcome)


def _find_notebook(folder: Path, chapter: str) -> tuple[Path | None, list[str]]:
    """The submitted notebook (the one named after the chapter, else the only one there is), and the names of
    every file handed in."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts) \
        if folder.is_dir() else []
    notebooks = [p for p in files if p.suffix == ".ipynb"]
    named = [p for p in notebooks if p.name == f"{chapter}.ipynb"]
    chosen = named[0] if named else notebooks[0] if len(notebooks) == 1 else None
    return chosen, [str(p.relative_to(folder)) for p in files]


def _graded_cells(course: Path, chapter: str) -> list[dict]:
    """The chapter's autograded cells, in notebook order: grade_id, points, and whether they hold hidden tests."""
    import nbformat

    from autograder.pipeline.notebook_format import BEGIN_HIDDEN, is_grade_cell, is_solution_cell

    source = nbformat.read(course / "source" / chapter / f"{chapter}.ipynb", as_version=4)
    tests = [c for c in source.cells if c.cell_type == "code" and is_grade_cell(c) and not is_solution_cell(c)]
    return [{"grade_id": c.metadata.nbgrader["grade_id"], "max_score": float(c.metadata.nbgrader.get("points", 0)),
             "hidden": BEGIN_HIDDEN in c.source} for c in tests]


def _test(cell: dict, score: float, output: str) -> dict:
    return {"name": cell["grade_id"], "score": score, "max_score": cell["max_score"], "output": output,
            "visibility": "after_published" if cell["hidden"] else "visible"}


def _ungraded(tests: list[dict], why: str) -> dict:
    return {"score": 0.0, "output": why, "tests": [_test(cell, 0.0, why) for cell in tests]}


def _results(course: Path, chapter: str, tests: list[dict], outcome) -> dict:
    """Each graded cell's points from the gradebook, and its message from the graded notebook."""
    import nbformat
    from nbgrader.api import Gradebook

    graded = nbformat.read(course / "autograded" / STUDENT / chapter / f"{chapter}.ipynb", as_version=4)
    outputs = {}
    for cell in graded.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id:
            outputs[grade_id] = "".join(_output_text(o) for o in cell.get("outputs", [])).strip()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {g.name: float(g.score) for g in gb.find_submission_notebook(chapter, chapter, STUDENT).grades}
    summary = f"Status: {outcome.status}" + (f" ({outcome.detail})" if outcome.detail else "")
    if outcome.repairs:
        summary += "\nPut back before grading: " + "; ".join(outcome.repairs)
    return {"score": round(sum(scores.get(c["grade_id"], 0.0) for c in tests), 6), "output": summary,
            "tests": [_test(c, scores.get(c["grade_id"], 0.0), outputs.get(c["grade_id"], "")) for c in tests]}


def _output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    if output.get("output_type") == "error":
        return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}\n"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description="Grade one Gradescope submission with the bundled course.")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="Gradescope's autograder folder (/autograder)")
    from autograder.pipeline.grade import isolation_problem

    if isolation_problem() is not None:  # the run's log, which instructors see; students see results.json
        print(f"note: no jail for student code here ({isolation_problem()})", file=sys.stderr)
    content = run(parser.parse_args().root)
    print(f"score {content['score']:g}: {content.get('output', '').splitlines()[0] if content.get('output') else ''}")


if __name__ == "__main__":
    main()
