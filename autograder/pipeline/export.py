"""`bpcourse export`: the gradebook as one row per student and chapter, with how grading went.

Scores come from nbgrader's gradebook; the status of each submission (graded, time limit,
kernel died, not graded and why) from the last `bpcourse grade` run of that chapter. A student
who submitted nothing still gets a row, with the status 'not submitted'.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from autograder.pipeline.course import check_course, course_config, quiet_nbgrader
from autograder.pipeline.grade import shown_id, students_with_submissions

COLUMNS = ("student", "chapter", "score", "max_score", "status", "detail")


def export_rows(course_root: Path) -> list[dict[str, object]]:
    """One dict per (student, chapter), sorted by chapter then student."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.coursedir import CourseDirectory

    root = check_course(Path(course_root))
    if not (root / "gradebook.db").is_file():
        return []
    coursedir = CourseDirectory(config=course_config(root), root=str(root))
    rows = []
    with quiet_nbgrader(), Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        chapters = sorted(a.name for a in gb.assignments)
        for chapter in chapters:
            run_file = root / "autograded" / f"{chapter}.grading.json"
            runs = {r["student"]: r for r in json.loads(run_file.read_text())} if run_file.is_file() else {}
            students = sorted({s.id for s in gb.students} | set(students_with_submissions(root, chapter)) | set(runs))
            max_score = float(gb.find_assignment(chapter).max_score)
            for student in students:
                try:
                    score = float(gb.find_submission(chapter, student).score)
                except (MissingEntry, UnicodeEncodeError):  # never recorded
                    score = 0.0
                run = runs.get(student)
                submitted = (root / "submitted" / student / chapter).is_dir()
                status = run["status"] if run else ("not graded yet" if submitted else "not submitted")
                rows.append({"student": shown_id(student), "chapter": chapter, "score": round(score, 6),
                             "max_score": max_score, "status": status, "detail": run["detail"] if run else ""})
    return rows


def to_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
