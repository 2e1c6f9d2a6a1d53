"""The bundled demo class: `make demo` releases the chapters, grades this class, prints the gradebook.

The class is made from chapter 1's student version and the catalogue of plausible submissions:
for each catalogued variant, a student who solved everything correctly except that one
function, written the variant's way; plus an untouched student version, one whose every
function raises, and one that loops forever. It is graded in a copy of the course under
out/demo/, so an instructor's own submitted/ and gradebook are never touched. Run it with
`bpcourse demo` (or `make demo`).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat

from autograder.catalogue import Variant
from autograder.catalogue.chain_rule import VARIANTS
from autograder.pipeline.course import check_course
from autograder.pipeline.export import export_rows, to_csv
from autograder.pipeline.feedback import feedback
from autograder.pipeline.grade import Limits, grade
from autograder.pipeline.notebook_format import is_solution_cell
from autograder.pipeline.release import release

CHAPTER = "ch01_chain_rule"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _defined_name(cell) -> str | None:
    match = re.match(r"\s*def (\w+)\(", cell.source)
    return match.group(1) if match else None


def _solved(source_nb, student_nb, replace: dict[str, str]):
    """The student version with every solution filled in from the source, some replaced by `replace`."""
    solutions = {_defined_name(c): c.source for c in source_nb.cells if is_solution_cell(c)}
    nb = nbformat.from_dict(student_nb)
    for cell in nb.cells:
        name = _defined_name(cell) if is_solution_cell(cell) else None
        if name is not None:
            cell.source = replace.get(name, solutions[name])
    return nb


def demo_class(course_root: Path, chapter: str = CHAPTER) -> dict[str, nbformat.NotebookNode]:
    """Student id -> submitted notebook, for the chapter's catalogue (chapter 1's by default)."""
    root = check_course(course_root)
    source = nbformat.read(root / "source" / chapter / f"{chapter}.ipynb", as_version=4)
    student = nbformat.read(root / "release" / chapter / f"{chapter}.ipynb", as_version=4)
    graded = [_defined_name(c) for c in student.cells if is_solution_cell(c) and _defined_name(c)]
    variants: list[Variant] = [v for v in VARIANTS if v.graded in graded]
    submissions = {"unsolved": student}
    for number, variant in enumerate(variants, start=1):
        kind = "right" if variant.correct else "wrong"
        submissions[f"s{number:02d}-{kind}-{_slug(variant.graded)}-{_slug(variant.label)}"] = _solved(
            source, student, {variant.graded: variant.code})
    raises = {name: f"def {name}(*args, **kwargs):\n    raise ValueError('not done yet')\n" for name in graded}
    submissions["raises-everywhere"] = _solved(source, student, raises)
    submissions["loops-forever"] = _solved(source, student, {graded[0]: f"def {graded[0]}(*args):\n    while True:\n        pass\n"})
    return submissions


def build(course_root: Path, out: Path, students: list[str] | None = None) -> Path:
    """A fresh demo course at `out`: the course's notebooks, released, and the demo class (or the
    named students of it) in submitted/."""
    root = check_course(course_root)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(root / "nbgrader_config.py", out / "nbgrader_config.py")
    shutil.copytree(root / "source", out / "source")
    release(out)
    for student, nb in demo_class(out).items():
        if students is not None and student not in students:
            continue
        folder = out / "submitted" / student / CHAPTER
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{CHAPTER}.ipynb")
    return out


def run(course_root: Path, out: Path, jobs: int = 2, students: list[str] | None = None) -> list[dict[str, object]]:
    """Release every chapter, build the demo class (or the named part of it) at `out`, grade it,
    write feedback and out/grades.csv, print the gradebook; returns the gradebook rows."""
    root = check_course(course_root)
    released = release(root)
    print(f"released {len(released)} file(s) into release/ (student versions, regenerated from source/)")
    demo = build(root, out.resolve(), students)
    count = len(list((demo / "submitted").iterdir()))
    print(f"demo class: {count} submissions of {CHAPTER} in {demo}/submitted/")
    grade(demo, CHAPTER, jobs=jobs, limits=Limits(seconds=60, cell_seconds=10))
    feedback(demo, CHAPTER)
    rows = [row for row in export_rows(demo) if row["chapter"] == CHAPTER]  # the class submitted only this one
    (demo / "grades.csv").write_text(to_csv(rows))
    width = max(len(str(r["student"])) for r in rows)
    print(f"\n{'student'.ljust(width)}  score        status")
    for row in rows:
        detail = f" ({row['detail']})" if row["detail"] else ""
        print(f"{str(row['student']).ljust(width)}  {row['score']:>5.2f} / {row['max_score']:<3g} {row['status']}{detail}")
    full = sum(r["score"] == r["max_score"] for r in rows)
    print(f"\n{len(rows)} graded, {full} with full marks. Gradebook: {demo / 'grades.csv'}\n"
          f"Feedback: {demo / 'feedback'}/<student>/{CHAPTER}/{CHAPTER}.html")
    return rows
