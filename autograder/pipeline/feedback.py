"""`bpcourse feedback CHAPTER`: per-student HTML feedback that never shows a hidden test's source.

nbgrader's generate_feedback renders the autograded notebook, hidden tests included. Here the
same converter runs with nbgrader's own ClearHiddenTests step in front (the one that makes the
student version), and error tracebacks in test cells are cut to their last line, since an
IPython traceback quotes the source lines it passed through. What the student sees of a hidden
test is its output: the grader's report and the points.
"""
from __future__ import annotations

from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import List

from autograder.pipeline.course import check_course, course_config, quiet_nbgrader


class ShortTracebacks(NbGraderPreprocessor):
    """In test cells, an error shows as 'Name: message' only (a traceback quotes test source).

    An NbGraderPreprocessor, because nbconvert's own base class is disabled unless switched on.
    """

    def preprocess_cell(self, cell, resources, index):
        if is_grade(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


class HiddenTestSafeFeedback(GenerateFeedback):
    """nbgrader's feedback with hidden tests cleared from the rendered cells."""

    preprocessors = List([ClearHiddenTests, ShortTracebacks, GetGrades, CSSHTMLHeaderPreprocessor]).tag(config=True)


def feedback(course_root: Path, chapter: str) -> list[Path]:
    """Write feedback/<student>/<chapter>/<notebook>.html for every autograded submission of `chapter`."""
    root = check_course(Path(course_root))
    with quiet_nbgrader():
        config = course_config(root)
        config.ClearHiddenTests.enforce_metadata = False  # graded notebooks keep their metadata anyway
        coursedir = CourseDirectory(config=config, root=str(root))
        coursedir.assignment_id = chapter
        converter = HiddenTestSafeFeedback(coursedir=coursedir, config=config)
        converter.force = True
        converter.start()
    return sorted((root / "feedback").glob(f"*/{chapter}/*.html"))
