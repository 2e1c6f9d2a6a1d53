"""A submission's nbgrader cells put back as the student version has them, before it is graded.

nbgrader restores the source and metadata of the locked cells it finds, silently, and drops
duplicated ids; a locked cell the student deleted is not put back, one they moved stays where
they put it, and one whose grade_id they changed is no longer recognised. Here the student
version (release/) is the authority on the nbgrader cells: which there are, in what order, and
what every locked cell holds. The submission keeps what is the student's (the contents of its
solution cells, and the cells it added, each after the nbgrader cell it followed); everything
else is taken from the student version, and each repair is said in a sentence that the grade
record and the feedback carry. nbgrader then fills the hidden tests back in as usual.
"""
from __future__ import annotations

import copy

from nbformat import NotebookNode, from_dict


def grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_locked(cell: NotebookNode) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("locked"))


# What decides how a cell is graded; the rest of nbgrader's metadata (checksum, schema) is bookkeeping.
GRADING_KEYS = ("grade", "grade_id", "locked", "points", "solution", "task")


def _settings(cell: NotebookNode) -> tuple:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return (cell.get("cell_type"), *(meta.get(key) for key in GRADING_KEYS))


_hidden_tests = None  # nbgrader's ClearHiddenTests, made once: it is a configurable object, slow to make


def _without_hidden_tests(cell: NotebookNode) -> str | None:
    """The cell's source as the student version shows it (an instructor's solved copy still has its hidden
    tests); None if its hidden-test markers do not pair up."""
    global _hidden_tests
    if _hidden_tests is None:
        from nbgrader.preprocessors import ClearHiddenTests

        _hidden_tests = ClearHiddenTests()
    shown = NotebookNode(cell_type=cell.get("cell_type"), source=cell.get("source", ""))
    try:
        _hidden_tests._remove_hidden_test_region(shown)
    except RuntimeError:  # a BEGIN without its END, or nested
        return None
    return shown.source


def _tampered(found: NotebookNode, expected: NotebookNode) -> bool:
    """Whether a locked cell differs from the student version in what it runs or how it is graded."""
    return _settings(found) != _settings(expected) or _without_hidden_tests(found) != expected.get("source")


def restore_structure(submission: NotebookNode, student_version: NotebookNode) -> tuple[NotebookNode, list[str]]:
    """The submission with its nbgrader cells as in the student version; and what was repaired.

    Inputs:
    - submission: the notebook handed in (not modified)
    - student_version: the released notebook of the same chapter
    Returns:
    - the notebook to grade: the submission itself when nothing needed repair, else a new notebook
    - one sentence per repair, in the order of the student version's cells (empty if none)
    """
    expected = [(grade_id(c), c) for c in student_version.cells if grade_id(c) is not None]
    known = {gid for gid, _ in expected}
    found: list[str] = []

    # The submission in pieces: each nbgrader cell with the student's own cells that follow it.
    leading: list[NotebookNode] = []
    pieces: dict[str, tuple[NotebookNode, list[NotebookNode]]] = {}
    order: list[str] = []
    current = leading
    for cell in submission.cells:
        gid = grade_id(cell)
        if gid is None:
            current.append(cell)
        elif gid not in known:
            found.append(f"a cell claimed the id {gid!r}, which the assignment does not have: it was graded as a "
                         "plain cell of yours")
            plain = copy.deepcopy(cell)
            plain.metadata.pop("nbgrader", None)
            current.append(plain)
        elif gid in pieces:  # the student's cells after it stay with the cell before it
            found.append(f"cell {gid!r} appeared more than once: only the first was kept")
        else:
            current = []
            pieces[gid] = (cell, current)
            order.append(gid)

    present = [gid for gid, _ in expected if gid in pieces]
    if order != present:
        found.append("cells of the assignment had been moved: they were put back in their places")

    cells = list(leading)
    for gid, reference in expected:
        if gid not in pieces:
            kind = "test cell" if _is_locked(reference) else "answer cell"
            found.append(f"{kind} {gid!r} was missing: it was put back" +
                         ("" if _is_locked(reference) else " unanswered"))
            cells.append(reference)
            continue
        cell, followers = pieces[gid]
        if _is_locked(reference):
            if _tampered(cell, reference):
                found.append(f"test cell {gid!r} had been edited: it was put back as it was")
                cell = reference
            cells.append(cell)
        else:
            answer = cell
            if _settings(answer) != _settings(reference):
                answer = copy.deepcopy(cell)
                found.append(f"the settings of answer cell {gid!r} had been changed: they were put back")
                answer.cell_type = reference.cell_type
                answer.metadata["nbgrader"] = copy.deepcopy(reference.metadata["nbgrader"])
                if answer.cell_type == "code":
                    answer.setdefault("outputs", [])
                    answer.setdefault("execution_count", None)
                else:
                    answer.pop("outputs", None)
                    answer.pop("execution_count", None)
            cells.append(answer)
        cells.extend(followers)

    if not found:
        return submission, found
    cells = copy.deepcopy(cells)
    seen: set[str] = set()
    for number, cell in enumerate(cells):  # a pasted copy of a cell may share its id
        if cell.get("id") in seen:
            cell["id"] = f"{cell['id']}-{number}"
        seen.add(cell.get("id"))
    rest = copy.deepcopy({key: value for key, value in submission.items() if key != "cells"})
    return from_dict({**rest, "cells": cells}), found
