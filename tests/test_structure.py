"""restore_structure: the student version decides a submission's nbgrader cells; the student keeps the rest."""
from __future__ import annotations

import copy

import nbformat
from hypothesis import given
from hypothesis import strategies as st

from autograder.pipeline.structure import grade_id, restore_structure


def _nbgrader(gid: str, *, solution: bool = False, grade: bool = False, locked: bool = False, points: float = 0):
    meta = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3, "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def student_version() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Chapter", id="intro"),
        v4.new_code_cell("import numpy as np", id="setup"),
        v4.new_code_cell("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", id="f-solution",
                         metadata=_nbgrader("f-solution", solution=True)),
        v4.new_code_cell("from autograder import check\ncheck('f', globals())", id="f-tests",
                         metadata=_nbgrader("f-tests", locked=True)),
        v4.new_code_cell("# Hidden tests for f", id="f-hidden", metadata=_nbgrader("f-hidden", grade=True, locked=True, points=2)),
        v4.new_code_cell("def g(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", id="g-solution",
                         metadata=_nbgrader("g-solution", solution=True)),
        v4.new_code_cell("# Hidden tests for g", id="g-hidden", metadata=_nbgrader("g-hidden", grade=True, locked=True, points=3)),
        v4.new_markdown_cell("The end.", id="outro"),
    ]
    return v4.new_notebook(cells=cells)


def solved(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if grade_id(cell) == "f-solution":
            cell.source = "def f(x):\n    return 2 * x"
    return nb


def cell(nb, gid):
    return next(c for c in nb.cells if grade_id(c) == gid)


def ids(nb):
    return [grade_id(c) for c in nb.cells if grade_id(c) is not None]


def test_an_untouched_submission_is_graded_as_it_is():
    submission = solved(student_version())
    restored, repairs = restore_structure(submission, student_version())
    assert repairs == [] and restored is submission


def test_a_deleted_test_cell_is_put_back_in_its_place():
    submission = solved(student_version())
    submission.cells = [c for c in submission.cells if grade_id(c) != "f-hidden"]
    restored, repairs = restore_structure(submission, student_version())
    assert ids(restored) == ids(student_version())
    assert cell(restored, "f-hidden") == cell(student_version(), "f-hidden")
    assert repairs == ["test cell 'f-hidden' was missing: it was put back"]
    assert "return 2 * x" in cell(restored, "f-solution").source  # the answer stays the student's


def test_a_deleted_answer_cell_comes_back_unanswered():
    submission = student_version()
    submission.cells = [c for c in submission.cells if grade_id(c) != "g-solution"]
    restored, repairs = restore_structure(submission, student_version())
    assert cell(restored, "g-solution") == cell(student_version(), "g-solution")
    assert repairs == ["answer cell 'g-solution' was missing: it was put back unanswered"]


def test_an_edited_test_cell_is_put_back_as_it_was():
    for edit in ("2  # full marks, please", "### BEGIN HIDDEN TESTS\n2"):  # the second one unpaired
        submission = student_version()
        cell(submission, "f-hidden").source = edit
        restored, repairs = restore_structure(submission, student_version())
        assert cell(restored, "f-hidden").source == "# Hidden tests for f"
        assert repairs == ["test cell 'f-hidden' had been edited: it was put back as it was"]


def test_changed_points_cell_type_or_lock_are_put_back():
    for change in ("points", "cell_type", "locked"):
        submission = student_version()
        target = cell(submission, "g-hidden")
        if change == "points":
            target.metadata["nbgrader"]["points"] = 300
        elif change == "cell_type":
            target.cell_type = "markdown"
        else:
            target.metadata["nbgrader"]["locked"] = False
        restored, repairs = restore_structure(submission, student_version())
        assert cell(restored, "g-hidden") == cell(student_version(), "g-hidden"), change
        assert repairs == ["test cell 'g-hidden' had been edited: it was put back as it was"], change


def test_a_duplicated_test_cell_is_kept_once():
    submission = student_version()
    copy_of = copy.deepcopy(cell(submission, "f-hidden"))
    copy_of["id"] = "pasted"
    after = submission.cells.index(cell(submission, "f-hidden")) + 1
    submission.cells[after:after] = [copy_of, nbformat.v4.new_code_cell("mine = 1", id="mine")]
    restored, repairs = restore_structure(submission, student_version())
    assert ids(restored) == ids(student_version())
    order = [c["id"] for c in restored.cells]
    assert order.index("mine") == order.index("f-hidden") + 1  # the student's cell after the copy stays
    assert "cell 'f-hidden' appeared more than once: only the first was kept" in repairs


def test_moved_cells_go_back_to_their_places_with_the_students_own_cells_that_followed_them():
    submission = solved(student_version())
    mine = nbformat.v4.new_code_cell("helper = 1", id="mine")
    hidden = cell(submission, "g-hidden")
    submission.cells.remove(hidden)
    submission.cells.insert(0, hidden)          # the test before the answer it tests
    position = submission.cells.index(cell(submission, "f-solution"))
    submission.cells.insert(position + 1, mine)  # a cell of the student's own after their answer
    restored, repairs = restore_structure(submission, student_version())
    assert ids(restored) == ids(student_version())
    order = [c["id"] for c in restored.cells]
    assert order.index("mine") == order.index("f-solution") + 1
    assert repairs == ["cells of the assignment had been moved: they were put back in their places"]


def test_a_renamed_grade_id_is_a_plain_cell_and_the_real_test_comes_back():
    submission = student_version()
    cell(submission, "g-hidden").metadata["nbgrader"]["grade_id"] = "my-own"
    restored, repairs = restore_structure(submission, student_version())
    assert ids(restored) == ids(student_version())
    assert any(c.source == "# Hidden tests for g" and "nbgrader" not in c.metadata for c in restored.cells)
    assert repairs[0].startswith("a cell claimed the id 'my-own'")
    assert "test cell 'g-hidden' was missing: it was put back" in repairs


def test_an_answer_cell_made_read_only_keeps_its_answer_and_gets_its_settings_back():
    submission = solved(student_version())
    cell(submission, "f-solution").metadata["nbgrader"].update(solution=False, locked=True)
    restored, repairs = restore_structure(submission, student_version())
    assert cell(restored, "f-solution").metadata["nbgrader"] == cell(student_version(), "f-solution").metadata["nbgrader"]
    assert "return 2 * x" in cell(restored, "f-solution").source
    assert repairs == ["the settings of answer cell 'f-solution' had been changed: they were put back"]


def test_the_submission_itself_is_not_modified():
    submission = student_version()
    submission.cells = submission.cells[::-1]
    before = copy.deepcopy(submission)
    restore_structure(submission, student_version())
    assert submission == before


@given(st.lists(st.integers(0, 7), max_size=16))
def test_whatever_was_deleted_duplicated_or_shuffled_the_assignment_cells_come_back(picks):
    """A submission made of any cells of the student version, in any order, any number of times."""
    reference = student_version()
    submission = copy.deepcopy(reference)
    submission.cells = []
    for n, pick in enumerate(picks):
        new = copy.deepcopy(reference.cells[pick])
        new["id"] = f"{new['id']}-{n}"
        submission.cells.append(new)
    restored, repairs = restore_structure(submission, reference)
    assert ids(restored) == ids(reference)
    for gid in ("f-tests", "f-hidden", "g-hidden"):
        kept = cell(restored, gid)
        assert kept.source == cell(reference, gid).source and kept.metadata == cell(reference, gid).metadata
    assert len({c["id"] for c in restored.cells}) == len(restored.cells)
    nbformat.validate(restored)
    assert (repairs == []) == (ids(submission) == ids(reference))
